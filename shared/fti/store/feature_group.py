"""Feature groups: versioned tables of features, written by feature pipelines in commits.

A feature group has a primary key (which entity a row describes) and, usually,
an event time (when the values became true). Every `insert` is one commit that
upserts on (primary key, event time): a new pair adds a row, a known pair
replaces that row's values, and an identical row changes nothing. The store keeps
every version of every row, tagged with the commit that wrote it and the commit
that replaced it, so the table can be read as it was after any past commit
(time travel), which is what makes training data reproducible.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from fti import clock
from fti.store import validation
from fti.exceptions import ExpectationsFailedError, SchemaError
from fti.names import check_name, quote
from fti.store.schema import BIGINT, TIMESTAMP, VARCHAR, Columns, check_keys, conform, infer_columns
from fti.store.storage import fetch_frame, fetch_rows

if TYPE_CHECKING:
    from fti.store.feature_store import FeatureStore
    from fti.store.query import Query

INGESTION_POLICIES = {"strict": "strict", "warn": "warn", "always": "warn"}
KEY_TYPES = (BIGINT, VARCHAR)
COMMIT_COLUMN = "_fti_commit"
SUPERSEDED_COLUMN = "_fti_superseded"


def normalize_policy(policy: str) -> str:
    """Return ``"strict"`` or ``"warn"`` for a policy name (Hopsworks' ``"ALWAYS"`` means warn)."""
    normalized = INGESTION_POLICIES.get(str(policy).lower())
    if normalized is None:
        raise ValueError(f"validation_ingestion_policy {policy!r} is not one of 'strict', 'warn'")
    return normalized


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


class FeatureGroup:
    """A handle on one feature group version. Get one from `FeatureStore.get_or_create_feature_group`."""

    def __init__(self, store: FeatureStore, record: dict[str, Any]):
        self._fs = store
        self.name: str = record["name"]
        self.version: int = int(record["version"])
        self.primary_key: list[str] = json.loads(record["primary_key"])
        self.event_time: str | None = record["event_time"]
        self.description: str = record["description"]
        self.online_enabled: bool = bool(record["online_enabled"])
        seconds = record["ttl_seconds"]
        self.ttl: dt.timedelta | None = None if seconds is None or pd.isna(seconds) else dt.timedelta(seconds=seconds)
        self._columns: Columns | None = (
            [tuple(pair) for pair in json.loads(record["columns"])] if record["columns"] else None
        )
        suite = record["expectation_suite"]
        self._suite: dict | None = json.loads(suite) if suite else None
        self.validation_ingestion_policy: str = record["ingestion_policy"]

    # -- description ---------------------------------------------------------------------------

    @property
    def table(self) -> str:
        """The DuckDB table that holds this version's rows."""
        return f"fg_{self.name}_{self.version}"

    @property
    def label(self) -> str:
        return f"feature group '{self.name}' v{self.version}"

    @property
    def columns(self) -> Columns:
        """``[(name, type), ...]``; empty until the first insert defines the schema."""
        return list(self._columns or [])

    @property
    def features(self) -> list[str]:
        """Column names, in schema order."""
        return [name for name, _ in self.columns]

    @property
    def schema(self) -> pd.DataFrame:
        """The schema as a small table: name, type and role of each column."""
        roles = {key: "primary key" for key in self.primary_key}
        if self.event_time:
            roles[self.event_time] = "event time"
        return pd.DataFrame(
            [(name, sql_type, roles.get(name, "feature")) for name, sql_type in self.columns],
            columns=["name", "type", "role"],
        )

    def __repr__(self) -> str:
        return (
            f"FeatureGroup(name={self.name!r}, version={self.version}, primary_key={self.primary_key}, "
            f"event_time={self.event_time!r}, online_enabled={self.online_enabled})"
        )

    def _require_schema(self) -> Columns:
        if not self._columns:
            self._refresh()
        if not self._columns:
            raise SchemaError(f"{self.label} has no data yet: insert a DataFrame first")
        return self._columns

    def _refresh(self) -> None:
        fresh = self._fs.get_feature_group(self.name, self.version)
        self._columns = fresh._columns
        self._suite = fresh._suite
        self.validation_ingestion_policy = fresh.validation_ingestion_policy

    # -- writing ---------------------------------------------------------------------------------

    def insert(self, features: pd.DataFrame, write_options: dict | None = None) -> Commit:
        """Write a DataFrame as one atomic commit, upserting on (primary key, event time).

        The frame is checked (columns, dtypes, keys) and validated against the
        expectation suite, if any, before anything is written. Naive datetimes are
        taken as UTC. Inserting the same frame twice leaves the same state.

        Args:
            features: The rows to write; exactly the feature group's columns.
            write_options: Accepted for Hopsworks compatibility and ignored.

        Returns:
            The `Commit`: its id, counts and validation outcome.

        Raises:
            SchemaError: Missing, extra or mistyped columns; null or repeated keys.
            ExpectationsFailedError: The suite failed under the ``strict`` policy.
        """
        del write_options  # materialisation jobs do not exist on a laptop
        self._refresh()
        columns = self._columns or self._first_schema(features)
        frame = conform(features, columns, self.label)
        check_keys(frame, self.primary_key, self.event_time, self.label)

        outcome = None
        if self._suite is not None:
            outcome = validation.validate(frame, self._suite, name=f"{self.name}_v{self.version}")
            if not outcome.success and self.validation_ingestion_policy == "strict":
                with self._fs._store.transaction() as con:
                    report_id = self._record_report(con, outcome, ingested=False)
                raise ExpectationsFailedError(f"'{self.name}' v{self.version}", outcome.failures, report_id)

        with self._fs._store.transaction() as con:
            stored = self._fs._feature_group_record(con, self.name, self.version)
            if stored["columns"] is None:
                self._create_table(con, columns)
            elif [tuple(pair) for pair in json.loads(stored["columns"])] != columns:
                # Another process defined the schema between our check and this commit.
                self._refresh()
                return self.insert(features)
            commit = self._write_commit(con, frame, outcome)
        self._columns = columns
        if self.online_enabled:
            self._fs._sync_online(self)
        return commit

    def _first_schema(self, features: pd.DataFrame) -> Columns:
        if not isinstance(features, pd.DataFrame):
            raise SchemaError(f"{self.label}: expected a pandas DataFrame, got {type(features).__name__}")
        columns = infer_columns(features, self.label)
        types = dict(columns)
        for key in self.primary_key:
            if key not in types:
                raise SchemaError(f"{self.label}: primary key column '{key}' is missing from the DataFrame")
            if types[key] not in KEY_TYPES:
                raise SchemaError(
                    f"{self.label}: primary key column '{key}' has type {types[key]}; keys must be whole numbers or text"
                )
        if self.event_time:
            if self.event_time not in types:
                raise SchemaError(f"{self.label}: event time column '{self.event_time}' is missing from the DataFrame")
            if types[self.event_time] != TIMESTAMP:
                raise SchemaError(
                    f"{self.label}: event time column '{self.event_time}' should hold datetimes but has dtype "
                    f"{features[self.event_time].dtype} (convert it with pandas.to_datetime)"
                )
        return columns

    def _create_table(self, con, columns: Columns) -> None:
        column_sql = ", ".join(f"{quote(name)} {sql_type}" for name, sql_type in columns)
        con.execute(
            f"CREATE TABLE {quote(self.table)} ({column_sql}, {COMMIT_COLUMN} BIGINT NOT NULL, "
            f"{SUPERSEDED_COLUMN} BIGINT)"
        )
        con.execute(
            "UPDATE fti_feature_groups SET columns = ? WHERE name = ? AND version = ?",
            [json.dumps(columns), self.name, self.version],
        )

    def _record_report(self, con, outcome: validation.ValidationOutcome, *, ingested: bool) -> int:
        report_id = fetch_rows(con, "SELECT coalesce(max(report_id), 0) + 1 FROM fti_validation_reports")[0][0]
        con.execute(
            "INSERT INTO fti_validation_reports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                report_id, self.name, self.version, clock.now(), outcome.success,
                self.validation_ingestion_policy, "ingested" if ingested else "rejected",
                outcome.evaluated, len(outcome.failures), json.dumps(outcome.report, sort_keys=True),
            ],
        )
        return int(report_id)

    def _write_commit(self, con, frame: pd.DataFrame, outcome: validation.ValidationOutcome | None) -> Commit:
        commit_id = int(fetch_rows(con, "SELECT coalesce(max(commit_id), 0) + 1 FROM fti_commits")[0][0])
        committed_at = clock.now()
        report_id = self._record_report(con, outcome, ingested=True) if outcome is not None else None

        keys = self.primary_key + ([self.event_time] if self.event_time else [])
        values = [name for name in frame.columns if name not in keys]
        table = quote(self.table)
        match = " AND ".join(f"i.{quote(key)} = c.{quote(key)}" for key in keys)
        differs = " OR ".join(f"i.{quote(name)} IS DISTINCT FROM c.{quote(name)}" for name in values)
        probe = quote(keys[0])
        con.register("_fti_incoming", frame)
        try:
            con.execute(
                f"CREATE TEMP TABLE _fti_changes AS SELECT i.*, c.{probe} IS NULL AS _fti_is_new "
                f"FROM _fti_incoming i LEFT JOIN (SELECT * FROM {table} WHERE {SUPERSEDED_COLUMN} IS NULL) c "
                f"ON {match} WHERE c.{probe} IS NULL" + (f" OR {differs}" if differs else "")
            )
        finally:
            con.unregister("_fti_incoming")
        inserted, updated = fetch_rows(
            con, "SELECT count(*) FILTER (WHERE _fti_is_new), count(*) FILTER (WHERE NOT _fti_is_new) FROM _fti_changes"
        )[0]
        if updated:
            on_change = " AND ".join(f"t.{quote(key)} = ch.{quote(key)}" for key in keys)
            con.execute(
                f"UPDATE {table} AS t SET {SUPERSEDED_COLUMN} = ? FROM _fti_changes ch "
                f"WHERE t.{SUPERSEDED_COLUMN} IS NULL AND NOT ch._fti_is_new AND {on_change}",
                [commit_id],
            )
        column_sql = ", ".join(quote(name) for name in frame.columns)
        con.execute(
            f"INSERT INTO {table} ({column_sql}, {COMMIT_COLUMN}, {SUPERSEDED_COLUMN}) "
            f"SELECT {column_sql}, ?, NULL FROM _fti_changes",
            [commit_id],
        )
        con.execute("DROP TABLE _fti_changes")
        unchanged = len(frame) - inserted - updated
        verdict = None if outcome is None else ("success" if outcome.success else "failed")
        con.execute(
            "INSERT INTO fti_commits VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [commit_id, self.name, self.version, committed_at, inserted, updated, unchanged, verdict, report_id],
        )
        return Commit(commit_id, committed_at, int(inserted), int(updated), int(unchanged), verdict)

    # -- expectations ----------------------------------------------------------------------------

    def save_expectation_suite(self, expectation_suite: Any, validation_ingestion_policy: str = "strict") -> None:
        """Attach (or replace) the Great Expectations suite every insert is validated against.

        Args:
            expectation_suite: A ``great_expectations.ExpectationSuite`` or its dict form.
            validation_ingestion_policy: ``"strict"`` rejects a failing frame whole;
                ``"warn"`` writes it and records the failure.
        """
        policy = normalize_policy(validation_ingestion_policy)
        suite = validation.suite_to_dict(expectation_suite)
        with self._fs._store.transaction() as con:
            con.execute(
                "UPDATE fti_feature_groups SET expectation_suite = ?, ingestion_policy = ? WHERE name = ? AND version = ?",
                [json.dumps(suite, sort_keys=True), policy, self.name, self.version],
            )
        self._suite = suite
        self.validation_ingestion_policy = policy

    def get_expectation_suite(self) -> Any:
        """Return the attached suite as a ``great_expectations.ExpectationSuite``, or None."""
        self._refresh()
        return None if self._suite is None else validation.suite_from_dict(self._suite)

    def drop_expectation_suite(self) -> None:
        """Stop validating inserts."""
        with self._fs._store.transaction() as con:
            con.execute(
                "UPDATE fti_feature_groups SET expectation_suite = NULL WHERE name = ? AND version = ?",
                [self.name, self.version],
            )
        self._suite = None

    def get_validation_reports(self) -> pd.DataFrame:
        """Every validation of this feature group, oldest first, one row each.

        Columns: report_id, validated_at, success, ingestion_policy, outcome
        (``ingested`` or ``rejected``), evaluated, failed, report (the full JSON).
        """
        with self._fs._store.connect() as con:
            return fetch_frame(
                con,
                "SELECT report_id, validated_at, success, ingestion_policy, outcome, evaluated, failed, report "
                "FROM fti_validation_reports WHERE fg_name = ? AND fg_version = ? ORDER BY report_id",
                [self.name, self.version],
            )

    get_validation_history = get_validation_reports

    # -- reading ---------------------------------------------------------------------------------

    def state_sql(self, as_of_commit: int | None) -> str:
        """SQL for this feature group's rows as of a commit (None: the latest state).

        A row version is visible at commit C if it was written at or before C and not
        yet replaced at C.
        """
        if as_of_commit is None:
            condition = f"{SUPERSEDED_COLUMN} IS NULL"
        else:
            c = int(as_of_commit)
            condition = (
                f"{COMMIT_COLUMN} <= {c} AND ({SUPERSEDED_COLUMN} IS NULL OR {SUPERSEDED_COLUMN} > {c})"
            )
        return f"SELECT * FROM {quote(self.table)} WHERE {condition}"

    def read(self, as_of: Any = None) -> pd.DataFrame:
        """Return the rows, sorted by primary key and event time.

        Args:
            as_of: None for the latest state; a commit id, or a datetime (the state
                after the last commit at or before it) to travel back in time.

        Raises:
            TimeTravelError: ``as_of`` is before this feature group's first commit.
        """
        columns = self._require_schema()
        with self._fs._store.connect() as con:
            commit = self._fs._resolve_as_of(con, as_of, self)
            names = ", ".join(quote(name) for name, _ in columns)
            order = ", ".join(quote(key) for key in self.primary_key + ([self.event_time] if self.event_time else []))
            return fetch_frame(con, f"SELECT {names} FROM ({self.state_sql(commit)}) ORDER BY {order}")

    def commit_details(self) -> pd.DataFrame:
        """One row per commit, oldest first.

        Columns: commit_id, committed_at, rows_inserted, rows_updated, rows_unchanged,
        validation (None, ``"success"`` or ``"failed"``), report_id.
        """
        with self._fs._store.connect() as con:
            return fetch_frame(
                con,
                "SELECT commit_id, committed_at, rows_inserted, rows_updated, rows_unchanged, validation, report_id "
                "FROM fti_commits WHERE fg_name = ? AND fg_version = ? ORDER BY commit_id",
                [self.name, self.version],
            )

    def select_all(self) -> Query:
        """A query of every column, to join and to build a feature view from."""
        from fti.store.query import Query

        return Query.of(self, self.features if self._require_schema() else [])

    def select(self, features: list[str]) -> Query:
        """A query of some columns (primary key and event time come along for joins).

        Raises:
            QueryError: A name is not a column of this feature group.
        """
        from fti.store.query import Query

        self._require_schema()
        for name in features:
            check_name(name, f"{self.label}: feature")
        return Query.of(self, list(features))

    def select_except(self, features: list[str]) -> Query:
        """A query of every column except these."""
        from fti.store.query import Query

        columns = self._require_schema()
        return Query.of(self, [name for name, _ in columns if name not in set(features)])
