"""The feature logging engine: what an online model saw and predicted, kept for monitoring.

An inference service calls ``fv.log(...)`` with a batch of served requests (their
serving keys, event time, request id, the feature vector and the prediction); a
monitoring pipeline reads them back with ``fv.read_log(...)`` once the labels
arrive, days later, and judges the model on the very inputs it was given.

How logs are stored: a row in ``fti_feature_view_logging`` says whether a view
version logs and, after its first log, the columns of its log table. The log itself
is one table per view version, ``fvlog_<name>_<version>`` (feature group tables are
``fg_...``, so the two can never clash), created by the first ``log``: the types of
the view's query columns come from its feature groups, those of on-demand features
and predictions from that first batch. Every ``log`` call is one transaction, so a
batch is written whole or not at all, under the store's usual locks, held for the
insert only.

The store's metadata table is created here, when first needed, so stores written
before logging existed open unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fti.exceptions import (
    FeatureViewNotFoundError,
    LoggingDisabledError,
    ParameterError,
    ParameterTypeError,
    SchemaError,
)
from fti.names import check_name, quote
from fti.store import arguments
from fti.store.feature_view_engine import FeatureViewMeta
from fti.store.schema import BIGINT, BOOLEAN, DOUBLE, TIMESTAMP, VARCHAR, Columns, conform, infer_type
from fti.store.storage import Store, fetch_frame, fetch_rows

_LOGGING_DDL = """
CREATE TABLE IF NOT EXISTS fti_feature_view_logging (
    fv_name VARCHAR NOT NULL,
    fv_version INTEGER NOT NULL,
    enabled BOOLEAN NOT NULL,
    columns VARCHAR,                       -- JSON [[name, type], ...] of the log table; NULL before the first log
    enabled_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (fv_name, fv_version)
)
"""
_STATE_SQL = "SELECT enabled, columns FROM fti_feature_view_logging WHERE fv_name = ? AND fv_version = ?"

# Columns every log row has, in front of the view's own (names as in the Hopsworks logging feature group).
ORDER_COLUMN = "_fti_log_id"  # the order rows were logged in; a fixed (simulated) clock gives them one log time
LOG_TIME = "log_time"
REQUEST_ID = "request_id"
MODEL_NAME = "model_name"
MODEL_VERSION = "model_version"
TRAINING_DATASET_VERSION = "training_dataset_version"
TRANSFORMED = "transformed_features"  # JSON {column: value}: transformed columns depend on the training dataset
PREDICTION_PREFIX = "predicted_"  # ``is_fraud`` predicted is logged as ``predicted_is_fraud``, apart from the label
_METADATA: Columns = [(ORDER_COLUMN, BIGINT), (LOG_TIME, TIMESTAMP), (REQUEST_ID, VARCHAR), (MODEL_NAME, VARCHAR),
                      (MODEL_VERSION, BIGINT), (TRAINING_DATASET_VERSION, BIGINT)]


def log_table(name: str, version: int) -> str:
    """The DuckDB table that holds a feature view version's log."""
    return f"fvlog_{name}_{version}"


def serving_key_columns(view: FeatureViewMeta) -> list[str]:
    """The keys a request may give to look up the view's features: the label side's primary key, then join keys.

    A service usually gives some of them (a card and a merchant, not the transaction id
    that does not exist yet); `log` takes any of them, the others are logged as missing.
    """
    keys = list(view.plan.left.primary_key)
    for part in view.plan.parts[1:]:
        # A key the query does not select (Hopsworks code joins on those) is logged by the joined group's name.
        keys += [left if left in view.plan.output else right for left, right in part.on]
    return list(dict.fromkeys(keys))


def event_time_column(view: FeatureViewMeta) -> str:
    """The column of the request's event time: the label side's event time column, else ``event_time``."""
    return view.plan.left.event_time or "event_time"


def _known_types(view: FeatureViewMeta) -> dict[str, str]:
    """Types of the columns the view's feature groups define (on-demand features and predictions are not)."""
    types = {name: source.sql_type for name, source in view.plan.output.items()}
    for part in view.plan.parts:
        columns = dict(part.feature_group.columns)
        for left, right in part.on:
            if left not in types and right in columns:
                types[left] = columns[right]
    types[event_time_column(view)] = TIMESTAMP
    return types


