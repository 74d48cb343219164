"""The run log: every scheduled notebook execution, kept in the store next to the data it wrote.

One row per execution (re-runs add rows; nothing is overwritten), in the table
``fti_pipeline_runs`` of the store's DuckDB file, so the monitoring notebook can
read it like any other table::

    runs = fti.get_runs("titanic")
    runs[runs.status != "ok"]

Columns: ``run_id``, ``system``, ``notebook``, ``run_date``, ``status`` (``ok``,
``failed``, ``timeout`` or ``skipped`` when a notebook it depends on failed that
day), ``reason`` (why it ran: ``scheduled``, or ``requested by 05_monitoring:
drift in age`` for a run another notebook asked for), ``scheduled_at`` (the
instant the notebook's clock showed, ``FTI_NOW``; empty when it ran on the real
clock), ``started_at`` and ``duration_s`` (wall clock), ``parameters`` (JSON:
every parameter it was given), ``overrides`` (JSON: those of them that came
from ``fti run -p``), ``output_path`` (the executed notebook) and ``error`` (one
line).

Requests for runs (`fti.request_run`) are kept in ``fti_requested_runs`` until
a run of the requested notebook answers them.

Everything in the log but ``started_at`` and ``duration_s`` is the same when the
same days are simulated again, like the rest of the store.

`get_runs` is the public entry point and accepts a store path; the functions the
runner uses take the `Store` it already opened.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from fti.exceptions import ScheduleError, UnknownSystemError
from fti.run.schedule import known_systems
from fti.store.storage import Store, fetch_frame, fetch_rows

RUNS_TABLE = "fti_pipeline_runs"
REQUESTS_TABLE = "fti_pipeline_requests"
RUN_REQUESTS_TABLE = "fti_requested_runs"
REASON_SCHEDULED = "scheduled"

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
-- Runs one notebook asked for (fti.request_run), answered by the next successful run of it.
CREATE TABLE IF NOT EXISTS {RUN_REQUESTS_TABLE} (
    request_id BIGINT PRIMARY KEY,
    system VARCHAR NOT NULL,
    notebook VARCHAR NOT NULL,             -- the notebook asked for
    requested_by VARCHAR NOT NULL,         -- the notebook that asked
    made_on DATE NOT NULL,                 -- run date of the notebook that asked
    run_on DATE NOT NULL,                  -- the day it is due: made_on (same day) or the next
    reason VARCHAR NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL,     -- fti.now() of the notebook that asked
    logged_runs BIGINT NOT NULL            -- the last run_id logged when it asked: later runs answer it
);
-- Columns added after the first release: stores made before them get them here.
ALTER TABLE {RUNS_TABLE} ADD COLUMN IF NOT EXISTS reason VARCHAR;
ALTER TABLE {RUNS_TABLE} ADD COLUMN IF NOT EXISTS overrides VARCHAR;
ALTER TABLE {REQUESTS_TABLE} ADD COLUMN IF NOT EXISTS overrides VARCHAR;
"""

RUN_COLUMNS = ["run_id", "system", "notebook", "run_date", "status", "reason", "scheduled_at", "started_at",
               "duration_s", "parameters", "overrides", "output_path", "error"]


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
    reason: str = REASON_SCHEDULED
    overrides: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunRequest:
    """A run one notebook asked for (`fti.request_run`).

    Attributes:
        request_id: Its number in the store.
        system: The system.
        notebook: The notebook asked for.
        requested_by: The notebook that asked.
        made_on: The run date of the notebook that asked.
        run_on: The day the requested notebook is due.
        reason: Why, in the asking notebook's words (may be empty).
        logged_runs: The last ``run_id`` in the run log when it asked; runs after it answer the request.
    """

    request_id: int
    system: str
    notebook: str
    requested_by: str
    made_on: dt.date
    run_on: dt.date
    reason: str
    logged_runs: int

    @property
    def because(self) -> str:
        """``requested by 05_monitoring: drift in age`` (without the colon when no reason was given)."""
        return f"requested by {self.requested_by}" + (f": {self.reason}" if self.reason else "")


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
            f"INSERT INTO {RUNS_TABLE} ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' * len(RUN_COLUMNS))})",
            [[run_id, r.system, r.notebook, r.run_date, r.status, r.reason, r.scheduled_at, r.started_at,
              float(r.duration_s), _json(r.parameters), _json(r.overrides), r.output_path, r.error]
             for run_id, r in zip(ids, records, strict=True)],
        )
    return ids


def _json(mapping: Mapping[str, Any]) -> str:
    return json.dumps(dict(mapping), sort_keys=True, default=str)


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


