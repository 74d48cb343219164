"""Checking a store's files and backing them up: ``fti store check`` and ``fti store backup``.

A store is three things on disk (see `fti.store.storage`): the offline history
(``offline.duckdb``), which nothing else can rebuild; the online copy
(``online.sqlite``), derived from that history and rebuilt by itself when damaged;
and the model artifacts (``models/``), each with the SHA-256 recorded at save time.

`check_store` reads all of it: every table of the offline database in full (DuckDB
verifies each block's checksum as it reads it), SQLite's ``PRAGMA integrity_check``
on the online copy and whether each online table has caught up with its history,
and every model artifact against its checksum. `backup_store` copies the three
while it holds the offline file, so no commit can land half-way through the copy.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import duckdb

from fti.exceptions import ArtifactIntegrityError, StoreConfigError, StoreDamagedError
from fti.names import quote
from fti.store import artifacts
from fti.store.model_engine import STAGING_PREFIX
from fti.store.storage import MODELS_DIR, OFFLINE_FILE, ONLINE_FILE, Store, fetch_rows, is_damage

OK = "ok"
PROBLEM = "problem"
NOTE = "note"  # worth knowing, not damage (an online table behind its history is caught up on its next use)


@dataclass(frozen=True)
class Finding:
    """One result of `check_store`.

    Attributes:
        part: What was checked: ``offline.duckdb``, ``online.sqlite``, ``models/NAME/N``.
        status: ``ok``, ``problem`` or ``note``.
        detail: What was found and, for a problem, what to do.
    """

    part: str
    status: str
    detail: str

    def __str__(self) -> str:
        return f"{self.status.upper():8} {self.part}: {self.detail}"


def check_store(store: Store) -> list[Finding]:
    """Read every file of ``store`` and report what is damaged; changes nothing.

    Args:
        store: The store to check (its folder must exist).

    Returns:
        The findings, offline database first; a store passes when none is a ``problem``.
    """
    findings: list[Finding] = []
    last_commits: dict[str, int] = {}
    models: list[tuple[str, int, str, str]] = []
    if not store.offline_path.exists():
        findings.append(Finding(OFFLINE_FILE, NOTE, "no offline database yet (nothing was ever written)"))
    else:
        try:
            with store.connect() as con:
                tables = [name for (name,) in fetch_rows(
                    con, "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                    "ORDER BY table_name")]
                rows = 0
                for table in tables:
                    # hash() of every column makes DuckDB read (and checksum) every block of the table.
                    rows += int(fetch_rows(con, f"SELECT count(*), sum(hash(COLUMNS(*))) FROM {quote(table)}")[0][0])
                for name, version, last in fetch_rows(
                        con, "SELECT fg_name, fg_version, max(commit_id) FROM fti_commits GROUP BY ALL"):
                    last_commits[f"fg_{name}_{version}"] = int(last)
                models = [(name, int(version), artifact, digest) for name, version, artifact, digest in fetch_rows(
                    con, "SELECT name, version, artifact, sha256 FROM fti_models ORDER BY name, version")]
            findings.append(Finding(OFFLINE_FILE, OK, f"{len(tables)} tables, {rows} rows read in full"))
        except StoreDamagedError as exc:
            findings.append(Finding(OFFLINE_FILE, PROBLEM, str(exc)))
        except duckdb.Error as exc:
            if not is_damage(exc):
                raise
            findings.append(Finding(OFFLINE_FILE, PROBLEM, str(store.damaged(exc))))
    findings.extend(_check_online(store.online_path, last_commits))
    findings.extend(_check_models(store, models))
    return findings


def _check_online(path: Path, last_commits: dict[str, int]) -> list[Finding]:
    if not path.exists():
        return [Finding(ONLINE_FILE, NOTE, "no online copy yet; it is built from the history on first use")]
    rebuilt = "it is moved aside and rebuilt from the offline history the next time it is used"
    try:
        # Read-only: checking must not create tables or a WAL in a file that may be damaged.
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
            verdict = [row[0] for row in con.execute("PRAGMA integrity_check").fetchall()]
            if verdict != ["ok"]:
                return [Finding(ONLINE_FILE, PROBLEM, f"damaged ({'; '.join(verdict[:3])}); {rebuilt}")]
            try:
                applied = dict(con.execute("SELECT table_name, applied_commit FROM fti_online_state").fetchall())
            except sqlite3.OperationalError:
                applied = {}
    except sqlite3.DatabaseError as exc:
        return [Finding(ONLINE_FILE, PROBLEM, f"damaged ({exc}); {rebuilt}")]
    findings = [Finding(ONLINE_FILE, OK, f"integrity check passed, {len(applied)} online tables")]
    for table, commit in sorted(applied.items()):
        last = last_commits.get(table)
        if last is not None and commit != last:
            findings.append(Finding(f"{ONLINE_FILE} {table}", NOTE,
                                    f"reflects commit {commit}, the history is at {last}; caught up on next use"))
    return findings


def _check_models(store: Store, models: list[tuple[str, int, str, str]]) -> list[Finding]:
    findings = []
    for name, version, artifact, digest in models:
        part = f"{MODELS_DIR}/{name}/{version}"
        try:
            artifacts.verify(store.path / artifact, digest, f"model '{name}' v{version}")
        except ArtifactIntegrityError as exc:
            findings.append(Finding(part, PROBLEM, f"{exc}; save the model again, or restore it from a backup"))
        else:
            findings.append(Finding(part, OK, "checksum matches"))
    for staging in sorted(store.models_path.glob(f"*/{STAGING_PREFIX}*")):
        findings.append(Finding(staging.relative_to(store.path).as_posix(), NOTE,
                                "staging folder of an unfinished save; removed by the next save once its "
                                "process is gone"))
    return findings


def backup_store(store: Store, destination: str | Path) -> Path:
    """Copy ``store`` into the new folder ``destination``: a store that opens as it is.

    The offline database is checkpointed and copied while this process holds it, so
    no other process commits during the copy (they wait, as for any busy store); the
    online copy is copied with SQLite's backup API; model artifacts are copied
    without staging folders (a damaged online copy is left out: the copy rebuilds it
    from the history on first use). Restore by pointing ``FTI_STORE`` (or ``--store``) at
    the copy, or by copying it back in place of the store folder.

    Raises:
        StoreConfigError: ``destination`` exists and is not an empty folder.
        StoreDamagedError: The offline database cannot be read.
    """
    target = Path(destination).expanduser().resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise StoreConfigError(f"backup destination {target} exists and is not an empty folder; choose a new one")
    if target == store.path or store.path in target.parents:
        raise StoreConfigError(f"backup destination {target} is inside the store {store.path}; choose another")
    target.mkdir(parents=True, exist_ok=True)
    with store.connect() as con:
        con.execute("CHECKPOINT")  # everything in the file itself, nothing left in its WAL
        shutil.copy2(store.offline_path, target / OFFLINE_FILE)
        if store.online_path.exists():
            try:
                with contextlib.closing(sqlite3.connect(store.online_path)) as source, \
                        contextlib.closing(sqlite3.connect(target / ONLINE_FILE)) as copy:
                    source.backup(copy)
            except sqlite3.DatabaseError:
                # A damaged online copy is not worth keeping: the copy rebuilds it from the history.
                (target / ONLINE_FILE).unlink(missing_ok=True)
        if store.models_path.exists():
            shutil.copytree(store.models_path, target / MODELS_DIR,
                            ignore=shutil.ignore_patterns(f"{STAGING_PREFIX}*"))
    return target