def _nulls(sql_type: str, rows: int) -> pd.Series:
    """A column of ``rows`` missing values of a stored type (what a part not given in a ``log`` call holds)."""
    dtype = {BIGINT: "Int64", DOUBLE: "float64", BOOLEAN: "boolean", TIMESTAMP: "datetime64[us, UTC]"}.get(sql_type)
    if dtype is None:
        return pd.Series([None] * rows, dtype=object)
    return pd.Series(pd.array([None] * rows, dtype=dtype))


@dataclass(frozen=True)
class LogBatch:
    """One ``log`` call's rows, each part as a DataFrame with one row per request (or None when not given).

    Attributes:
        rows: Number of requests.
        keys: Serving keys.
        event_time: The request's event time (one column).
        request_id: One column of text.
        features: Untransformed features, in the view's order.
        transformed: Transformed features.
        predictions: Predictions, named after the view's labels (or the caller's columns).
        model_name: The model's name, or None.
        model_version: The model's version, or None.
        training_dataset_version: The training dataset whose transformations were applied, or None.
    """

    rows: int
    keys: pd.DataFrame | None
    event_time: pd.DataFrame | None
    request_id: pd.DataFrame | None
    features: pd.DataFrame | None
    transformed: pd.DataFrame | None
    predictions: pd.DataFrame | None
    model_name: str | None
    model_version: int | None
    training_dataset_version: int | None


