"""Features and filters, as the Hopsworks client writes them: ``fg.amount > 100``, ``(a == 1) | (b < 2)``.

A `Feature` names one column of one feature group. Comparing it with a value
(``== != < <= > >=``), or calling ``isin``/``like``, makes a `Filter`; filters
combine with ``&`` and ``|`` into a `Logic` tree, as in ``hsfs.constructor.filter``.
``Query.filter`` takes either and checks it against the query's columns: it then
becomes a `Clause`/`Both` tree (the column's feature group part, its stored type, a
value converted to that type), which this module also stores as JSON and renders
as DuckDB SQL with ``?`` parameters, never with values pasted into the text.

This module sits in the store's bottom layer: it knows no feature group, query or
store, only names, types and values.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import numbers
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
import pandas as pd

from fti.exceptions import QueryError
from fti.names import quote

# The conditions of a filter, spelled as the Hopsworks client spells them.
GE = "GREATER_THAN_OR_EQUAL"
GT = "GREATER_THAN"
NE = "NOT_EQUALS"
EQ = "EQUALS"
LE = "LESS_THAN_OR_EQUAL"
LT = "LESS_THAN"
IN = "IN"
LK = "LIKE"

_SQL_OPERATORS = {GE: ">=", GT: ">", NE: "<>", EQ: "=", LE: "<=", LT: "<"}
CONDITIONS = (*_SQL_OPERATORS, IN, LK)

AND = "AND"
OR = "OR"
SINGLE = "SINGLE"

# Value kinds a column can hold (the store's column types map onto these).
NUMBER = "number"
WHOLE = "whole"
BOOL = "bool"
TEXT = "text"
TIME = "time"


def _group_identity(feature_group: Any) -> tuple[str, int] | None:
    """``(name, version)`` of a feature group handle or pair, or None."""
    if feature_group is None:
        return None
    if isinstance(feature_group, tuple) and len(feature_group) == 2:
        name, version = feature_group
    else:
        name, version = getattr(feature_group, "name", None), getattr(feature_group, "version", None)
    if not isinstance(name, str) or isinstance(version, bool) or not isinstance(version, numbers.Integral):
        raise QueryError(
            f"feature_group must be a feature group or a (name, version) pair, got {feature_group!r:.80}"
        )
    return name, int(version)


class Feature:
    """One feature (column) of a feature group, as ``hsfs.feature.Feature``.

    Comparisons make filters rather than booleans: ``fg.amount > 100`` is a `Filter`
    for ``Query.filter``. ``hash`` stays defined (by feature group and name), and
    ``f in [...]`` or a dict lookup still works: the `Filter` two features make with
    ``==`` is true exactly when they are the same feature of the same group.

    Args:
        name: The column's name.
        type: Its type as the Hopsworks client names it (``"bigint"``, ``"double"``,
            ``"boolean"``, ``"string"``, ``"timestamp"``), or None. Descriptive only:
            a query checks values against the stored column type.
        description: Free text.
        primary: Whether it is part of the feature group's primary key.
        foreign: Accepted for Hopsworks compatibility (foreign keys are not modelled).
        partition: Accepted for Hopsworks compatibility (no partitions here).
        hudi_precombine_key: Accepted for Hopsworks compatibility (no Hudi here).
        online_type: Accepted for Hopsworks compatibility (one type for both stores).
        default_value: Refused when given: Hopsworks fills nulls of an appended feature with it,
            which the kit does not do.
        feature_group_id: Accepted for Hopsworks compatibility (groups have no numeric ids here).
        feature_group: The feature group it belongs to: a feature group handle or
            ``(name, version)``; None leaves the query to find the column by name.
        event_time: Whether it is the feature group's event time (not in the Hopsworks client).
        **kwargs: Other Hopsworks fields (``on_demand``, ``use_fully_qualified_name``...), ignored.

    Raises:
        QueryError: ``name`` is not a string, ``default_value`` is given, or ``feature_group``
            is neither a feature group nor a (name, version) pair.
    """

    def __init__(self, name: str, type: str | None = None, description: str | None = None,
                 primary: bool = False, foreign: bool = False, partition: bool = False,
                 hudi_precombine_key: bool = False, online_type: str | None = None,
                 default_value: Any = None, feature_group_id: int | None = None,
                 feature_group: Any = None, event_time: bool = False, **kwargs: Any):
        if not isinstance(name, str) or not name:
            raise QueryError(f"a feature's name must be a non-empty string, got {name!r:.80}")
        if default_value is not None:
            raise QueryError(
                f"feature '{name}': default_value={default_value!r:.40} is not supported here (Hopsworks fills "
                "nulls of an appended feature with it); fill the column before inserting instead"
            )
        del kwargs, online_type, hudi_precombine_key  # Hopsworks metadata with no meaning here
        self._name = name
        self._type = type
        self._description = description
        self._primary = bool(primary)
        self._foreign = bool(foreign)
        self._partition = bool(partition)
        self._event_time = bool(event_time)
        self._feature_group_id = feature_group_id
        self._feature_group = _group_identity(feature_group)

    @property
    def name(self) -> str:
        """Name of the feature."""
        return self._name

    @property
    def type(self) -> str | None:
        """Its type as the Hopsworks client names it (not a Python type), or None."""
        return self._type

    @property
    def description(self) -> str | None:
        return self._description

    @property
    def primary(self) -> bool:
        """Whether it is part of the feature group's primary key."""
        return self._primary

    @property
    def foreign(self) -> bool:
        return self._foreign

    @property
    def partition(self) -> bool:
        return self._partition

    @property
    def event_time(self) -> bool:
        """Whether it is the feature group's event time (not in the Hopsworks client)."""
        return self._event_time

    @property
    def feature_group_id(self) -> int | None:
        return self._feature_group_id

    @property
    def feature_group(self) -> tuple[str, int] | None:
        """``(name, version)`` of the feature group it belongs to, or None."""
        return self._feature_group

    def to_dict(self) -> dict[str, Any]:
        """Its metadata as a plain dict (the kit's spelling of the Hopsworks fields)."""
        return {"name": self._name, "type": self._type, "description": self._description,
                "primary": self._primary, "partition": self._partition, "event_time": self._event_time,
                "feature_group": list(self._feature_group) if self._feature_group else None}

    def is_complex(self) -> bool:
        """Whether its type is an array, map or struct: never, for the kit's five column types."""
        return False

    # -- filters ---------------------------------------------------------------------------------

    def _compare(self, condition: str, value: Any) -> Filter:
        return Filter(self, condition, value)

    def __lt__(self, other: Any) -> Filter:
        return self._compare(LT, other)

    def __le__(self, other: Any) -> Filter:
        return self._compare(LE, other)

    def __eq__(self, other: Any) -> Filter:  # type: ignore[override]
        return self._compare(EQ, other)

    def __ne__(self, other: Any) -> Filter:  # type: ignore[override]
        return self._compare(NE, other)

    def __ge__(self, other: Any) -> Filter:
        return self._compare(GE, other)

    def __gt__(self, other: Any) -> Filter:
        return self._compare(GT, other)

    def __hash__(self) -> int:
        return hash((self._feature_group, self._name))

    def isin(self, other: Any) -> Filter:
        """Keep rows whose value is one of ``other`` (a list, or one value), like SQL ``IN``."""
        values = list(other) if isinstance(other, (list, tuple, set, frozenset, np.ndarray, pd.Series)) else [other]
        return Filter(self, IN, values)

    def contains(self, other: Any) -> Filter:
        """Deprecated in the Hopsworks client, as here: use `isin`."""
        warnings.warn("Feature.contains is deprecated, as in the Hopsworks client: use isin",
                      DeprecationWarning, stacklevel=2)
        return self.isin(other)

    def like(self, other: str) -> Filter:
        """Keep rows whose text matches the SQL ``LIKE`` pattern ``other`` (``%`` any text, ``_`` one character)."""
        return Filter(self, LK, other)

    def same_as(self, other: Feature) -> bool:
        """Whether ``other`` names the same column of the same feature group (``==`` makes a filter)."""
        return isinstance(other, Feature) and (self._feature_group, self._name) == (other._feature_group, other._name)

    def __repr__(self) -> str:
        group = f", feature_group={self._feature_group!r}" if self._feature_group else ""
        return f"Feature({self._name!r}, {self._type!r}{group})"


