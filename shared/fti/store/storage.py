"""The store directory and short-lived connections to its databases.

Everything the kit remembers lives under one folder (``data/store/`` unless
``FTI_STORE`` or an explicit path says otherwise)::

    store/
      offline.duckdb   feature data with its full history, commits, validation
                       reports, feature views, training datasets, model registry
      online.sqlite    the latest row per key of online-enabled feature groups
      models/NAME/N/   model artifacts, one folder per version

DuckDB lets one process at a time open a database file for writing. A notebook
kernel that keeps a feature store object for hours must not lock out papermill
running the next pipeline, so no connection outlives the call that needed it:
each operation opens the file, works in one transaction, and closes it. When
another process holds the file, the open is retried with back-off for a bounded
time (``FTI_LOCK_TIMEOUT`` seconds, 60 by default) before `StoreBusyError`.

This is the bottom of the store: the engines (``feature_group_engine`` and the
others) run their SQL through `Store.connect` and `Store.transaction`, and the
run layer keeps its run log here too.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from fti.clock import NOW_VARIABLE, now
from fti.exceptions import (
    NameClashError,
    ParameterTypeError,
    StoreBusyError,
    StoreConfigError,
    StoreDamagedError,
    TimelineError,
)
from fti.paths import DATA_DIR

STORE_VARIABLE = "FTI_STORE"
# The timeline a store follows: a simulation (a fixed clock) or the real clock; see `Store.claim_timeline`.
TIMELINE_SIMULATED = "simulated"
TIMELINE_REAL = "real"
LOCK_TIMEOUT_VARIABLE = "FTI_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 60.0
# The store's recorded timeline (one row, or none before the first commit).
TIMELINE_SQL = "SELECT value FROM fti_store_settings WHERE key = 'timeline'"
_UNREAD = object()  # claim_timeline's default: read the recorded timeline itself
OFFLINE_FILE = "offline.duckdb"
ONLINE_FILE = "online.sqlite"
MODELS_DIR = "models"

# The store's own tables. Feature data lives in one table per feature group version
# (created on its first insert); everything else is described here.
_METADATA_DDL = """
CREATE TABLE IF NOT EXISTS fti_feature_groups (
    name VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    primary_key VARCHAR NOT NULL,          -- JSON list of column names
    event_time VARCHAR,
    description VARCHAR NOT NULL,
    online_enabled BOOLEAN NOT NULL,
    ttl_seconds DOUBLE,
    columns VARCHAR,                       -- JSON list of [name, sql type]; NULL until the first insert
    expectation_suite VARCHAR,             -- JSON, NULL when none is attached
    ingestion_policy VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS fti_commits (
    commit_id BIGINT PRIMARY KEY,
    fg_name VARCHAR NOT NULL,
    fg_version INTEGER NOT NULL,
    committed_at TIMESTAMPTZ NOT NULL,
    rows_inserted BIGINT NOT NULL,
    rows_updated BIGINT NOT NULL,
    rows_unchanged BIGINT NOT NULL,
    validation VARCHAR,                    -- NULL (no suite), 'success' or 'failed'
    report_id BIGINT
);
CREATE TABLE IF NOT EXISTS fti_validation_reports (
    report_id BIGINT PRIMARY KEY,
    fg_name VARCHAR NOT NULL,
    fg_version INTEGER NOT NULL,
    validated_at TIMESTAMPTZ NOT NULL,
    success BOOLEAN NOT NULL,
    ingestion_policy VARCHAR NOT NULL,
    outcome VARCHAR NOT NULL,              -- 'ingested' or 'rejected'
    evaluated INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    report VARCHAR NOT NULL                -- JSON
);
CREATE TABLE IF NOT EXISTS fti_feature_views (
    name VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    query VARCHAR NOT NULL,                -- JSON
    labels VARCHAR NOT NULL,               -- JSON list
    transformation_functions VARCHAR NOT NULL,  -- JSON {column: [step, ...]}
    on_demand_features VARCHAR NOT NULL,   -- JSON {name: "module:qualname"}
    description VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS fti_training_datasets (
    fv_name VARCHAR NOT NULL,
    fv_version INTEGER NOT NULL,
    td_version INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    as_of_commit BIGINT NOT NULL,
    split VARCHAR NOT NULL,                -- JSON: how the rows were split
    transformation_state VARCHAR NOT NULL, -- JSON: the fitted transformations
    feature_columns VARCHAR NOT NULL,      -- JSON list: the model's input columns, in order
    PRIMARY KEY (fv_name, fv_version, td_version)
);
CREATE TABLE IF NOT EXISTS fti_models (
    name VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    description VARCHAR NOT NULL,
    metrics VARCHAR NOT NULL,              -- JSON
    fv_name VARCHAR,
    fv_version INTEGER,
    td_version INTEGER,
    trained_on_commit BIGINT,
    input_schema VARCHAR,                  -- JSON
    input_example VARCHAR,                 -- JSON (records)
    framework VARCHAR NOT NULL,
    artifact VARCHAR NOT NULL,             -- path relative to the store
    sha256 VARCHAR NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS fti_model_aliases (
    name VARCHAR NOT NULL,
    alias VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (name, alias)
);
-- Settings of the store as a whole, e.g. the timeline its commits follow (see Store.claim_timeline).
CREATE TABLE IF NOT EXISTS fti_store_settings (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);
-- One description per feature of a feature group version (fg.update_feature_description).
CREATE TABLE IF NOT EXISTS fti_feature_descriptions (
    fg_name VARCHAR NOT NULL,
    fg_version INTEGER NOT NULL,
    feature VARCHAR NOT NULL,
    description VARCHAR NOT NULL,
    PRIMARY KEY (fg_name, fg_version, feature)
);
-- What fg.delete(), fv.delete() and model.delete() removed. Commit ids and model versions
-- are never given out twice: a training dataset or a run log naming one keeps meaning it.
CREATE TABLE IF NOT EXISTS fti_deleted (
    kind VARCHAR NOT NULL,                 -- 'feature group', 'feature view' or 'model'
    name VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    deleted_at TIMESTAMPTZ NOT NULL,
    last_commit BIGINT                     -- a feature group's newest commit id, else NULL
);
"""


def default_store_path() -> Path:
    """Return ``FTI_STORE`` if set, else ``data/store`` at the repository root."""
    configured = os.environ.get(STORE_VARIABLE)
    if configured:
        return Path(configured).expanduser().resolve()
    return DATA_DIR / "store"


def current_timeline() -> str:
    """The timeline this process writes on: ``simulated`` when ``FTI_NOW`` fixes the clock, else ``real``.

    Raises:
        InvalidTimeError: ``FTI_NOW`` is set but is not a time.
    """
    if os.environ.get(NOW_VARIABLE):
        now()  # a malformed FTI_NOW is reported as such (InvalidTimeError), not as a timeline problem
        return TIMELINE_SIMULATED
    return TIMELINE_REAL


def _lock_timeout() -> float:
    """Seconds to wait for a store another process holds: ``FTI_LOCK_TIMEOUT``, else 60.

    Raises:
        StoreConfigError: ``FTI_LOCK_TIMEOUT`` is set but is not a number of seconds.
    """
    raw = os.environ.get(LOCK_TIMEOUT_VARIABLE)
    if not raw:
        return DEFAULT_LOCK_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if math.isnan(seconds):
        raise StoreConfigError(
            f"{LOCK_TIMEOUT_VARIABLE}={raw!r} is not a number of seconds (e.g. {LOCK_TIMEOUT_VARIABLE}=120)"
        )
    return max(0.0, seconds)


# Threads of one process share DuckDB's database instance, whose optimistic concurrency
# turns two simultaneous writers into a "write-write conflict"; writers queue here instead.
_WRITE_LOCKS: dict[Path, threading.RLock] = {}
# Each thread's open connection (and whether it is inside a transaction), per database file.
# Kept per file, not per `Store` object, so that a feature store, a model registry and a
# test holding the file open in one thread share one connection and one transaction.
_THREAD_STATES: dict[Path, threading.local] = {}
_GUARD = threading.Lock()


def _write_lock(path: Path) -> threading.RLock:
    with _GUARD:
        return _WRITE_LOCKS.setdefault(path, threading.RLock())


def _thread_state(path: Path) -> threading.local:
    with _GUARD:
        return _THREAD_STATES.setdefault(path, threading.local())


# What DuckDB says about a damaged file: a bad block checksum, a truncated file, a header that is not DuckDB's.
_DAMAGE_MESSAGES = ("corrupt database", "computed checksum", "not a valid duckdb database",
                    "could not read enough bytes")


def is_damage(exc: BaseException) -> bool:
    """Whether a DuckDB error means the database file itself is damaged."""
    text = str(exc).lower()
    return isinstance(exc, duckdb.Error) and any(message in text for message in _DAMAGE_MESSAGES)


# -- one DuckDB instance per process, store files attached to it ---------------------------------------
#
# Creating a DuckDB instance (duckdb.connect) costs about 20 ms, DuckDB building its catalog of built-in
# functions, and closing it about 10 ms: more than most store operations. So each process keeps one
# in-memory instance and ATTACHes a store's file to it for an operation, DETACHing it afterwards (under a
# millisecond each). DETACH releases the file's lock as closing did, so other processes can open the store
# between operations. A file is attached once per instance: threads share it through their own cursors,
# and the last one to finish detaches it.

_INSTANCE: tuple[int, duckdb.DuckDBPyConnection] | None = None  # (the process id it was made in, instance)
_ATTACHED: dict[Path, int] = {}  # file -> open cursors on it, over every thread


def _alias(path: Path) -> str:
    return "fti_" + hashlib.sha1(str(path).encode()).hexdigest()[:16]


def attach(path: Path) -> duckdb.DuckDBPyConnection:
    """A cursor whose default database is the DuckDB file ``path``, attached to this process's instance.

    Raises:
        duckdb.Error: The file cannot be opened (held by another process, damaged...).
    """
    global _INSTANCE
    with _GUARD:
        if _INSTANCE is None or _INSTANCE[0] != os.getpid():
            # In a forked child the parent's instance is unusable (its threads did not survive the fork).
            _INSTANCE = (os.getpid(), duckdb.connect())
            _ATTACHED.clear()
        cursor = _INSTANCE[1].cursor()
        try:
            if not _ATTACHED.get(path):
                literal = str(path).replace("'", "''")
                cursor.execute(f"ATTACH '{literal}' AS {_alias(path)}")
            cursor.execute(f"USE {_alias(path)}")
        except BaseException:
            cursor.close()
            raise
        _ATTACHED[path] = _ATTACHED.get(path, 0) + 1
        return cursor


def detach(path: Path, cursor: duckdb.DuckDBPyConnection) -> None:
    """Close a cursor from `attach`; the last one on ``path`` detaches the file (and releases its lock)."""
    with _GUARD:
        try:
            remaining = _ATTACHED.get(path, 0) - 1
            if remaining > 0:
                _ATTACHED[path] = remaining
            elif _ATTACHED.pop(path, None) is not None:
                cursor.execute("USE memory")
                cursor.execute(f"DETACH {_alias(path)}")
        finally:
            cursor.close()


def _is_lock_conflict(exc: duckdb.Error) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


class Store:
    """A store directory and the way in to its offline database.

    Args:
        path: The store directory; created if missing.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None):
        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise ParameterTypeError(
                f"store path {path!r} is of type {type(path).__name__}, not a folder path (str or Path)"
            )
        self.path = Path(path).expanduser().resolve() if path is not None else default_store_path()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise StoreConfigError(
                f"store path {self.path} is not a folder: it, or a folder above it, is a file"
            ) from None
        except OSError as exc:
            raise StoreConfigError(f"store path {self.path} cannot be created: {exc.strerror or exc}") from None
        self.offline_path = self.path / OFFLINE_FILE
        self.online_path = self.path / ONLINE_FILE
        self.models_path = self.path / MODELS_DIR
        # One open connection per thread at most, shared by nested operations so that
        # a feature view reading three feature groups opens the file once.
        self._local = _thread_state(self.offline_path)
        self._schema_ready = False

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    def _open(self) -> duckdb.DuckDBPyConnection:
        timeout = _lock_timeout()
        deadline = time.monotonic() + timeout
        pause = 0.005
        while True:
            try:
                con = attach(self.offline_path)
                break
            except duckdb.Error as exc:
                if not _is_lock_conflict(exc) or time.monotonic() >= deadline:
                    if _is_lock_conflict(exc):
                        raise StoreBusyError(
                            f"the store {self.offline_path} stayed locked by another process for more than "
                            f"{timeout:g} s (set {LOCK_TIMEOUT_VARIABLE} to wait longer); "
                            f"DuckDB said: {exc}"
                        ) from None
                    if is_damage(exc):
                        raise self.damaged(exc) from exc
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.1)
        try:
            # Times are stored and returned in UTC whatever the laptop's time zone is.
            con.execute("SET TimeZone = 'UTC'")
            if not self._schema_ready:
                with _write_lock(self.offline_path):
                    con.execute(_METADATA_DDL)
                self._schema_ready = True
        except BaseException:
            detach(self.offline_path, con)
            raise
        return con

    # -- the timeline: real-clock work never lands in a simulation ----------------------------------
    #
    # Time travel (`as_of` a time), commit order and a simulation's own clock assume that a
    # simulated store's commits all follow the simulated clock. A real-clock commit from
    # JupyterLab in the middle of a simulated January would be read by the simulation's
    # pipelines as if it belonged to it (new passengers feeding training, a model promoted by
    # hand). The first commit records the store's timeline; a simulated store then refuses
    # commits and model versions on the real clock. The other way round, a fixed clock in a
    # real-clock store is allowed where it happens on purpose (`fti run --now` gives days it
    # catches up the clock of their evening, tests fix the clock); `fti run --start/--days`
    # refuses such a store before it starts (`check_timeline`).

    def recorded_timeline(self) -> str | None:
        """The timeline this store's commits follow (``simulated`` or ``real``), or None before its first."""
        with self.connect() as con:
            rows = fetch_rows(con, TIMELINE_SQL)
        return rows[0][0] if rows else None

    def check_timeline(self, timeline: str, what: str, advice: str | None = None) -> None:
        """Refuse, before it starts, work on ``timeline`` in a store that follows the other one.

        Args:
            timeline: ``simulated`` or ``real``.
            what: The work, for the message (``"fti run titanic --now"``).
            advice: What to do instead, for the message (default: the general advice).

        Raises:
            TimelineError: The store follows the other timeline.
        """
        recorded = self.recorded_timeline()
        if recorded is not None and recorded != timeline:
            raise TimelineError(self._timeline_problem(recorded, what, advice))

    def claim_timeline(self, con: duckdb.DuckDBPyConnection, recorded: str | None | object = _UNREAD) -> None:
        """Inside a writing transaction: record the timeline on the first commit; refuse real-clock writes later.

        Args:
            con: The transaction's connection.
            recorded: The store's recorded timeline, if the caller already read it in this
                transaction (with `TIMELINE_SQL`, as part of a query it needed anyway).

        Raises:
            TimelineError: The store holds a simulation and this process runs on the real clock;
                the caller's transaction rolls back.
            InvalidTimeError: ``FTI_NOW`` is set but is not a time.
        """
        current = current_timeline()
        if recorded is _UNREAD:
            rows = fetch_rows(con, TIMELINE_SQL)
            recorded = rows[0][0] if rows else None
        if recorded is None:
            con.execute("INSERT INTO fti_store_settings VALUES ('timeline', ?)", [current])
        elif recorded == TIMELINE_SIMULATED and current == TIMELINE_REAL:
            raise TimelineError(self._timeline_problem(TIMELINE_SIMULATED, "this process"))

    def _timeline_problem(self, recorded: str, what: str, advice: str | None = None) -> str:
        if recorded == TIMELINE_SIMULATED:
            advice = advice or (
                f"Reading this store is fine; to write, use another store (`make lab` uses data/lab-store; "
                f"fti.get_feature_store(\"data/lab-store\") or {STORE_VARIABLE}=...), or set {NOW_VARIABLE} to "
                f"continue the simulation")
            return (
                f"the store {self.path} holds a simulation (its commits follow a fixed clock, {NOW_VARIABLE}, "
                f"as `fti run --start/--days` and `make notebooks` set it), and {what} runs on the real clock: "
                f"its commits would mix with the simulated days. {advice}"
            )
        advice = advice or f"Use another store, or delete the folder {self.path} to start over"
        return (
            f"the store {self.path} follows the real clock (its commits were made without {NOW_VARIABLE}, e.g. "
            f"from JupyterLab or `fti run --now`), and {what} runs on a simulated clock: its commits would mix "
            f"with the real ones. {advice}"
        )

    @contextlib.contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Yield a connection to the offline database, opening it only if this thread has none.

        The connection closes when the outermost ``connect`` (or ``transaction``) ends.
        """
        con = getattr(self._local, "con", None)
        if con is not None:
            yield con
            return
        con = self._open()
        self._local.con = con
        try:
            yield con
        except duckdb.Error as exc:
            if is_damage(exc):  # a damaged block found by a read deep inside an engine
                raise self.damaged(exc) from exc
            raise
        finally:
            self._local.con = None
            detach(self.offline_path, con)

    def damaged(self, exc: BaseException) -> StoreDamagedError:
        """The error for a damaged offline file: which file, what DuckDB said and what to do."""
        return StoreDamagedError(
            f"the offline store {self.offline_path} is damaged and cannot be read (DuckDB said: {exc}). It holds "
            "the full history, which cannot be rebuilt: restore it from a backup (`fti store backup DEST` makes "
            f"one), or move the folder {self.path} aside to start over. `fti store check` tells which files are "
            "damaged; the online copy (online.sqlite) is rebuilt from the history by itself"
        )

    def in_transaction(self) -> bool:
        """Whether this thread is inside a `transaction` of this store's file."""
        return bool(getattr(self._local, "in_transaction", False))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Yield a connection inside one transaction: all of it is committed, or none of it.

        Nested calls join the outer transaction.
        """
        with self.connect() as con:
            if getattr(self._local, "in_transaction", False):
                yield con
                return
            with _write_lock(self.offline_path):
                con.execute("BEGIN TRANSACTION")
                self._local.in_transaction = True
                try:
                    yield con
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                finally:
                    self._local.in_transaction = False


def fetch_frame(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pd.DataFrame:
    """Run a query and return all of it as a DataFrame.

    DuckDB's pandas conversion calls a pandas method that pandas 3 deprecates, and
    that warning would reach every notebook's output; it is silenced here, once.
    """
    result = con.execute(sql, params or [])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*inplace keyword.*", category=Warning)
        return result.df()


def fetch_record(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> dict | None:
    """Run a query and return its first row as ``{column: value}``, or None when there is none."""
    cursor = con.execute(sql, params or [])
    names = [column[0] for column in cursor.description]
    rows = cursor.fetchall()
    return dict(zip(names, rows[0], strict=True)) if rows else None


def fetch_rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[tuple]:
    """Run a query and return every row (never leaves a result half-fetched)."""
    return con.execute(sql, params or []).fetchall()


# -- names that differ only in case ---------------------------------------------------------------
#
# DuckDB resolves identifiers case-insensitively, so a feature group ``Cards`` and another ``cards``
# would share one data table. Existing notebooks use mixed-case names, so names are kept exactly as
# given, and a new name that clashes with an existing one up to case is refused.


def refuse_case_clash(con: Any, table: str, what: str, name: str) -> None:
    """Refuse a new ``name`` that differs only in case from one in ``table`` (its ``name`` column).

    DuckDB resolves names case-insensitively, so ``Cards`` and ``cards`` would share one
    data table; the new spelling is refused rather than lower-cased.

    Raises:
        NameClashError: Naming both spellings.
    """
    rows = fetch_rows(con, f"SELECT DISTINCT name FROM {table} WHERE lower(name) = lower(?) AND name <> ?",
                      [name, name])
    if rows:
        raise NameClashError(
            f"{what} name '{name}' differs only in case from the existing {what} '{rows[0][0]}'; the store does "
            f"not tell them apart. Use '{rows[0][0]}', or a name that differs in more than case"
        )
