"""The query engine: which columns a query has, and the point-in-time SQL that reads it.

It does the work behind `fti.store.query.Query`. A query is described by a
`QueryPlan`: frozen data (one `QueryPart` per feature group) that the feature view
engine can also store, rebuild and serve from.

The first feature group of a query is the *label side*: its rows are the
observations (an entity at an event time, usually with the outcome to predict).
Every joined feature group adds columns to each observation with a point-in-time
join: the values come from the row with the same key whose event time is the
latest one *not after* the observation's event time. A feature that only became
known later never leaks into an earlier observation, and an observation with no
earlier feature row keeps its place with nulls.
"""

from __future__ import annotations

import contextlib
import types
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from fti.exceptions import QueryError
from fti.names import check_name, quote
from fti.store import arguments
from fti.store.feature_group_engine import FeatureGroupEngine, FeatureGroupMeta, state_sql
from fti.store.schema import TIMESTAMP
from fti.store.storage import Store, fetch_frame


@dataclass(frozen=True)
class QueryPart:
    """One feature group in a query.

    Attributes:
        feature_group: Its metadata.
        features: The columns selected from it.
        on: ``((column of the query so far, column of this group), ...)``; empty for the label side.
        prefix: Put before this group's column names in the result.
        observation_time: The column of the query so far whose time this group is joined as of;
            empty for the label side's event time.
        strictly_before: Join the group's newest row strictly before the observation time,
            instead of at or before it.
    """

    feature_group: FeatureGroupMeta
    features: tuple[str, ...]
    on: tuple[tuple[str, str], ...] = ()
    prefix: str = ""
    observation_time: str = ""
    strictly_before: bool = False


@dataclass(frozen=True)
class ColumnSource:
    """Where one output column of a query comes from.

    Attributes:
        part: Index of the `QueryPart` (0: the label side).
        column: The column's name in that feature group.
        sql_type: Its type.
    """

    part: int
    column: str
    sql_type: str


def _resolve_output(parts: Sequence[QueryPart]) -> dict[str, ColumnSource]:
    """Map each output column to its source, checking for clashes.

    Raises:
        QueryError: Two output columns would have the same name.
    """
    output: dict[str, ColumnSource] = {}
    for index, part in enumerate(parts):
        fg = part.feature_group
        types_by_name = dict(fg.columns)
        if index == 0:
            names = list(dict.fromkeys(fg.upsert_key + list(part.features)))
        else:
            join_keys = {right for _, right in part.on}
            names = [name for name in part.features if name not in join_keys]
        for name in names:
            out = part.prefix + name
            if out in output:
                raise QueryError(
                    f"column '{out}' of {fg.label} clashes with a column already in the query; "
                    "select fewer features or join with prefix='...'"
                )
            output[out] = ColumnSource(index, name, types_by_name[name])
    return output