class Filter:
    """One condition on one feature, as ``hsfs.constructor.filter.Filter``; combine with ``&`` and ``|``.

    Args:
        feature: The feature compared.
        condition: One of `CONDITIONS` (``"EQUALS"``, ``"LESS_THAN"``, ``"IN"``, ``"LIKE"``...).
        value: What it is compared with (checked against the column when a query takes it).

    Raises:
        QueryError: ``feature`` is not a `Feature` or ``condition`` is unknown.
    """

    GE, GT, NE, EQ, LE, LT, IN, LK = GE, GT, NE, EQ, LE, LT, IN, LK

    def __init__(self, feature: Feature, condition: str, value: Any, **kwargs: Any):
        del kwargs
        if not isinstance(feature, Feature):
            raise QueryError(f"a filter needs a Feature (such as fg.amount), got {type(feature).__name__}")
        if condition not in CONDITIONS:
            raise QueryError(f"unknown filter condition {condition!r}; use one of {list(CONDITIONS)}")
        self._feature = feature
        self._condition = condition
        self._value = value

    @property
    def feature(self) -> Feature:
        """The feature the filter is applied on."""
        return self._feature

    @property
    def condition(self) -> str:
        """Condition of the filter (``"EQUALS"``, ``"GREATER_THAN"``...)."""
        return self._condition

    @property
    def value(self) -> Any:
        """Value of the filter."""
        return self._value

    def __and__(self, other: Filter | Logic) -> Logic:
        return Logic(AND, self, _side(other, "&"))

    def __or__(self, other: Filter | Logic) -> Logic:
        return Logic(OR, self, _side(other, "|"))

    def __bool__(self) -> bool:
        # ``feature in [...]`` and dict lookups compare features with ==: answer them; refuse the rest,
        # since ``a and b`` would silently keep only one condition.
        if isinstance(self._value, Feature) and self._condition in (EQ, NE):
            same = self._feature.same_as(self._value)
            return same if self._condition == EQ else not same
        raise QueryError(
            f"{self!r} is a filter, not True or False: combine filters with & and | (each in parentheses), "
            "not with and/or, and pass them to query.filter(...)"
        )

    def __repr__(self) -> str:
        return f"Filter({self._feature!r}, {self._condition!r}, {self._value!r:.80})"


