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

Filters (`fti.store.filters`) go where the Hopsworks query constructor puts them: a
filter on label-side columns only into the observations, before the joins; one that
reads joined columns into a ``WHERE`` after them; a joined query's own filter into
that group's rows before its join, which then keeps only the observations that found
a row. Values always travel as ``?`` parameters.
"""

from __future__ import annotations

import contextlib
import numbers
import types
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from fti.exceptions import QueryError
from fti.names import check_name, quote
from fti.store import arguments, filters
from fti.store.feature_group_engine import FeatureGroupEngine, FeatureGroupMeta, state_sql
from fti.store.filters import Clause, Feature, Filter, Logic, Node
from fti.store.schema import BIGINT, BOOLEAN, DOUBLE, TIMESTAMP, VARCHAR
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
        filter: The filter its own query had when it was joined (``fg.select_all().filter(...)``):
            only the group's rows that pass it are joined, and an observation that finds none
            is dropped, as in Hopsworks. None for the label side (its filter is the plan's).
        omit: Selected columns left out of the result: a store opened through ``fti.login()``
            drops the joined group's event time in a point-in-time join, as Hopsworks does.
        renamed: ``((column, output name), ...)``: columns whose name clashed with one already in
            the query, renamed as Hopsworks does (``{group}_{version}_{column}``) in a store opened
            through ``fti.login()``.
    """

    feature_group: FeatureGroupMeta
    features: tuple[str, ...]
    on: tuple[tuple[str, str], ...] = ()
    prefix: str = ""
    observation_time: str = ""
    strictly_before: bool = False
    filter: Node | None = None
    omit: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()


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
        renamed = dict(part.renamed)
        if index == 0:
            names = list(dict.fromkeys(fg.upsert_key + list(part.features)))
        else:
            join_keys = {right for _, right in part.on}
            names = [name for name in part.features if name not in join_keys and name not in part.omit]
        for name in names:
            out = renamed.get(name, part.prefix + name)
            if out in output:
                raise QueryError(_clash_message(parts, index, name, out))
            output[out] = ColumnSource(index, name, types_by_name[name])
    return output


def _clash_message(parts: Sequence[QueryPart], index: int, name: str, out: str) -> str:
    """Why ``out`` cannot join the result, what Hopsworks would do instead, and what to write here."""
    fg = parts[index].feature_group
    if index and name == fg.event_time and parts[0].feature_group.event_time:
        hopsworks = "leave it out of the result (it drops a joined group's event time in a point-in-time join)"
    else:
        hopsworks = f"rename it to '{fg.name}_{fg.version}_{name}' (its fully qualified name)"
    return (
        f"column '{out}' of {fg.label} clashes with a column already in the query. Hopsworks would {hopsworks}, "
        f"as a store opened with fti.login() does; here join with prefix='{fg.name}_' (giving '{fg.name}_{name}') "
        "or select fewer features"
    )


_KINDS = {BIGINT: filters.WHOLE, DOUBLE: filters.NUMBER, BOOLEAN: filters.BOOL, VARCHAR: filters.TEXT,
          TIMESTAMP: filters.TIME}
_HSFS_TYPES = {BIGINT: "bigint", DOUBLE: "double", BOOLEAN: "boolean", VARCHAR: "string", TIMESTAMP: "timestamp"}


def feature_of(fg: FeatureGroupMeta, name: str, description: str | None = None) -> Feature:
    """The `Feature` for column ``name`` of ``fg``: its Hopsworks type name, key and event-time flags, group.

    Args:
        fg: The feature group's metadata.
        name: The column.
        description: What `FeatureGroup.update_feature_description` stored for it, if known.

    Raises:
        QueryError: ``fg`` has no such column.
    """
    types_by_name = dict(fg.columns)
    if name not in types_by_name:
        raise QueryError(f"{fg.label} has no feature '{name}'; its features are {fg.features}")
    sql_type = types_by_name[name]
    return Feature(name, _HSFS_TYPES.get(sql_type, sql_type.lower()), description, primary=name in fg.primary_key,
                   event_time=name == fg.event_time, feature_group=(fg.name, fg.version))