class LogEngine:
    """Writes and reads the feature logs of one store.

    Args:
        storage: The store's offline database.
    """

    def __init__(self, storage: Store):
        self._storage = storage
        self._ready = False

    def _ensure_table(self, con: Any) -> None:
        if not self._ready:
            con.execute(_LOGGING_DDL)
            self._ready = True

    def _state(self, con: Any, view: FeatureViewMeta) -> tuple[bool, Columns | None]:
        self._ensure_table(con)
        rows = fetch_rows(con, _STATE_SQL, [view.name, view.version])
        if not rows:
            return False, None
        enabled, columns = rows[0]
        return bool(enabled), [tuple(pair) for pair in json.loads(columns)] if columns else None

    # -- the switch ------------------------------------------------------------------------------

    def enabled(self, view: FeatureViewMeta) -> bool:
        """Whether ``view`` logs."""
        with self._storage.transaction() as con:  # a transaction: the metadata table may be created first
            return self._state(con, view)[0]

    def _refuse_deleted(self, con: Any, view: FeatureViewMeta) -> None:
        if not fetch_rows(con, "SELECT 1 FROM fti_feature_views WHERE name = ? AND version = ?",
                          [view.name, view.version]):
            raise FeatureViewNotFoundError(
                f"{view.label} was deleted: create it again with fs.get_or_create_feature_view(...)")

    def enable(self, view: FeatureViewMeta) -> None:
        """Turn logging on for ``view`` (nothing changes when it is on already).

        Raises:
            FeatureViewNotFoundError: The view was deleted.
        """
        with self._storage.transaction() as con:
            enabled, columns = self._state(con, view)
            if enabled:
                return
            self._refuse_deleted(con, view)
            con.execute("DELETE FROM fti_feature_view_logging WHERE fv_name = ? AND fv_version = ?",
                        [view.name, view.version])
            con.execute("INSERT INTO fti_feature_view_logging VALUES (?, ?, TRUE, ?, ?)",
                        [view.name, view.version, None if columns is None else json.dumps(columns),
                         arguments.now()])

    def drop(self, con: Any, name: str, version: int) -> None:
        """Inside the caller's transaction: remove a view version's log and its logging record (``fv.delete()``)."""
        self._ensure_table(con)
        con.execute(f"DROP TABLE IF EXISTS {quote(log_table(name, version))}")
        con.execute("DELETE FROM fti_feature_view_logging WHERE fv_name = ? AND fv_version = ?", [name, version])

    def delete_log(self, view: FeatureViewMeta) -> None:
        """Delete every logged row of ``view``; logging stays as it was (the next log starts a new table)."""
        with self._storage.transaction() as con:
            enabled, _ = self._state(con, view)
            con.execute(f"DROP TABLE IF EXISTS {quote(log_table(view.name, view.version))}")
            con.execute("UPDATE fti_feature_view_logging SET columns = NULL WHERE fv_name = ? AND fv_version = ?",
                        [view.name, view.version])

    # -- writing ---------------------------------------------------------------------------------

    def _schema(self, view: FeatureViewMeta, batch: LogBatch) -> Columns:
        """The log table's columns, from the view and (for what the view does not type) this first batch."""
        known = _known_types(view)
        columns: Columns = list(_METADATA)
        seen = {name for name, _ in columns}

        def add(name: str, sql_type: str) -> None:
            if name not in seen:
                seen.add(name)
                columns.append((name, sql_type))

        def typed(name: str, given: pd.DataFrame | None, source: str | None = None) -> str:
            if name in known:
                return known[name]
            series = None if given is None else given[source or name]
            if series is None or series.isna().all():
                # Nothing to tell the type by: text keeps any value the later batches bring.
                return VARCHAR
            return infer_type(series.rename(name), view.label)

        for key in serving_key_columns(view):
            add(key, typed(key, batch.keys))
        add(event_time_column(view), TIMESTAMP)
        for name in view.feature_names:
            add(name, typed(name, batch.features))
        add(TRANSFORMED, VARCHAR)
        if batch.predictions is not None:
            for name in batch.predictions.columns:
                add(PREDICTION_PREFIX + name, typed(PREDICTION_PREFIX + name, batch.predictions, name))
        else:
            for label in view.labels:
                add(PREDICTION_PREFIX + label, known.get(label, VARCHAR))
        return columns

    @staticmethod
    def _rows(view: FeatureViewMeta, batch: LogBatch, columns: Columns, first_id: int) -> pd.DataFrame:
        """The batch as the log table's rows, every column of the table present, checked against its type."""
        n = batch.rows
        out: dict[str, Any] = {}
        given: dict[str, pd.Series] = {}
        for part in (batch.keys, batch.event_time, batch.features):
            if part is not None:
                for name in part.columns:
                    given.setdefault(name, part[name])
        if batch.request_id is not None:
            given[REQUEST_ID] = batch.request_id.iloc[:, 0]
        if batch.predictions is not None:
            for name in batch.predictions.columns:
                given[PREDICTION_PREFIX + name] = batch.predictions[name]
            names = {name for name, _ in columns}
            unknown = [name for name in batch.predictions.columns if PREDICTION_PREFIX + name not in names]
            if unknown:
                logged = [name[len(PREDICTION_PREFIX):] for name in names if name.startswith(PREDICTION_PREFIX)]
                raise SchemaError(
                    f"{view.label}: the log has prediction column(s) {sorted(logged)}, not {unknown}; log "
                    "predictions under the same names every time (or fv.delete_log() to start a new log)"
                )
        if batch.transformed is not None:
            records = batch.transformed.to_dict("records")
            given[TRANSFORMED] = pd.Series([json.dumps(record, default=_json_value) for record in records],
                                           dtype=object)
        now = arguments.now()
        constants = {ORDER_COLUMN: pd.Series(np.arange(first_id, first_id + n, dtype="int64")),
                     LOG_TIME: pd.Series(pd.DatetimeIndex([now]).as_unit("us").repeat(n)),
                     MODEL_NAME: pd.Series([batch.model_name] * n, dtype=object),
                     MODEL_VERSION: pd.Series([batch.model_version] * n, dtype="Int64"),
                     TRAINING_DATASET_VERSION: pd.Series([batch.training_dataset_version] * n, dtype="Int64")}
        for name, sql_type in columns:
            series = constants.get(name)
            if series is None:
                series = given.get(name)
                series = _nulls(sql_type, n) if series is None else series.reset_index(drop=True)
            if series.isna().all():
                series = _nulls(sql_type, n)  # an all-missing column has no dtype to check
            out[name] = series
        return conform(pd.DataFrame(out), columns, f"{view.label}: log")

    def log(self, view: FeatureViewMeta, batch: LogBatch) -> int:
        """Write one batch of logged requests in one transaction; return the number of rows written.

        Raises:
            LoggingDisabledError: Logging is not enabled for ``view``; nothing was written.
            FeatureViewNotFoundError: The view was deleted.
            SchemaError: A column whose values do not fit the log's column type.
        """
        table = quote(log_table(view.name, view.version))
        with self._storage.transaction() as con:
            enabled, columns = self._state(con, view)
            if not enabled:
                self._refuse_deleted(con, view)
                raise LoggingDisabledError(
                    f"{view.label} does not log: call fv.enable_logging() or create the view with "
                    "logging_enabled=True; nothing was logged"
                )
            if columns is None:
                columns = self._schema(view, batch)
                column_sql = ", ".join(f"{quote(name)} {sql_type}" for name, sql_type in columns)
                con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({column_sql})")
                con.execute("UPDATE fti_feature_view_logging SET columns = ? WHERE fv_name = ? AND fv_version = ?",
                            [json.dumps(columns), view.name, view.version])
                first = 1
            else:
                first = int(fetch_rows(con, f"SELECT coalesce(max({ORDER_COLUMN}), 0) + 1 FROM {table}")[0][0])
            rows = self._rows(view, batch, columns, first)
            # DuckDB reads the frame through this local name (a replacement scan), as fg.insert does.
            _fti_log_rows = rows  # noqa: F841 - read by name in the SQL below
            names = ", ".join(quote(name) for name, _ in columns)
            con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM _fti_log_rows")
        return len(rows)

    # -- reading ---------------------------------------------------------------------------------

    def read(self, view: FeatureViewMeta, start: pd.Timestamp | None, end: pd.Timestamp | None,
             model_name: str | None, model_version: int | None, transformed: bool,
             training_dataset_version: int | None) -> pd.DataFrame:
        """Logged rows with log time in ``[start, end)``, of one model (version) if given, in log order."""
        conditions, params = [], []
        for sql, value in ((f"{LOG_TIME} >= ?", start), (f"{LOG_TIME} < ?", end), (f"{MODEL_NAME} = ?", model_name),
                           (f"{MODEL_VERSION} = ?", model_version),
                           (f"{TRAINING_DATASET_VERSION} = ?", training_dataset_version)):
            if value is not None:
                conditions.append(sql)
                params.append(value)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        with self._storage.transaction() as con:
            _, columns = self._state(con, view)
            if columns is None:
                return self._empty(view, transformed)
            frame = fetch_frame(
                con, f"SELECT * FROM {quote(log_table(view.name, view.version))} {where} ORDER BY {ORDER_COLUMN}",
                params)
        frame = frame.drop(columns=ORDER_COLUMN)
        feature_names = [name for name in view.feature_names if name not in serving_key_columns(view)]
        if transformed:
            values = [json.loads(text) if isinstance(text, str) else {} for text in frame[TRANSFORMED]]
            expanded = pd.DataFrame.from_records(values, index=frame.index) if values else pd.DataFrame()
            front = frame.columns.get_loc(TRANSFORMED)
            frame = pd.concat([frame.iloc[:, :front].drop(columns=feature_names, errors="ignore"), expanded,
                               frame.iloc[:, front + 1:]], axis=1)
        else:
            frame = frame.drop(columns=TRANSFORMED)
        return frame.reset_index(drop=True)

    @staticmethod
    def _empty(view: FeatureViewMeta, transformed: bool) -> pd.DataFrame:
        names = [name for name, _ in _METADATA[1:]] + serving_key_columns(view) + [event_time_column(view)]
        if not transformed:
            names += view.feature_names
        names += [PREDICTION_PREFIX + label for label in view.labels]
        return pd.DataFrame(columns=list(dict.fromkeys(names)))


