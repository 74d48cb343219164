"""Feature groups as Delta Lake tables: export a group's history, import one that Spark (or any Delta writer) made.

A course that outgrows a laptop moves its feature pipeline to Spark; the kit
should still read what that pipeline writes, and Spark should read what the kit
wrote. Delta Lake is the table format both sides know, and the ``deltalake``
package reads and writes it without a JVM.

How a feature group maps to a Delta table
-----------------------------------------
The table holds the feature rows and nothing else: the group's columns, one row
per (primary key, event time), no bookkeeping columns to filter. History lives
in Delta's own versions, one per kit commit:

* version 0 creates the empty table (schema, name, description, properties);
* version k is the state after the group's k-th commit: the commit's new rows
  are appended, or merged on (primary key, event time) when it replaced some.

So Spark's ``spark.read.format("delta").option("versionAsOf", k)`` reads exactly
what ``fg.read(as_of=<the k-th commit>)`` reads. (``timestampAsOf`` does not
match: Delta stamps a version with the wall-clock time it was written, which no
writer may set; the kit's commit time travels in the commit info instead.)

What the kit needs to read the table back is kept in the table itself:

* table properties (``TBLPROPERTIES`` in Spark), all prefixed ``fti.``: the
  feature group's name and version, primary key, event time, online flag, ttl,
  expectation suite and ingestion policy, the store's timeline, a format number;
* each version's commit info: the kit's commit id, commit time, row counts and
  validation verdict (``fti.commitId``, ``fti.committedAt``...), and a
  ``userMetadata`` line that Spark's ``DESCRIBE HISTORY`` shows.

How a Delta table becomes a feature group
-----------------------------------------
Each Delta version whose rows differ from the previous version's becomes one
commit holding the rows that are new or changed (so ``OPTIMIZE``, ``VACUUM`` or
property changes make no commit); a version the kit exported is always a commit,
even an empty one, so the round trip keeps every commit. ``history="latest"``
imports only the latest version, as one commit. The primary key and event time
come from the table's properties; for a table that another engine made, the
caller names them. Rows deleted between two versions cannot be history here (a
feature group's commits only add and replace rows): the import stops with
`DeltaHistoryError` naming the version, and ``history="latest"`` is the way out.

Commit times (``commit_times``):

* ``"source"`` (the default) keeps them: the kit's own commit time for a
  version it exported, Delta's timestamp of the version otherwise. A store
  answers ``as_of=<time>`` with "the last commit at or before it", store-wide, so
  commit ids and times must grow together: the imported commits must not be
  older than the store's latest, and each table's times must not go back. Tables
  whose histories interleave (a label group and the groups joined to it) are
  therefore imported together (`import_tables`), their commits merged in time
  order, which also reproduces the source store's commit order. The commits keep
  the source's timeline too: a store with none yet takes it on, a store on the
  other timeline refuses (`TimelineError`).
* ``"now"`` stamps every commit with the importing process's clock, one table
  after the other, as an insert would (with the same timeline rule as an insert).

Commit ids are the importing store's: they are store-wide and only grow, so the
same history gets other numbers in another store. What a round trip keeps is the
states: the k-th imported commit reads exactly like the k-th exported one, by
``as_of`` a time (with ``"source"`` times) or by the corresponding id.

An import is all or nothing: every table is read and checked before the store is
opened for writing, and the commits of all of them are written in one store
transaction. An export writes into a temporary folder beside the target and
renames it into place at the end, so a failed export leaves no table behind.

Not carried: validation reports (a commit keeps its verdict, without a report),
training datasets, feature views and the online copy (rebuilt from the history
on import when the group is online). Partitioning, deletion vectors and column
mapping are left to the reader: ``deltalake`` applies them when it reads.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from arro3.core import Table as ArrowTable
from deltalake import CommitProperties, DeltaTable, QueryBuilder, write_deltalake
from deltalake.exceptions import DeltaError, TableNotFoundError

from fti.exceptions import (
    DeltaHistoryError,
    DeltaLakeError,
    DeltaSchemaError,
    FeatureGroupNotFoundError,
    FTIError,
    InvalidNameError,
    NotADeltaTableError,
    ParameterError,
    ParameterTypeError,
    SchemaError,
    TimelineError,
)
from fti.names import check_name, check_version, quote
from fti.store.feature_group_engine import (
    COMMIT_COLUMN,
    FeatureGroupEngine,
    FeatureGroupMeta,
    first_schema,
    normalize_policy,
)
from fti.store.schema import BIGINT, BOOLEAN, DOUBLE, TIMESTAMP, VARCHAR, Columns, check_keys, conform
from fti.store.storage import TIMELINE_REAL, Store, fetch_frame, fetch_rows

FORMAT_VERSION = "1"
HISTORY_CHOICES = ("all", "latest")
COMMIT_TIME_CHOICES = ("source", "now")

# Table properties (Delta metadata configuration). deltalake refuses keys it does not know
# unless told otherwise (`raise_if_key_not_exists=False`); Spark keeps any key.
FORMAT_KEY = "fti.format"
NAME_KEY = "fti.featureGroup"
VERSION_KEY = "fti.featureGroupVersion"
PRIMARY_KEY_KEY = "fti.primaryKey"
EVENT_TIME_KEY = "fti.eventTime"
ONLINE_KEY = "fti.onlineEnabled"
TTL_KEY = "fti.ttlSeconds"
POLICY_KEY = "fti.ingestionPolicy"
SUITE_KEY = "fti.expectationSuite"
TIMELINE_KEY = "fti.timeline"

# Commit info of a version the kit wrote.
COMMIT_ID_INFO = "fti.commitId"
COMMITTED_AT_INFO = "fti.committedAt"
INSERTED_INFO = "fti.rowsInserted"
UPDATED_INFO = "fti.rowsUpdated"
UNCHANGED_INFO = "fti.rowsUnchanged"
VALIDATION_INFO = "fti.validation"

# DuckDB's names for the column types of a Delta table as deltalake reads it (Arrow, through
# DuckDB, so that neither side needs pyarrow), and the kit's type for each.
_INTEGERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER")
_KIT_TYPES = {
    "BOOLEAN": BOOLEAN,
    **dict.fromkeys(_INTEGERS, BIGINT),
    "FLOAT": DOUBLE,
    "DOUBLE": DOUBLE,
    "VARCHAR": VARCHAR,
    "TIMESTAMP WITH TIME ZONE": TIMESTAMP,
    "TIMESTAMP": TIMESTAMP,  # Spark's TIMESTAMP_NTZ: taken as UTC, as naive times are on insert
}


@dataclass(frozen=True)
class DeltaSource:
    """One Delta table to import, and what the caller said about it.

    Attributes:
        path: The table's folder.
        name: The feature group to create; None: the one the table was exported from.
        version: Its version; None: the exported one, else 1.
        primary_key: The key columns; None: the table's ``fti.primaryKey``.
        event_time: The event time column; None: the table's ``fti.eventTime`` (or none).
        online_enabled: None: as exported (False for another engine's table).
    """

    path: Path
    name: str | None = None
    version: int | None = None
    primary_key: tuple[str, ...] | None = None
    event_time: str | None = None
    online_enabled: bool | None = None


@dataclass(frozen=True)
class _Change:
    """One commit to write: the rows of a Delta version that are new or changed."""

    source: int                       # index of its table in the import
    delta_version: int
    committed_at: pd.Timestamp
    source_commit: int | None         # the kit's commit id, for a version the kit exported
    timeline: str                     # the timeline its time belongs to
    frame: pd.DataFrame
    rows_unchanged: int
    validation: str | None


@dataclass(frozen=True)
class _Plan:
    """A table read and checked: the feature group to create and its commits, oldest first."""

    meta: FeatureGroupMeta
    columns: Columns
    changes: list[_Change]


def table_path(value: Any, argument: str, where: str) -> Path:
    """A Delta table's folder, given as a string or path.

    Raises:
        ParameterTypeError: Not a string or path, or an empty string.
    """
    if not isinstance(value, (str, os.PathLike)) or (isinstance(value, str) and not value.strip()):
        raise ParameterTypeError(
            f"{where}: {argument} must be a Delta table's folder (str or Path), got {type(value).__name__} "
            f"{value!r:.80}"
        )
    return Path(value).expanduser().resolve()


def choice(value: Any, argument: str, choices: Sequence[str], where: str) -> str:
    """One of a few option strings (``history``, ``commit_times``).

    Raises:
        ParameterError: Not one of them.
    """
    if not isinstance(value, str) or value not in choices:
        raise ParameterError(f"{where}: {argument} must be one of {list(choices)}, got {value!r:.80}")
    return value


# -- export ------------------------------------------------------------------------------------------


def table_properties(meta: FeatureGroupMeta, timeline: str | None) -> dict[str, str]:
    """The table properties that let the kit read an exported table back as the same feature group."""
    properties = {
        FORMAT_KEY: FORMAT_VERSION,
        NAME_KEY: meta.name,
        VERSION_KEY: str(meta.version),
        PRIMARY_KEY_KEY: json.dumps(list(meta.primary_key)),
        ONLINE_KEY: json.dumps(meta.online_enabled),
        POLICY_KEY: meta.ingestion_policy,
    }
    if meta.event_time:
        properties[EVENT_TIME_KEY] = meta.event_time
    if meta.ttl is not None:
        properties[TTL_KEY] = repr(meta.ttl.total_seconds())
    if meta.suite_json is not None:
        properties[SUITE_KEY] = meta.suite_json
    if timeline is not None:
        properties[TIMELINE_KEY] = timeline
    return properties


def _commit_info(meta: FeatureGroupMeta, commit: dict[str, Any]) -> dict[str, Any]:
    committed_at = pd.Timestamp(commit["committed_at"]).tz_convert("UTC").isoformat()
    info = {
        COMMIT_ID_INFO: int(commit["commit_id"]),
        COMMITTED_AT_INFO: committed_at,
        INSERTED_INFO: int(commit["rows_inserted"]),
        UPDATED_INFO: int(commit["rows_updated"]),
        UNCHANGED_INFO: int(commit["rows_unchanged"]),
        # Spark's DESCRIBE HISTORY shows this one line of each version.
        "userMetadata": f"fti commit {int(commit['commit_id'])} of {meta.label} at {committed_at}",
    }
    if isinstance(commit["validation"], str):
        info[VALIDATION_INFO] = commit["validation"]
    return info


def _merge_predicate(meta: FeatureGroupMeta) -> str:
    # Double quotes: DataFusion (under deltalake's merge) folds unquoted names to lower case.
    return " AND ".join(f"t.{quote(key)} = s.{quote(key)}" for key in meta.upsert_key)


class DeltaEngine:
    """Exports feature groups of one store to Delta tables and imports Delta tables into it.

    Args:
        storage: The store's folder and offline database.
        feature_groups: The store's feature group engine (its commits are written through it).
    """

    def __init__(self, storage: Store, feature_groups: FeatureGroupEngine):
        self._storage = storage
        self._feature_groups = feature_groups

    def export(self, meta: FeatureGroupMeta, path: str | os.PathLike[str]) -> Path:
        """Write a feature group's whole history as a new Delta table at ``path``, one version per commit.

        Returns:
            The table's folder.

        Raises:
            SchemaError: The feature group has no data yet.
            DeltaLakeError: ``path`` exists already (and is not an empty folder) or cannot be written.
        """
        target = Path(path).expanduser().resolve()
        if target.exists() and not (target.is_dir() and not any(target.iterdir())):
            raise DeltaLakeError(
                f"cannot export {meta.label} to {target}: it exists already; choose a new folder or delete it"
            )
        meta = self._feature_groups.with_schema(meta)
        # Everything is read first, so the store is not held open while the table is written.
        names = ", ".join(quote(name) for name in meta.features)
        with self._storage.connect() as con:
            commits = fetch_frame(
                con, "SELECT commit_id, committed_at, rows_inserted, rows_updated, rows_unchanged, validation "
                "FROM fti_commits WHERE fg_name = ? AND fg_version = ? ORDER BY commit_id", [meta.name, meta.version],
            ).to_dict(orient="records")
            timeline = self._storage.recorded_timeline()
            # The store's types are Delta's: BIGINT long, DOUBLE double, BOOLEAN boolean, VARCHAR string,
            # TIMESTAMPTZ timestamp (microseconds, UTC: the connection's time zone).
            schema = ArrowTable.from_arrow(con.sql(f"SELECT {names} FROM {quote(meta.table)} LIMIT 0")).schema
            rows_of = f"SELECT {names} FROM {quote(meta.table)} WHERE {COMMIT_COLUMN} = "
            written = [ArrowTable.from_arrow(con.sql(rows_of + str(int(commit["commit_id"])))) for commit in commits]
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DeltaLakeError(f"cannot export {meta.label} to {target}: {exc.strerror or exc}") from None
        staging = target.parent / f".{target.name}.fti-export-{uuid.uuid4().hex[:8]}"
        try:
            table = DeltaTable.create(
                str(staging), schema, name=meta.name, description=meta.description or None,
                configuration=table_properties(meta, timeline), raise_if_key_not_exists=False,
                commit_properties=CommitProperties(custom_metadata={"userMetadata": f"{meta.label}, exported by fti"}),
            )
            for commit, rows in zip(commits, written, strict=True):
                properties = CommitProperties(custom_metadata=_commit_info(meta, commit))
                if int(commit["rows_updated"]) == 0:
                    # Only new (key, event time) pairs: an append, which also records an empty commit.
                    write_deltalake(table, rows, mode="append", commit_properties=properties)
                else:
                    # The upsert a Spark feature pipeline would write: MERGE INTO ... ON key AND event time.
                    (table.merge(rows, predicate=_merge_predicate(meta), source_alias="s", target_alias="t",
                                 commit_properties=properties)
                     .when_matched_update_all().when_not_matched_insert_all().execute())
            if target.exists():
                target.rmdir()  # the empty folder checked above
            staging.rename(target)
        except BaseException as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if isinstance(exc, Exception) and not isinstance(exc, FTIError):
                # deltalake raises DeltaError, OSError, and bare Exceptions from its query engine.
                raise DeltaLakeError(f"cannot export {meta.label} to {target}: {exc}") from None
            raise
        return target

    # -- import --------------------------------------------------------------------------------------

    def import_tables(self, sources: Sequence[DeltaSource], history: str = "all",
                      commit_times: str = "source") -> list[FeatureGroupMeta]:
        """Create one feature group per Delta table, with the table's versions as its commits.

        Args:
            sources: The tables, with what the caller said about each.
            history: ``"all"`` (a commit per version that changed rows) or ``"latest"`` (one commit).
            commit_times: ``"source"`` (keep the tables' times) or ``"now"`` (the importing clock).

        Returns:
            The feature groups, in the order of ``sources``.

        Raises:
            NotADeltaTableError: A path is not a Delta table.
            DeltaSchemaError: A table does not fit a feature group.
            DeltaHistoryError: A table's history cannot become commits (deletes, a schema that
                changes, vacuumed versions, times out of order).
            DeltaLakeError: A feature group exists already, or two tables would make the same one.
            TimelineError: The store follows another timeline than the tables' commit times.
        """
        plans = [self._plan(index, source, history, commit_times) for index, source in enumerate(sources)]
        seen: dict[tuple[str, int], Path] = {}
        for source, plan in zip(sources, plans, strict=True):
            key = (plan.meta.name, plan.meta.version)
            if key in seen:
                raise DeltaLakeError(
                    f"{source.path} and {seen[key]} would both become {plan.meta.label}; give one another "
                    "name or version"
                )
            seen[key] = source.path
        changes = [change for plan in plans for change in plan.changes]
        if commit_times == "source":
            # Time order across tables; ties keep the source store's order (its commit ids), then the tables'.
            changes.sort(key=lambda c: (c.committed_at, -1 if c.source_commit is None else c.source_commit,
                                        c.source, c.delta_version))
        with self._storage.transaction() as con:
            for plan in plans:
                self._refuse_existing(plan.meta)
            if commit_times == "source":
                self._claim_source_timeline(con, changes)
            else:
                self._storage.claim_timeline(con)
            metas = []
            for plan in plans:
                created = self._feature_groups.get_or_create(plan.meta)
                # The table layout is the feature group engine's; asked to create it, not copied here.
                self._feature_groups.create_table(con, created, plan.columns)
                metas.append(dataclasses.replace(created, columns=tuple(plan.columns)))
            for change in changes:
                meta = metas[change.source]
                commit = self._feature_groups.write_commit(con, meta, change.frame, None)
                committed_at = change.committed_at if commit_times == "source" else commit.committed_at
                con.execute(
                    "UPDATE fti_commits SET committed_at = ?, rows_unchanged = ?, validation = ? WHERE commit_id = ?",
                    [committed_at, change.rows_unchanged, change.validation, commit.commit_id],
                )
        for meta in metas:
            if meta.online_enabled:
                self._feature_groups.sync_online(meta)
        return [self._feature_groups.get(meta.name, meta.version) for meta in metas]

    def _refuse_existing(self, meta: FeatureGroupMeta) -> None:
        try:
            self._feature_groups.get(meta.name, meta.version)
        except FeatureGroupNotFoundError:
            return
        latest = self._feature_groups.get(meta.name, None).version
        raise DeltaLakeError(
            f"cannot import into {meta.label}: it exists already in the store {self._storage.path}; import into "
            f"version={latest + 1}, or delete it first"
        )

    def _claim_source_timeline(self, con: duckdb.DuckDBPyConnection, changes: list[_Change]) -> None:
        """Check that the imported commit times fit the store's timeline and come after its commits."""
        timelines = sorted({change.timeline for change in changes})
        if len(timelines) > 1:
            raise DeltaHistoryError(
                "the tables' commit times follow both a simulated clock (the kit's FTI_NOW) and the real one "
                "(versions another engine wrote); import with commit_times='now', or history='latest'"
            )
        if not changes:
            return
        source = timelines[0]
        recorded = self._storage.recorded_timeline()
        if recorded is None:
            # The row Store.claim_timeline writes, with the source's timeline rather than this process's
            # (a `timeline` argument there would keep this SQL in storage.py).
            con.execute("INSERT INTO fti_store_settings VALUES ('timeline', ?)", [source])
        elif recorded != source:
            raise TimelineError(
                f"the store {self._storage.path} follows the {recorded} clock and the imported commits were made "
                f"on the {source} one: their times would mix. Import into another store, or with "
                "commit_times='now' to stamp them with this process's clock"
            )
        latest = fetch_rows(con, "SELECT max(committed_at) FROM fti_commits")[0][0]
        first = changes[0]
        if latest is not None and first.committed_at < pd.Timestamp(latest).tz_convert("UTC"):
            raise DeltaHistoryError(
                f"the imported history starts at {first.committed_at.isoformat()}, before the store's latest commit "
                f"({pd.Timestamp(latest).tz_convert('UTC').isoformat()}); as_of a time needs commit times that grow "
                "with commit ids. Import into a fresh store, import the tables together, or use commit_times='now'"
            )

    # -- reading and checking one table --------------------------------------------------------------

    def _plan(self, index: int, source: DeltaSource, history: str, commit_times: str) -> _Plan:
        path = source.path
        where = f"the Delta table at {path}"
        try:
            is_table = DeltaTable.is_deltatable(str(path))
        except (DeltaError, OSError):  # a file, or a path it cannot open at all
            is_table = False
        if not is_table:
            raise NotADeltaTableError(
                f"{path} is not a Delta table (no readable _delta_log folder there); give the folder that "
                "Spark's df.write.format('delta').save(...) or fg.export_delta(...) wrote"
            )
        try:
            table = DeltaTable(str(path))
        except (TableNotFoundError, DeltaError, OSError) as exc:
            raise DeltaLakeError(f"{where} cannot be read: {exc}") from None
        properties = dict(table.metadata().configuration)
        ours = FORMAT_KEY in properties
        meta = _wanted_meta(source, properties, table.metadata().description, where)
        where = f"{where} ({meta.label})"
        latest = table.version()
        # Commit info is optional in the Delta protocol: a version without one has no time (see _change).
        infos = {int(info["version"]): info for info in table.history() if "version" in info}
        versions = [latest] if history == "latest" else list(range(latest + 1))

        columns: Columns | None = None
        changes: list[_Change] = []
        previous: ArrowTable | None = None
        checked_files: set[str] = set()
        diff = duckdb.connect()
        diff.execute("SET TimeZone = 'UTC'")
        try:
            for version in versions:
                rows = _read_version(diff, table, version, checked_files, where)
                diff.register("_current", rows)
                described = [(name, kind) for name, kind, *_ in diff.sql("DESCRIBE SELECT * FROM _current").fetchall()]
                if columns is None:
                    columns = _columns(meta, described, where)
                    schema = described
                elif described != schema:
                    raise DeltaHistoryError(
                        f"{where}: version {version} has the columns {_describe(described)}, version {versions[0]} "
                        f"had {_describe(schema)}; a feature group keeps one schema. Import with history='latest' "
                        "(into a new version if needed)"
                    )
                changed = _changed_rows(diff, meta, previous is not None, version, where)
                diff.unregister("_current")
                info = infos.get(version, {})
                kit_commit = ours and COMMIT_ID_INFO in info
                if len(changed) or kit_commit or history == "latest":
                    changes.append(self._change(index, meta, columns, changed, version, info, kit_commit,
                                                history == "latest", commit_times, properties, where))
                previous = rows
                diff.register("_previous", previous)
        finally:
            diff.close()
        if commit_times == "source":
            for before, after in zip(changes, changes[1:], strict=False):
                if after.committed_at < before.committed_at:
                    raise DeltaHistoryError(
                        f"{where}: version {after.delta_version} was committed at {after.committed_at.isoformat()}, "
                        f"before version {before.delta_version} ({before.committed_at.isoformat()}); commit times "
                        "must not go back. Import with commit_times='now'"
                    )
        return _Plan(meta, columns or [], changes)

    def _change(self, index: int, meta: FeatureGroupMeta, columns: Columns, changed: pd.DataFrame, version: int,
                info: dict[str, Any], kit_commit: bool, squashed: bool, commit_times: str,
                properties: dict[str, str], where: str) -> _Change:
        """One commit from one version's new or changed rows (``squashed``: the latest state, all of it)."""
        try:
            frame = conform(changed, columns, where)
            check_keys(frame, list(meta.primary_key), meta.event_time, where)
        except SchemaError as exc:
            raise DeltaSchemaError(f"version {version}: {exc}") from None
        if kit_commit:
            committed_at = pd.Timestamp(info[COMMITTED_AT_INFO]).tz_convert("UTC").as_unit("us")
            timeline = properties.get(TIMELINE_KEY, TIMELINE_REAL)
            if squashed:  # one commit for many: the last one's counts and verdict do not describe it
                return _Change(index, version, committed_at, int(info[COMMIT_ID_INFO]), timeline, frame, 0, None)
            return _Change(index, version, committed_at, int(info[COMMIT_ID_INFO]), timeline, frame,
                           int(info.get(UNCHANGED_INFO, 0)), info.get(VALIDATION_INFO))
        if "timestamp" not in info:
            if commit_times == "source":
                raise DeltaHistoryError(
                    f"{where}: version {version} has no commit info, so no commit time; import with "
                    "commit_times='now'"
                )
            info = {"timestamp": 0}  # stamped with this clock anyway
        # Delta's own timestamp: milliseconds since 1970 on the writer's wall clock.
        committed_at = pd.Timestamp(int(info["timestamp"]), unit="ms", tz="UTC").as_unit("us")
        return _Change(index, version, committed_at, None, TIMELINE_REAL, frame, 0, None)


def _wanted_meta(source: DeltaSource, properties: dict[str, str], description: str | None,
                 where: str) -> FeatureGroupMeta:
    """The feature group a table becomes: from the caller's arguments, else from the kit's table properties."""
    ours = FORMAT_KEY in properties
    if ours and properties[FORMAT_KEY] != FORMAT_VERSION:
        raise DeltaLakeError(
            f"{where} was exported by a newer fti (format {properties[FORMAT_KEY]}, this one reads "
            f"{FORMAT_VERSION}); update the kit"
        )
    stored_key = tuple(json.loads(properties[PRIMARY_KEY_KEY])) if PRIMARY_KEY_KEY in properties else None
    stored_time = properties.get(EVENT_TIME_KEY)
    if ours and source.primary_key is not None and tuple(source.primary_key) != stored_key:
        raise DeltaSchemaError(
            f"{where} is feature group data with primary key {list(stored_key or ())}, not {list(source.primary_key)}; "
            "leave primary_key out"
        )
    if ours and source.event_time is not None and source.event_time != stored_time:
        raise DeltaSchemaError(
            f"{where} is feature group data with event time {stored_time!r}, not {source.event_time!r}; "
            "leave event_time out"
        )
    name = source.name or properties.get(NAME_KEY)
    if name is None:
        raise DeltaLakeError(f"{where} was not exported by fti: name the feature group to create (name=...)")
    check_name(name, f"{where}: feature group")
    primary_key = source.primary_key or stored_key
    if not primary_key:
        raise DeltaSchemaError(
            f"{where} was not exported by fti: name its primary key column(s), e.g. primary_key=['id']"
        )
    event_time = source.event_time if source.event_time is not None else stored_time
    if event_time is not None and event_time in primary_key:
        raise DeltaSchemaError(f"{where}: event time '{event_time}' cannot also be a primary key column")
    if source.version is not None:
        version = source.version
    else:
        stored = properties.get(VERSION_KEY, "1")
        version = check_version(int(stored) if stored.isdigit() else stored, f"{where}: feature group '{name}'")
    online = source.online_enabled if source.online_enabled is not None else (
        json.loads(properties.get(ONLINE_KEY, "false")) is True)
    ttl = float(properties[TTL_KEY]) if TTL_KEY in properties else None
    suite = json.loads(properties[SUITE_KEY]) if SUITE_KEY in properties else None
    return FeatureGroupMeta(
        name=name, version=version, primary_key=tuple(primary_key), event_time=event_time,
        description=description or "", online_enabled=online,
        ttl=None if ttl is None else pd.Timedelta(seconds=ttl).to_pytimedelta(),
        ingestion_policy=normalize_policy(properties.get(POLICY_KEY, "strict"), where),
        expectation_suite=suite,
    )


def _read_version(diff: duckdb.DuckDBPyConnection, table: DeltaTable, version: int, checked_files: set[str],
                  where: str) -> ArrowTable:
    """One version of the table as Arrow, with the reasons it cannot be read said plainly."""
    try:
        table.load_as_version(version)
        files = table.file_uris()
    except (DeltaError, OSError) as exc:
        raise DeltaHistoryError(f"{where}: version {version} cannot be loaded ({exc}); import with "
                                "history='latest'") from None
    _refuse_nanoseconds(diff, [uri for uri in files if uri not in checked_files], version, where)
    checked_files.update(files)
    try:
        return QueryBuilder().register("t", table).execute("SELECT * FROM t").read_all()
    except Exception as exc:  # noqa: BLE001 - the query engine raises bare Exceptions ("External error")
        raise DeltaHistoryError(
            f"{where}: version {version} cannot be read ({exc}); its files may have been vacuumed. Import with "
            "history='latest'"
        ) from None


def _refuse_nanoseconds(diff: duckdb.DuckDBPyConnection, files: list[str], version: int, where: str) -> None:
    """Refuse times finer than microseconds in a version's new data files.

    Delta keeps microseconds, but a file written outside Delta's writers (pandas'
    nanoseconds, then ``convert_to_deltalake``) can hold nanoseconds, and deltalake
    truncates them silently on read: two different event times would become one key.
    Spark's INT96 times hold nanoseconds too, but whole microseconds: those pass.
    """
    local = [uri for uri in files if "://" not in uri and os.path.exists(uri)]
    if not local:
        return
    fine = diff.execute(
        "SELECT DISTINCT file_name, name FROM parquet_schema(?) "
        "WHERE type = 'INT96' OR logical_type LIKE '%NANOS=NanoSeconds%'", [local],
    ).fetchall()
    for file_name, column in fine:
        finer = diff.execute(
            f"SELECT count(*), min({quote(column)}) FROM read_parquet(?) WHERE epoch_ns({quote(column)}) % 1000 <> 0",
            [file_name],
        ).fetchall()[0]
        if finer[0]:
            raise DeltaSchemaError(
                f"{where}: version {version} holds nanosecond times in column '{column}' ({finer[0]} value(s), "
                f"e.g. {finer[1]}, in {file_name}); the kit keeps microseconds, and rounding could merge two event "
                "times. Round them in the writer (pandas: .dt.floor('us'))"
            )


def _kit_type(name: str, kind: str, where: str) -> str:
    """The kit's column type for a column of DuckDB type ``kind``, or a `DeltaSchemaError` saying what to do."""
    if kind in _KIT_TYPES:
        return _KIT_TYPES[kind]
    if kind == "DATE":
        advice = "a feature group keeps times: write it as a timestamp (Spark: F.to_timestamp(col), midnight UTC)"
    elif kind.startswith("DECIMAL"):
        advice = "cast it to double in the writer (Spark: col.cast('double'))"
    elif kind in ("UBIGINT", "HUGEINT", "UHUGEINT"):
        advice = "whole numbers are kept as 64-bit signed integers: cast it to long in the writer"
    else:
        advice = "a feature group keeps whole numbers, real numbers, booleans, text and timestamps"
    raise DeltaSchemaError(f"{where}: column '{name}' has type {kind}; {advice}")


def _columns(meta: FeatureGroupMeta, described: list[tuple[str, str]], where: str) -> Columns:
    """The feature group's schema from the table's, checked as a first insert is."""
    names = [name for name, _ in described]
    for role, column in [("primary key", key) for key in meta.primary_key] + (
            [("event time", meta.event_time)] if meta.event_time else []):
        if column not in names:
            raise DeltaSchemaError(f"{where} has no {role} column '{column}'; its columns are {names}")
    columns = [(name, _kit_type(name, kind, where)) for name, kind in described]
    empty = pd.DataFrame({name: pd.Series([], dtype=_EMPTY_DTYPES[sql_type]) for name, sql_type in columns})
    try:
        checked = first_schema(meta, empty)  # key and event time types, column names
    except (SchemaError, InvalidNameError) as exc:
        raise DeltaSchemaError(f"{where}: {exc}") from None
    return checked


_EMPTY_DTYPES = {BIGINT: "Int64", DOUBLE: "float64", BOOLEAN: "boolean", VARCHAR: "str",
                 TIMESTAMP: "datetime64[us, UTC]"}


def _describe(described: list[tuple[str, str]]) -> str:
    return "[" + ", ".join(f"{name} {kind}" for name, kind in described) + "]"


def _changed_rows(diff: duckdb.DuckDBPyConnection, meta: FeatureGroupMeta, has_previous: bool, version: int,
                  where: str) -> pd.DataFrame:
    """The rows of ``_current`` (a version) new or changed since ``_previous``; refuse deletes and repeats."""
    keys = ", ".join(quote(key) for key in meta.upsert_key)
    repeated = diff.sql(
        f"SELECT {keys}, count(*) AS n FROM _current GROUP BY ALL HAVING count(*) > 1 LIMIT 1").fetchall()
    if repeated:
        example = dict(zip(meta.upsert_key, repeated[0][:-1], strict=True))
        raise DeltaSchemaError(
            f"{where}: version {version} has {repeated[0][-1]} rows with {meta.upsert_key} = {example}; a "
            "feature group keeps one row per (primary key, event time). Deduplicate in the writer (Spark: "
            "MERGE INTO on the key and event time instead of an append)"
        )
    if not has_previous:
        return fetch_frame(diff, "SELECT * FROM _current")
    deleted = diff.sql(f"SELECT {keys} FROM _previous ANTI JOIN _current USING ({keys})").fetchall()
    if deleted:
        example = dict(zip(meta.upsert_key, deleted[0], strict=True))
        raise DeltaHistoryError(
            f"{where}: version {version} deleted {len(deleted)} row(s) of the previous version (e.g. "
            f"{example}); a feature group's history only adds and replaces rows. Import with "
            "history='latest' to take the latest state as one commit"
        )
    return fetch_frame(diff, "SELECT * FROM _current EXCEPT SELECT * FROM _previous")
