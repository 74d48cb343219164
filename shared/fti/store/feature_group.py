"""Feature groups: versioned tables of features, written by feature pipelines in commits.

A feature group has a primary key (which entity a row describes) and, usually,
an event time (when the values became true). Every `insert` is one commit that
upserts on (primary key, event time): a new pair adds a row, a known pair
replaces that row's values, and an identical row changes nothing. The store keeps
every version of every row, tagged with the commit that wrote it and the commit
that replaced it, so the table can be read as it was after any past commit
(time travel), which is what makes training data reproducible.

`FeatureGroup` is a thin handle: it checks arguments and delegates to
`fti.store.feature_group_engine`, which does the work on a `FeatureGroupMeta`.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pandas as pd

from fti.exceptions import QueryError
from fti.store import arguments, validation
from fti.store.engine import StoreEngine
from fti.store.feature_group_engine import (
    Commit,
    FeatureGroupMeta,
    expectation_suite_dict,
    normalize_policy,
    state_sql,
)
from fti.store.query import Query
from fti.store.query_engine import QueryPlan
from fti.store.schema import Columns
from fti.store.writer import MicroBatchWriter

__all__ = ["Commit", "FeatureGroup"]


class FeatureGroup:
    """A handle on one feature group version. Get one from `FeatureStore.get_or_create_feature_group`.

    Args:
        engine: The engine of the store it lives in.
        meta: Its metadata as the store describes it.
    """

    def __init__(self, engine: StoreEngine, meta: FeatureGroupMeta):
        self._engine = engine
        self._meta = meta

    # -- description ---------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._meta.name

    @property
    def version(self) -> int:
        return self._meta.version

    @property
    def primary_key(self) -> list[str]:
        """Column(s) that identify the entity a row describes."""
        return list(self._meta.primary_key)

    @property
    def event_time(self) -> str | None:
        """The column saying when the values became true, or None."""
        return self._meta.event_time

    @property
    def description(self) -> str:
        return self._meta.description

    @property
    def online_enabled(self) -> bool:
        """Whether the newest row per key is also kept in the online store."""
        return self._meta.online_enabled

    @property
    def ttl(self) -> dt.timedelta | None:
        """Maximum age of a feature value when joined or served, or None."""
        return self._meta.ttl

    @property
    def validation_ingestion_policy(self) -> str:
        """``"strict"`` (a failing frame is refused) or ``"warn"`` (written, with the failure recorded)."""
        return self._meta.ingestion_policy

    @property
    def table(self) -> str:
        """The DuckDB table that holds this version's rows."""
        return self._meta.table

    @property
    def label(self) -> str:
        return self._meta.label

    @property
    def columns(self) -> Columns:
        """``[(name, type), ...]``; empty until the first insert defines the schema."""
        return list(self._meta.columns)

    @property
    def features(self) -> list[str]:
        """Column names, in schema order."""
        return self._meta.features

    @property
    def schema(self) -> pd.DataFrame:
        """The schema as a small table: name, type and role of each column."""
        roles = {key: "primary key" for key in self._meta.primary_key}
        if self.event_time:
            roles[self.event_time] = "event time"
        return pd.DataFrame(
            [(name, sql_type, roles.get(name, "feature")) for name, sql_type in self._meta.columns],
            columns=["name", "type", "role"],
        )

    def __repr__(self) -> str:
        return (
            f"FeatureGroup(name={self.name!r}, version={self.version}, primary_key={self.primary_key}, "
            f"event_time={self.event_time!r}, online_enabled={self.online_enabled})"
        )

    def _with_schema(self) -> FeatureGroupMeta:
        self._meta = self._engine.feature_groups.with_schema(self._meta)
        return self._meta

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
            SchemaError: Not a DataFrame; missing, extra or mistyped columns; null or repeated keys.
            ExpectationsFailedError: The suite failed under the ``strict`` policy.
        """
        del write_options  # materialisation jobs do not exist on a laptop
        self._meta, commit = self._engine.feature_groups.insert(self.name, self.version, features)
        return commit

    def micro_batch_writer(self) -> MicroBatchWriter:
        """A writer for many small commits in a row (a stream pipeline), holding the store open until closed.

        Each ``writer.insert(df)`` is one commit, exactly like `insert`, without the cost
        of opening and closing the store's file around it. While the writer is open,
        other processes wait to open the store: close it (or use ``with``) when the
        stream's run ends. See `fti.store.writer`.

        Returns:
            A `MicroBatchWriter`; use it as a context manager.
        """
        return MicroBatchWriter(self._engine, self._meta)

    def delete(self) -> None:
        """Delete this feature group version: its rows and their history, commits, validation reports, online copy.

        As in the Hopsworks client, only this version goes; other versions stay.
        Unlike there, the delete is refused while a feature view reads this version,
        so no view is left with a query naming a missing group: delete the view first.
        All or nothing. Afterwards ``get_or_create_feature_group`` with the same name
        and version makes a new, empty group whose first insert defines its columns
        again; its commit ids never repeat the deleted ones.

        Raises:
            FeatureGroupNotFoundError: It does not exist (any more).
            InUseError: A feature view reads it; nothing was deleted.
        """
        name, version = self.name, self.version
        self._engine.feature_groups.delete(
            name, version, readers=lambda con: self._engine.feature_views.readers(con, name, version))

    # -- expectations ----------------------------------------------------------------------------

    def save_expectation_suite(self, expectation_suite: Any, validation_ingestion_policy: str = "strict") -> None:
        """Attach (or replace) the Great Expectations suite every insert is validated against.

        Args:
            expectation_suite: A ``great_expectations.ExpectationSuite`` or its dict form.
            validation_ingestion_policy: ``"strict"`` rejects a failing frame whole;
                ``"warn"`` writes it and records the failure.

        Raises:
            NotASuiteError: ``expectation_suite`` is neither a suite nor a dict.
            InvalidSuiteError: It is a dict that does not describe a valid suite.
            ParameterError: An unknown policy.
        """
        policy = normalize_policy(validation_ingestion_policy, self.label)
        suite = expectation_suite_dict(expectation_suite, self.label)
        self._meta = self._engine.feature_groups.save_expectation_suite(self.name, self.version, suite, policy)

    def get_expectation_suite(self) -> Any:
        """Return the attached suite as a ``great_expectations.ExpectationSuite``, or None."""
        self._meta = self._engine.feature_groups.get(self.name, self.version)
        suite = self._meta.expectation_suite
        return None if suite is None else validation.suite_from_dict(suite)

    def drop_expectation_suite(self) -> None:
        """Stop validating inserts."""
        self._meta = self._engine.feature_groups.drop_expectation_suite(self.name, self.version)

    def get_validation_reports(self) -> pd.DataFrame:
        """Every validation of this feature group, oldest first, one row each.

        Columns: report_id, validated_at, success, ingestion_policy, outcome
        (``ingested`` or ``rejected``), evaluated, failed, report (the full JSON).
        """
        return self._engine.feature_groups.validation_reports(self.name, self.version)

    get_validation_history = get_validation_reports

    # -- reading ---------------------------------------------------------------------------------

    def state_sql(self, as_of_commit: int | None) -> str:
        """SQL for this feature group's rows as of a commit (None: the latest state).

        A row version is visible at commit C if it was written at or before C and not
        yet replaced at C.

        Raises:
            TimeTravelError: ``as_of_commit`` is not None or a commit id (a whole number).
        """
        return state_sql(self._meta, arguments.commit_id(as_of_commit, "as_of_commit", self.label))

    def read(self, as_of: Any = None) -> pd.DataFrame:
        """Return the rows, sorted by primary key and event time.

        Args:
            as_of: None for the latest state; a commit id, or a datetime (the state
                after the last commit at or before it) to travel back in time.

        Raises:
            SchemaError: Nothing was inserted yet.
            TimeTravelError: ``as_of`` is not a commit id or time, or is before this
                feature group's first commit.
        """
        return self._engine.feature_groups.read(self._with_schema(), as_of)

    def commit_details(self) -> pd.DataFrame:
        """One row per commit, oldest first.

        Columns: commit_id, committed_at, rows_inserted, rows_updated, rows_unchanged,
        validation (None, ``"success"`` or ``"failed"``), report_id.
        """
        return self._engine.feature_groups.commit_details(self.name, self.version)

    def _query(self, features: list[str]) -> Query:
        return Query(self._engine, QueryPlan.select(self._meta, features), [self])

    def select_all(self) -> Query:
        """A query of every column, to join and to build a feature view from."""
        return self._query(self._with_schema().features)

    def select(self, features: list[str]) -> Query:
        """A query of some columns (primary key and event time come along for joins).

        Raises:
            QueryError: ``features`` is a single string, not a list, or a name is not a
                column of this feature group.
        """
        wanted = arguments.names(features, "features", self.label, "feature", QueryError)
        self._with_schema()
        return self._query(wanted)

    def select_except(self, features: list[str]) -> Query:
        """A query of every column except these."""
        excluded = set(arguments.names(features, "features", self.label, "feature", QueryError))
        return self._query([name for name in self._with_schema().features if name not in excluded])

    # -- Delta Lake ------------------------------------------------------------------------------

    def export_delta(self, path: str | os.PathLike[str]) -> Path:
        """Write this feature group's whole history as a new Delta Lake table, for Spark or any Delta reader.

        The table holds the feature rows (no bookkeeping columns); Delta version k is
        the state after this group's k-th commit, so Spark's ``versionAsOf`` reads what
        ``read(as_of=...)`` reads. Keys, event time, commit times and the group's settings
        travel in table properties and commit info (``fti.*``), so
        `FeatureStore.import_delta` makes the same feature group again. See `fti.store.delta`.

        Args:
            path: A folder that does not exist yet (or is empty).

        Returns:
            The table's folder.

        Raises:
            ParameterTypeError: ``path`` is not a path.
            SchemaError: Nothing was inserted yet.
            DeltaLakeError: ``path`` exists already, or cannot be written; nothing is left there.
        """
        # Imported here: deltalake adds a tenth of a second to `import fti`.
        from fti.store.delta import DeltaEngine, table_path

        folder = table_path(path, "path", self.label)
        return DeltaEngine(self._engine.storage, self._engine.feature_groups).export(self._with_schema(), folder)
