"""Queries: which features to take from which feature groups, and how they join.

The first feature group of a query is the *label side*: its rows are the
observations (an entity at an event time, usually with the outcome to predict).
Every joined feature group adds columns to each observation with a
point-in-time join: the values come from the row with the same key whose event
time is the latest one *not after* the observation's event time. A feature that
only became known later never leaks into an earlier observation, and an
observation with no earlier feature row keeps its place with nulls. A join may
take the observation's time from another datetime column (``observation_time``):
a forecast target's features are joined as of its issue time, its label as of
its target time.

A query can be filtered, as in the Hopsworks client: ``query.filter(fg.amount > 100)``,
``(fg.country == "SE") | fg.city.isin([...])``. A filter on label-side columns only
selects observations before the joins; one reading a joined group's columns applies
after the point-in-time joins, to the values each observation was joined with; a
filter on a query that is then joined (``fg.select_all().filter(...)`` as the right
side) selects which of that group's rows can be joined, and drops the observations
that find none (as Hopsworks does). Filters are part of the query: a feature view
stores them and applies them to training and batch data, never to
``get_feature_vector`` (Hopsworks does not either: a vector is looked up for one entity).

`Query` is a thin handle on a `fti.store.query_engine.QueryPlan`, which holds the
parts, checks the joins and filters, and writes the SQL.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, Protocol

import pandas as pd

from fti.exceptions import ParameterError, ParameterTypeError, QueryError
from fti.store import arguments, filters
from fti.store.engine import StoreEngine
from fti.store.filters import Feature, Filter, Logic
from fti.store.query_engine import QueryPlan, feature_of, time_window


class FeatureGroupHandle(Protocol):
    """What a query keeps of each feature group: the public `fti.store.feature_group.FeatureGroup`.

    (That module imports this one, so the class is described here rather than imported.)
    """

    name: str
    version: int

    def select(self, features: list[str]) -> Query: ...


class Query:
    """A selection of features from one feature group, joined point-in-time with others.

    Build one with ``fg.select([...])`` or ``fg.select_all()`` and ``.join(...)``.

    Args:
        engine: The engine of the store the feature groups live in.
        plan: The parts and output columns.
        feature_groups: The feature group handles of the plan's parts, in order.
    """

    def __init__(self, engine: StoreEngine, plan: QueryPlan, feature_groups: Sequence[FeatureGroupHandle]):
        self._engine = engine
        self._plan = plan
        self._feature_groups = tuple(feature_groups)

    # -- building --------------------------------------------------------------------------------

    @property
    def plan(self) -> QueryPlan:
        """The query as plain data, for the engines (feature views store and serve from it)."""
        return self._plan

    @property
    def left(self) -> FeatureGroupHandle:
        """The label-side feature group whose rows are the observations."""
        return self._feature_groups[0]

    @property
    def feature_groups(self) -> list[FeatureGroupHandle]:
        return list(self._feature_groups)

    @property
    def columns(self) -> list[str]:
        """Names of the columns `read` returns, in order."""
        return self._plan.columns

    def join(self, sub_query: Query, on: list[str] | None = None, left_on: list[str] | None = None,
             right_on: list[str] | None = None, join_type: str = "left", prefix: str | None = None,
             observation_time: str | None = None, strictly_before: bool = False) -> Query:
        """Join another feature group's selection, point-in-time, on the label side's event time.

        Each observation gets the other group's row with the same key and the latest
        event time not after the observation's time: the label side's event time, or
        the column ``observation_time`` names. A forecast made at an issue time may use
        what was known then (the default, when the issue time is the event time), while
        its label is what happened at the target time (``observation_time="target_time"``).

        Args:
            sub_query: ``other_fg.select([...])``: one feature group.
            on: Key columns with the same name on both sides. By default the other
                group's primary key, which must then exist on this side.
            left_on: Key columns of this side, when the names differ (with ``right_on``).
            right_on: The matching key columns of the other group.
            join_type: Only ``"left"``: every observation is kept.
            prefix: Put before the other group's column names, to avoid clashes.
            observation_time: A datetime column of the query so far to join as of, instead
                of the label side's event time.
            strictly_before: Take the other group's newest row *before* the observation time,
                not at or before it. For a group that writes one row per event of the
                observations themselves (a card's state right after each transaction), the
                row at the observation's own time already includes the observation: joining
                it would leak. Not in the Hopsworks client.

        Raises:
            QueryError: A key list is a single string, no common key, unknown key columns,
                mismatched key types, two output columns with the same name, or an
                ``observation_time`` that is not a datetime column of the query so far (or
                given for a group without event time).
        """
        if not isinstance(sub_query, Query):
            raise QueryError(f"join expects a query such as fg.select([...]), got {type(sub_query).__name__}")
        if not isinstance(join_type, str) or join_type != "left":
            raise QueryError(f"join_type {join_type!r} is not supported: point-in-time joins keep every observation")
        where = f"joining {sub_query._plan.left.label}"
        keys = [None if value is None else arguments.names(value, argument, where, "key column", QueryError)
                for argument, value in (("on", on), ("left_on", left_on), ("right_on", right_on))]
        if observation_time is not None and not isinstance(observation_time, str):
            raise QueryError(f"{where}: observation_time must be a column name, got {observation_time!r:.80}")
        if not isinstance(strictly_before, bool):
            raise QueryError(f"{where}: strictly_before must be True or False, got {strictly_before!r:.80}")
        plan = self._plan.join(sub_query._plan, *keys, prefix, observation_time, strictly_before,
                               hopsworks=self._engine.hopsworks)
        return Query(self._engine, plan, self._feature_groups + sub_query._feature_groups)

    def filter(self, f: Filter | Logic) -> Query:  # noqa: A003 (the Hopsworks client's name)
        """A new query with ``f`` ANDed to this query's filter (the Hopsworks client changes the query in place).

        Examples: ``q.filter(fg.amount > 100)``, ``q.filter((fg.a == 1) | (fg.b >= 2))``,
        ``q.filter(Feature("name").like("max%"))``, ``q.filter(fg.country.isin(["SE", "NO"]))``.
        Values: numbers, text, True/False, and for datetime columns dates, datetimes or ISO text
        (naive ones are UTC), or, in a store opened through ``fti.login()``, epoch milliseconds.

        Where it applies (as in Hopsworks): a filter on label-side columns only selects the
        observations; one that reads a joined group's columns keeps the rows whose joined
        values (as of each observation's time) pass it. A filtered query that is then joined
        as the right side lends only its passing rows to the join, and an observation that
        finds no passing row is dropped.

        Args:
            f: A `Filter` or `Logic` of features of this query's feature groups (selected or
                not). A feature named without its group (``Feature("amount")``) is an output
                column, or the column of the one group that has it.

        Raises:
            QueryError: Not a filter; a feature not in this query's feature groups (or in two
                of them, named without its group); a value of the wrong type for its column.
        """
        return Query(self._engine, self._plan.filtered(f, self._engine.hopsworks), self._feature_groups)

    @property
    def filters(self) -> Logic | None:
        """All filters of the query, ANDed into one `Logic` (None without any), as ``Query.filters`` in hsfs.

        This query's own filter first, then those its joined queries brought with them.
        """
        return self._plan.filter_logic()

    @property
    def features(self) -> list[Feature]:
        """A `Feature` per output column (its feature group's name for it), as ``Query.features`` in hsfs."""
        return [feature_of(self._plan.parts[origin.part].feature_group, origin.column)
                for origin in self._plan.output.values()]

    def get_feature(self, feature_name: str) -> Feature:
        """The `Feature` of output column ``feature_name`` (prefixed names included), to build filters.

        Raises:
            QueryError: Not a column of this query.
        """
        name = arguments.hopsworks_name(feature_name, self._engine.hopsworks)
        origin = self._plan.output.get(name) if isinstance(name, str) else None
        if origin is None:
            raise QueryError(f"{self!r} has no column {feature_name!r}; its columns are {self.columns}")
        return feature_of(self._plan.parts[origin.part].feature_group, origin.column)

    def __getitem__(self, feature_name: str) -> Feature:
        return self.get_feature(feature_name)

    def __getattr__(self, name: str) -> Feature:
        """``query.amount``: the `Feature` of an output column, as in the Hopsworks client."""
        if name.startswith("_"):
            raise AttributeError(name)  # internals (and copies being built) never become features
        try:
            return self.get_feature(name)
        except QueryError:
            raise AttributeError(f"'Query' object has no attribute or column {name!r}") from None

    # -- persistence -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description, stored with feature views."""
        return self._plan.to_dict()

    @classmethod
    def from_dict(cls, data: dict[str, Any], feature_store: Any) -> Query:
        """Rebuild a query from `to_dict`'s description, with the feature groups of ``feature_store``.

        Raises:
            QueryError: ``data`` is not such a description.
            FeatureGroupNotFoundError: A feature group it names does not exist.
        """
        try:
            groups = sorted(QueryPlan.feature_groups_in(data))
        except (KeyError, TypeError, ValueError) as exc:
            raise QueryError(f"not a query description (as Query.to_dict makes): {data!r:.200} ({exc!r})") from None
        if not groups:
            raise QueryError("a query description needs at least one part")
        # Each group's query brings its handle and metadata; the plan is rebuilt exactly as
        # stored (keys, prefixes, filters, renamed columns), whatever mode the store is in now.
        queries = {(name, version): feature_store.get_feature_group(name, version).select_all()
                   for name, version in groups}
        plan = QueryPlan.from_dict(data, lambda name, version: queries[(name, int(version))].plan.left)
        handles = [queries[(part.feature_group.name, part.feature_group.version)].left for part in plan.parts]
        return Query(queries[groups[0]]._engine, plan, handles)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Query) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        joined = " + ".join(f"{fg.name} v{fg.version}" for fg in self._plan.feature_groups)
        filtered = f", filter {filters.describe(self._plan.filter)}" if self._plan.filter is not None else ""
        return f"Query({joined}: {len(self._plan.output)} columns{filtered})"

    # -- SQL -------------------------------------------------------------------------------------

    def sql(self, as_of_commit: int | None = None, start_time: Any = None,
            end_time: Any = None) -> tuple[str, list[Any]]:
        """The point-in-time SQL for this query.

        Args:
            as_of_commit: Read every feature group as of this commit (None: latest).
            start_time: Keep observations with event time at or after this.
            end_time: Keep observations with event time before this.

        Returns:
            The statement and its parameters.

        Raises:
            TimeTravelError: ``as_of_commit`` is not a commit id (a whole number).
            InvalidTimeError: ``start_time`` or ``end_time`` is not a time.
        """
        where = repr(self)
        commit = arguments.commit_id(as_of_commit, "as_of_commit", where)
        return self._plan.sql(commit, *time_window(start_time, end_time, where))

    def read(self, as_of: Any = None, start_time: Any = None, end_time: Any = None) -> pd.DataFrame:
        """Run the query: one row per observation, ordered by the label side's key and event time.

        Args:
            as_of: A commit id or datetime to read every feature group as it was then.
            start_time: Keep observations at or after this time (inclusive).
            end_time: Keep observations before this time (exclusive).

        Raises:
            TimeTravelError: ``as_of`` is not a commit id or time, or is before the label
                side's first commit.
            InvalidTimeError: ``start_time`` or ``end_time`` is not a time.
            QueryError: ``start_time`` is after ``end_time``.
        """
        return self._engine.queries.read(self._plan, as_of, start_time, end_time, repr(self))

    def show(self, n: int, online: bool = False) -> pd.DataFrame:
        """The first ``n`` rows of `read` (in its order), as a DataFrame, as the Hopsworks Python engine returns.

        Raises:
            ParameterTypeError: ``n`` is not a whole number.
            ParameterError: ``n`` is negative, or ``online=True`` (the online store holds one row per
                key; use ``feature_view.get_feature_vector`` instead).
        """
        where = repr(self)
        arguments.unsupported(where, online=(online, "the online store is read through "
                                                    "feature_view.get_feature_vector(...) here"))
        count = _row_count(n, where)
        return self._engine.queries.read(self._plan, None, None, None, where, limit=count)

    def to_string(self, online: bool = False, arrow_flight: bool = False, *, start_time: Any = None,
                  end_time: Any = None) -> str:
        """The query's SQL, for reading: DuckDB SQL, not the Spark/Hive SQL Hopsworks shows.

        Filter values appear as literals here; the kit runs the statement with ``?``
        parameters instead, never with values pasted in. It is `sql` as one statement
        (`read` runs the same rows one joined feature group at a time).

        Args:
            online: Refused when True: the online store is read through ``get_feature_vector`` here.
            arrow_flight: Accepted for Hopsworks compatibility (it changes only the text Hopsworks shows).
            start_time: Only observations at or after this time (as in `sql`).
            end_time: Only observations before this time.

        Raises:
            ParameterError: ``online=True``.
            InvalidTimeError: ``start_time`` or ``end_time`` is not a time.
        """
        del arrow_flight
        arguments.unsupported(repr(self), online=(online, "the online store is read through "
                                                          "feature_view.get_feature_vector(...) here"))
        statement, params = self.sql(start_time=start_time, end_time=end_time)
        pieces = statement.split("?")
        # Names in the statement are checked identifiers, so every "?" in it is a parameter.
        text = pieces[0]
        for value, piece in zip(params, pieces[1:], strict=True):
            text += filters.literal(value) + piece
        return text

    def __str__(self) -> str:
        return self.to_string()


def _row_count(n: Any, where: str) -> int:
    """``n`` as a number of rows.

    Raises:
        ParameterTypeError: Not a whole number.
        ParameterError: Negative.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise ParameterTypeError(f"{where}: n must be a whole number of rows, got {n!r:.80}")
    if n < 0:
        raise ParameterError(f"{where}: n must not be negative, got {n}")
    return int(n)