def _filter_time(value: Any, where: str, hopsworks: bool) -> pd.Timestamp:
    """A filter's time as a UTC timestamp: dates, datetimes, ISO text, and epoch milliseconds through login().

    Raises:
        QueryError: Not a time (a whole number outside a store opened through ``fti.login()``).
    """
    value = arguments.epoch_ms(value, hopsworks)  # as the Hopsworks client reads a number
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        raise QueryError(
            f"filter on {where}: {value!r} is a number, not a time (Hopsworks would read it as epoch "
            f"milliseconds); write pd.Timestamp({value!r}, unit='ms', tz='UTC') or a datetime"
        )
    return arguments.moment(value, "value", f"filter on {where}", QueryError)


@dataclass(frozen=True)
class QueryPlan:
    """A query as plain data: its parts and, derived from them, its output columns.

    Build one with `QueryPlan.select` and `QueryPlan.join` (or `QueryPlan.from_dict`).

    Attributes:
        parts: One per feature group, the label side first.
        output: ``{output column: ColumnSource}``, in the order `columns` lists them.
        filter: The query's own filter (``query.filter(...)``), or None. As in Hopsworks, a
            filter on label-side columns only selects the observations before the joins; one
            that reads a joined group's columns applies after the point-in-time joins, to the
            values each observation was joined with.
    """

    parts: tuple[QueryPart, ...]
    output: Mapping[str, ColumnSource] = field(compare=False, hash=False)
    filter: Node | None = None

    @classmethod
    def of(cls, parts: Sequence[QueryPart], filter: Node | None = None) -> QueryPlan:  # noqa: A002 (hsfs's word)
        """The plan of these parts, with its output columns resolved and checked."""
        return cls(tuple(parts), types.MappingProxyType(_resolve_output(parts)), filter)

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
             strictly_before: bool = False, hopsworks: bool = False) -> QueryPlan:
        """This plan with ``right`` (one feature group) joined point-in-time.

        ``right``'s filter, if any, selects which of its rows can be joined (see `QueryPart`).

        Args:
            observation_time: A datetime column of the query so far to join ``right`` as of,
                instead of the label side's event time (None).
            strictly_before: Take ``right``'s newest row strictly before the observation time.
            hopsworks: Resolve name clashes as Hopsworks does (a store opened through
                ``fti.login()``): leave out ``right``'s event time in a point-in-time join, and
                rename other clashing columns to ``{group}_{version}_{column}``. Otherwise a
                clash is refused.

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
        if hopsworks:
            left_keys = [self._unselected_key(key) for key in left_keys]
        for left_key, right_key in zip(left_keys, right_keys, strict=True):
            hidden = _hidden_key(left_key)
            if left_key not in self.output and hidden is None:
                raise QueryError(
                    f"joining {label}: key '{left_key}' is not a column of the query so far {self.columns}"
                    + ("" if hopsworks else " (Hopsworks joins on a group's columns even when they are not "
                       "selected; select it here)")
                )
            if right_key not in right_types:
                raise QueryError(f"joining {label}: key '{right_key}' is not a column of {label}")
            if hidden is None:
                left_type = self.output[left_key].sql_type
            else:
                left_type = dict(self.parts[hidden[0]].feature_group.columns)[hidden[1]]
            if left_type != right_types[right_key]:
                raise QueryError(
                    f"joining {label}: key '{left_key}' is {left_type} on the left but '{right_key}' is "
                    f"{right_types[right_key]} in {label}"
                )
        if observation_time is not None:
            self._check_observation_time(observation_time, fg)
        if strictly_before and not fg.event_time:
            raise QueryError(f"joining {label}: strictly_before=True needs an event time on {label}, and it has none")
        omit, renamed = self._hopsworks_names(fg, part.features, right_keys, prefix or "") if hopsworks else ((), ())
        joined = QueryPart(fg, part.features, tuple(zip(left_keys, right_keys, strict=True)), prefix or "",
                           observation_time or "", strictly_before, right.filter, omit, renamed)
        return QueryPlan.of([*self.parts, joined], self.filter)

    def _hopsworks_names(self, fg: FeatureGroupMeta, features: Sequence[str], keys: Sequence[str],
                         prefix: str) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
        """What Hopsworks does with the columns of a joined group: which it leaves out, which it renames.

        In a point-in-time join (both sides have an event time) the joined group's event time
        is dropped; any other column whose name is already in the query gets the fully
        qualified name ``{group}_{version}_{column}`` (Hopsworks adds the project's name in front).
        """
        omit = (fg.event_time,) if fg.event_time and self.left.event_time and fg.event_time not in keys else ()
        taken = set(self.output)
        renamed = []
        for name in features:
            if name in keys or name in omit:
                continue
            out = prefix + name
            if out in taken:
                out = f"{fg.name}_{fg.version}_{name}"
                renamed.append((name, out))
            taken.add(out)
        return omit, tuple(renamed)

    # -- filters -----------------------------------------------------------------------------

    def filtered(self, condition: Filter | Logic, hopsworks: bool = False) -> QueryPlan:
        """This plan with ``condition`` ANDed to its filter, each feature checked against the query.

        Args:
            condition: A `Filter` (``fg.amount > 100``) or `Logic` (``(a > 1) | (b == "x")``).
            hopsworks: Whether the store was opened through ``fti.login()``: feature names are
                then lower-cased, and whole numbers compared with times are epoch milliseconds.

        Raises:
            QueryError: Not a filter; a feature that is not a column of the query's feature
                groups (or one that two of them have, named without its group); a value of
                the wrong type for its column.
        """
        return QueryPlan.of(self.parts, filters.conjoin(self.filter, self._check(condition, hopsworks)))

    def _check(self, node: Filter | Logic, hopsworks: bool) -> Node:
        if isinstance(node, Filter):
            return self._clause(node, hopsworks)
        if not isinstance(node, Logic):
            raise QueryError(f"query.filter takes a filter such as fg.amount > 100, got {type(node).__name__}")
        left = self._check(node.get_left_filter_or_logic(), hopsworks)
        right = node.get_right_filter_or_logic()
        return left if right is None else filters.Both(node.type, left, self._check(right, hopsworks))

    def _clause(self, condition: Filter, hopsworks: bool) -> Clause:
        """One filter, checked: which part and column it reads, its value converted for the column."""
        feature = condition.feature
        name = arguments.hopsworks_name(feature.name, hopsworks)
        groups = ", ".join(part.feature_group.label for part in self.parts)
        if feature.feature_group is not None:
            group_name, group_version = feature.feature_group
            found = [index for index, part in enumerate(self.parts)
                     if (part.feature_group.name, part.feature_group.version) == (group_name, group_version)]
            if not found:
                raise QueryError(
                    f"filter on '{name}' of feature group '{group_name}' v{group_version}: that group is not in "
                    f"this query ({groups}); join it first, or filter the query it belongs to"
                )
            index, column = found[0], name
            fg = self.parts[index].feature_group
            if column not in dict(fg.columns):
                raise QueryError(f"filter on '{column}': {fg.label} has no such column; its columns are {fg.features}")
        elif name in self.output:
            index, column = self.output[name].part, self.output[name].column
        else:
            found = [index for index, part in enumerate(self.parts) if name in dict(part.feature_group.columns)]
            if not found:
                raise QueryError(f"filter on '{name}': no such column in this query; its columns are {self.columns}")
            if len({self.parts[index].feature_group.label for index in found}) > 1:
                raise QueryError(
                    f"filter on '{name}': more than one feature group of this query has a column '{name}' "
                    f"({groups}); say which, e.g. fg.get_feature('{name}') or fg.{name}"
                )
            index, column = found[0], name
        fg = self.parts[index].feature_group
        sql_type = dict(fg.columns)[column]
        kind = _KINDS.get(sql_type)
        where = f"column '{column}' of {fg.label} ({sql_type})"
        if kind is None:
            raise QueryError(f"filter on {where}: this column's type cannot be filtered")
        value = condition.value
        value = filters.convert(value, kind, condition.condition, where,
                                lambda moment: _filter_time(moment, where, hopsworks))
        return Clause(index, column, kind, condition.condition, value)

    def _unselected_key(self, key: str) -> str:
        """A join key of the query so far, or, when it is not selected, the hidden name of a column that is not.

        Hopsworks joins on a feature group's columns whether or not they are selected. The
        column is then carried through the joins under a name the result never shows
        (`_hidden_key`); the first feature group that has it, label side first, gives it.
        """
        if key in self.output:
            return key
        for index, part in enumerate(self.parts):
            if key in part.feature_group.features:
                return f"{_HIDDEN_KEY}{index}_{key}"
        return key  # not a column anywhere: refused by the caller with the usual message

    def _pushed_down(self) -> bool:
        """Whether the plan's filter reads label-side columns only, so it selects observations before the joins."""
        return all(clause.part == 0 for clause in filters.clauses(self.filter))

    def _carried(self) -> dict[str, ColumnSource]:
        """The output columns, then unselected join keys, then the columns a filter after the joins reads.

        Those after the output columns are computed through the joins and never shown.
        """
        carried = dict(self.output)
        for part in self.parts[1:]:
            for left, _ in part.on:
                hidden = _hidden_key(left)
                if hidden is not None and left not in carried:
                    index, column = hidden
                    carried[left] = ColumnSource(index, column, dict(self.parts[index].feature_group.columns)[column])
        if self.filter is None or self._pushed_down():
            return carried
        have = {(origin.part, origin.column) for origin in carried.values()}
        for clause in filters.clauses(self.filter):
            if (clause.part, clause.column) not in have:
                sql_type = dict(self.parts[clause.part].feature_group.columns)[clause.column]
                hidden = f"_fti_filter_{clause.part}_{clause.column}"
                carried[hidden] = ColumnSource(clause.part, clause.column, sql_type)
                have.add((clause.part, clause.column))
        return carried

    def _after_joins(self, source: Mapping[str, str], carried: Mapping[str, ColumnSource]) -> tuple[str, list[Any]]:
        """`` WHERE ...`` for a filter that reads joined columns (empty when there is none), and its parameters."""
        if self.filter is None or self._pushed_down():
            return "", []
        names = {(origin.part, origin.column): out for out, origin in carried.items()}
        condition, params = filters.to_sql(self.filter, lambda clause: source[names[(clause.part, clause.column)]])
        return f" WHERE {condition}", params

    def filter_logic(self) -> Logic | None:
        """Every filter of the plan, ANDed, as the Hopsworks client shows them (``query.filters``), or None.

        The plan's own filter first, then those its joined queries brought, in join order.
        """
        trees = [(self.filter, None)] + [(part.filter, index) for index, part in enumerate(self.parts)]
        logic: Logic | None = None
        for tree, index in trees:
            if tree is None:
                continue

            def feature(clause: Clause, index: int | None = index) -> Feature:
                part = self.parts[clause.part if index is None else index]
                return feature_of(part.feature_group, clause.column)

            built = filters.to_logic(tree, feature)
            logic = built if logic is None else logic & built
        return logic

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
                    **({"filter": filters.to_dict(part.filter)} if part.filter is not None else {}),
                    **({"omit": list(part.omit)} if part.omit else {}),
                    **({"renamed": [list(pair) for pair in part.renamed]} if part.renamed else {}),
                }
                for part in self.parts
            ],
            **({"filter": filters.to_dict(self.filter)} if self.filter is not None else {}),
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
        def stored_filter(item: Any) -> Node | None:
            return filters.from_dict(item["filter"]) if item.get("filter") is not None else None

        try:
            items = data["parts"]
            parts = [
                QueryPart(feature_group(item["feature_group"], item["version"]), tuple(item["features"]),
                          tuple(tuple(pair) for pair in item["on"]), item["prefix"], item.get("observation_time", ""),
                          bool(item.get("strictly_before", False)), stored_filter(item),
                          tuple(item.get("omit", ())), tuple(tuple(pair) for pair in item.get("renamed", ())))
                for item in items
            ]
            root_filter = stored_filter(data)
        except (KeyError, TypeError, AttributeError) as exc:
            raise QueryError(f"not a query description (as Query.to_dict makes): {data!r:.200} ({exc!r})") from None
        if not parts:
            raise QueryError("a query description needs at least one part")
        for part in parts:
            unknown = [name for name in part.features if name not in dict(part.feature_group.columns)]
            if unknown:
                raise QueryError(
                    f"a stored query selects {unknown} from {part.feature_group.label}, which has no such column(s)"
                )
        checks = [(clause, clause.part) for clause in filters.clauses(root_filter)]
        checks += [(clause, index) for index, part in enumerate(parts) for clause in filters.clauses(part.filter)]
        for clause, index in checks:
            if not 0 <= index < len(parts) or clause.column not in dict(parts[index].feature_group.columns):
                raise QueryError(f"a stored filter reads column '{clause.column}', which its query does not have")
        return cls.of(parts, root_filter)

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
        carried = self._carried()
        # Where each output column comes from, as SQL, so later joins can key on earlier ones.
        source = {out: f"o.{quote(origin.column)}" for out, origin in carried.items() if origin.part == 0}
        when_root = f"o.{quote(root.event_time)}" if root.event_time else None
        froms = [f"({observations}) AS o"]
        for index in range(1, len(self.parts)):
            clause, columns, clause_params = self._join(index, source, when_root, as_of_commit, carried)
            froms.append(clause)
            params += clause_params
            source.update(columns)
        where, where_params = self._after_joins(source, carried)
        select = ", ".join(f"{source[out]} AS {quote(out)}" for out in self.output)
        order = ", ".join(f"o.{quote(key)}" for key in root.upsert_key)
        return f"SELECT {select} FROM {' '.join(froms)}{where} ORDER BY {order}", params + where_params

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
        carried = self._carried()
        # Each temporary table holds the output columns so far under their own names (and the
        # columns a filter after the joins reads), and the label side's key and event time (for
        # the order and the as-of time) under reserved ones.
        keys = {key: f"_fti_key_{number}" for number, key in enumerate(root.upsert_key)}
        source = {out: f"o.{quote(origin.column)}" for out, origin in carried.items() if origin.part == 0}
        helpers = {alias: f"o.{quote(key)}" for key, alias in keys.items()}
        when_root = f"o.{quote(root.event_time)}" if root.event_time else None
        left = f"({observations}) AS o"
        statements = []
        last = len(self.parts) - 1
        for index in range(1, last + 1):
            clause, columns, clause_params = self._join(index, source, when_root, as_of_commit, carried)
            params = params + clause_params
            source.update(columns)
            done = [out for out, origin in carried.items() if origin.part <= index]
            if index == last:
                where, where_params = self._after_joins(source, carried)
                select = ", ".join(f"{source[out]} AS {quote(out)}" for out in self.output)
                order = ", ".join(helpers[keys[key]] for key in root.upsert_key)
                statements.append((f"SELECT {select} FROM {left} {clause}{where} ORDER BY {order}",
                                   params + where_params))
                break
            table = f"{table_prefix}{index}"
            select = ", ".join([f"{source[out]} AS {quote(out)}" for out in done]
                               + [f"{value} AS {quote(alias)}" for alias, value in helpers.items()])
            statements.append((f"CREATE TEMP TABLE {quote(table)} AS SELECT {select} FROM {left} {clause}", params))
            params = []
            left = f"{quote(table)} AS o"
            source = {out: f"o.{quote(out)}" for out in done}
            helpers = {alias: f"o.{quote(alias)}" for alias in helpers}
            if root.event_time:
                when_root = helpers[keys[root.event_time]]
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
        if self.filter is not None and self._pushed_down():
            # A filter on label-side columns only selects observations: applied before the joins, as Hopsworks does.
            condition, condition_params = filters.to_sql(self.filter, lambda clause: quote(clause.column))
            where.append(condition)
            params += condition_params
        observations = state_sql(root, as_of_commit)
        if where:
            observations = f"SELECT * FROM ({observations}) WHERE {' AND '.join(where)}"
        return observations, params

    def _join(self, index: int, source: Mapping[str, str], when_root: str | None, as_of_commit: int | None,
              carried: Mapping[str, ColumnSource]) -> tuple[str, dict[str, str], list[Any]]:
        """The join clause of part ``index`` (alias ``j{index}``), the SQL of the columns it adds, its parameters.

        Args:
            index: The part (1 or more).
            source: SQL of each output column of the query so far, in the left relation ``o``.
            when_root: SQL of the label side's event time in ``o`` (None: it has none).
            as_of_commit: Read the group as of this commit (None: latest).
            carried: The columns to compute (`_carried`).
        """
        part = self.parts[index]
        alias = f"j{index}"
        fg = part.feature_group
        keys = " AND ".join(f"{source[left]} = {alias}.{quote(right)}" for left, right in part.on)
        state = state_sql(fg, as_of_commit)
        params: list[Any] = []
        # Hopsworks filters a joined query's rows before the point-in-time join, and drops the
        # observations that find no row passing the filter: an inner join, not a left one.
        outer = "LEFT "
        if part.filter is not None:
            condition, params = filters.to_sql(part.filter, lambda clause: quote(clause.column))
            state = f"SELECT * FROM ({state}) WHERE {condition}"
            outer = ""
        # The time each observation is joined as of: the label side's event time, or the column asked for.
        when = source[part.observation_time] if part.observation_time else when_root
        if fg.event_time and when:
            # Strictly before: the state the group held just before the observation, not the row it wrote itself.
            compare = ">" if part.strictly_before else ">="
            clause = (f"ASOF {outer}JOIN ({state}) AS {alias} ON {keys} "
                      f"AND {when} {compare} {alias}.{quote(fg.event_time)}")
        elif fg.event_time:
            # No observation time: take each key's newest row.
            partition = ", ".join(quote(right) for _, right in part.on)
            latest = (
                f"SELECT * FROM ({state}) QUALIFY row_number() OVER "
                f"(PARTITION BY {partition} ORDER BY {quote(fg.event_time)} DESC) = 1"
            )
            clause = f"{outer}JOIN ({latest}) AS {alias} ON {keys}"
        else:
            clause = f"{outer}JOIN ({state}) AS {alias} ON {keys}"
        stale = None
        if fg.ttl is not None and fg.event_time and when:
            ttl_us = int(fg.ttl.total_seconds() * 1_000_000)
            stale = f"epoch_us({when}) - epoch_us({alias}.{quote(fg.event_time)}) > {ttl_us}"
        columns = {}
        for out, origin in carried.items():
            if origin.part == index:
                value = f"{alias}.{quote(origin.column)}"
                columns[out] = f"CASE WHEN {stale} THEN NULL ELSE {value} END" if stale else value
        return clause, columns, params


