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

import datetime as dt
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fti.names import quote
from fti.store.schema import BOOLEAN, TIMESTAMP, Columns

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
        # Stored as ISO text in UTC; the reader parses it back with pd.Timestamp.
        column = column.dt.tz_convert("UTC").dt.strftime(_TIME_FORMAT)
    if not missing.any():
        return column.tolist()
    return column.astype(object).where(~missing, None).tolist()


def _decoder(sql_type: str) -> Callable[[object], object]:
    if sql_type == TIMESTAMP:
        return lambda value: None if value is None else pd.Timestamp(value)
    if sql_type == BOOLEAN:
        return lambda value: None if value is None else bool(value)
    return lambda value: value


class OnlineStore:
    """The SQLite file of one store.

    Args:
        path: The ``online.sqlite`` file.
    """

    def __init__(self, path: Path):
        self.path = path
        self._local = threading.local()

    def _connection(self, check_file: bool = True) -> sqlite3.Connection:
        # Unlike DuckDB, SQLite lets other processes write while this connection is
        # open, so it is kept per thread for fast lookups.
        con = getattr(self._local, "con", None)
        # Lookups skip the check (a stat call costs a fifth of a lookup); every sync and
        # write makes it, and serving starts with a sync.
        if con is not None and check_file and self._file_id() != getattr(self._local, "file_id", None):
            # The file was deleted or replaced since it was opened (e.g. the store folder
            # was cleaned while a notebook kept running): writing on would go to a file
            # nobody else sees, so open the new one; the next sync then rebuilds it.
            self.close()
            con = None
        if con is None:
            con = sqlite3.connect(self.path, timeout=60.0, isolation_level=None, check_same_thread=True)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute(_STATE_DDL)
            self._local.con = con
            self._local.file_id = self._file_id()
        return con

    def _file_id(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (stat.st_dev, stat.st_ino)

    def close(self) -> None:
        """Close this thread's connection, if any."""
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    def applied_commit(self, table: str) -> int | None:
        """Return the last commit reflected in ``table``, or None if it was never written."""
        row = self._connection().execute(
            "SELECT applied_commit FROM fti_online_state WHERE table_name = ?", (table,)
        ).fetchone()
        return None if row is None else int(row[0])

    def write(self, table: str, columns: Columns, primary_key: Sequence[str], rows: pd.DataFrame,
              commit_id: int, *, replace_all: bool = False) -> None:
        """Upsert the newest rows per key and record ``commit_id``, in one SQLite transaction.

        Args:
            table: Table name (already checked).
            columns: The feature group's schema.
            primary_key: Key columns.
            rows: At most one row per key: the newest for each key this commit touched.
            commit_id: The offline commit these rows come from.
            replace_all: Drop and rebuild the table (recovery after a crash).
        """
        con = self._connection()
        names = [name for name, _ in columns]
        column_sql = ", ".join(quote(name) for name in names)
        con.execute("BEGIN IMMEDIATE")
        try:
            row = con.execute("SELECT applied_commit FROM fti_online_state WHERE table_name = ?", (table,)).fetchone()
            if not replace_all and row is not None and row[0] >= commit_id:
                # Another process already wrote this commit or a newer one (which includes these keys).
                con.execute("ROLLBACK")
                return
            if replace_all:
                con.execute(f"DROP TABLE IF EXISTS {quote(table)}")
            con.execute(
                f"CREATE TABLE IF NOT EXISTS {quote(table)} ({column_sql}, "
                f"PRIMARY KEY ({', '.join(quote(key) for key in primary_key)}))"
            )
            placeholders = ", ".join("?" for _ in names)
            values = list(zip(*(_column_to_sqlite(rows[name]) for name in names), strict=True))
            con.executemany(f"INSERT OR REPLACE INTO {quote(table)} ({column_sql}) VALUES ({placeholders})", values)
            con.execute(
                "INSERT OR REPLACE INTO fti_online_state (table_name, applied_commit) VALUES (?, ?)",
                (table, commit_id),
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def drop(self, table: str) -> None:
        """Remove ``table`` and the record of its last commit, in one SQLite transaction (nothing if absent)."""
        con = self._connection()
        con.execute("BEGIN IMMEDIATE")
        try:
            con.execute(f"DROP TABLE IF EXISTS {quote(table)}")
            con.execute("DELETE FROM fti_online_state WHERE table_name = ?", (table,))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def lookup_plan(self, table: str, columns: Columns, primary_key: Sequence[str],
                    wanted: Sequence[str]) -> Callable[[Sequence[object]], dict | None]:
        """Return a function mapping key values to ``{column: value}`` of the newest row, or None.

        The statement and the decoders are prepared once, so each lookup costs one
        indexed SQLite read.
        """
        types = dict(columns)
        sql = (
            f"SELECT {', '.join(quote(name) for name in wanted)} FROM {quote(table)} WHERE "
            + " AND ".join(f"{quote(key)} = ?" for key in primary_key)
        )
        decoders = [_decoder(types[name]) for name in wanted]
        wanted = list(wanted)

        def lookup(key_values: Sequence[object]) -> dict | None:
            try:
                row = self._connection(check_file=False).execute(
                    sql, [_to_sqlite(value) for value in key_values]).fetchone()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return None  # nothing was ever written online for this feature group
                raise
            if row is None:
                return None
            return {name: decode(value) for name, decode, value in zip(wanted, decoders, row, strict=True)}

        return lookup
