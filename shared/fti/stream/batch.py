"""The rows of `fti.stream.windows` computed in batch, by one DuckDB SQL statement.

`batch_windows` gives every event the row the streaming engine emits for it
(the key's state right after the event, see `fti.stream.windows`), computed
from all the events at once with SQL window functions: a backfill of history
gets the same features as the live stream, and the tests use it as the oracle
the engine must agree with. It shares no logic with the engine.

How the SQL says "events of the key with time in (t - L, t]": order each key's
events by their time in whole microseconds and use the frame
``RANGE BETWEEN (L - 1 µs) PRECEDING AND CURRENT ROW``. A RANGE frame compares
values, not row positions, so it starts at the first event at or after
``t - L + 1 µs`` (the event exactly ``L`` before is out) and ends with the last
*peer* of the current row (every event at the same instant is in).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from fti.names import quote
from fti.store.storage import fetch_frame
from fti.stream.windows import WindowSpec

_SQL_FUNCTIONS = {"count": "count({col})", "sum": "sum({col}::DOUBLE)", "mean": "avg({col}::DOUBLE)",
                  "max": "max({col}::DOUBLE)", "min": "min({col}::DOUBLE)"}


def batch_sql(spec: WindowSpec, table: str = "events") -> str:
    """The SELECT that computes the rows of ``spec`` over ``table`` (which needs a ``_arrival`` order column)."""
    key, time = quote(spec.key), quote(spec.time)
    windows = []
    selects = [f"{key}", f"{time}"]
    for suffix, length in spec.lengths.items():
        micros = length.value // 1000
        windows.append(f"{quote('w_' + suffix)} AS (PARTITION BY {key} ORDER BY _us "
                       f"RANGE BETWEEN {micros - 1} PRECEDING AND CURRENT ROW)")
    for prefix, (column, function) in spec.aggregates.items():
        expression = _SQL_FUNCTIONS[function].format(col=quote(column))
        for suffix in spec.lengths:
            selects.append(f"{expression} OVER {quote('w_' + suffix)} AS {quote(prefix + '_' + suffix)}")
    # The latest event at an instant is the one that arrived last; every event at that instant gets its values.
    for column in spec.last:
        selects.append(f"last_value({quote(column)}) OVER (PARTITION BY {key}, _us ORDER BY _arrival "
                       "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) "
                       f"AS {quote('last_' + column)}")
    window_clause = f"\nWINDOW {', '.join(windows)}" if windows else ""
    return (f"SELECT {', '.join(selects)}\n"
            f"FROM (SELECT *, epoch_us({time}) AS _us FROM {table}){window_clause}\n"
            f"ORDER BY {key}, _us, _arrival")


def batch_windows(events: pd.DataFrame, spec: WindowSpec) -> pd.DataFrame:
    """The engine's row for every event of ``events``, all taken as accepted (none too late).

    Rows come sorted by key, then time, then the events' order in ``events`` (their arrival
    order: among events of a key at one instant, the last one gives ``last_<col>``). Events of a
    key at one instant get identical rows; ``.drop_duplicates([key, time], keep="last")`` leaves one
    per (key, time), as a feature group keyed on them stores it.

    Raises:
        StreamInputError: ``events`` do not fit the spec.
    """
    spec.check_events(events)
    frame = events[spec.input_columns].copy()
    frame["_arrival"] = np.arange(len(frame))
    with duckdb.connect() as con:
        con.register("events", frame)
        result = fetch_frame(con, batch_sql(spec))
    dtypes = {spec.key: events[spec.key].dtype, spec.time: events[spec.time].dtype}
    dtypes.update({f"last_{column}": events[column].dtype for column in spec.last})
    for prefix, (_, function) in spec.aggregates.items():
        for suffix in spec.lengths:
            dtypes[f"{prefix}_{suffix}"] = "int64" if function == "count" else "float64"
    return result.astype(dtypes).reset_index(drop=True)
