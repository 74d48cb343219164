"""The feature group engine: metadata records, commits, time travel and the online copy.

It does the work behind `fti.store.feature_group.FeatureGroup` and is what the
query and feature view engines build on. It takes names, versions and plain data
(a `FeatureGroupMeta`, a DataFrame) and returns plain data, so it never needs to
know the public objects.

How feature groups are stored: a row in ``fti_feature_groups`` describes each
version (keys, event time, schema, expectation suite). Its data lives in one table
per version, which keeps every version of every row, tagged with the commit that
wrote it (``_fti_commit``) and the commit that replaced it (``_fti_superseded``).
Every insert is one commit that upserts on (primary key, event time), and the
table can be read as it was after any past commit (`state_sql`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fti.exceptions import (
    ExpectationsFailedError,
    FeatureGroupNotFoundError,
    InUseError,
    InvalidSuiteError,
    OnlineCapacityError,
    ParameterError,
    SchemaError,
    TimeTravelError,
)
from fti.names import quote
from fti.store import arguments, validation
from fti.store.online import OnlineStore
from fti.store.schema import BIGINT, TIMESTAMP, VARCHAR, Columns, check_keys, conform, infer_columns
from fti.store.storage import TIMELINE_SQL, Store, fetch_frame, fetch_record, fetch_rows, refuse_case_clash

INGESTION_POLICIES = {"strict": "strict", "warn": "warn", "always": "warn"}
# Timestamps may be keys too: a forecast is identified by the time it is for (its valid time).
KEY_TYPES = (BIGINT, VARCHAR, TIMESTAMP)
COMMIT_COLUMN = "_fti_commit"
SUPERSEDED_COLUMN = "_fti_superseded"

_RECORD_SQL = "SELECT * FROM fti_feature_groups WHERE name = ? AND version = ?"
# The store's newest commit id and the newest commit id of a deleted feature group: the next id follows both.
NEWEST_IDS_SQL = "(SELECT max(commit_id) FROM fti_commits), (SELECT max(last_commit) FROM fti_deleted)"


def normalize_policy(policy: Any, where: str) -> str:
    """Return ``"strict"`` or ``"warn"`` for a policy name (Hopsworks' ``"ALWAYS"`` means warn).

    Raises:
        ParameterError: Not one of the policy names.
    """
    normalized = INGESTION_POLICIES.get(policy.lower()) if isinstance(policy, str) else None
    if normalized is None:
        raise ParameterError(f"{where}: validation_ingestion_policy {policy!r} is not one of 'strict', 'warn'")
    return normalized


def expectation_suite_dict(suite: Any, where: str) -> dict:
    """A suite (``gx.ExpectationSuite`` or its dict form) as the plain dict the store keeps.

    Raises:
        NotASuiteError: ``suite`` is neither (a string, a number...).
        InvalidSuiteError: It is a dict that does not describe a valid suite.
    """
    try:
        return validation.suite_to_dict(suite)
    except InvalidSuiteError as exc:
        # Same class, with the feature group in front: the student sees which one refused it.
        raise type(exc)(f"{where}: expectation_suite: {exc}") from None


@dataclass(frozen=True)
class FeatureGroupMeta:
    """One feature group version as the store describes it.

    Attributes:
        name: The feature group's name.
        version: Its version.
        primary_key: The key columns.
        event_time: The event time column, or None.
        description: Free text.
        online_enabled: Whether the newest row per key is also kept in the online store.
        ttl: Maximum age of a value when joined or served, or None.
        columns: ``((name, type), ...)``; empty until the first insert defines the schema.
        ingestion_policy: ``"strict"`` or ``"warn"``.
        expectation_suite: The suite as `fti.store.validation.suite_to_dict` made it, or None.
    """

    name: str
    version: int
    primary_key: tuple[str, ...]
    event_time: str | None = None
    description: str = ""
    online_enabled: bool = False
    ttl: dt.timedelta | None = None
    columns: tuple[tuple[str, str], ...] = ()
    ingestion_policy: str = "strict"
    expectation_suite: dict | None = field(default=None, hash=False)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> FeatureGroupMeta:
        """Build it from a row of ``fti_feature_groups``."""
        seconds = record["ttl_seconds"]
        suite = record["expectation_suite"]
        return cls(
            name=record["name"],
            version=int(record["version"]),
            primary_key=tuple(json.loads(record["primary_key"])),
            event_time=record["event_time"],
            description=record["description"],
            online_enabled=bool(record["online_enabled"]),
            ttl=None if seconds is None or pd.isna(seconds) else dt.timedelta(seconds=seconds),
            columns=tuple(tuple(pair) for pair in json.loads(record["columns"])) if record["columns"] else (),
            ingestion_policy=record["ingestion_policy"],
            expectation_suite=json.loads(suite) if suite else None,
        )

    @property
    def table(self) -> str:
        """The DuckDB table (and online SQLite table) that holds this version's rows."""
        return f"fg_{self.name}_{self.version}"

    @property
    def label(self) -> str:
        """How messages name it: ``feature group 'passengers' v1``."""
        return f"feature group '{self.name}' v{self.version}"

    @property
    def features(self) -> list[str]:
        """Column names, in schema order."""
        return [name for name, _ in self.columns]

    @property
    def upsert_key(self) -> list[str]:
        """The primary key and the event time: what identifies a row version."""
        return list(self.primary_key) + ([self.event_time] if self.event_time else [])

    @property
    def suite_json(self) -> str | None:
        """The expectation suite as stored: canonical JSON, or None."""
        return None if self.expectation_suite is None else json.dumps(self.expectation_suite, sort_keys=True)


@dataclass(frozen=True)
class Commit:
    """What one `FeatureGroup.insert` did.

    Attributes:
        commit_id: The store-wide commit number; pass it as ``as_of`` to read this state again.
        committed_at: When, by `fti.now()`.
        rows_inserted: Rows with a new (primary key, event time).
        rows_updated: Rows that replaced different values for a known (primary key, event time).
        rows_unchanged: Rows identical to what the store already had.
        validation: ``None`` without an expectation suite, else ``"success"`` or ``"failed"``.
    """

    commit_id: int
    committed_at: pd.Timestamp
    rows_inserted: int
    rows_updated: int
    rows_unchanged: int
    validation: str | None

    def __repr__(self) -> str:
        checked = f", validation={self.validation}" if self.validation else ""
        return (
            f"Commit(id={self.commit_id}, at={self.committed_at.isoformat()}, inserted={self.rows_inserted}, "
            f"updated={self.rows_updated}, unchanged={self.rows_unchanged}{checked})"
        )


def state_sql(meta: FeatureGroupMeta, as_of_commit: int | None) -> str:
    """SQL for a feature group's rows as of a commit (None: the latest state).

    A row version is visible at commit C if it was written at or before C and not
    yet replaced at C.
    """
    if as_of_commit is None:
        condition = f"{SUPERSEDED_COLUMN} IS NULL"
    else:
        c = int(as_of_commit)
        condition = f"{COMMIT_COLUMN} <= {c} AND ({SUPERSEDED_COLUMN} IS NULL OR {SUPERSEDED_COLUMN} > {c})"
    return f"SELECT * FROM {quote(meta.table)} WHERE {condition}"


def first_schema(meta: FeatureGroupMeta, features: Any) -> Columns:
    """The schema the first insert defines, checked against the primary key and event time.

    Raises:
        SchemaError: Not a DataFrame, a key or event time column missing or of the wrong type.
    """
    if not isinstance(features, pd.DataFrame):
        raise SchemaError(f"{meta.label}: expected a pandas DataFrame, got {type(features).__name__}")
    columns = infer_columns(features, meta.label)
    types = dict(columns)
    for key in meta.primary_key:
        if key not in types:
            raise SchemaError(f"{meta.label}: primary key column '{key}' is missing from the DataFrame")
        if types[key] not in KEY_TYPES:
            raise SchemaError(
                f"{meta.label}: primary key column '{key}' has type {types[key]}; keys must be whole numbers, "
                "text or datetimes"
            )
    if meta.event_time:
        if meta.event_time not in types:
            raise SchemaError(f"{meta.label}: event time column '{meta.event_time}' is missing from the DataFrame")
        if types[meta.event_time] != TIMESTAMP:
            raise SchemaError(
                f"{meta.label}: event time column '{meta.event_time}' should hold datetimes but has dtype "
                f"{features[meta.event_time].dtype} (convert it with pandas.to_datetime)"
            )
    return columns


class FeatureGroupEngine:
    """Reads and writes the feature groups of one store.

    Args:
        storage: The store's folder and offline database.
        online: The store's online (SQLite) copy.
    """

    def __init__(self, storage: Store, online: OnlineStore):
        self._storage = storage
        self._online = online
        # Per data table: (the commit this process last wrote to it, the newest event time then stored).
        # While that commit is still the store's newest, nothing changed since, and the next commit can
        # skip scanning the table for its newest event time (a cost that grows with the history).
        self._newest: dict[str, tuple[int, Any]] = {}
        # What write_commit would remember, per thread, until its transaction has committed.
        self._pending = threading.local()

    # -- metadata --------------------------------------------------------------------------------

    def get_or_create(self, wanted: FeatureGroupMeta) -> FeatureGroupMeta:
        """Return the stored feature group ``wanted.name`` v``wanted.version``, creating it from ``wanted``.

        An existing one keeps its description, online flag and schema; a suite given in
        ``wanted`` replaces the stored one (re-running a notebook with an edited suite).

        Raises:
            SchemaError: It exists with a different primary key or event time.
        """
        name, version = wanted.name, wanted.version
        suite = wanted.suite_json
        with self._storage.transaction() as con:
            record = fetch_record(con, _RECORD_SQL, [name, version])
            if record is None:
                refuse_case_clash(con, "fti_feature_groups", "feature group", name)
                con.execute(
                    "INSERT INTO fti_feature_groups VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)",
                    [name, version, json.dumps(list(wanted.primary_key)), wanted.event_time, wanted.description,
                     wanted.online_enabled, None if wanted.ttl is None else wanted.ttl.total_seconds(), suite,
                     wanted.ingestion_policy, arguments.now()],
                )
                return FeatureGroupMeta.from_record(fetch_record(con, _RECORD_SQL, [name, version]))
            stored = FeatureGroupMeta.from_record(record)
            if stored.primary_key != wanted.primary_key or stored.event_time != wanted.event_time:
                raise SchemaError(
                    f"feature group '{name}' v{version} exists with primary key {list(stored.primary_key)} "
                    f"and event time {stored.event_time!r}; create version {version + 1} for a new definition"
                )
            if suite is not None and (suite != record["expectation_suite"]
                                      or wanted.ingestion_policy != stored.ingestion_policy):
                # Re-running a notebook with an edited suite updates it, like save_expectation_suite.
                return self.save_expectation_suite(name, version, wanted.expectation_suite, wanted.ingestion_policy)
            return stored

    def get(self, name: str, version: int | None) -> FeatureGroupMeta:
        """Return feature group ``name`` v``version``; the newest version when ``version`` is None.

        Raises:
            FeatureGroupNotFoundError: There is no such feature group.
        """
        with self._storage.connect() as con:
            if version is None:
                version = fetch_rows(con, "SELECT max(version) FROM fti_feature_groups WHERE name = ?", [name])[0][0]
            record = None if version is None else fetch_record(con, _RECORD_SQL, [name, int(version)])
        if record is None:
            which = "any version" if version is None else f"version {version}"
            raise FeatureGroupNotFoundError(
                f"there is no feature group '{name}' ({which}) in the store {self._storage.path}"
            )
        return FeatureGroupMeta.from_record(record)

    def newest_version(self, name: str) -> int | None:
        """The newest version of feature group ``name``, or None when there is none."""
        with self._storage.connect() as con:
            newest = fetch_rows(con, "SELECT max(version) FROM fti_feature_groups WHERE name = ?", [name])[0][0]
        return None if newest is None else int(newest)

    def with_schema(self, meta: FeatureGroupMeta) -> FeatureGroupMeta:
        """Return ``meta``, re-read if needed, once its schema is known.

        Raises:
            SchemaError: Nothing was inserted yet, so it has no columns.
        """
        if not meta.columns:
            meta = self.get(meta.name, meta.version)
        if not meta.columns:
            raise SchemaError(f"{meta.label} has no data yet: insert a DataFrame first")
        return meta

    def list_all(self) -> pd.DataFrame:
        """Every feature group: name, version, keys, online flag, description, commits, rows, last commit time."""
        with self._storage.connect() as con:
            frame = fetch_frame(
                con,
                "SELECT g.name, g.version, g.primary_key, g.event_time, g.online_enabled, g.description, "
                "g.columns IS NOT NULL AS has_rows, count(c.commit_id) AS commits, "
                "max(c.committed_at) AS last_commit_at FROM fti_feature_groups g "
                "LEFT JOIN fti_commits c ON c.fg_name = g.name AND c.fg_version = g.version "
                "GROUP BY ALL ORDER BY g.name, g.version",
            )
            # Rows in the latest state: what a read() without as_of returns.
            rows = []
            for name, version, has_rows in zip(frame["name"], frame["version"], frame["has_rows"], strict=True):
                latest = state_sql(FeatureGroupMeta(name, int(version), ()), None)
                rows.append(int(fetch_rows(con, f"SELECT count(*) FROM ({latest})")[0][0]) if has_rows else 0)
            frame.insert(len(frame.columns) - 1, "rows", rows)
        return frame.drop(columns="has_rows")

    def save_expectation_suite(self, name: str, version: int, suite: dict, policy: str) -> FeatureGroupMeta:
        """Attach (or replace) the suite every insert is validated against; return the new metadata."""
        with self._storage.transaction() as con:
            con.execute(
                "UPDATE fti_feature_groups SET expectation_suite = ?, ingestion_policy = ? "
                "WHERE name = ? AND version = ?",
                [json.dumps(suite, sort_keys=True), policy, name, version],
            )
            return FeatureGroupMeta.from_record(fetch_record(con, _RECORD_SQL, [name, version]))

    def drop_expectation_suite(self, name: str, version: int) -> FeatureGroupMeta:
        """Stop validating inserts; return the new metadata."""
        with self._storage.transaction() as con:
            con.execute(
                "UPDATE fti_feature_groups SET expectation_suite = NULL WHERE name = ? AND version = ?",
                [name, version],
            )
            return FeatureGroupMeta.from_record(fetch_record(con, _RECORD_SQL, [name, version]))

    def delete(self, name: str, version: int, readers: Callable[[Any], list[str]]) -> None:
        """Delete a feature group version: its rows with their history, commits, validation reports, online copy.

        All or nothing, and refused while a feature view reads it. Its commit ids
        are never given out again (training datasets of other views name commits).

        Args:
            name: The feature group.
            version: Its version.
            readers: Given the open connection, the feature views whose query reads
                this version, e.g. ``["'titanic' v1"]`` (the feature view engine knows
                queries; this engine does not).

        Raises:
            FeatureGroupNotFoundError: There is no such feature group.
            InUseError: A feature view reads it; nothing was deleted.
        """
        meta = self.get(name, version)

        def refuse_if_read(con: Any) -> None:
            views = readers(con)
            if views:
                raise InUseError(
                    f"{meta.label} cannot be deleted: feature view {', '.join(views)} reads it. Delete the view "
                    "first (fs.get_feature_view(name, version).delete()), or keep this version and create "
                    f"version {version + 1}"
                )

        with self._storage.connect() as con:
            refuse_if_read(con)
        # The online table goes before and after the offline delete. Before: if the offline delete fails,
        # a missing online table is rebuilt from the history. After: a sync by another process in between
        # cannot leave old rows for a new feature group of the same name and version to serve.
        self._online.drop(meta.table)
        with self._storage.transaction() as con:
            if fetch_record(con, _RECORD_SQL, [name, version]) is None:
                raise FeatureGroupNotFoundError(f"{meta.label} was deleted meanwhile by another process")
            refuse_if_read(con)
            last = fetch_rows(con, "SELECT max(commit_id) FROM fti_commits WHERE fg_name = ? AND fg_version = ?",
                              [name, version])[0][0]
            con.execute(f"DROP TABLE IF EXISTS {quote(meta.table)}")
            for table, name_column, version_column in (("fti_commits", "fg_name", "fg_version"),
                                                       ("fti_validation_reports", "fg_name", "fg_version"),
                                                       ("fti_feature_descriptions", "fg_name", "fg_version"),
                                                       ("fti_feature_groups", "name", "version")):
                con.execute(f"DELETE FROM {table} WHERE {name_column} = ? AND {version_column} = ?", [name, version])
            con.execute("INSERT INTO fti_deleted VALUES (?, ?, ?, ?, ?)",
                        ["feature group", name, version, arguments.now(), last])
        self._online.drop(meta.table)

    # -- descriptions --------------------------------------------------------------------------

    def update_description(self, name: str, version: int, description: str) -> FeatureGroupMeta:
        """Replace the feature group's description; return its metadata after.

        Raises:
            FeatureGroupNotFoundError: There is no such feature group.
        """
        with self._storage.transaction() as con:
            if fetch_record(con, _RECORD_SQL, [name, version]) is None:
                raise FeatureGroupNotFoundError(f"there is no feature group '{name}' (version {version})")
            con.execute("UPDATE fti_feature_groups SET description = ? WHERE name = ? AND version = ?",
                        [description, name, version])
            return FeatureGroupMeta.from_record(fetch_record(con, _RECORD_SQL, [name, version]))

    def update_feature_description(self, meta: FeatureGroupMeta, feature: str, description: str) -> None:
        """Set (or replace) the description of one column of a feature group whose schema is known.

        Raises:
            SchemaError: ``feature`` is not one of its columns.
        """
        if feature not in meta.features:
            raise SchemaError(f"{meta.label} has no feature '{feature}'; its features are {meta.features}")
        with self._storage.transaction() as con:
            con.execute("INSERT OR REPLACE INTO fti_feature_descriptions VALUES (?, ?, ?, ?)",
                        [meta.name, meta.version, feature, description])

    def feature_descriptions(self, name: str, version: int) -> dict[str, str]:
        """``{feature: description}`` of the features that have one."""
        with self._storage.connect() as con:
            rows = fetch_rows(con, "SELECT feature, description FROM fti_feature_descriptions "
                                   "WHERE fg_name = ? AND fg_version = ? ORDER BY feature", [name, version])
        return dict(rows)

    # -- commits -------------------------------------------------------------------------------

    def insert(self, name: str, version: int, features: Any) -> tuple[FeatureGroupMeta, Commit]:
        """Check, validate and write a DataFrame as one atomic commit; bring the online copy up to it.

        The whole insert (metadata read, commit, online update) uses one opening of the
        offline database: opening and closing the file costs more than a small commit.

        Returns:
            The metadata after the commit (its schema is known now) and the `Commit`.

        Raises:
            SchemaError: Missing, extra or mistyped columns; null or repeated keys.
            ExpectationsFailedError: The suite failed under the ``strict`` policy.
        """
        with self._storage.connect():
            return self.insert_into(self.get(name, version), features)

    def insert_into(self, meta: FeatureGroupMeta, features: Any) -> tuple[FeatureGroupMeta, Commit]:
        """`insert` for a feature group whose metadata the caller already holds (a micro-batch writer).

        The stored record is read again inside the commit's transaction, so metadata
        that went stale (another process defined the schema) is noticed, not trusted.
        """
        columns = list(meta.columns) or first_schema(meta, features)
        frame = conform(features, columns, meta.label)
        check_keys(frame, list(meta.primary_key), meta.event_time, meta.label)

        outcome = None
        if meta.expectation_suite is not None:
            outcome = validation.validate(frame, meta.expectation_suite, name=f"{meta.name}_v{meta.version}")
            if not outcome.success and meta.ingestion_policy == "strict":
                with self._storage.transaction() as con:
                    report_id = self._record_report(con, meta, outcome, ingested=False)
                raise ExpectationsFailedError(f"'{meta.name}' v{meta.version}", outcome.failures, report_id)

        if meta.online_enabled:
            self._check_online_capacity(meta, columns)
        with self._storage.connect():  # the online update below happens before another process can commit
            if meta.online_enabled:
                # Before the offline commit: should this process die before the online update, serving
                # processes see a marker whose owner is dead and rebuild the table from the history.
                self._online.mark_pending(meta.table)
            try:
                with self._storage.transaction() as con:
                    # One query for what the commit must know first: each statement costs a fraction of a millisecond.
                    found = fetch_rows(
                        con,
                        f"SELECT ({TIMELINE_SQL}), columns, "
                        "(SELECT max(commit_id) FROM fti_commits WHERE fg_name = ? AND fg_version = ?), "
                        f"{NEWEST_IDS_SQL} FROM fti_feature_groups WHERE name = ? AND version = ?",
                        [meta.name, meta.version, meta.name, meta.version],
                    )
                    if not found:
                        raise FeatureGroupNotFoundError(f"{meta.label} was deleted meanwhile by another process")
                    timeline, stored_columns, previous, *newest_ids = found[0]
                    # A simulated and a real-clock commit never share a store.
                    self._storage.claim_timeline(con, recorded=timeline)
                    stored = [tuple(pair) for pair in json.loads(stored_columns)] if stored_columns else []
                    schema_changed = bool(stored) and stored != [tuple(pair) for pair in columns]
                    if not schema_changed:
                        if not stored:
                            self.create_table(con, meta, columns)
                        self._pending.written = None
                        commit = self.write_commit(con, meta, frame, outcome, newest_ids=tuple(newest_ids))
                written, self._pending.written = getattr(self._pending, "written", None), None
                if written is not None and not self._storage.in_transaction():  # committed, not joined to an outer one
                    self._newest[written[0]] = written[1:]
            except BaseException:
                if meta.online_enabled:
                    self._online.clear_pending(meta.table)  # nothing was committed: nothing is pending
                raise
            if schema_changed:
                # Another process defined the schema between our check and this commit: check again.
                return self.insert(meta.name, meta.version, features)
            meta = dataclasses.replace(meta, columns=tuple(columns))
            if meta.online_enabled:
                self.sync_online(meta, changes=frame, previous_commit=previous, commit_id=commit.commit_id)
        return meta, commit

    def _check_online_capacity(self, meta: FeatureGroupMeta, columns: Columns) -> None:
        """Refuse, before anything is written, a schema the online copy (SQLite) cannot hold.

        Otherwise the offline commit would succeed and every online update fail after it.

        Raises:
            OnlineCapacityError: More columns than a SQLite table can have.
        """
        limit = self._online.column_limit()
        if len(columns) > limit:
            raise OnlineCapacityError(
                f"{meta.label} is online enabled and the DataFrame has {len(columns)} columns, but the online "
                f"store (SQLite) holds at most {limit} per table; nothing was written. Keep fewer columns online "
                "(split the features over several feature groups) or create the group with online_enabled=False"
            )

    def create_table(self, con: Any, meta: FeatureGroupMeta, columns: Columns) -> None:
        """Inside the caller's transaction: create a feature group's data table and record its schema."""
        column_sql = ", ".join(f"{quote(name)} {sql_type}" for name, sql_type in columns)
        con.execute(
            f"CREATE TABLE {quote(meta.table)} ({column_sql}, {COMMIT_COLUMN} BIGINT NOT NULL, "
            f"{SUPERSEDED_COLUMN} BIGINT)"
        )
        con.execute(
            "UPDATE fti_feature_groups SET columns = ? WHERE name = ? AND version = ?",
            [json.dumps(columns), meta.name, meta.version],
        )

    def _record_report(self, con: Any, meta: FeatureGroupMeta, outcome: validation.ValidationOutcome, *,
                       ingested: bool) -> int:
        report_id = fetch_rows(con, "SELECT coalesce(max(report_id), 0) + 1 FROM fti_validation_reports")[0][0]
        con.execute(
            "INSERT INTO fti_validation_reports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                report_id, meta.name, meta.version, arguments.now(), outcome.success,
                meta.ingestion_policy, "ingested" if ingested else "rejected",
                outcome.evaluated, len(outcome.failures), json.dumps(outcome.report, sort_keys=True),
            ],
        )
        return int(report_id)

    def write_commit(self, con: Any, meta: FeatureGroupMeta, frame: pd.DataFrame,
                     outcome: validation.ValidationOutcome | None,
                     newest_ids: tuple[int | None, int | None] | None = None) -> Commit:
        """Upsert a checked frame as the next commit, inside the caller's transaction.

        A few statements whatever the size of the history. When every row is newer than
        anything stored (by event time, or by the first key without one: a stream
        appending in order), the rows are appended as they are. Otherwise an UPDATE marks
        the stored versions the frame changes as superseded and an INSERT adds the new and
        changed rows; both look only at stored rows within the frame's range of event
        times, a constant filter DuckDB answers from its per-block min/max statistics, so
        the cost of a commit stays flat as commits accumulate.

        Public so that tests can wrap the connection it uses and fail a commit half-way.

        Args:
            con: The transaction's connection.
            meta: The feature group, with its schema.
            frame: The conformed and checked rows.
            outcome: The validation outcome, or None without a suite.
            newest_ids: The store's newest commit id and newest deleted commit id, if the
                caller already read them in this transaction (`NEWEST_IDS_SQL`).
        """
        table = quote(meta.table)
        keys = meta.upsert_key
        probe = meta.event_time or keys[0]
        # Past every id ever given, those of deleted feature groups included: an id means one state forever.
        newest_commit, newest_deleted = newest_ids or fetch_rows(con, f"SELECT {NEWEST_IDS_SQL}")[0]
        remembered = self._newest.get(meta.table)
        if remembered is not None and remembered[0] == newest_commit:
            newest_stored = remembered[1]
        else:
            newest_stored = fetch_rows(con, f"SELECT max({quote(probe)}) FROM {table}")[0][0]
        commit_id = max(newest_commit or 0, newest_deleted or 0) + 1
        committed_at = arguments.now()
        report_id = self._record_report(con, meta, outcome, ingested=True) if outcome is not None else None

        column_sql = ", ".join(quote(name) for name in frame.columns)
        # As Python values: DuckDB binds a pd.Timestamp or an int, not a numpy scalar.
        low, high = (value.item() if isinstance(value, np.generic) else value
                     for value in (frame[probe].min(), frame[probe].max()))
        # DuckDB reads the frame through this local name (a replacement scan: it looks in the
        # frame that calls execute, hence con.execute here and not fetch_rows); registering and
        # unregistering it as a view costs more than the rest of a small commit.
        _fti_incoming = frame  # noqa: F841 - read by name in the SQL below
        updated = 0
        if newest_stored is not None and not low > newest_stored:
            values = [name for name in frame.columns if name not in keys]
            current = (f"t.{SUPERSEDED_COLUMN} IS NULL AND t.{quote(probe)} >= $low AND t.{quote(probe)} <= $high "
                       "AND " + " AND ".join(f"t.{quote(key)} = i.{quote(key)}" for key in keys))
            bounds = {"low": low, "high": high, "commit": commit_id}
            if values:
                differs = " OR ".join(f"t.{quote(name)} IS DISTINCT FROM i.{quote(name)}" for name in values)
                updated = int(con.execute(
                    f"UPDATE {table} AS t SET {SUPERSEDED_COLUMN} = $commit FROM _fti_incoming AS i "
                    f"WHERE {current} AND ({differs})", bounds,
                ).fetchall()[0][0])
            written = int(con.execute(
                f"INSERT INTO {table} ({column_sql}, {COMMIT_COLUMN}, {SUPERSEDED_COLUMN}) "
                f"SELECT {column_sql}, $commit, NULL FROM _fti_incoming AS i "
                f"WHERE NOT EXISTS (SELECT 1 FROM {table} AS t WHERE {current})", bounds,
            ).fetchall()[0][0])
        else:
            written = int(con.execute(
                f"INSERT INTO {table} ({column_sql}, {COMMIT_COLUMN}, {SUPERSEDED_COLUMN}) "
                f"SELECT {column_sql}, $commit, NULL FROM _fti_incoming", {"commit": commit_id},
            ).fetchall()[0][0])
        inserted = written - updated
        unchanged = len(frame) - written
        self._newest.pop(meta.table, None)
        if len(frame):
            # Remembered by insert_into once the transaction has committed (a rolled back id may be given again).
            self._pending.written = (meta.table, commit_id,
                                     high if newest_stored is None else max(high, newest_stored))
        verdict = None if outcome is None else ("success" if outcome.success else "failed")
        con.execute(
            "INSERT INTO fti_commits VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [commit_id, meta.name, meta.version, committed_at, inserted, updated, unchanged, verdict, report_id],
        )
        return Commit(commit_id, committed_at, inserted, updated, unchanged, verdict)

    def commit_details(self, name: str, version: int) -> pd.DataFrame:
        """One row per commit of a feature group, oldest first."""
        with self._storage.connect() as con:
            return fetch_frame(
                con,
                "SELECT commit_id, committed_at, rows_inserted, rows_updated, rows_unchanged, validation, report_id "
                "FROM fti_commits WHERE fg_name = ? AND fg_version = ? ORDER BY commit_id",
                [name, version],
            )

    def validation_reports(self, name: str, version: int) -> pd.DataFrame:
        """Every validation of a feature group, oldest first, one row each."""
        with self._storage.connect() as con:
            return fetch_frame(
                con,
                "SELECT report_id, validated_at, success, ingestion_policy, outcome, evaluated, failed, report "
                "FROM fti_validation_reports WHERE fg_name = ? AND fg_version = ? ORDER BY report_id",
                [name, version],
            )

    # -- time travel ------------------------------------------------------------------------------

    def latest_commit(self) -> int:
        """The newest commit id of the whole store (0 before the first)."""
        with self._storage.connect() as con:
            return int(fetch_rows(con, "SELECT coalesce(max(commit_id), 0) FROM fti_commits")[0][0])

    def resolve_as_of(self, meta: FeatureGroupMeta, as_of: Any) -> int | None:
        """Turn ``as_of`` (None, a commit id or a time) into a store-wide commit id.

        A time means the state after the last commit at or before it.

        Raises:
            TimeTravelError: ``as_of`` is not a commit id or time, is before ``meta``'s
                first commit, or is a commit that does not exist yet.
        """
        point = arguments.as_of_point(as_of, meta.label)
        if point is None:
            return None
        with self._storage.connect() as con:
            first_id, first_at = fetch_rows(
                con, "SELECT min(commit_id), min(committed_at) FROM fti_commits WHERE fg_name = ? AND fg_version = ?",
                [meta.name, meta.version],
            )[0]
            if first_id is None:
                raise TimeTravelError(f"as_of={as_of!r}: {meta.label} has no commits yet")
            if isinstance(point, int):
                latest = self.latest_commit()
                if point < first_id:
                    raise TimeTravelError(
                        f"as_of commit {point} is before the first commit of {meta.label} ({first_id})"
                    )
                if point > latest:
                    raise TimeTravelError(f"as_of commit {point} does not exist yet; the latest commit is {latest}")
                return point
            commit = fetch_rows(con, "SELECT max(commit_id) FROM fti_commits WHERE committed_at <= ?", [point])[0][0]
        if commit is None or commit < first_id:
            raise TimeTravelError(
                f"as_of {point.isoformat()} is before the first commit of {meta.label} "
                f"(committed at {pd.Timestamp(first_at).isoformat()})"
            )
        return int(commit)

    def read(self, meta: FeatureGroupMeta, as_of: Any = None) -> pd.DataFrame:
        """The rows of a feature group (with a schema) as of ``as_of``, sorted by primary key and event time."""
        with self._storage.connect() as con:
            commit = self.resolve_as_of(meta, as_of)
            names = ", ".join(quote(name) for name in meta.features)
            order = ", ".join(quote(key) for key in meta.upsert_key)
            return fetch_frame(con, f"SELECT {names} FROM ({state_sql(meta, commit)}) ORDER BY {order}")

    # -- online store -------------------------------------------------------------------------------

    def sync_online(self, meta: FeatureGroupMeta, changes: pd.DataFrame | None = None,
                    previous_commit: int | None = None, commit_id: int | None = None) -> None:
        """Bring a feature group's online table up to its latest offline commit (only the keys that changed).

        Args:
            meta: The feature group (with its schema).
            changes: The rows of commit ``commit_id``, just written by this process. When the
                online table reflects ``previous_commit``, they are applied directly, without
                reading the offline history; otherwise (first use, a crash in between) the
                table is brought up to date from the history.
            previous_commit: The feature group's commit before ``commit_id``.
            commit_id: The commit ``changes`` belong to.
        """
        if changes is not None and commit_id is not None and self._online.apply_commit(
                meta.table, list(meta.columns), list(meta.primary_key), meta.event_time, changes, commit_id,
                previous_commit):
            return
        # The table can be reset between the decision and the write (a damaged file rebuilt by another
        # process); then decide again, with a full rebuild.
        for _ in range(3):
            if self._sync_from_history(meta):
                break
        self._online.clear_dead_pending(meta.table)
        self._online.mark_synced(meta.table)

    def _sync_from_history(self, meta: FeatureGroupMeta) -> bool:
        """One attempt of `sync_online` from the offline history; False if the online table was reset meanwhile."""
        applied = self._online.applied_commit(meta.table)
        with self._storage.connect() as con:
            last = fetch_rows(
                con, "SELECT max(commit_id) FROM fti_commits WHERE fg_name = ? AND fg_version = ?",
                [meta.name, meta.version],
            )[0][0]
            if last is None or applied == last:
                return True
            rebuild = applied is None or applied > last
            keys = ", ".join(quote(key) for key in meta.primary_key)
            order = f"ORDER BY {quote(meta.event_time)} DESC" if meta.event_time else ""
            latest = (
                f"SELECT * FROM ({state_sql(meta, None)}) "
                f"QUALIFY row_number() OVER (PARTITION BY {keys} {order}) = 1"
            )
            if not rebuild:
                touched = f"SELECT DISTINCT {keys} FROM {quote(meta.table)} WHERE {COMMIT_COLUMN} > {int(applied)}"
                latest = f"SELECT l.* FROM ({latest}) l SEMI JOIN ({touched}) t USING ({keys})"
            names = ", ".join(quote(name) for name in meta.features)
            rows = fetch_frame(con, f"SELECT {names} FROM ({latest})")
        return self._online.write(meta.table, list(meta.columns), list(meta.primary_key), rows, int(last),
                                  replace_all=rebuild)

    def online_lookup(self, meta: FeatureGroupMeta,
                      wanted: Sequence[str]) -> Callable[[Sequence[object]], dict | None]:
        """A prepared lookup of ``wanted`` columns of the newest online row per key (see `OnlineStore.lookup_plan`)."""
        return self._online.lookup_plan(meta.table, list(meta.columns), list(meta.primary_key), wanted,
                                        refresh=lambda: self.sync_online(meta), where=meta.label)
