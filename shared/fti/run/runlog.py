"""The run log: every scheduled notebook execution, kept in the store next to the data it wrote.

One row per execution (re-runs add rows; nothing is overwritten), in the table
``fti_pipeline_runs`` of the store's DuckDB file, so the monitoring notebook can
read it like any other table::

    runs = fti.get_runs("titanic")
    runs[runs.status != "ok"]

Columns: ``run_id``, ``system``, ``notebook``, ``run_date``, ``status`` (``ok``,
``failed``, ``timeout`` or ``skipped`` when a notebook it depends on failed that
day), ``scheduled_at`` (the instant the notebook's clock showed, ``FTI_NOW``;
empty when it ran on the real clock), ``started_at`` and ``duration_s`` (wall
clock), ``parameters`` (JSON), ``output_path`` (the executed notebook) and
``error`` (one line).

Everything in the log but ``started_at`` and ``duration_s`` is the same when the
same days are simulated again, like the rest of the store.

`get_runs` is the public entry point and accepts a store path; the functions the
runner uses take the `Store` it already opened.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from fti.exceptions import ScheduleError, UnknownSystemError
from fti.run.schedule import known_systems
from fti.store.storage import Store, fetch_frame, fetch_rows

RUNS_TABLE = "fti_pipeline_runs"
REQUESTS_TABLE = "fti_pipeline_requests"

_DDL = f"""
CREATE TABLE IF NOT EXISTS {RUNS_TABLE} (
    run_id BIGINT PRIMARY KEY,
    system VARCHAR NOT NULL,
    notebook VARCHAR NOT NULL,
    run_date DATE NOT NULL,
    status VARCHAR NOT NULL,               -- ok, failed, timeout, skipped
    scheduled_at TIMESTAMPTZ,              -- FTI_NOW given to the notebook; NULL on the real clock
    started_at TIMESTAMPTZ NOT NULL,       -- wall clock
    duration_s DOUBLE NOT NULL,            -- wall clock
    parameters VARCHAR NOT NULL,           -- JSON, run_date included
    output_path VARCHAR,                   -- the executed notebook
    error VARCHAR                          -- one line; NULL when ok
);
-- What each `fti run` asked for, so `fti run SYSTEM --resume` knows which days to finish.
CREATE TABLE IF NOT EXISTS {REQUESTS_TABLE} (
    request_id BIGINT PRIMARY KEY,
    system VARCHAR NOT NULL,
    first_day DATE NOT NULL,
    last_day DATE NOT NULL
);
"""

RUN_COLUMNS = ["run_id", "system", "notebook", "run_date", "status", "scheduled_at", "started_at",
               "duration_s", "parameters", "output_path", "error"]


@dataclass(frozen=True)
class RunRecord:
    """One row of the run log, before it is written."""

    system: str
    notebook: str
    run_date: dt.date
    status: str
    started_at: dt.datetime
    duration_s: float
    parameters: Mapping[str, Any]
    scheduled_at: dt.datetime | None = None
    output_path: str | None = None
    error: str | None = None


def _ensure_tables(con: Any) -> None:
    con.execute(_DDL)


def record_runs(store: Store, records: list[RunRecord]) -> list[int]:
    """Append runs to the log in one transaction.

    Args:
        store: The store.
        records: The runs, in the order they happened.

    Returns:
        The new rows' ``run_id`` values.
    """
    if not records:
        return []
    with store.transaction() as con:
        _ensure_tables(con)
        (last_id,) = fetch_rows(con, f"SELECT COALESCE(MAX(run_id), 0) FROM {RUNS_TABLE}")[0]
        ids = list(range(last_id + 1, last_id + 1 + len(records)))
        con.executemany(
            f"INSERT INTO {RUNS_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [[run_id, r.system, r.notebook, r.run_date, r.status, r.scheduled_at, r.started_at,
              float(r.duration_s), json.dumps(dict(r.parameters), sort_keys=True, default=str),
              r.output_path, r.error] for run_id, r in zip(ids, records, strict=True)],
        )
    return ids


def get_runs(system: str | None = None, store: Store | str | Path | None = None) -> pd.DataFrame:
    """The run log as a DataFrame, oldest run first.

    Args:
        system: Only this system's runs (default: all).
        store: The store or its folder (default: ``FTI_STORE`` or ``data/store/``).

    Returns:
        One row per execution, with the columns described in this module; empty
        (with those columns) when nothing ran yet.

    Raises:
        UnknownSystemError: ``system`` has no runs in this store and no schedule
            (``notebooks/<system>/pipelines.yml``): most likely a typing mistake.
        ScheduleError: ``system`` is not a name.
    """
    if system is not None and (not isinstance(system, str) or not system.strip()):
        raise ScheduleError(f"system: expected a system's name such as 'titanic', found {system!r}")
    store = store if isinstance(store, Store) else Store(store)
    where, params = ("WHERE system = ?", [system]) if system else ("", [])
    with store.connect() as con:
        _ensure_tables(con)
        frame = fetch_frame(con, f"SELECT {', '.join(RUN_COLUMNS)} FROM {RUNS_TABLE} {where} ORDER BY run_id", params)
        if system and frame.empty and system not in known_systems():
            recorded = [name for (name,) in fetch_rows(con, f"SELECT DISTINCT system FROM {RUNS_TABLE} ORDER BY 1")]
            raise UnknownSystemError(
                f"unknown system {system!r}: no runs of it in the store {store.path} and no schedule "
                f"notebooks/{system}/pipelines.yml; systems with runs here: {', '.join(recorded) or 'none'}; "
                f"systems with a schedule: {', '.join(known_systems()) or 'none'}"
            )
    return frame


def latest_statuses(store: Store, system: str) -> dict[tuple[str, dt.date], str]:
    """The status of the most recent run of each (notebook, run date) of a system."""
    with store.connect() as con:
        _ensure_tables(con)
        rows = fetch_rows(
            con,
            f"""SELECT notebook, run_date, arg_max(status, run_id) FROM {RUNS_TABLE}
                WHERE system = ? GROUP BY notebook, run_date""",
            [system],
        )
    return {(notebook, run_date): status for notebook, run_date, status in rows}


def record_request(store: Store, system: str, first_day: dt.date, last_day: dt.date) -> None:
    """Remember the days an `fti run` was asked to cover (for ``--resume``)."""
    with store.transaction() as con:
        _ensure_tables(con)
        (last_id,) = fetch_rows(con, f"SELECT COALESCE(MAX(request_id), 0) FROM {REQUESTS_TABLE}")[0]
        con.execute(f"INSERT INTO {REQUESTS_TABLE} VALUES (?, ?, ?, ?)", [last_id + 1, system, first_day, last_day])


def last_request(store: Store, system: str) -> tuple[dt.date, dt.date] | None:
    """First and last day of the most recent `fti run` of a system, or ``None`` if it never ran."""
    with store.connect() as con:
        _ensure_tables(con)
        rows = fetch_rows(
            con,
            f"SELECT first_day, last_day FROM {REQUESTS_TABLE} WHERE system = ? ORDER BY request_id DESC LIMIT 1",
            [system],
        )
    return (rows[0][0], rows[0][1]) if rows else None


def move_output(store: Store, old: Path, new: Path) -> None:
    """Point the runs whose executed notebook was at ``old`` to ``new`` (after the file was moved)."""
    with store.transaction() as con:
        _ensure_tables(con)
        con.execute(f"UPDATE {RUNS_TABLE} SET output_path = ? WHERE output_path = ?", [str(new), str(old)])