class Logic:
    """Filters combined with ``&`` (AND) or ``|`` (OR), as ``hsfs.constructor.filter.Logic``.

    Args:
        type: ``"AND"``, ``"OR"`` or ``"SINGLE"`` (one filter, on the left).
        left: The left filter or logic.
        right: The right one (None for SINGLE).
    """

    AND, OR, SINGLE = AND, OR, SINGLE

    def __init__(self, type: str, left: Filter | Logic, right: Filter | Logic | None = None):
        if type not in (AND, OR, SINGLE) or (right is None) != (type == SINGLE):
            raise QueryError(f"a Logic is AND or OR of two filters, or SINGLE of one; got {type!r}")
        self._type = type
        self._left = left
        self._right = right

    @property
    def type(self) -> str:
        """Type of the logical operator: ``"AND"``, ``"OR"`` or ``"SINGLE"``."""
        return self._type

    def get_left_filter_or_logic(self) -> Filter | Logic:
        """Left side of the logical operator."""
        return self._left

    def get_right_filter_or_logic(self) -> Filter | Logic | None:
        """Right side of the logical operator (None for SINGLE)."""
        return self._right

    def __and__(self, other: Filter | Logic) -> Logic:
        return Logic(AND, self, _side(other, "&"))

    def __or__(self, other: Filter | Logic) -> Logic:
        return Logic(OR, self, _side(other, "|"))

    def __bool__(self) -> bool:
        raise QueryError(
            f"{self!r} is a filter, not True or False: combine filters with & and | (each in parentheses), "
            "not with and/or"
        )

    def __repr__(self) -> str:
        return f"Logic({self._type!r}, {self._left!r}, {self._right!r})"