# Join keys that are not selected (Hopsworks code joins on them) are carried under this prefix.
_HIDDEN_KEY = "_fti_key_"


def _hidden_key(name: str) -> tuple[int, str] | None:
    """``(part, column)`` of a hidden join key's name (see `QueryPlan._unselected_key`), else None."""
    if not name.startswith(_HIDDEN_KEY):
        return None
    index, _, column = name[len(_HIDDEN_KEY):].partition("_")
    return (int(index), column) if index.isdigit() and column else None


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
             where: str = "query", limit: int | None = None) -> pd.DataFrame:
        """Run a plan as of ``as_of`` (None, a commit id or a time), in an observation time window."""
        with self._storage.connect():
            commit = self._feature_groups.resolve_as_of(plan.left, as_of)
            return self.read_at(plan, commit, *time_window(start_time, end_time, where), limit=limit)

    def read_at(self, plan: QueryPlan, commit: int | None, start: pd.Timestamp | None = None,
                end: pd.Timestamp | None = None, limit: int | None = None) -> pd.DataFrame:
        """Run a plan as of a resolved commit id (None: the latest state), one joined group at a time.

        Args:
            limit: Return at most this many rows (the first ones in the result's order).
        """
        # Unique per read: a read may run inside another operation on the same connection.
        prefix = f"_fti_query_{uuid.uuid4().hex}_"
        *steps, (sql, params) = plan.stages(commit, start, end, prefix)
        if limit is not None:
            sql, params = f"{sql} LIMIT ?", [*params, int(limit)]
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
