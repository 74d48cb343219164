"""Queries: which features to take from which feature groups, and how they join.

The first feature group of a query is the *label side*: its rows are the
observations (an entity at an event time, usually with the outcome to predict).
Every joined feature group adds columns to each observation with a
point-in-time join: the values come from the row with the same key whose event
time is the latest one *not after* the observation's event time. A feature that
only became known later never leaks into an earlier observation, and an
observation with no earlier feature row keeps its place with nulls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from fti.exceptions import QueryError
from fti.names import check_name, quote
from fti.store.storage import fetch_frame

if TYPE_CHECKING:
    from fti.store.feature_group import FeatureGroup


@dataclass(frozen=True)
class _Part:
    """One feature group in a query."""

    fg: FeatureGroup
    features: tuple[str, ...]
    on: tuple[tuple[str, str], ...] = ()  # (column of the result so far, column of this group)
    prefix: str = ""


class Query:
    """A selection of features from one feature group, joined point-in-time with others.

    Build one with ``fg.select([...])`` or ``fg.select_all()`` and ``.join(...)``.
    """

    def __init__(self, parts: list[_Part]):
        self._parts = parts
        self._output = self._resolve_output()

    @classmethod
    def of(cls, fg: FeatureGroup, features: list[str]) -> Query:
        known = set(fg.features)
        unknown = [name for name in features if name not in known]
        if unknown:
            raise QueryError(f"{fg.label} has no feature(s) {unknown}; its features are {fg.features}")
        return cls([_Part(fg, tuple(dict.fromkeys(features)))])

    # -- building --------------------------------------------------------------------------------

    @property
    def left(self) -> FeatureGroup:
        """The label-side feature group whose rows are the observations."""
        return self._parts[0].fg

    @property
    def feature_groups(self) -> list[FeatureGroup]:
        return [part.fg for part in self._parts]

    @property
    def columns(self) -> list[str]:
        """Names of the columns `read` returns, in order."""
        return list(self._output)

    def join(self, sub_query: Query, on: list[str] | None = None, left_on: list[str] | None = None,
             right_on: list[str] | None = None, join_type: str = "left", prefix: str | None = None) -> Query:
        """Join another feature group's selection, point-in-time, on the label side's event time.

        Args:
            sub_query: ``other_fg.select([...])``: one feature group.
            on: Key columns with the same name on both sides. By default the other
                group's primary key, which must then exist on this side.
            left_on: Key columns of this side, when the names differ (with ``right_on``).
            right_on: The matching key columns of the other group.
            join_type: Only ``"left"``: every observation is kept.
            prefix: Put before the other group's column names, to avoid clashes.

        Raises:
            QueryError: No common key, unknown key columns, mismatched key types, or
                two output columns with the same name.
        """
        if not isinstance(sub_query, Query):
            raise QueryError(f"join expects a query such as fg.select([...]), got {type(sub_query).__name__}")
        if join_type != "left":
            raise QueryError(f"join_type {join_type!r} is not supported: point-in-time joins keep every observation")
        if len(sub_query._parts) != 1:
            raise QueryError("join one feature group at a time: chain q.join(a.select(...)).join(b.select(...))")
        right = sub_query._parts[0]
        label = right.fg.label
        if prefix is not None:
            prefix = check_name(prefix, "join prefix")
        if on is not None and (left_on is not None or right_on is not None):
            raise QueryError(f"joining {label}: give either on=[...] or left_on/right_on, not both")
        if on is not None:
            left_keys, right_keys = list(on), list(on)
        elif left_on is not None or right_on is not None:
            left_keys, right_keys = list(left_on or []), list(right_on or [])
            if len(left_keys) != len(right_keys) or not left_keys:
                raise QueryError(f"joining {label}: left_on and right_on need the same number of columns")
        else:
            right_keys = list(right.fg.primary_key)
            left_keys = right_keys
            absent = [key for key in left_keys if key not in self._output]
            if absent:
                raise QueryError(
                    f"joining {label}: no common key; it has primary key {right.fg.primary_key} but the "
                    f"query so far has no column(s) {absent}. Pass on=[...] or left_on/right_on"
                )
        if not left_keys:
            raise QueryError(f"joining {label}: on=[] names no key column")
        right_types = dict(right.fg.columns)
        for left_key, right_key in zip(left_keys, right_keys):
            if left_key not in self._output:
                raise QueryError(
                    f"joining {label}: key '{left_key}' is not a column of the query so far {self.columns}"
                )
            if right_key not in right_types:
                raise QueryError(f"joining {label}: key '{right_key}' is not a column of {label}")
            left_type = self._output[left_key][2]
            if left_type != right_types[right_key]:
                raise QueryError(
                    f"joining {label}: key '{left_key}' is {left_type} on the left but '{right_key}' is "
                    f"{right_types[right_key]} in {label}"
                )
        part = _Part(right.fg, right.features, tuple(zip(left_keys, right_keys)), prefix or "")
        return Query(self._parts + [part])

    def _resolve_output(self) -> dict[str, tuple[int, str, str]]:
        """Map each output column to (part index, source column, type), checking for clashes."""
        output: dict[str, tuple[int, str, str]] = {}
        for index, part in enumerate(self._parts):
            types = dict(part.fg.columns)
            if index == 0:
                helpers = part.fg.primary_key + ([part.fg.event_time] if part.fg.event_time else [])
                names = list(dict.fromkeys(helpers + list(part.features)))
            else:
                join_keys = {right for _, right in part.on}
                names = [name for name in part.features if name not in join_keys]
            for name in names:
                out = part.prefix + name
                if out in output:
                    raise QueryError(
                        f"column '{out}' of {part.fg.label} clashes with a column already in the query; "
                        "select fewer features or join with prefix='...'"
                    )
                output[out] = (index, name, types[name])
        return output

    # -- persistence -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description, stored with feature views."""
        return {
            "parts": [
                {
                    "feature_group": part.fg.name,
                    "version": part.fg.version,
                    "features": list(part.features),
                    "on": [list(pair) for pair in part.on],
                    "prefix": part.prefix,
                }
                for part in self._parts
            ]
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], feature_store: Any) -> Query:
        parts = []
        for item in data["parts"]:
            fg = feature_store.get_feature_group(item["feature_group"], item["version"])
            parts.append(_Part(fg, tuple(item["features"]), tuple(tuple(pair) for pair in item["on"]), item["prefix"]))
        return cls(parts)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Query) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        joined = " + ".join(f"{part.fg.name} v{part.fg.version}" for part in self._parts)
        return f"Query({joined}: {len(self._output)} columns)"

    # -- SQL -------------------------------------------------------------------------------------

    def sql(self, as_of_commit: int | None = None, start_time: pd.Timestamp | None = None,
            end_time: pd.Timestamp | None = None) -> tuple[str, list[Any]]:
        """The point-in-time SQL for this query.

        Args:
            as_of_commit: Read every feature group as of this commit (None: latest).
            start_time: Keep observations with event time at or after this.
            end_time: Keep observations with event time before this.

        Returns:
            The statement and its parameters.
        """
        root = self._parts[0].fg
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
        observations = root.state_sql(as_of_commit)
        if where:
            observations = f"SELECT * FROM ({observations}) WHERE {' AND '.join(where)}"

        # Where each output column comes from, as SQL, so later joins can key on earlier ones.
        source: dict[str, str] = {}
        for out, (index, name, _) in self._output.items():
            if index == 0:
                source[out] = f"o.{quote(name)}"
        froms = [f"({observations}) AS o"]
        for index, part in enumerate(self._parts[1:], start=1):
            alias = f"j{index}"
            fg = part.fg
            keys = " AND ".join(f"{source[left]} = {alias}.{quote(right)}" for left, right in part.on)
            state = fg.state_sql(as_of_commit)
            if fg.event_time and root.event_time:
                froms.append(
                    f"ASOF LEFT JOIN ({state}) AS {alias} ON {keys} "
                    f"AND o.{quote(root.event_time)} >= {alias}.{quote(fg.event_time)}"
                )
            elif fg.event_time:
                # No observation time: take each key's newest row.
                partition = ", ".join(quote(right) for _, right in part.on)
                latest = (
                    f"SELECT * FROM ({state}) QUALIFY row_number() OVER "
                    f"(PARTITION BY {partition} ORDER BY {quote(fg.event_time)} DESC) = 1"
                )
                froms.append(f"LEFT JOIN ({latest}) AS {alias} ON {keys}")
            else:
                froms.append(f"LEFT JOIN ({state}) AS {alias} ON {keys}")
            stale = None
            if fg.ttl is not None and fg.event_time and root.event_time:
                ttl_us = int(fg.ttl.total_seconds() * 1_000_000)
                stale = f"epoch_us(o.{quote(root.event_time)}) - epoch_us({alias}.{quote(fg.event_time)}) > {ttl_us}"
            for out, (part_index, name, _) in self._output.items():
                if part_index == index:
                    value = f"{alias}.{quote(name)}"
                    source[out] = f"CASE WHEN {stale} THEN NULL ELSE {value} END" if stale else value
        select = ", ".join(f"{source[out]} AS {quote(out)}" for out in self._output)
        order = ", ".join(
            f"o.{quote(key)}" for key in root.primary_key + ([root.event_time] if root.event_time else [])
        )
        return f"SELECT {select} FROM {' '.join(froms)} ORDER BY {order}", params

    def read(self, as_of: Any = None, start_time: Any = None, end_time: Any = None) -> pd.DataFrame:
        """Run the query: one row per observation, ordered by the label side's key and event time.

        Args:
            as_of: A commit id or datetime to read every feature group as it was then.
            start_time: Keep observations at or after this time (inclusive).
            end_time: Keep observations before this time (exclusive).
        """
        fs = self.left._fs
        with fs._store.connect() as con:
            commit = fs._resolve_as_of(con, as_of, self.left)
            sql, params = self.sql(commit, *fs._time_window(start_time, end_time))
            return fetch_frame(con, sql, params)