def record_request(store: Store, system: str, first_day: dt.date, last_day: dt.date,
                   overrides: Mapping[str, Any] | None = None) -> None:
    """Remember the days an `fti run` was asked to cover, and its ``-p`` overrides (for ``--resume``)."""
    with store.transaction() as con:
        _ensure_tables(con)
        (last_id,) = fetch_rows(con, f"SELECT COALESCE(MAX(request_id), 0) FROM {REQUESTS_TABLE}")[0]
        con.execute(f"INSERT INTO {REQUESTS_TABLE} (request_id, system, first_day, last_day, overrides) "
                    f"VALUES (?, ?, ?, ?, ?)", [last_id + 1, system, first_day, last_day, _json(overrides or {})])


def last_request(store: Store, system: str) -> tuple[dt.date, dt.date] | None:
    """First and last day of the most recent `fti run` of a system, or ``None`` if it never ran."""
    found = last_request_with_overrides(store, system)
    return None if found is None else (found[0], found[1])


def last_request_with_overrides(store: Store, system: str) -> tuple[dt.date, dt.date, dict[str, Any]] | None:
    """First and last day and ``-p`` overrides of the most recent `fti run` of a system, or ``None``."""
    with store.connect() as con:
        _ensure_tables(con)
        rows = fetch_rows(
            con,
            f"SELECT first_day, last_day, overrides FROM {REQUESTS_TABLE} WHERE system = ? "
            f"ORDER BY request_id DESC LIMIT 1",
            [system],
        )
    if not rows:
        return None
    first, last, overrides = rows[0]
    return first, last, json.loads(overrides) if overrides else {}


# --- runs one notebook asks for ---------------------------------------------------------------------------

_REQUEST_COLUMNS = "request_id, system, notebook, requested_by, made_on, run_on, reason, logged_runs"


def _requests(rows: list[tuple]) -> list[RunRequest]:
    return [RunRequest(request_id=int(row[0]), system=row[1], notebook=row[2], requested_by=row[3], made_on=row[4],
                       run_on=row[5], reason=row[6], logged_runs=int(row[7])) for row in rows]


def add_run_request(store: Store, system: str, notebook: str, requested_by: str, made_on: dt.date,
                    run_on: dt.date, reason: str, requested_at: dt.datetime) -> RunRequest:
    """Record that ``requested_by`` (running for ``made_on``) asks for a run of ``notebook`` on ``run_on``."""
    with store.transaction() as con:
        _ensure_tables(con)
        (last_id,) = fetch_rows(con, f"SELECT COALESCE(MAX(request_id), 0) FROM {RUN_REQUESTS_TABLE}")[0]
        (logged,) = fetch_rows(con, f"SELECT COALESCE(MAX(run_id), 0) FROM {RUNS_TABLE}")[0]
        con.execute(f"INSERT INTO {RUN_REQUESTS_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [last_id + 1, system, notebook, requested_by, made_on, run_on, reason, requested_at, logged])
    return RunRequest(request_id=last_id + 1, system=system, notebook=notebook, requested_by=requested_by,
                      made_on=made_on, run_on=run_on, reason=reason, logged_runs=int(logged))


def pending_requests(store: Store, system: str, day: dt.date) -> list[RunRequest]:
    """The requests due on or before ``day`` that no successful run has answered yet, oldest first.

    A request is answered by the first successful run of the requested notebook
    logged after the request was made, for the day it was due or a later one.
    """
    with store.connect() as con:
        _ensure_tables(con)
        rows = fetch_rows(con, f"""
            SELECT {_REQUEST_COLUMNS} FROM {RUN_REQUESTS_TABLE} AS r
            WHERE r.system = ? AND r.run_on <= ?
              AND NOT EXISTS (
                  SELECT 1 FROM {RUNS_TABLE} AS x
                  WHERE x.system = r.system AND x.notebook = r.notebook AND x.status = 'ok'
                    AND x.run_date >= r.run_on AND x.run_id > r.logged_runs)
            ORDER BY r.request_id""", [system, day])
    return _requests(rows)


def requests_after(store: Store, system: str, request_id: int) -> list[RunRequest]:
    """The requests of a system recorded after ``request_id``, oldest first."""
    with store.connect() as con:
        _ensure_tables(con)
        rows = fetch_rows(con, f"SELECT {_REQUEST_COLUMNS} FROM {RUN_REQUESTS_TABLE} "
                               f"WHERE system = ? AND request_id > ? ORDER BY request_id", [system, request_id])
    return _requests(rows)


def last_run_request_id(store: Store) -> int:
    """The number of the latest request for a run in the store (0 when there is none)."""
    with store.connect() as con:
        _ensure_tables(con)
        return int(fetch_rows(con, f"SELECT COALESCE(MAX(request_id), 0) FROM {RUN_REQUESTS_TABLE}")[0][0])


def move_output(store: Store, old: Path, new: Path) -> None:
    """Point the runs whose executed notebook was at ``old`` to ``new`` (after the file was moved)."""
    with store.transaction() as con:
        _ensure_tables(con)
        con.execute(f"UPDATE {RUNS_TABLE} SET output_path = ? WHERE output_path = ?", [str(new), str(old)])