def _json_value(value: Any) -> Any:
    """JSON for the numpy and pandas values a transformed feature vector holds."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if value is pd.NA:
        return None
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# -- turning a ``log`` argument into rows ----------------------------------------------------------


def as_frame(value: Any, columns: Sequence[str], argument: str, where: str,
             passing: Sequence[str] = (), partial: bool = False) -> pd.DataFrame:
    """One ``log`` argument as a DataFrame of exactly ``columns``, one row per request.

    Takes a DataFrame (by column name; ``passing`` columns may be there too and are
    left out), a Series, Index or 1-D array (one column), a list of dicts (by key), a list of
    lists or a 2-D array (in the order of ``columns``), or a list of values (one column).
    With ``partial``, a DataFrame or dicts may hold only some of ``columns`` (at least one).

    Raises:
        ParameterTypeError: ``value`` is none of those.
        SchemaError: Missing or unexpected columns, or rows of the wrong width.
    """
    columns = list(columns)
    if isinstance(value, (pd.Index, pd.api.extensions.ExtensionArray)):
        value = pd.Series(value)
    if isinstance(value, pd.DataFrame):
        if partial and any(name in value.columns for name in columns):
            columns = [name for name in columns if name in value.columns]
        missing = [name for name in columns if name not in value.columns]
        extra = [name for name in value.columns if name not in columns and name not in passing]
        if missing or extra:
            problems = ([f"missing column(s) {missing}"] if missing else []) + (
                [f"unexpected column(s) {extra}"] if extra else [])
            raise SchemaError(f"{where}: {argument} has {' and '.join(problems)}; expected the columns {columns}")
        return value[columns].reset_index(drop=True)
    if isinstance(value, pd.Series):
        value = value.reset_index(drop=True)
        if len(columns) != 1:
            raise SchemaError(f"{where}: {argument} is one column (a Series), but it needs the columns {columns}")
        return pd.DataFrame({columns[0]: value})
    if isinstance(value, np.ndarray):
        if value.ndim == 1:
            value = value.reshape(-1, 1) if len(columns) == 1 else value.reshape(1, -1)
        if value.ndim != 2 or value.shape[1] != len(columns):
            raise SchemaError(f"{where}: {argument} has {value.shape[-1]} column(s), expected {len(columns)}: "
                              f"{columns}")
        return pd.DataFrame(value, columns=columns)
    if isinstance(value, (list, tuple)):
        items = list(value)
        if items and all(isinstance(item, Mapping) for item in items):
            frame = pd.DataFrame.from_records(items)
            return as_frame(frame, columns, argument, where, passing, partial)
        if items and all(isinstance(item, (list, tuple, np.ndarray)) for item in items):
            widths = {len(item) for item in items}
            if widths != {len(columns)}:
                raise SchemaError(
                    f"{where}: {argument} has rows of {sorted(widths)} value(s), expected {len(columns)}: {columns}"
                )
            return pd.DataFrame([list(item) for item in items], columns=columns)
        if any(isinstance(item, (Mapping, list, tuple, np.ndarray)) for item in items):
            raise SchemaError(f"{where}: {argument} mixes rows of different kinds; give all dicts or all lists")
        if len(columns) != 1:
            if len(items) == len(columns):  # one request's row, e.g. a single get_feature_vector result
                return pd.DataFrame([items], columns=columns)
            raise SchemaError(f"{where}: {argument} has {len(items)} value(s), expected rows of {len(columns)}: "
                              f"{columns}")
        return pd.DataFrame({columns[0]: items})
    raise ParameterTypeError(
        f"{where}: {argument} must be a DataFrame, a Series, a list (of rows, dicts or values) or a numpy array, "
        f"got {type(value).__name__}"
    )


def prediction_frame(value: Any, labels: Sequence[str], where: str) -> pd.DataFrame:
    """Predictions as a DataFrame: a DataFrame keeps its columns, anything else is named after the labels.

    Raises:
        ParameterTypeError: ``value`` is not a DataFrame, Series, list or array.
        SchemaError: A width that does not match the labels.
        InvalidNameError: A column name that is not an identifier.
    """
    if isinstance(value, pd.DataFrame):
        for name in value.columns:
            check_name(name, f"{where}: predictions column")
        return value.reset_index(drop=True)
    names = list(labels) or ["prediction"]
    return as_frame(value, names, "predictions", where)


def model_identity(model: Any, where: str) -> tuple[str | None, int | None]:
    """``(name, version)`` of a registry model (anything with a text ``name`` and whole ``version``), or Nones.

    Raises:
        ParameterTypeError: ``model`` is something else.
    """
    if model is None:
        return None, None
    name, version = getattr(model, "name", None), getattr(model, "version", None)
    if isinstance(name, str) and isinstance(version, (int, np.integer)) and not isinstance(version, bool):
        return name, int(version)
    raise ParameterTypeError(
        f"{where}: model must be a model version from the registry (mr.get_model(name, version)), with a name "
        f"and a version, got {type(model).__name__} {model!r:.80}; or pass model_name= and model_version="
    )


def check_rows(where: str, **parts: pd.DataFrame | None) -> int:
    """The number of requests: every given part must have as many rows.

    Raises:
        ParameterError: Nothing to log, or parts of different lengths.
    """
    lengths = {argument: len(frame) for argument, frame in parts.items() if frame is not None}
    if not lengths:
        raise ParameterError(f"{where}: log needs untransformed_features, transformed_features or predictions")
    if len(set(lengths.values())) > 1:
        raise ParameterError(
            f"{where}: log needs one row per request in every argument, got {lengths}; nothing was logged"
        )
    return next(iter(lengths.values()))