@dataclass(frozen=True)
class QueryPlan:
    """A query as plain data: its parts and, derived from them, its output columns.

    Build one with `QueryPlan.select` and `QueryPlan.join` (or `QueryPlan.from_dict`).

    Attributes:
        parts: One per feature group, the label side first.
        output: ``{output column: ColumnSource}``, in the order `columns` lists them.
    """

    parts: tuple[QueryPart, ...]
    output: Mapping[str, ColumnSource] = field(compare=False, hash=False)

    @classmethod
    def of(cls, parts: Sequence[QueryPart]) -> QueryPlan:
        """The plan of these parts, with its output columns resolved and checked."""
        return cls(tuple(parts), types.MappingProxyType(_resolve_output(parts)))

    @classmethod
    def select(cls, fg: FeatureGroupMeta, features: Sequence[str]) -> QueryPlan:
        """A one-group plan of some of ``fg``'s columns (its key and event time come along).

        Raises:
            QueryError: A name is not a column of ``fg``.
        """
        known = set(fg.features)
        unknown = [name for name in features if name not in known]
        if unknown:
            raise QueryError(f"{fg.label} has no feature(s) {unknown}; its features are {fg.features}")
        return cls.of([QueryPart(fg, tuple(dict.fromkeys(features)))])

    # -- shape -------------------------------------------------------------------------------

    @property
    def left(self) -> FeatureGroupMeta:
        """The label-side feature group, whose rows are the observations."""
        return self.parts[0].feature_group

    @property
    def feature_groups(self) -> list[FeatureGroupMeta]:
        """Every feature group of the query, the label side first."""
        return [part.feature_group for part in self.parts]

    @property
    def columns(self) -> list[str]:
        """Names of the result's columns, in order."""
        return list(self.output)

    @property
    def helper_columns(self) -> list[str]:
        """The label side's primary key and event time: they identify rows but are not model inputs."""
        return self.left.upsert_key

    def join(self, right: QueryPlan, on: list[str] | None, left_on: list[str] | None,
             right_on: list[str] | None, prefix: str | None, observation_time: str | None = None,
             strictly_before: bool = False) -> QueryPlan:
        """This plan with ``right`` (one feature group) joined point-in-time.

        Args:
            observation_time: A datetime column of the query so far to join ``right`` as of,
                instead of the label side's event time (None).
            strictly_before: Take ``right``'s newest row strictly before the observation time.

        Raises:
            QueryError: No common key, unknown key columns, mismatched key types, two output
                columns with the same name, or an ``observation_time`` that is not a datetime
                column of the query so far, or given for a group without event time.
        """
        if len(right.parts) != 1:
            raise QueryError("join one feature group at a time: chain q.join(a.select(...)).join(b.select(...))")
        part = right.parts[0]
        fg = part.feature_group
        label = fg.label
        if prefix is not None:
            prefix = check_name(prefix, f"joining {label}: prefix")
        if on is not None and (left_on is not None or right_on is not None):
            raise QueryError(f"joining {label}: give either on=[...] or left_on/right_on, not both")
        if on is not None:
            left_keys, right_keys = list(on), list(on)
        elif left_on is not None or right_on is not None:
            left_keys, right_keys = list(left_on or []), list(right_on or [])
            if len(left_keys) != len(right_keys) or not left_keys:
                raise QueryError(f"joining {label}: left_on and right_on need the same number of columns")
        else:
            right_keys = list(fg.primary_key)
            left_keys = right_keys
            absent = [key for key in left_keys if key not in self.output]
            if absent:
                raise QueryError(
                    f"joining {label}: no common key; it has primary key {list(fg.primary_key)} but the "
                    f"query so far has no column(s) {absent}. Pass on=[...] or left_on/right_on"
                )
        if not left_keys:
            raise QueryError(f"joining {label}: on=[] names no key column")
        right_types = dict(fg.columns)
        for left_key, right_key in zip(left_keys, right_keys, strict=True):
            if left_key not in self.output:
                raise QueryError(
                    f"joining {label}: key '{left_key}' is not a column of the query so far {self.columns}"
                )
            if right_key not in right_types:
                raise QueryError(f"joining {label}: key '{right_key}' is not a column of {label}")
            left_type = self.output[left_key].sql_type
            if left_type != right_types[right_key]:
                raise QueryError(
                    f"joining {label}: key '{left_key}' is {left_type} on the left but '{right_key}' is "
                    f"{right_types[right_key]} in {label}"
                )
        if observation_time is not None:
            self._check_observation_time(observation_time, fg)
        if strictly_before and not fg.event_time:
            raise QueryError(f"joining {label}: strictly_before=True needs an event time on {label}, and it has none")
        joined = QueryPart(fg, part.features, tuple(zip(left_keys, right_keys, strict=True)), prefix or "",
                           observation_time or "", strictly_before)
        return QueryPlan.of([*self.parts, joined])

    def _check_observation_time(self, column: str, fg: FeatureGroupMeta) -> None:
        """Refuse an ``observation_time`` that cannot say when each observation joins ``fg``.

        Raises:
            QueryError: ``fg`` has no event time, or ``column`` is not a datetime column of the query so far.
        """
        label = fg.label
        if not fg.event_time:
            raise QueryError(
                f"joining {label}: observation_time='{column}' needs an event time on {label}, and it has none"
            )
        if column not in self.output:
            raise QueryError(
                f"joining {label}: observation_time '{column}' is not a column of the query so far {self.columns}"
            )
        if self.output[column].sql_type != TIMESTAMP:
            raise QueryError(
                f"joining {label}: observation_time '{column}' holds {self.output[column].sql_type}, not datetimes"
            )

    # -- persistence -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description, stored with feature views."""
        return {
            "parts": [
                {
                    "feature_group": part.feature_group.name,
                    "version": part.feature_group.version,
                    "features": list(part.features),
                    "on": [list(pair) for pair in part.on],
                    "prefix": part.prefix,
                    # Only when set, so views stored before the option existed keep their exact description.
                    **({"observation_time": part.observation_time} if part.observation_time else {}),
                    **({"strictly_before": True} if part.strictly_before else {}),
                }
                for part in self.parts
            ]
        }

    @staticmethod
    def feature_groups_in(data: Any) -> set[tuple[str, int]]:
        """``{(name, version)}`` of the feature groups a `to_dict` description reads (without looking them up)."""
        return {(item["feature_group"], int(item["version"])) for item in data["parts"]}

    @classmethod
    def from_dict(cls, data: Any, feature_group: Callable[[str, int], FeatureGroupMeta]) -> QueryPlan:
        """Rebuild a plan from `to_dict`'s description.

        Args:
            data: The description.
            feature_group: Returns the metadata of feature group (name, version).

        Raises:
            QueryError: ``data`` is not such a description.
        """
        try:
            items = data["parts"]
            parts = [
                QueryPart(feature_group(item["feature_group"], item["version"]), tuple(item["features"]),
                          tuple(tuple(pair) for pair in item["on"]), item["prefix"], item.get("observation_time", ""),
                          bool(item.get("strictly_before", False)))
                for item in items
            ]
        except (KeyError, TypeError) as exc:
            raise QueryError(f"not a query description (as Query.to_dict makes): {data!r:.200} ({exc!r})") from None
        if not parts:
            raise QueryError("a query description needs at least one part")
        return cls.of(parts)

    # -- SQL ---------------------------------------------------------------------------------

    def sql(self, as_of_commit: int | None = None, start_time: pd.Timestamp | None = None,
            end_time: pd.Timestamp | None = None) -> tuple[str, list[Any]]:
        """The point-in-time SQL for this plan, as one statement.

        `stages` splits the same read into one statement per joined feature group, which
        is how `QueryEngine` runs it; both give the same rows.

        Args:
            as_of_commit: Read every feature group as of this commit (None: latest).
            start_time: Keep observations with event time at or after this.
            end_time: Keep observations with event time before this.

        Returns:
            The statement and its parameters.

        Raises:
            QueryError: A time window on a label side without event time.
        """
        observations, params = self._observations(as_of_commit, start_time, end_time)
        root = self.left
        # Where each output column comes from, as SQL, so later joins can key on earlier ones.
        source = {out: f"o.{quote(origin.column)}" for out, origin in self.output.items() if origin.part == 0}
        when_root = f"o.{quote(root.event_time)}" if root.event_time else None
        froms = [f"({observations}) AS o"]
        for index in range(1, len(self.parts)):
            clause, columns = self._join(index, source, when_root, as_of_commit)
            froms.append(clause)
            source.update(columns)
        select = ", ".join(f"{source[out]} AS {quote(out)}" for out in self.output)
        order = ", ".join(f"o.{quote(key)}" for key in root.upsert_key)
        return f"SELECT {select} FROM {' '.join(froms)} ORDER BY {order}", params

    def stages(self, as_of_commit: int | None, start_time: pd.Timestamp | None, end_time: pd.Timestamp | None,
               table_prefix: str) -> list[tuple[str, list[Any]]]:
        """The rows of `sql`, joined one feature group per statement.

        A single statement with several point-in-time joins makes DuckDB build every
        join's sorted feature rows before the first observation is joined, so they are
        all in memory at once; joining one group per statement into a temporary table
        keeps one at a time (at 1M observations x 10M feature rows: DuckDB's sort memory
        690 -> 380 MiB, the process's peak 1.2 -> 1.0 GiB, for the same CPU time). With
        fewer than two joins this is `sql` itself.

        Args:
            as_of_commit: Read every feature group as of this commit (None: latest).
            start_time: Keep observations with event time at or after this.
            end_time: Keep observations with event time before this.
            table_prefix: Names the temporary tables: ``{table_prefix}{n}`` for n = 1, 2, ...

        Returns:
            ``(statement, parameters)`` in order: each but the last creates the temporary
            table ``{table_prefix}{n}`` (n = 1, 2, ...) that the next one reads; the last
            selects the result. The caller drops the tables.

        Raises:
            QueryError: A time window on a label side without event time.
        """
        if len(self.parts) < 3:
            return [self.sql(as_of_commit, start_time, end_time)]
        observations, params = self._observations(as_of_commit, start_time, end_time)
        root = self.left
        # Each temporary table holds the output columns so far under their own names, and the
        # label side's key and event time (for the order and the as-of time) under reserved ones.
        keys = {key: f"_fti_key_{number}" for number, key in enumerate(root.upsert_key)}
        source = {out: f"o.{quote(origin.column)}" for out, origin in self.output.items() if origin.part == 0}
        carried = {alias: f"o.{quote(key)}" for key, alias in keys.items()}
        when_root = f"o.{quote(root.event_time)}" if root.event_time else None
        left = f"({observations}) AS o"
        statements = []
        last = len(self.parts) - 1
        for index in range(1, last + 1):
            clause, columns = self._join(index, source, when_root, as_of_commit)
            source.update(columns)
            done = [out for out, origin in self.output.items() if origin.part <= index]
            if index == last:
                select = ", ".join(f"{source[out]} AS {quote(out)}" for out in self.output)
                order = ", ".join(carried[keys[key]] for key in root.upsert_key)
                statements.append((f"SELECT {select} FROM {left} {clause} ORDER BY {order}", params))
                break
            table = f"{table_prefix}{index}"
            select = ", ".join([f"{source[out]} AS {quote(out)}" for out in done]
                               + [f"{value} AS {quote(alias)}" for alias, value in carried.items()])
            statements.append((f"CREATE TEMP TABLE {quote(table)} AS SELECT {select} FROM {left} {clause}", params))
            params = []
            left = f"{quote(table)} AS o"
            source = {out: f"o.{quote(out)}" for out in done}
            carried = {alias: f"o.{quote(alias)}" for alias in carried}
            if root.event_time:
                when_root = carried[keys[root.event_time]]
        return statements

    def _observations(self, as_of_commit: int | None, start_time: pd.Timestamp | None,
                      end_time: pd.Timestamp | None) -> tuple[str, list[Any]]:
        """SQL of the label side's rows (its observations) in the time window, and its parameters.

        Raises:
            QueryError: A time window on a label side without event time.
        """
        root = self.left
        params: list[Any] = []
        where = []
        if not root.event_time and (start_time is not None or end_time is not None):
            raise QueryError(f"{root.label} has no event time, so start_time and end_time cannot select its rows")
        if root.event_time:
            if start_time is not None:
                where.append(f"{quote(root.event_time)} >= ?")
                params.append(start_time)
            if end_time is not None:
                where.append(f"{quote(root.event_time)} < ?")
                params.append(end_time)
        observations = state_sql(root, as_of_commit)
        if where:
            observations = f"SELECT * FROM ({observations}) WHERE {' AND '.join(where)}"
        return observations, params

    def _join(self, index: int, source: Mapping[str, str], when_root: str | None,
              as_of_commit: int | None) -> tuple[str, dict[str, str]]:
        """The join clause of part ``index`` (alias ``j{index}``) and the SQL of the output columns it adds.

        Args:
            index: The part (1 or more).
            source: SQL of each output column of the query so far, in the left relation ``o``.
            when_root: SQL of the label side's event time in ``o`` (None: it has none).
            as_of_commit: Read the group as of this commit (None: latest).
        """
        part = self.parts[index]
        alias = f"j{index}"
        fg = part.feature_group
        keys = " AND ".join(f"{source[left]} = {alias}.{quote(right)}" for left, right in part.on)
        state = state_sql(fg, as_of_commit)
        # The time each observation is joined as of: the label side's event time, or the column asked for.
        when = source[part.observation_time] if part.observation_time else when_root
        if fg.event_time and when:
            # Strictly before: the state the group held just before the observation, not the row it wrote itself.
            compare = ">" if part.strictly_before else ">="
            clause = (f"ASOF LEFT JOIN ({state}) AS {alias} ON {keys} "
                      f"AND {when} {compare} {alias}.{quote(fg.event_time)}")
        elif fg.event_time:
            # No observation time: take each key's newest row.
            partition = ", ".join(quote(right) for _, right in part.on)
            latest = (
                f"SELECT * FROM ({state}) QUALIFY row_number() OVER "
                f"(PARTITION BY {partition} ORDER BY {quote(fg.event_time)} DESC) = 1"
            )
            clause = f"LEFT JOIN ({latest}) AS {alias} ON {keys}"
        else:
            clause = f"LEFT JOIN ({state}) AS {alias} ON {keys}"
        stale = None
        if fg.ttl is not None and fg.event_time and when:
            ttl_us = int(fg.ttl.total_seconds() * 1_000_000)
            stale = f"epoch_us({when}) - epoch_us({alias}.{quote(fg.event_time)}) > {ttl_us}"
        columns = {}
        for out, origin in self.output.items():
            if origin.part == index:
                value = f"{alias}.{quote(origin.column)}"
                columns[out] = f"CASE WHEN {stale} THEN NULL ELSE {value} END" if stale else value
        return clause, columns


