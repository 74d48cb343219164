"""The online store: the latest feature values per key, for lookups in well under a millisecond.

Production feature stores keep two copies of online-enabled features: a columnar
offline store with the whole history (here DuckDB) for training data, and a
key-value online store with only the newest row per key (here SQLite, in WAL
mode, which many processes can read while one writes) for real-time inference.

The online copy is derived from the offline one. Each table remembers the last
commit it reflects; if a process died between the offline commit and the online
update, the next writer or reader sees the gap and rebuilds the table from the
offline history, so the two never disagree for long.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import sqlite3
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; two processes may both move a damaged file aside
    fcntl = None

import numpy as np
import pandas as pd

from fti.exceptions import OnlineStoreRebuiltWarning, ServingKeyError
from fti.names import quote
from fti.store.liveness import current_owner, is_alive
from fti.store.schema import BIGINT, BOOLEAN, TIMESTAMP, VARCHAR, Columns

T = TypeVar("T")

_STATE_DDL = (
    "CREATE TABLE IF NOT EXISTS fti_online_state (table_name TEXT PRIMARY KEY, applied_commit INTEGER NOT NULL)"
)


# Times are written as this exact text, so that a time used as a key finds its row however it
# was given (pd.Timestamp, datetime, with or without microseconds).
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+00:00"


def _to_sqlite(value: object) -> object:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and value != value:  # NaN
        return None
    if isinstance(value, (dt.datetime, np.datetime64)):  # pd.Timestamp too; naive times are UTC, as everywhere
        stamp = pd.Timestamp(value)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        return stamp.strftime(_TIME_FORMAT)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _column_to_sqlite(column: pd.Series) -> list[object]:
    """A whole column as SQLite values at once (a Python call per cell costs more than the write)."""
    missing = column.isna()
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        # Stored as ISO text in UTC (_TIME_FORMAT); the reader parses it back with pd.Timestamp.
        # numpy formats a column twenty times faster than strftime.
        utc = column.dt.tz_localize("UTC") if column.dt.tz is None else column.dt.tz_convert("UTC")
        stamps = utc.dt.tz_localize(None).to_numpy("datetime64[us]")
        column = pd.Series(np.char.add(np.datetime_as_string(stamps, unit="us"), "+00:00"), index=column.index)
    if not missing.any():
        return column.tolist()
    return column.astype(object).where(~missing, None).tolist()


@contextlib.contextmanager
def _write_transaction(con: sqlite3.Connection) -> Iterator[None]:
    """Take SQLite's write lock; roll back if the block fails. The block ends it (COMMIT or ROLLBACK)."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise


def _upsert_rows(con: sqlite3.Connection, table: str, names: Sequence[str], primary_key: Sequence[str],
                 rows: pd.DataFrame, on_conflict: str) -> None:
    """Create ``table`` if missing and write ``rows``, resolving a key already there with ``on_conflict``."""
    column_sql = ", ".join(quote(name) for name in names)
    keys = ", ".join(quote(key) for key in primary_key)
    con.execute(f"CREATE TABLE IF NOT EXISTS {quote(table)} ({column_sql}, PRIMARY KEY ({keys}))")
    placeholders = ", ".join("?" for _ in names)
    values = list(zip(*(_column_to_sqlite(rows[name]) for name in names), strict=True))
    con.executemany(
        f"INSERT INTO {quote(table)} ({column_sql}) VALUES ({placeholders}) ON CONFLICT ({keys}) {on_conflict}",
        values)


def _record_applied(con: sqlite3.Connection, table: str, commit_id: int) -> None:
    """End a write transaction: ``table`` now reflects ``commit_id``, and this process's pending marker goes."""
    con.execute("INSERT OR REPLACE INTO fti_online_state (table_name, applied_commit) VALUES (?, ?)",
                (table, commit_id))
    con.execute("DELETE FROM fti_online_pending WHERE table_name = ? AND pid = ?", (table, os.getpid()))
    con.execute("COMMIT")


def _decoder(sql_type: str) -> Callable[[object], object]:
    if sql_type == TIMESTAMP:
        return lambda value: None if value is None else pd.Timestamp(value)
    if sql_type == BOOLEAN:
        return lambda value: None if value is None else bool(value)
    return lambda value: value


