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

`Query` is a thin handle on a `fti.store.query_engine.QueryPlan`, which holds the
parts, checks the joins and writes the SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import pandas as pd

from fti.exceptions import QueryError
from fti.store import arguments
from fti.store.engine import StoreEngine
from fti.store.query_engine import QueryPlan, time_window


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
        plan = self._plan.join(sub_query._plan, *keys, prefix, observation_time, strictly_before)
        return Query(self._engine, plan, self._feature_groups + sub_query._feature_groups)

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
            parts = [(item["feature_group"], item["version"], list(item["features"]),
                      [tuple(pair) for pair in item["on"]], item["prefix"], item.get("observation_time"))
                     for item in data["parts"]]
        except (KeyError, TypeError) as exc:
            raise QueryError(f"not a query description (as Query.to_dict makes): {data!r:.200} ({exc!r})") from None
        if not parts:
            raise QueryError("a query description needs at least one part")
        query = None
        for name, version, features, on, prefix, observation_time in parts:
            selected = feature_store.get_feature_group(name, version).select(features)
            if query is None:
                query = selected
            else:
                # The stored key pairs, given explicitly, rebuild exactly the stored join.
                query = query.join(selected, left_on=[left for left, _ in on], right_on=[right for _, right in on],
                                   prefix=prefix or None, observation_time=observation_time or None)
        return query

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Query) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        joined = " + ".join(f"{fg.name} v{fg.version}" for fg in self._plan.feature_groups)
        return f"Query({joined}: {len(self._plan.output)} columns)"

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