def _side(other: Any, operator: str) -> Filter | Logic:
    if isinstance(other, (Filter, Logic)):
        return other
    raise QueryError(
        f"{operator} combines filters such as (fg.a > 1) {operator} (fg.b == 'x'), got {type(other).__name__}; "
        "put each comparison in parentheses"
    )


def leaves(node: Filter | Logic) -> Iterable[Filter]:
    """The filters of a `Filter` or `Logic` tree, left to right."""
    if isinstance(node, Filter):
        yield node
        return
    if not isinstance(node, Logic):
        raise QueryError(f"query.filter takes a filter such as fg.amount > 100, got {type(node).__name__}")
    yield from leaves(node.get_left_filter_or_logic())
    right = node.get_right_filter_or_logic()
    if right is not None:
        yield from leaves(right)


# -- checked filters, as a query keeps them ------------------------------------------------------


@dataclass(frozen=True)
class Clause:
    """One checked condition of a query's filter.

    Attributes:
        part: The query part (feature group) whose column it reads: 0 for the label side.
        column: The column's name in that feature group.
        kind: What the column holds (`NUMBER`, `WHOLE`, `BOOL`, `TEXT`, `TIME`).
        condition: One of `CONDITIONS`.
        value: The value converted for the column (a tuple for ``IN``; UTC timestamps for times).
    """

    part: int
    column: str
    kind: str
    condition: str
    value: Any


@dataclass(frozen=True)
class Both:
    """Two checked conditions joined with ``AND`` or ``OR``."""

    logic: str
    left: Node
    right: Node


Node = Union[Clause, Both]  # noqa: UP007 (a runtime alias; dataclass annotations above refer to it)


def conjoin(first: Node | None, second: Node) -> Node:
    """``first AND second``, or ``second`` alone."""
    return second if first is None else Both(AND, first, second)


def clauses(node: Node | None) -> list[Clause]:
    """The clauses of a checked tree, left to right."""
    if node is None:
        return []
    if isinstance(node, Clause):
        return [node]
    return clauses(node.left) + clauses(node.right)


def convert(value: Any, kind: str, condition: str, where: str,
            moment: Callable[[Any], pd.Timestamp]) -> Any:
    """``value`` as a column of ``kind`` compares it, or a `QueryError` saying why not.

    Args:
        value: The filter's value.
        kind: What the column holds.
        condition: The filter's condition (``IN`` takes a list, ``LIKE`` a text pattern).
        where: The column, for messages (``"column 'amount' (real numbers)"``).
        moment: Turns a value into a UTC timestamp, raising `QueryError` if it is not a time.

    Raises:
        QueryError: The value does not fit the column, or the condition does not fit its kind.
    """
    if condition == IN:
        if not isinstance(value, list) or not value:
            raise QueryError(f"filter on {where}: isin needs a non-empty list of values, got {value!r:.80}")
        return tuple(convert(item, kind, EQ, where, moment) for item in value)
    if condition == LK:
        if kind != TEXT:
            raise QueryError(f"filter on {where}: like(...) matches text, and this column does not hold text")
        if not isinstance(value, str):
            raise QueryError(f"filter on {where}: like(...) needs a text pattern such as 'max%', got {value!r:.80}")
        return value
    if isinstance(value, Feature):
        raise QueryError(
            f"filter on {where}: comparing two features ({value!r}) is not supported; compare with a value"
        )
    if value is None or (isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral)
                         and math.isnan(float(value))):
        raise QueryError(f"filter on {where}: cannot compare with {value!r}; nulls never match a comparison")
    if kind in (NUMBER, WHOLE):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise QueryError(f"filter on {where}: needs a number, got {type(value).__name__} {value!r:.80}")
        # One spelling per value (100 and 100.0 alike), so a feature view's stored definition
        # does not change with how a notebook wrote the number.
        number = float(value)
        if kind == NUMBER:
            return number
        return int(value) if isinstance(value, numbers.Integral) else int(number) if number.is_integer() else number
    if kind == BOOL:
        if not isinstance(value, (bool, np.bool_)):
            raise QueryError(f"filter on {where}: needs True or False, got {type(value).__name__} {value!r:.80}")
        return bool(value)
    if kind == TEXT:
        if not isinstance(value, str):
            raise QueryError(f"filter on {where}: needs text, got {type(value).__name__} {value!r:.80}")
        return value
    if kind == TIME:
        return moment(value)
    raise QueryError(f"filter on {where}: this column's type cannot be filtered")