def time_window(start_time: Any, end_time: Any, where: str) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """Read ``[start_time, end_time)`` as UTC timestamps (either may be None).

    Raises:
        InvalidTimeError: A bound is not a date or time.
        QueryError: ``start_time`` is after ``end_time``.
    """
    start = None if start_time is None else arguments.moment(start_time, "start_time", where)
    end = None if end_time is None else arguments.moment(end_time, "end_time", where)
    if start is not None and end is not None and start > end:
        raise QueryError(f"{where}: start_time {start.isoformat()} is after end_time {end.isoformat()}")
    return start, end


class QueryEngine:
    """Runs query plans against one store.

    Args:
        storage: The store's offline database.
        feature_groups: Resolves ``as_of`` against the label side's commits.
    """

    def __init__(self, storage: Store, feature_groups: FeatureGroupEngine):
        self._storage = storage
        self._feature_groups = feature_groups

    def read(self, plan: QueryPlan, as_of: Any = None, start_time: Any = None, end_time: Any = None,
             where: str = "query") -> pd.DataFrame:
        """Run a plan as of ``as_of`` (None, a commit id or a time), in an observation time window."""
        with self._storage.connect():
            commit = self._feature_groups.resolve_as_of(plan.left, as_of)
            return self.read_at(plan, commit, *time_window(start_time, end_time, where))

    def read_at(self, plan: QueryPlan, commit: int | None, start: pd.Timestamp | None = None,
                end: pd.Timestamp | None = None) -> pd.DataFrame:
        """Run a plan as of a resolved commit id (None: the latest state), one joined group at a time."""
        # Unique per read: a read may run inside another operation on the same connection.
        prefix = f"_fti_query_{uuid.uuid4().hex}_"
        *steps, (sql, params) = plan.stages(commit, start, end, prefix)
        with self._storage.connect() as con:
            try:
                for step, step_params in steps:
                    con.execute(step, step_params)
                frame = fetch_frame(con, sql, params)
            except BaseException:
                # The error is what the caller needs; an aborted transaction may refuse the drops too.
                with contextlib.suppress(duckdb.Error):
                    _drop_tables(con, prefix, len(steps))
                raise
            _drop_tables(con, prefix, len(steps))
            return frame


def _drop_tables(con: duckdb.DuckDBPyConnection, prefix: str, count: int) -> None:
    """Drop the temporary tables ``{prefix}1`` to ``{prefix}{count}`` of a staged read."""
    for number in range(1, count + 1):
        con.execute(f"DROP TABLE IF EXISTS temp.{quote(prefix + str(number))}")
