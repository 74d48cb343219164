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
from pandas.api import types as ptypes

from fti.exceptions import NameClashError, ParameterError, QueryError, SchemaError
from fti.store import arguments, validation
from fti.store.engine import StoreEngine
from fti.store.feature_group_engine import (
    Commit,
    FeatureGroupMeta,
    expectation_suite_dict,
    normalize_policy,
    state_sql,
)
from fti.store.filters import Feature
from fti.store.query import Query
from fti.store.query_engine import QueryPlan, feature_of
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
        self._statistics_config: Any = None

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
    def features(self) -> list[str] | list[Feature]:
        """Column names, in schema order.

        In Hopsworks code (a store opened through ``fti.login()``), `Feature` objects with
        ``name``, ``type`` and ``description``, as the Hopsworks client returns.
        """
        if not self._engine.hopsworks:
            return self._meta.features
        if not self._meta.columns:  # defined meanwhile by another handle's first insert?
            self._meta = self._engine.feature_groups.get(self.name, self.version)
        meta = self._meta
        if not meta.columns:
            return []
        descriptions = self.feature_descriptions
        return [feature_of(meta, name, descriptions.get(name)) for name in meta.features]

    def get_feature(self, name: str) -> Feature:
        """One column as a `Feature`: its name, type, description and role, for filters (``fg.amount > 100``).

        Raises:
            SchemaError: Nothing was inserted yet, or there is no such column.
        """
        meta = self._with_schema()
        wanted = arguments.hopsworks_name(name, self._engine.hopsworks)
        if wanted not in meta.features:
            raise SchemaError(f"{self.label} has no feature {name!r}; its features are {meta.features}")
        return feature_of(meta, wanted, self.feature_descriptions.get(wanted))

    def __getattr__(self, name: str) -> Feature:
        # Only reached for names that are not attributes: ``fg.amount`` is the feature, as in Hopsworks.
        if name.startswith("_") or "_meta" not in self.__dict__:
            raise AttributeError(name)
        if self._meta.columns and arguments.hopsworks_name(name, self._engine.hopsworks) in self._meta.features:
            return self.get_feature(name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r} (nor a feature of that name)")

    def __getitem__(self, name: str) -> Feature:
        """``fg["amount"]``: the feature, for filters."""
        return self.get_feature(name)

    def filter(self, f: Any) -> Query:  # noqa: A003 - Hopsworks' name
        """A query of every column, filtered: ``fg.filter(fg.amount > 100)`` (``fg.select_all().filter(...)``)."""
        return self.select_all().filter(f)

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

    def insert(self, features: pd.DataFrame, overwrite: bool = False, operation: str = "upsert",
               storage: str | None = None, write_options: dict | None = None, validation_options: dict | None = None,
               wait: bool = False, **hopsworks_options: Any) -> Commit:
        """Write a DataFrame as one atomic commit, upserting on (primary key, event time).

        The frame is checked (columns, dtypes, keys) and validated against the
        expectation suite, if any, before anything is written. Naive datetimes are
        taken as UTC. Inserting the same frame twice leaves the same state.

        In a store opened through ``fti.login()`` (Hopsworks code), column names are
        lower-cased first, as the Hopsworks client does, and an event time of whole
        numbers is read as epoch milliseconds.

        Args:
            features: The rows to write; exactly the feature group's columns.
            overwrite: Hopsworks' "drop all rows first"; refused here (the history is kept:
                delete the feature group, or create a new version).
            operation: Only ``"upsert"`` (what every insert here does).
            storage: Only None: both the offline and the online store are written.
            write_options: Accepted for Hopsworks code and ignored (``wait_for_job``,
                ``start_offline_materialization``...): the commit is complete when this returns.
            validation_options: Accepted and ignored, except ``{"run_validation": False}``,
                which is refused (the suite always runs here: drop it to skip validation).
            wait: Accepted for Hopsworks code and ignored, for the same reason.
            **hopsworks_options: ``transformation_context`` is refused; nothing else is known.

        Returns:
            The `Commit`: its id, counts and validation outcome. (Hopsworks returns its job
            and validation report instead.)

        Raises:
            SchemaError: Not a DataFrame; missing, extra or mistyped columns; null or repeated keys.
            ExpectationsFailedError: The suite failed under the ``strict`` policy.
            ParameterError: A Hopsworks argument whose effect the kit does not have.
        """
        where = self.label
        arguments.flag(wait, "wait", where)
        for argument, value in (("write_options", write_options), ("validation_options", validation_options)):
            arguments.mapping(value, argument, where)
        if unknown := sorted(set(hopsworks_options) - {"transformation_context"}):
            raise ParameterError(f"{where}: insert got unknown argument(s) {unknown}")
        arguments.unsupported(
            where,
            overwrite=(arguments.flag(overwrite, "overwrite", where),
                       "rows are never dropped by an insert (the store keeps their history); delete the feature "
                       "group or create a new version for a fresh start"),
            operation=(None if operation == "upsert" else operation,
                       "every insert upserts on (primary key, event time); leave operation out"),
            storage=(storage, "every insert writes the offline store and, when online_enabled, the online one"),
            validation_options=(None if (validation_options or {}).get("run_validation", True) else
                                validation_options,
                                "the expectation suite always runs; fg.drop_expectation_suite() to stop validating"),
            transformation_context=(hopsworks_options.get("transformation_context"),
                                    "feature group transformations are not supported"),
        )
        if self._engine.hopsworks:
            features = self._as_hopsworks_writes(features)
        self._meta, commit = self._engine.feature_groups.insert(self.name, self.version, features)
        return commit

    def _as_hopsworks_writes(self, features: Any) -> Any:
        """The frame as the Hopsworks client would write it: lower-case names, epoch-ms event times as datetimes.

        Raises:
            NameClashError: Two columns differ only in case.
        """
        if not isinstance(features, pd.DataFrame):
            return features  # the engine refuses it with the usual message
        lowered = [name.lower() if isinstance(name, str) else name for name in features.columns]
        if lowered != list(features.columns):
            clashes = sorted({name for name in lowered if lowered.count(name) > 1}, key=str)
            if clashes:
                raise NameClashError(
                    f"{self.label}: columns {clashes} appear twice once lower-cased, as feature names are kept "
                    "(as in Hopsworks); rename or drop one of each"
                )
            features = features.set_axis(lowered, axis=1)
        time = self.event_time
        if time and time in features.columns and ptypes.is_integer_dtype(features[time].dtype):
            # Hopsworks reads a whole-number event time as epoch milliseconds.
            features = features.assign(**{time: pd.to_datetime(features[time], unit="ms", utc=True)})
        return features

    # -- descriptions (Hopsworks' metadata calls) ----------------------------------------------

    def update_description(self, description: str) -> FeatureGroup:
        """Replace what the group's description says; returns this group (as Hopsworks does)."""
        text = arguments.text(description, "description", self.label)
        self._meta = self._engine.feature_groups.update_description(self.name, self.version, text)
        return self

    def update_feature_description(self, feature_name: str, description: str) -> FeatureGroup:
        """Describe one feature, for people browsing the store; returns this group.

        Raises:
            SchemaError: Nothing was inserted yet, or there is no such feature.
            ParameterTypeError: ``description`` is not text.
        """
        text = arguments.text(description, "description", self.label)
        name = arguments.hopsworks_name(feature_name, self._engine.hopsworks)
        self._engine.feature_groups.update_feature_description(self._with_schema(), name, text)
        return self

    @property
    def feature_descriptions(self) -> dict[str, str]:
        """``{feature: description}`` for the features described with `update_feature_description`."""
        return self._engine.feature_groups.feature_descriptions(self.name, self.version)

    @property
    def statistics_config(self) -> Any:
        """Accepted for Hopsworks code and not used: this store computes no descriptive statistics.

        Set it as Hopsworks code does (``fg.statistics_config = {"histograms": True}``); the value
        is kept on this handle only. For statistics, describe the DataFrame with pandas, or
        validate with an expectation suite.
        """
        return self._statistics_config

    @statistics_config.setter
    def statistics_config(self, value: Any) -> None:
        self._statistics_config = value

    def update_statistics_config(self) -> FeatureGroup:
        """Accepted for Hopsworks code; does nothing (see `statistics_config`). Returns this group."""
        return self

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

    def read(self, as_of: Any = None, *, online: bool = False, wait: bool = False,
             dataframe_type: str = "default", read_options: dict | None = None) -> pd.DataFrame:
        """Return the rows, sorted by primary key and event time.

        Args:
            as_of: None for the latest state; a commit id, or a datetime (the state
                after the last commit at or before it) to travel back in time.
            online: True returns what the online store serves: the newest row per primary key
                (ttl is applied when serving, not here). Only for an online-enabled group.
            wait: Accepted for Hopsworks code and ignored (there is no job to wait for).
            dataframe_type: ``"default"`` or ``"pandas"``: every read returns pandas here.
            read_options: Accepted for Hopsworks code and ignored.

        Raises:
            SchemaError: Nothing was inserted yet.
            TimeTravelError: ``as_of`` is not a commit id or time, or is before this
                feature group's first commit.
            ParameterError: ``online=True`` on a group that is not online enabled (or with
                ``as_of``), or another dataframe type.
        """
        where = self.label
        arguments.flag(wait, "wait", where)
        arguments.mapping(read_options, "read_options", where)
        arguments.unsupported(where, dataframe_type=(None if dataframe_type in ("default", "pandas") else
                                                     dataframe_type, "every read returns pandas here"))
        if not arguments.flag(online, "online", where):
            return self._engine.feature_groups.read(self._with_schema(), as_of)
        if not self.online_enabled or as_of is not None:
            raise ParameterError(
                f"{where}: read(online=True) reads the online store, which "
                + ("keeps only the latest state: leave as_of out" if self.online_enabled else
                   "this group does not have (create it with online_enabled=True)")
            )
        rows = self._engine.feature_groups.read(self._with_schema())
        # Rows are sorted by key and event time: the last row of each key is what the online store serves.
        return rows.drop_duplicates(subset=self.primary_key, keep="last").reset_index(drop=True)

    def save(self, features: pd.DataFrame, write_options: dict | None = None, **options: Any) -> Commit:
        """The older Hopsworks name of `insert` (``fg.save(df)``): the same commit."""
        return self.insert(features, write_options=write_options, **options)

    def commit_details(self) -> pd.DataFrame:
        """One row per commit, oldest first.

        Columns: commit_id, committed_at, rows_inserted, rows_updated, rows_unchanged,
        validation (None, ``"success"`` or ``"failed"``), report_id.
        """
        return self._engine.feature_groups.commit_details(self.name, self.version)

    def _query(self, features: list[str]) -> Query:
        return Query(self._engine, QueryPlan.select(self._meta, features), [self])

    def _names(self, features: Any, argument: str = "features") -> list[str]:
        """Column names given as a list of names or features (or, as Hopsworks takes it, one name)."""
        hopsworks = self._engine.hopsworks
        if (hopsworks and isinstance(features, str)) or (
                hasattr(features, "name") and not isinstance(features, (str, list, tuple))):
            # One feature alone, as Hopsworks code writes it. The kit's own calls refuse a string,
            # which would more often be a list written without its brackets.
            features = [features]
        if isinstance(features, (list, tuple)):
            features = [getattr(item, "name", item) for item in features]  # Feature objects by name
        features = arguments.hopsworks_names(features, hopsworks)
        return arguments.names(features, argument, self.label, "feature", QueryError)

    def select_all(self, include_primary_key: bool = True, include_event_time: bool = True) -> Query:
        """A query of every column, to join and to build a feature view from.

        Args:
            include_primary_key: False leaves the primary key out of the selection. The label
                side of a query returns it anyway (its rows are identified by it), but a joined
                group's key then adds no column.
            include_event_time: False leaves the event time out, in the same way.
        """
        meta = self._with_schema()
        left_out = set()
        if not arguments.flag(include_primary_key, "include_primary_key", self.label):
            left_out |= set(meta.primary_key)
        if not arguments.flag(include_event_time, "include_event_time", self.label) and meta.event_time:
            left_out.add(meta.event_time)
        return self._query([name for name in meta.features if name not in left_out])

    def select_features(self) -> Query:
        """A query of the features only: every column but the primary key and event time (as in Hopsworks)."""
        return self.select_all(include_primary_key=False, include_event_time=False)

    def select(self, features: list[str]) -> Query:
        """A query of some columns (primary key and event time come along for joins).

        Args:
            features: Column names (or features, ``fg.amount``). In a store opened through
                ``fti.login()``, one name alone is taken as a list of one, as Hopsworks does.

        Raises:
            QueryError: A name is not a column of this feature group.
        """
        wanted = self._names(features)
        self._with_schema()
        return self._query(wanted)

    def select_except(self, features: list[str] | None = None) -> Query:
        """A query of every column except these (all of them when ``features`` is None)."""
        excluded = set() if features is None else set(self._names(features))
        return self._query([name for name in self._with_schema().features if name not in excluded])

    def show(self, n: int = 5) -> pd.DataFrame:
        """The first ``n`` rows of `read` (Hopsworks' ``fg.show(n)``)."""
        return self.read().head(n)

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