_PENDING_DDL = (
    "CREATE TABLE IF NOT EXISTS fti_online_pending (table_name TEXT NOT NULL, pid INTEGER NOT NULL, "
    "started INTEGER NOT NULL, PRIMARY KEY (table_name, pid))"
)
def _is_damage(exc: BaseException) -> bool:
    """Whether a SQLite error means the file itself is damaged (not a lock or a missing table)."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    if getattr(exc, "sqlite_errorname", "") in ("SQLITE_CORRUPT", "SQLITE_NOTADB"):
        return True
    text = str(exc)
    return "malformed" in text or "not a database" in text


class _ThreadState(threading.local):
    """One thread's connection to the online file and what it last saw of it."""

    con: sqlite3.Connection | None = None
    file_id: tuple[int, int] | None = None
    data_version: int | None = None
    pending_seen = False  # a live writer had a commit under way at the last check: look again
    stale: set[str]  # tables whose writer died between its offline commit and the online update

    def __init__(self) -> None:
        self.stale = set()


class OnlineStore:
    """The SQLite file of one store.

    Damage and replacement are handled here. A file that SQLite reports as damaged
    (truncated, overwritten, not a database) is moved aside as
    ``online.sqlite.damaged-<UTC time>`` and an empty one takes its place; the tables
    are then rebuilt from the offline history by whoever uses them next (the feature
    group engine's ``sync_online``). A serving process checks on every lookup, for a
    few microseconds, that the file is still the one it opened (device and inode) and
    whether another connection committed since (``PRAGMA data_version``); only then
    does it look at the pending-commit markers (see `mark_pending`).

    Args:
        path: The ``online.sqlite`` file.
    """

    def __init__(self, path: Path):
        self.path = path
        self._local = _ThreadState()
        # Table -> the file (device, inode) it was last brought up to date in, by any thread: a new
        # serving thread needs no sync of its own, a replaced or rebuilt file needs one.
        self._synced: dict[str, tuple[int, int] | None] = {}

    def _connection(self, verify: bool = True) -> sqlite3.Connection:
        # Unlike DuckDB, SQLite lets other processes write while this connection is
        # open, so it is kept per thread for fast lookups.
        local = self._local
        con = local.con
        if con is not None and self._file_id() != local.file_id:
            # The file was deleted or replaced since it was opened (the store folder was
            # cleaned while a notebook kept running, another process rebuilt a damaged
            # copy): reading or writing on would use a file nobody else sees.
            self.close()
            con = None
        if con is None:
            con = self._open(verify)
        return con

    def _open(self, verify: bool = True) -> sqlite3.Connection:
        """Open the file (a new empty one if missing); ``verify`` runs SQLite's quick check first.

        Writers verify: damage found now costs a rebuild, not a failed commit. Serving
        processes do not (the check reads the whole file, about 0.1 s per 60 MB, and
        every new serving thread opens its own connection); a damaged page they read
        fails the read, which is recovered from the same way (see `lookup_plan`).
        """
        local = self._local
        for attempt in (0, 1):
            con = sqlite3.connect(self.path, timeout=60.0, isolation_level=None, check_same_thread=True)
            try:
                con.execute("PRAGMA journal_mode=WAL")
                con.execute("PRAGMA synchronous=NORMAL")
                verdict = con.execute("PRAGMA quick_check(1)").fetchall() if verify else [("ok",)]
                if verdict != [("ok",)]:
                    raise sqlite3.DatabaseError(f"database disk image is malformed: {verdict[0][0]}")
                con.execute(_STATE_DDL)
                con.execute(_PENDING_DDL)
            except sqlite3.DatabaseError as exc:
                con.close()
                if not _is_damage(exc) or attempt:
                    raise
                self._move_aside(self._file_id(), str(exc))
                continue
            break
        local.con = con
        local.file_id = self._file_id()
        local.data_version = None
        local.pending_seen = False
        local.stale = set()
        return con

    def _file_id(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (stat.st_dev, stat.st_ino)

    def close(self) -> None:
        """Close this thread's connection, if any."""
        con = self._local.con
        if con is not None:
            con.close()
            self._local.con = None

    # -- damage ---------------------------------------------------------------------------------

    def _recover(self, exc: BaseException) -> None:
        """After a damage error on this thread's connection: move the file aside and open a new one."""
        damaged = self._local.file_id
        self.close()
        self._move_aside(damaged, str(exc))
        self._open(verify=False)  # a new, empty file

    def _move_aside(self, damaged: tuple[int, int] | None, reason: str) -> None:
        """Rename the damaged file (with its WAL) to ``online.sqlite.damaged-<time>`` and warn, once.

        Several processes may find the damage at once: under a lock file, only the first
        moves it; the others find another file in its place and simply open that one.
        """
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a+b") as lock:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if damaged is None or self._file_id() != damaged:
                    return  # moved (or deleted) by someone else already
                stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
                target = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
                os.replace(self.path, target)
                for suffix in ("-wal", "-shm"):
                    # A WAL left next to a new file would be replayed into it.
                    with contextlib.suppress(FileNotFoundError):
                        os.replace(self.path.with_name(self.path.name + suffix),
                                   target.with_name(target.name + suffix))
            finally:
                if fcntl is not None:
                    fcntl.flock(lock, fcntl.LOCK_UN)
        warnings.warn(
            f"the online copy {self.path} was damaged ({reason}); it was moved to {target.name} for inspection "
            "and is being rebuilt from the offline history, which is intact",
            OnlineStoreRebuiltWarning, stacklevel=4,
        )

    def _guarded(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``operation`` on this thread's connection; after damage, recover and run it once more."""
        try:
            return operation(self._connection())
        except sqlite3.DatabaseError as exc:
            if not _is_damage(exc):
                raise
            self._recover(exc)
        return operation(self._connection())

    # -- commits under way ----------------------------------------------------------------------

    def mark_pending(self, table: str) -> None:
        """Record, before an offline commit of ``table``'s feature group, that this process is making one.

        The marker is removed in the transaction that applies the commit online. If the
        process dies in between, the marker stays with a dead owner, which tells every
        serving process that the offline history is ahead of ``table``.
        """
        pid, started = current_owner()
        self._guarded(lambda con: con.execute(
            "INSERT OR REPLACE INTO fti_online_pending VALUES (?, ?, ?)", (table, pid, started)))

    def clear_pending(self, table: str) -> None:
        """Remove this process's marker for ``table`` (its offline commit failed: nothing is pending)."""
        pid, _ = current_owner()
        self._guarded(lambda con: con.execute(
            "DELETE FROM fti_online_pending WHERE table_name = ? AND pid = ?", (table, pid)))

    def clear_dead_pending(self, table: str) -> None:
        """Remove the markers for ``table`` left by processes that died (after the table was brought up to date)."""
        def clear(con: sqlite3.Connection) -> None:
            # Read first: most of the time there is nothing to delete, and a DELETE takes the write lock.
            owners = con.execute("SELECT pid, started FROM fti_online_pending WHERE table_name = ?",
                                 (table,)).fetchall()
            for pid, started in owners:
                if pid == os.getpid() or not is_alive(pid, started):
                    con.execute("DELETE FROM fti_online_pending WHERE table_name = ? AND pid = ?", (table, pid))
        self._guarded(clear)
        self._local.stale.discard(table)

    def mark_synced(self, table: str) -> None:
        """Note that ``table`` was just brought up to date in this thread (no re-check until something changes)."""
        self._synced[table] = self._local.file_id
        self._local.stale.discard(table)

    @staticmethod
    @functools.cache
    def column_limit() -> int:
        """How many columns a table of the online copy can have (SQLite's SQLITE_LIMIT_COLUMN)."""
        with contextlib.closing(sqlite3.connect(":memory:")) as con:
            return con.getlimit(sqlite3.SQLITE_LIMIT_COLUMN)

    def _serving_connection(self) -> sqlite3.Connection:
        """This thread's connection after the per-lookup checks (file identity, other connections' commits).

        Costs one ``stat`` and one ``PRAGMA data_version`` (a counter SQLite keeps in
        shared memory) unless something changed; then the pending markers are read.
        """
        local = self._local
        con = local.con
        if con is None or self._file_id() != local.file_id:
            con = self._connection(verify=False)
        version = con.execute("PRAGMA data_version").fetchone()[0]
        if version != local.data_version or local.pending_seen:
            local.data_version = version
            pending_seen = False
            for table, pid, started in con.execute(
                    "SELECT table_name, pid, started FROM fti_online_pending").fetchall():
                if is_alive(pid, started):
                    pending_seen = True
                else:
                    local.stale.add(table)
            local.pending_seen = pending_seen
        return con

    def applied_commit(self, table: str) -> int | None:
        """Return the last commit reflected in ``table``, or None if it was never written."""
        row = self._guarded(lambda con: con.execute(
            "SELECT applied_commit FROM fti_online_state WHERE table_name = ?", (table,)).fetchone())
        return None if row is None else int(row[0])

    def write(self, table: str, columns: Columns, primary_key: Sequence[str], rows: pd.DataFrame,
              commit_id: int, *, replace_all: bool = False) -> bool:
        """Upsert the newest rows per key and record ``commit_id``, in one SQLite transaction.

        Args:
            table: Table name (already checked).
            columns: The feature group's schema.
            primary_key: Key columns.
            rows: At most one row per key: the newest for each key this commit touched.
            commit_id: The offline commit these rows come from.
            replace_all: Drop and rebuild the table (recovery after a crash).

        Returns:
            False if nothing was written because the table was reset meanwhile (a damaged
            file rebuilt, a delete): ``rows`` holds only the changed keys, not all of them,
            so the caller must decide again. True otherwise.
        """
        names = [name for name, _ in columns]
        replace = ", ".join(f"{quote(name)} = excluded.{quote(name)}" for name in names if name not in primary_key)

        def run(con: sqlite3.Connection) -> bool:
            with _write_transaction(con):
                row = con.execute(
                    "SELECT applied_commit FROM fti_online_state WHERE table_name = ?", (table,)).fetchone()
                if not replace_all and (row is None or row[0] >= commit_id):
                    # Another process already wrote this commit or a newer one (which includes these keys),
                    # or the table was reset and needs all keys, not these.
                    con.execute("ROLLBACK")
                    return row is not None
                if replace_all:
                    con.execute(f"DROP TABLE IF EXISTS {quote(table)}")
                _upsert_rows(con, table, names, primary_key, rows,
                             f"DO UPDATE SET {replace}" if replace else "DO NOTHING")
                _record_applied(con, table, commit_id)
            return True

        return self._guarded(run)

    def apply_commit(self, table: str, columns: Columns, primary_key: Sequence[str], event_time: str | None,
                     rows: pd.DataFrame, commit_id: int, previous_commit: int | None) -> bool:
        """Apply one commit's rows on top of the commit before it, in one SQLite transaction.

        The cheap path for small commits: no read of the offline history. A row replaces
        the online row of its key only if its event time is not older, so a late event
        never hides a newer one. It applies only when the table reflects exactly
        ``previous_commit`` (this feature group's commit before ``commit_id``).

        Args:
            table, columns, primary_key: As for `write`.
            event_time: The event time column, or None (then every row replaces its key's row).
            rows: The commit's rows (at most one per primary key and event time).
            commit_id: The offline commit they come from.
            previous_commit: The feature group's commit before it, or None for its first.

        Returns:
            True if applied; False if the table is not at ``previous_commit`` (the caller
            then brings it up to date from the offline history with `write`).
        """
        names = [name for name, _ in columns]
        updates = ", ".join(f"{quote(name)} = excluded.{quote(name)}" for name in names if name not in primary_key)
        if event_time is not None:
            # Oldest first: of two rows for one key in this commit, the newer is written last.
            rows = rows.sort_values(event_time, kind="stable")
            newer = f" WHERE excluded.{quote(event_time)} >= {quote(table)}.{quote(event_time)}"
        else:
            newer = ""
        conflict = f"DO UPDATE SET {updates}{newer}" if updates else "DO NOTHING"

        def run(con: sqlite3.Connection) -> bool:
            with _write_transaction(con):
                row = con.execute(
                    "SELECT applied_commit FROM fti_online_state WHERE table_name = ?", (table,)).fetchone()
                if (None if row is None else int(row[0])) != previous_commit:
                    con.execute("ROLLBACK")
                    return False
                _upsert_rows(con, table, names, primary_key, rows, conflict)
                _record_applied(con, table, commit_id)
            return True

        applied = self._guarded(run)
        if applied:
            self.mark_synced(table)
        return applied

    def drop(self, table: str) -> None:
        """Remove ``table`` and the record of its last commit, in one SQLite transaction (nothing if absent)."""
        def run(con: sqlite3.Connection) -> None:
            with _write_transaction(con):
                con.execute(f"DROP TABLE IF EXISTS {quote(table)}")
                con.execute("DELETE FROM fti_online_state WHERE table_name = ?", (table,))
                con.execute("COMMIT")

        self._guarded(run)

    def lookup_plan(self, table: str, columns: Columns, primary_key: Sequence[str], wanted: Sequence[str],
                    refresh: Callable[[], None] | None = None,
                    where: str = "") -> Callable[[Sequence[object]], dict | None]:
        """Return a function mapping key values to ``{column: value}`` of the newest row, or None.

        The statement, the key checks and the decoders are prepared once, so each lookup
        costs the checks of `_serving_connection` and one indexed SQLite read.

        Args:
            table, columns, primary_key: As for `write`.
            wanted: The columns to return.
            refresh: Brings ``table`` up to date from the offline history; called when the
                file was replaced or rebuilt, or a writer died before updating it.
            where: The feature group, for messages.

        The returned function raises `ServingKeyError` for a key value whose type does not
        fit its column (text for a whole-number key, a ``uint64`` beyond the signed range).
        """
        types = dict(columns)
        sql = (
            f"SELECT {', '.join(quote(name) for name in wanted)} FROM {quote(table)} WHERE "
            + " AND ".join(f"{quote(key)} = ?" for key in primary_key)
        )
        decoders = [_decoder(types[name]) for name in wanted]
        encoders = [_key_encoder(key, types[key], where) for key in primary_key]
        wanted = list(wanted)
        local = self._local
        synced = self._synced

        def lookup(key_values: Sequence[object]) -> dict | None:
            params = [encode(value) for encode, value in zip(encoders, key_values, strict=True)]
            if None in params:
                return None  # a missing key (e.g. from a join whose first lookup found nothing) has no row
            for attempt in (0, 1):
                try:
                    con = self._serving_connection()
                    if refresh is not None and (synced.get(table) != local.file_id or table in local.stale):
                        refresh()
                        self.mark_synced(table)
                        con = self._serving_connection()
                    row = con.execute(sql, params).fetchone()
                except sqlite3.DatabaseError as exc:
                    if "no such table" in str(exc):
                        return None  # nothing was ever written online for this feature group
                    if attempt or not _is_damage(exc):
                        raise
                    self._recover(exc)
                    continue
                break
            if row is None:
                return None
            return {name: decode(value) for name, decode, value in zip(wanted, decoders, row, strict=True)}

        return lookup


_INT64 = (-(2**63), 2**63 - 1)


def _key_encoder(key: str, sql_type: str, where: str) -> Callable[[object], object]:
    """A function turning a serving key value into its SQLite value, refusing one of the wrong type.

    Without it, the text ``"2"`` for a whole-number key finds no row (SQLite compares
    text and numbers as different) and the lookup returns missing values silently.
    """
    def refuse(value: object, problem: str) -> ServingKeyError:
        prefix = f"{where}: " if where else ""
        return ServingKeyError(
            f"{prefix}serving key '{key}' is {_describe_value(value)}, {problem}; pass a value of the key's type"
        )

    if sql_type == BIGINT:
        def encode_integer(value: object) -> object:
            if _is_missing(value):
                return None
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer, float, np.floating)):
                raise refuse(value, "but the key column holds whole numbers")
            if isinstance(value, (float, np.floating)):
                if not float(value).is_integer():
                    raise refuse(value, "but the key column holds whole numbers")
                value = int(value)
            value = int(value)
            if not _INT64[0] <= value <= _INT64[1]:
                raise refuse(value, "outside the 64-bit signed range the store keeps (BIGINT)")
            return value
        return encode_integer
    if sql_type == VARCHAR:
        def encode_text(value: object) -> object:
            if _is_missing(value):
                return None
            if not isinstance(value, str):
                raise refuse(value, "but the key column holds text")
            return value
        return encode_text
    if sql_type == TIMESTAMP:
        def encode_time(value: object) -> object:
            if _is_missing(value):
                return None
            if isinstance(value, str):
                try:
                    value = pd.Timestamp(value)
                except ValueError:
                    raise refuse(value, "but the key column holds datetimes and it is not one") from None
            if not isinstance(value, (dt.datetime, np.datetime64)) or value is pd.NaT:
                raise refuse(value, "but the key column holds datetimes")
            if isinstance(value, (np.datetime64, pd.Timestamp)):
                if pd.Timestamp(value).nanosecond:  # the store keeps microseconds: it would match the wrong row
                    raise refuse(value, "which has nanoseconds, but the store keeps times to the microsecond")
            return _to_sqlite(value)
        return encode_time
    return _to_sqlite


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value)


def _describe_value(value: object) -> str:
    kind = type(value).__name__
    return f"{value!r} of type {kind}"