def to_dict(node: Node) -> dict[str, Any]:
    """A JSON-able description of a checked tree (times as ISO text, ``IN`` lists as lists)."""
    if isinstance(node, Both):
        return {"logic": node.logic, "left": to_dict(node.left), "right": to_dict(node.right)}

    def plain(value: Any) -> Any:
        return value.isoformat() if isinstance(value, pd.Timestamp) else value

    value = [plain(item) for item in node.value] if node.condition == IN else plain(node.value)
    return {"part": node.part, "column": node.column, "kind": node.kind, "condition": node.condition, "value": value}


def from_dict(data: Any) -> Node:
    """Rebuild a checked tree from `to_dict`'s description.

    Raises:
        QueryError: ``data`` is not such a description.
    """
    try:
        if "logic" in data:
            if data["logic"] not in (AND, OR):
                raise ValueError(data["logic"])
            return Both(data["logic"], from_dict(data["left"]), from_dict(data["right"]))
        kind, condition = data["kind"], data["condition"]
        if condition not in CONDITIONS or kind not in (NUMBER, WHOLE, BOOL, TEXT, TIME):
            raise ValueError(condition)

        def typed(value: Any) -> Any:
            return pd.Timestamp(value).tz_convert("UTC") if kind == TIME else value

        value = tuple(typed(item) for item in data["value"]) if condition == IN else typed(data["value"])
        return Clause(int(data["part"]), str(data["column"]), kind, condition, value)
    except (KeyError, TypeError, ValueError) as exc:
        raise QueryError(f"not a filter description (as a query stores it): {data!r:.200} ({exc!r})") from None


def to_sql(node: Node, column_sql: Callable[[Clause], str]) -> tuple[str, list[Any]]:
    """The SQL condition of a checked tree, with ``?`` for every value, and the values in order.

    Args:
        node: The tree.
        column_sql: SQL of the column a clause reads (e.g. ``j1."amount"``).
    """
    if isinstance(node, Both):
        left, left_params = to_sql(node.left, column_sql)
        right, right_params = to_sql(node.right, column_sql)
        return f"({left} {node.logic} {right})", left_params + right_params
    column = column_sql(node)
    if node.condition == IN:
        return f"({column} IN ({', '.join('?' for _ in node.value)}))", list(node.value)
    if node.condition == LK:
        return f"({column} LIKE ?)", [node.value]
    return f"({column} {_SQL_OPERATORS[node.condition]} ?)", [node.value]


def to_logic(node: Node, feature: Callable[[Clause], Feature]) -> Logic:
    """A checked tree as the Hopsworks client shows it: a `Logic` of `Filter`s (``query.filters``)."""
    def build(item: Node) -> Filter | Logic:
        if isinstance(item, Both):
            return Logic(item.logic, build(item.left), build(item.right))
        value = list(item.value) if item.condition == IN else item.value
        return Filter(feature(item), item.condition, value)

    built = build(node)
    return built if isinstance(built, Logic) else Logic(SINGLE, built)


def literal(value: Any) -> str:
    """A parameter value as SQL text, for showing a statement (`Query.to_string`), never for running it."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, numbers.Number):
        return repr(value)
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        return f"TIMESTAMPTZ '{pd.Timestamp(value).isoformat()}'"
    if value is None:
        return "NULL"
    return "'" + str(value).replace("'", "''") + "'"


def describe(node: Node) -> str:
    """A short text of a checked tree, for messages and ``repr``."""
    if isinstance(node, Both):
        return f"({describe(node.left)} {node.logic} {describe(node.right)})"
    return f"{quote(node.column)} {node.condition} {json.dumps(to_dict(node)['value'])}"
