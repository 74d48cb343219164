"""Column types of feature groups, and the checks a DataFrame passes before it is written.

A feature group takes its schema from its first insert. Five column types cover
the course: whole numbers, real numbers, booleans, text and UTC timestamps.
Every later insert must have exactly the same columns with compatible types;
anything else is refused before a single row is written.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
from pandas.api import types as ptypes

from fti.exceptions import NameClashError, SchemaError
from fti.names import check_name

BIGINT = "BIGINT"
DOUBLE = "DOUBLE"
BOOLEAN = "BOOLEAN"
VARCHAR = "VARCHAR"
TIMESTAMP = "TIMESTAMPTZ"

Columns = list[tuple[str, str]]
_INT64_MAX = 2**63 - 1


def _is_text(series: pd.Series) -> bool:
    if ptypes.is_string_dtype(series.dtype) and not ptypes.is_object_dtype(series.dtype):
        return True
    if isinstance(series.dtype, pd.CategoricalDtype):
        return ptypes.is_string_dtype(series.cat.categories.dtype) or series.cat.categories.empty
    if ptypes.is_object_dtype(series.dtype):
        return bool(series.dropna().map(lambda value: isinstance(value, str)).all())
    return False


def infer_type(series: pd.Series, where: str) -> str:
    """Return the store's column type for a pandas Series.

    Raises:
        SchemaError: The dtype has no column type (lists, mixed objects...).
    """
    dtype = series.dtype
    if ptypes.is_bool_dtype(dtype):
        return BOOLEAN
    if ptypes.is_integer_dtype(dtype):
        return BIGINT
    if ptypes.is_float_dtype(dtype):
        return DOUBLE
    if ptypes.is_datetime64_any_dtype(dtype):
        return TIMESTAMP
    if _is_text(series):
        return VARCHAR
    raise SchemaError(
        f"{where}: column '{series.name}' has dtype {dtype}, which a feature group cannot store; "
        "use whole numbers, real numbers, booleans, text or datetimes"
    )


def check_column_names(frame: pd.DataFrame, where: str) -> None:
    """Refuse a frame whose column names repeat, exactly or up to case (``a`` and ``A``).

    The store's databases treat names case-insensitively, so ``a`` and ``A`` would be one
    column; names are never lower-cased silently (a notebook's mixed-case names stay as given).

    Raises:
        SchemaError: A name appears twice.
        NameClashError: Two names differ only in case.
    """
    if frame.columns.duplicated().any():
        twice = sorted({str(name) for name in frame.columns[frame.columns.duplicated()]})
        raise SchemaError(f"{where}: the DataFrame has duplicate column names {twice}; rename or drop the copies")
    seen: dict[str, str] = {}
    for name in frame.columns:
        if not isinstance(name, str):
            continue  # check_name refuses it with its own message
        other = seen.setdefault(name.lower(), name)
        if other != name:
            raise NameClashError(
                f"{where}: columns '{other}' and '{name}' differ only in case, which the store cannot tell apart; "
                "rename one of them"
            )


def infer_columns(frame: pd.DataFrame, where: str) -> Columns:
    """Return ``[(name, type), ...]`` for a frame's columns, checking every name.

    Raises:
        SchemaError: Repeated column names, or a dtype no column type fits.
        NameClashError: Two names differ only in case.
        InvalidNameError: A name is not an identifier.
    """
    check_column_names(frame, where)
    return [(check_name(name, f"{where}: column"), infer_type(frame[name], where)) for name in frame.columns]


def conform(frame: pd.DataFrame, columns: Columns, where: str) -> pd.DataFrame:
    """Return a copy of ``frame`` with exactly ``columns``, each cast to its canonical dtype.

    Args:
        frame: The user's DataFrame.
        columns: The feature group's schema.
        where: The feature group, for messages (``"feature group 'passengers' v1"``).

    Raises:
        SchemaError: Missing or extra columns, or a column whose values do not fit its type.
    """
    if not isinstance(frame, pd.DataFrame):
        raise SchemaError(f"{where}: expected a pandas DataFrame, got {type(frame).__name__}")
    check_column_names(frame, where)
    expected = [name for name, _ in columns]
    missing = [name for name in expected if name not in frame.columns]
    extra = [name for name in frame.columns if name not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing column(s) {missing}")
        if extra:
            parts.append(f"unexpected column(s) {extra}")
        raise SchemaError(f"{where}: {' and '.join(parts)}; the feature group has columns {expected}")
    out = {}
    for name, sql_type in columns:
        out[name] = _cast(frame[name], sql_type, where)
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))


def _cast(series: pd.Series, sql_type: str, where: str) -> pd.Series:
    values = series.reset_index(drop=True)
    dtype = values.dtype

    def refuse(reason: str) -> SchemaError:
        return SchemaError(f"{where}: column '{series.name}' should hold {_describe(sql_type)} but {reason}")

    if sql_type == BOOLEAN:
        if not ptypes.is_bool_dtype(dtype):
            raise refuse(f"has dtype {dtype}")
        return values.astype("boolean")
    if sql_type == BIGINT:
        if ptypes.is_bool_dtype(dtype) or not (ptypes.is_integer_dtype(dtype) or ptypes.is_float_dtype(dtype)):
            raise refuse(f"has dtype {dtype}")
        if ptypes.is_float_dtype(dtype):
            present = values.dropna()
            fractional = present[(present % 1) != 0]
            if len(fractional):
                raise refuse(f"has fractional values, e.g. {fractional.iloc[0]!r}")
        if ptypes.is_unsigned_integer_dtype(dtype) or ptypes.is_float_dtype(dtype):
            # Whole numbers are kept as 64-bit signed integers (BIGINT): larger ones would not survive.
            present = values.dropna()
            beyond = present[(present > _INT64_MAX) | (present < -_INT64_MAX - 1)]
            if len(beyond):
                raise refuse(f"has values beyond the 64-bit signed range the store keeps, e.g. {beyond.iloc[0]!r}")
        return values.astype("Int64")
    if sql_type == DOUBLE:
        if ptypes.is_bool_dtype(dtype) or not (ptypes.is_integer_dtype(dtype) or ptypes.is_float_dtype(dtype)):
            raise refuse(f"has dtype {dtype}")
        return values.astype("float64")
    if sql_type == VARCHAR:
        if not _is_text(values):
            raise refuse(f"has dtype {dtype}")
        return values.astype("str")
    if sql_type == TIMESTAMP:
        if not ptypes.is_datetime64_any_dtype(dtype):
            raise refuse(f"has dtype {dtype} (convert it with pandas.to_datetime)")
        _refuse_nanoseconds(values, refuse)
        if getattr(dtype, "tz", None) is None:
            values = values.dt.tz_localize("UTC")  # naive times are taken as UTC, as documented
        return values.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    raise SchemaError(f"{where}: column '{series.name}' has unknown stored type {sql_type}")


def _refuse_nanoseconds(values: pd.Series, refuse: Callable[[str], SchemaError]) -> None:
    """Refuse times finer than a microsecond, which the store would otherwise cut silently.

    A value 800 ns after an observation would become equal to it and join it; keeping
    nanoseconds would need another column type throughout, so they are refused instead.
    """
    if getattr(values.dtype, "unit", "ns") != "ns":
        return  # microseconds or coarser: nothing to lose
    finer = values.dt.nanosecond.fillna(0).to_numpy() != 0
    if finer.any():
        example = values[finer].iloc[0]
        raise refuse(
            f"{int(finer.sum())} value(s) have nanoseconds, which the store does not keep (e.g. {example}); "
            "round them first, e.g. df[column] = df[column].dt.floor('us')"
        )


def _describe(sql_type: str) -> str:
    return {
        BIGINT: "whole numbers",
        DOUBLE: "real numbers",
        BOOLEAN: "booleans",
        VARCHAR: "text",
        TIMESTAMP: "datetimes",
    }.get(sql_type, sql_type)


def check_keys(frame: pd.DataFrame, primary_key: list[str], event_time: str | None, where: str) -> None:
    """Refuse null primary keys, null event times and rows that repeat a (key, event time).

    Raises:
        SchemaError: Naming the column and showing an offending key.
    """
    for name in primary_key + ([event_time] if event_time else []):
        nulls = frame[name].isna()
        if nulls.any():
            role = "event time" if name == event_time else "primary key"
            raise SchemaError(
                f"{where}: {role} column '{name}' has {int(nulls.sum())} null value(s) "
                f"(first at row {int(nulls.to_numpy().nonzero()[0][0])}); every row needs one"
            )
    upsert_key = primary_key + ([event_time] if event_time else [])
    repeated = frame.duplicated(subset=upsert_key, keep=False)
    if repeated.any():
        example = frame.loc[repeated, upsert_key].iloc[0].to_dict()
        raise SchemaError(
            f"{where}: {int(repeated.sum())} rows share a value of {upsert_key} (e.g. {example}); "
            "each (primary key, event time) may appear once per insert"
        )
