"""The feature store: where feature groups and feature views are created and found.

Named like the Hopsworks client (``get_or_create_feature_group``,
``get_or_create_feature_view``...), so pipeline code written against this store
reads like code written for a production one.

`FeatureStore` owns the `fti.store.engine.StoreEngine` of its folder: it checks
and shapes what a notebook passes, asks the engine, and wraps the answers in
`FeatureGroup` and `FeatureView` handles that share the same engine.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from fti.exceptions import (
    FeatureGroupNotFoundError,
    NameClashError,
    ParameterError,
    ParameterTypeError,
    QueryError,
    SchemaError,
    TransformationError,
)
from fti.names import check_name
from fti.store import arguments
from fti.store.engine import StoreEngine
from fti.store.feature_group import FeatureGroup
from fti.store.feature_group_engine import FeatureGroupMeta, expectation_suite_dict, normalize_policy
from fti.store.feature_view import FeatureView
from fti.store.feature_view_engine import OnDemand
from fti.store.query import Query
from fti.store.storage import refuse_case_clash
from fti.store.transformations import Transformation, by_feature, get_transformation_function

if TYPE_CHECKING:  # imported when used: deltalake adds a tenth of a second to `import fti`
    from fti.store.delta import DeltaSource


def _ttl(ttl: Any, where: str) -> dt.timedelta | None:
    """A feature group's ttl as a timedelta (it may be given in seconds).

    Raises:
        ParameterTypeError: Neither a timedelta nor a number.
        SchemaError: Not positive.
    """
    if ttl is None:
        return None
    if isinstance(ttl, dt.timedelta):
        seconds = ttl.total_seconds()
    elif isinstance(ttl, numbers.Real) and not isinstance(ttl, bool):
        seconds = float(ttl)
    else:
        raise ParameterTypeError(
            f"{where}: ttl must be a timedelta or a number of seconds, got {type(ttl).__name__} {ttl!r:.80}"
        )
    if not seconds > 0 or math.isinf(seconds):
        raise SchemaError(f"{where}: ttl must be positive, got {ttl!r}")
    return dt.timedelta(seconds=seconds)


# Hopsworks arguments that change nothing here: storage layout, statistics, streaming
# transport and materialisation schedules. Ignoring them cannot change a result.
_IGNORED_FEATURE_GROUP_OPTIONS = frozenset({
    "partition_key", "time_travel_format", "hudi_precombine_key", "statistics_config", "stream", "parents",
    "topic_name", "notification_topic_name", "online_config", "offline_backfill_every_hr",
})
# Hopsworks arguments whose effect the kit does not have: refused with what to do instead.
_REFUSED_FEATURE_GROUP_OPTIONS = {
    "features": "the first fg.insert(df) defines the columns here; leave features out",
    "embedding_index": "there is no vector index here",
    "transformation_functions": "feature group transformations are not supported; compute the column in "
                                "the feature pipeline, or give the feature view on_demand_features",
    "storage_connector": "external feature groups are not supported; read the data with pandas and insert it",
    "path": "external feature groups are not supported; read the data with pandas and insert it",
    "data_source": "external feature groups are not supported; read the data with pandas and insert it",
}


def _feature_group_options(options: dict[str, Any], where: str) -> None:
    """Accept the Hopsworks arguments that change nothing here; refuse the others clearly.

    Raises:
        ParameterError: An argument with an effect the kit does not have, or an unknown one.
    """
    refused = {name: (value, _REFUSED_FEATURE_GROUP_OPTIONS[name]) for name, value in options.items()
               if name in _REFUSED_FEATURE_GROUP_OPTIONS}
    arguments.unsupported(where, **refused)
    unknown = sorted(set(options) - _IGNORED_FEATURE_GROUP_OPTIONS - set(_REFUSED_FEATURE_GROUP_OPTIONS))
    if unknown:
        raise ParameterError(f"{where}: unknown argument(s) {unknown}")


def _version_to_create(kind: str, name: str, version: Any, newest: int | None, exists: Callable[[int], bool]) -> int:
    """The version a ``create_*`` call makes: the one given, or one more than the newest (1 for the first).

    Raises:
        InvalidNameError: Not a valid version.
        ParameterError: That version exists already.
    """
    if version is None:
        version = 1 if newest is None else newest + 1
    version = arguments.version(version, f"{kind} '{name}'")
    if exists(version):
        call = kind.replace(" ", "_")
        raise ParameterError(
            f"{kind} '{name}' v{version} exists already; get it with get_{call}('{name}', {version}) or "
            f"get_or_create_{call}, or create version {version + 1}"
        )
    return version


def _feature_view_options(options: dict[str, Any], where: str) -> None:
    """Refuse Hopsworks feature view arguments the kit has no equivalent for, saying what to do.

    Raises:
        ParameterError: Such an argument, or an unknown one.
    """
    helpers = ("the label side's primary key and event time are the helper columns here; select other "
               "columns you need at inference only in a separate query")
    arguments.unsupported(where, **{name: (options.get(name), helpers)
                                    for name in ("inference_helper_columns", "training_helper_columns")})
    unknown = sorted(set(options) - {"inference_helper_columns", "training_helper_columns"})
    if unknown:
        raise ParameterError(f"{where}: unknown argument(s) {unknown}")


def _event_time_out_of_key(keys: list[str], event_time: str, where: str, hopsworks: bool) -> list[str]:
    """The primary key without the event time, which the store adds to every key anyway.

    Hopsworks lets the event time be part of the primary key. Here every insert upserts
    on (primary key, event time) already, so a store opened through ``fti.login()`` drops
    it from the key: the same rows are kept apart. The kit's own calls refuse it, to keep
    the two roles visible.

    Raises:
        SchemaError: The kit's own call, or the event time is the only key column.
    """
    rest = [key for key in keys if key != event_time]
    if not hopsworks:
        raise SchemaError(
            f"{where}: event time '{event_time}' cannot also be a primary key column: every insert upserts on "
            f"(primary key, event time) already, so write primary_key={rest or ['<entity id>']}"
        )
    if not rest:
        raise SchemaError(
            f"{where}: the event time '{event_time}' is the only primary key column; add the column that "
            "names the entity a row describes (e.g. a city or a sensor id) to primary_key"
        )
    return rest


class FeatureStore:
    """A feature store in one directory. Get one with `fti.get_feature_store()`.

    Args:
        path: The store directory (default: ``FTI_STORE`` or ``data/store``).
        hopsworks: Follow the Hopsworks client where the kit's defaults differ (``fti.login()``
            sets it; see `fti.project`): feature names lower-cased, integer event times read
            as epoch milliseconds, one label returned as a DataFrame.

    Raises:
        ParameterTypeError: ``path`` is not a string or path.
        StoreConfigError: ``path`` is a file, or cannot be created.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, hopsworks: bool = False):
        self._engine = StoreEngine(path, hopsworks=arguments.flag(hopsworks, "hopsworks", "feature store"))

    @property
    def path(self) -> Path:
        return self._engine.path

    def __repr__(self) -> str:
        return f"FeatureStore({str(self.path)!r})"

    # -- feature groups -------------------------------------------------------------------------

    def get_or_create_feature_group(self, name: str, version: int = 1, primary_key: list[str] | None = None,
                                    event_time: str | None = None, description: str = "",
                                    online_enabled: bool = False, expectation_suite: Any = None,
                                    validation_ingestion_policy: str = "strict",
                                    ttl: dt.timedelta | float | None = None, **hopsworks_options: Any) -> FeatureGroup:
        """Return the feature group ``name`` v``version``, creating it if it does not exist.

        Its columns are defined by the first insert. Asked for without ``primary_key``, an
        existing feature group is returned as it is (as in the Hopsworks client).

        Args:
            name: A valid identifier, e.g. ``"passengers"``.
            version: Bump it when the schema or meaning changes; old versions stay readable.
            primary_key: Column(s) that identify the entity a row describes, as a list.
            event_time: The column saying when the values became true (a datetime).
            description: What the group holds, for people reading the store.
            online_enabled: Also keep the newest row per key in the online store.
            expectation_suite: A Great Expectations suite every insert is validated against.
            validation_ingestion_policy: ``"strict"`` (reject failing frames) or ``"warn"``.
            ttl: Maximum age of a feature value (timedelta or seconds); older values
                join as nulls.
            **hopsworks_options: Hopsworks arguments. Accepted and ignored, since they change
                no result here: ``partition_key``, ``time_travel_format``, ``hudi_precombine_key``,
                ``statistics_config``, ``stream``, ``parents``, ``topic_name``,
                ``notification_topic_name``, ``online_config``, ``offline_backfill_every_hr``.
                Refused with advice: ``features``, ``embedding_index``, ``transformation_functions``,
                ``storage_connector``, ``path``, ``data_source``.

        Raises:
            InvalidNameError: A name or the version is not valid.
            SchemaError: No primary key for a new group, a ``primary_key`` given as a string
                rather than a list, a bad event time or ttl, or the group exists with a
                different primary key or event time.
            NotASuiteError: ``expectation_suite`` is neither a suite nor a dict.
            ParameterError: An unknown ingestion policy or argument; `ParameterTypeError` for an
                argument of the wrong type (``ttl="1 day"``, ``online_enabled="yes"``).
        """
        check_name(name, "feature group")
        version = arguments.version(version, f"feature group '{name}'")
        where = f"feature group '{name}' v{version}"
        _feature_group_options(hopsworks_options, where)
        hopsworks = self._engine.hopsworks
        if primary_key is None or (isinstance(primary_key, (list, tuple)) and not primary_key):
            existing = self._existing_feature_group(name, version)
            if existing is not None:
                return existing
            raise SchemaError(f"{where}: primary_key needs at least one column")
        keys = arguments.names(arguments.hopsworks_names(primary_key, hopsworks), "primary_key", where,
                               "primary key column", SchemaError)
        if len(set(keys)) != len(keys):
            raise SchemaError(f"{where}: primary_key {keys} names a column twice")
        if event_time is not None:
            event_time = arguments.hopsworks_name(event_time, hopsworks)
            check_name(event_time, f"{where}: event time column")
            if event_time in keys:
                keys = _event_time_out_of_key(keys, event_time, where, hopsworks)
        wanted = FeatureGroupMeta(
            name=name,
            version=version,
            primary_key=tuple(keys),
            event_time=event_time,
            description=arguments.text(description, "description", where),
            online_enabled=arguments.flag(online_enabled, "online_enabled", where),
            ttl=_ttl(ttl, where),
            ingestion_policy=normalize_policy(validation_ingestion_policy, where),
            expectation_suite=None if expectation_suite is None else expectation_suite_dict(expectation_suite, where),
        )
        return FeatureGroup(self._engine, self._engine.feature_groups.get_or_create(wanted))

    def _existing_feature_group(self, name: str, version: int) -> FeatureGroup | None:
        try:
            return FeatureGroup(self._engine, self._engine.feature_groups.get(name, version))
        except FeatureGroupNotFoundError:
            return None

    def create_feature_group(self, name: str, version: int | None = None, primary_key: list[str] | None = None,
                             **options: Any) -> FeatureGroup:
        """Create a new feature group version (Hopsworks' ``create_feature_group``), refusing an existing one.

        Args:
            name: A valid identifier.
            version: The version to create (default: one more than the newest, or 1).
            primary_key: As in `get_or_create_feature_group`.
            **options: The other arguments of `get_or_create_feature_group`.

        Raises:
            ParameterError: The version exists already (use `get_or_create_feature_group` or
                `get_feature_group`); and the errors of `get_or_create_feature_group`.
        """
        check_name(name, "feature group")
        groups = self._engine.feature_groups
        version = _version_to_create("feature group", name, version, groups.newest_version(name),
                                     lambda number: self._existing_feature_group(name, number) is not None)
        if primary_key is None:
            raise SchemaError(f"feature group '{name}' v{version}: primary_key needs at least one column")
        return self.get_or_create_feature_group(name, version, primary_key, **options)

    def get_feature_group(self, name: str, version: int | None = None) -> FeatureGroup:
        """Return an existing feature group; the newest version when ``version`` is None.

        Raises:
            InvalidNameError: The name or version is not valid.
            FeatureGroupNotFoundError: There is no such feature group.
        """
        check_name(name, "feature group")
        version = arguments.optional_version(version, f"feature group '{name}'")
        return FeatureGroup(self._engine, self._engine.feature_groups.get(name, version))

    def get_feature_groups(self, name: str | None = None) -> pd.DataFrame | list[FeatureGroup]:
        """Every feature group, one row per version, to browse a store; or the versions of one.

        Args:
            name: Given, return that group's versions as `FeatureGroup` handles, oldest
                first, as the Hopsworks client does (an empty list when there is none).

        Returns:
            Columns ``name``, ``version``, ``primary_key``, ``event_time``,
            ``online_enabled``, ``description``, ``commits`` (inserts so far),
            ``rows`` (in the latest state) and ``last_commit_at``; empty when there is none.
        """
        table = self._engine.feature_groups.list_all()
        if name is None:
            return table
        check_name(name, "feature group")
        return [self.get_feature_group(name, int(version))
                for version in sorted(table.loc[table["name"] == name, "version"])]

    # -- feature views --------------------------------------------------------------------------

    def get_or_create_feature_view(self, name: str, version: int = 1, query: Query | None = None,
                                   labels: list[str] | None = None,
                                   transformation_functions: dict[str, Any] | list[Any] | None = None,
                                   on_demand_features: dict[str, OnDemand] | None = None,
                                   description: str = "", logging_enabled: bool = False,
                                   **hopsworks_options: Any) -> FeatureView:
        """Return the feature view ``name`` v``version``, creating it from this definition if needed.

        Args:
            name: A valid identifier.
            version: Bump it when the definition changes.
            query: ``fg.select([...]).join(...)``; its first feature group gives the observations.
            labels: Columns of the query to predict (a list); excluded from the features.
            transformation_functions: ``{column: "standard_scaler"}`` (a name, a
                `Transformation`, or a list of them applied in order), or the Hopsworks
                form, a list of steps bound to their features: ``[label_encoder("sex")]``
                (from ``fti.hsfs.builtin_transformations``).
            on_demand_features: ``{name: function}``; the function's parameter names
                are columns of the query (in training) or request parameters (online).
                Define it in an importable module so other processes can use it too.
            description: What the view is for.
            logging_enabled: Keep what the view serves with ``fv.log(...)`` (see
                `FeatureView.enable_logging`). False leaves an existing view's logging as it is.
            **hopsworks_options: Hopsworks arguments: ``inference_helper_columns`` and
                ``training_helper_columns`` are refused with advice (the label side's key
                and event time are helper columns here).

        Raises:
            InvalidNameError: A name or the version is not valid.
            ParameterTypeError: A dict argument is not a dict, the description is not text,
                or ``logging_enabled`` is not True or False.
            QueryError: The definition is invalid (``labels`` a string rather than a list,
                unknown columns...), or differs from the stored one.
            TransformationError: A transformation that cannot be made.
        """
        check_name(name, "feature view")
        version = arguments.version(version, f"feature view '{name}'")
        where = f"feature view '{name}' v{version}"
        _feature_view_options(hopsworks_options, where)
        hopsworks = self._engine.hopsworks
        labels = [] if labels is None else arguments.names(arguments.hopsworks_names(labels, hopsworks), "labels",
                                                           where, "label column", QueryError)
        if isinstance(transformation_functions, (list, tuple)):
            transformation_functions = by_feature(transformation_functions, where)
        transformations = {arguments.hopsworks_name(column, hopsworks): spec for column, spec in
                           arguments.mapping(transformation_functions, "transformation_functions", where).items()}
        on_demand = arguments.mapping(on_demand_features, "on_demand_features", where)
        description = arguments.text(description, "description", where)
        logging = arguments.flag(logging_enabled, "logging_enabled", where)
        if query is None:
            view = self.get_feature_view(name, version, on_demand_features=on_demand)
            if logging:
                view.enable_logging()
            return view
        if not isinstance(query, Query):
            raise QueryError(f"{where}: query must be built with fg.select(...), got {type(query).__name__}")
        seen: dict[str, str] = {}
        for column in query.plan.output:
            other = seen.setdefault(column.lower(), column)
            if other != column:  # DuckDB would take them for one column
                raise NameClashError(
                    f"{where}: the query's columns '{other}' and '{column}' differ only in case, which the store "
                    "cannot tell apart; select only one of them, or join with prefix='...'"
                )
        with self._engine.storage.connect() as con:  # one opening of the store for both
            refuse_case_clash(con, "fti_feature_views", "feature view", name)
            meta = self._engine.feature_views.get_or_create(name, version, query.plan, labels, transformations,
                                                            on_demand, description)
            view = FeatureView(self._engine, meta, query)
            if logging:
                view.enable_logging()
        return view

    def create_feature_view(self, name: str, query: Query, version: int | None = None,
                            **definition: Any) -> FeatureView:
        """Create a new feature view version (Hopsworks' ``create_feature_view``), refusing an existing one.

        Args:
            name: A valid identifier.
            query: As in `get_or_create_feature_view`.
            version: The version to create (default: one more than the newest, or 1).
            **definition: The other arguments of `get_or_create_feature_view`.

        Raises:
            ParameterError: The version exists already (use `get_or_create_feature_view` or
                `get_feature_view`); and the errors of `get_or_create_feature_view`.
        """
        check_name(name, "feature view")
        views = self._engine.feature_views
        version = _version_to_create("feature view", name, version, views.newest_version(name),
                                     lambda number: views.exists(name, number))
        if query is None:
            raise QueryError(f"feature view '{name}' v{version}: create_feature_view needs a query")
        return self.get_or_create_feature_view(name, version, query, **definition)

    def get_feature_view(self, name: str, version: int | None = None,
                         on_demand_features: dict[str, OnDemand] | None = None) -> FeatureView:
        """Return an existing feature view; the newest version when ``version`` is None.

        Args:
            on_demand_features: Functions for on-demand features that cannot be
                imported from where they were defined (e.g. a notebook).

        Raises:
            InvalidNameError: The name or version is not valid.
            FeatureViewNotFoundError: There is no such feature view.
        """
        check_name(name, "feature view")
        version = arguments.optional_version(version, f"feature view '{name}'")
        given = arguments.mapping(on_demand_features, "on_demand_features", f"feature view '{name}'")
        meta = self._engine.feature_views.get(name, version, given)
        handles = [FeatureGroup(self._engine, fg) for fg in meta.plan.feature_groups]
        return FeatureView(self._engine, meta, Query(self._engine, meta.plan, handles))

    def get_feature_views(self) -> pd.DataFrame:
        """Every feature view, one row per version, to browse a store (`get_feature_view` opens one).

        Returns:
            Columns ``name``, ``version``, ``labels`` (a list), ``training_datasets``
            (how many `train_test_split` recorded), ``description`` and ``created_at``;
            empty when there is none.
        """
        return self._engine.feature_views.list_all()

    def get_transformation_function(self, name: str, version: int | None = None, **params: Any) -> Transformation:
        """A built-in transformation by name: ``label_encoder``, ``one_hot_encoder``, ``standard_scaler``,
        ``min_max_scaler``, ``ordinal_encoder``, ``impute_mean``, ``impute_median``,
        ``impute_most_frequent``, ``impute_constant``.

        Hopsworks code may bind the result to a feature, ``(...)("age")``, for a list of
        transformation functions.

        Args:
            name: The transformation's name.
            version: Hopsworks keeps versions of transformation functions; the built-ins
                here have one, version 1.
            **params: Its parameters, e.g. ``value=0`` for ``impute_constant``.

        Raises:
            TransformationError: No transformation has that name or version, or it does not
                take these parameters.
        """
        if version is not None and arguments.version(version, f"transformation function {name!r}") != 1:
            raise TransformationError(
                f"transformation function {name!r} has only version 1 here (the built-ins are not versioned); "
                "leave version out"
            )
        return get_transformation_function(name, **params)

    # -- Delta Lake -----------------------------------------------------------------------------

    def import_delta(self, path: str | os.PathLike[str], name: str | None = None, version: int | None = None,
                     primary_key: list[str] | None = None, event_time: str | None = None,
                     online_enabled: bool | None = None, history: str = "all",
                     commit_times: str = "source") -> FeatureGroup:
        """Create a feature group from a Delta Lake table: one written by Spark, or by `FeatureGroup.export_delta`.

        Each Delta version that changed rows becomes one commit (a version the kit
        exported always does), so ``read(as_of=...)`` travels through the table's
        history. A table the kit exported knows its name, keys, event time and
        settings; for another engine's table, name them. See `fti.store.delta`.

        Args:
            path: The table's folder.
            name: The feature group to create (default: the exported one's name).
            version: Its version (default: the exported one's, else 1).
            primary_key: The key column(s), as a list (default: the exported ones).
            event_time: The event time column (default: the exported one, else none).
            online_enabled: Also keep the newest row per key online (default: as exported, else no).
            history: ``"all"`` (a commit per version) or ``"latest"`` (the latest version as
                one commit: for a table whose history deletes rows or changes its schema).
            commit_times: ``"source"`` keeps each version's commit time (it must not be
                older than this store's latest commit); ``"now"`` stamps them with this clock.

        Returns:
            The new feature group. Its commit ids are this store's: the states are those of
            the table's versions, the numbers are new.

        Raises:
            ParameterError: A bad argument (`ParameterTypeError` for a wrong type).
            InvalidNameError: A name or the version is not valid.
            NotADeltaTableError: ``path`` is not a Delta table.
            DeltaSchemaError: The table does not fit a feature group (key columns, types, repeated keys).
            DeltaHistoryError: Its history cannot become commits (deleted rows, a changing schema,
                vacuumed versions, commit times before the store's latest).
            DeltaLakeError: The feature group exists already.
            TimelineError: The store follows another clock (simulated or real) than the commit times.
        """
        table = {"path": path, "name": name, "version": version, "primary_key": primary_key,
                 "event_time": event_time, "online_enabled": online_enabled}
        return self.import_deltas([table], history=history, commit_times=commit_times)[0]

    def import_deltas(self, tables: list[Any], history: str = "all",
                      commit_times: str = "source") -> list[FeatureGroup]:
        """Import several Delta tables at once, their commits merged in time order, all or nothing.

        Feature groups that are joined (a label group and the groups joined to it) are
        written in turns, so their commits interleave; importing them together keeps that
        order, and so what ``Query.read(as_of=...)`` sees at every past point.

        Args:
            tables: One entry per table: its path, or a dict of `import_delta`'s per-table
                arguments (``path``, ``name``, ``version``, ``primary_key``, ``event_time``,
                ``online_enabled``).
            history: As in `import_delta`, for every table.
            commit_times: As in `import_delta`, for every table.

        Returns:
            The new feature groups, in the order of ``tables``.

        Raises:
            The errors of `import_delta`; nothing is written when one is raised.
        """
        from fti.store.delta import COMMIT_TIME_CHOICES, HISTORY_CHOICES, DeltaEngine, choice

        where = "import_delta"
        history = choice(history, "history", HISTORY_CHOICES, where)
        commit_times = choice(commit_times, "commit_times", COMMIT_TIME_CHOICES, where)
        if not isinstance(tables, (list, tuple)) or not tables:
            raise ParameterTypeError(f"{where}: tables must be a non-empty list of paths or dicts, got {tables!r:.80}")
        sources = [self._delta_source(table, where) for table in tables]
        metas = DeltaEngine(self._engine.storage, self._engine.feature_groups).import_tables(
            sources, history=history, commit_times=commit_times)
        return [FeatureGroup(self._engine, meta) for meta in metas]

    @staticmethod
    def _delta_source(table: Any, where: str) -> DeltaSource:
        """One table to import, its arguments checked."""
        from fti.store.delta import DeltaSource, table_path

        if not isinstance(table, dict):
            table = {"path": table}
        unknown = set(table) - {"path", "name", "version", "primary_key", "event_time", "online_enabled"}
        if unknown:
            raise ParameterError(f"{where}: unknown argument(s) {sorted(unknown)} for a table")
        path = table_path(table.get("path"), "path", where)
        where = f"{where}({str(path)!r})"
        name = table.get("name")
        if name is not None:
            check_name(name, "feature group")
        version = arguments.optional_version(table.get("version"), f"feature group '{name}'")
        keys = table.get("primary_key")
        if keys is not None:
            keys = arguments.names(keys, "primary_key", where, "primary key column", SchemaError)
            if not keys:
                raise SchemaError(f"{where}: primary_key needs at least one column")
        event_time = table.get("event_time")
        if event_time is not None:
            check_name(event_time, f"{where}: event time column")
        online = table.get("online_enabled")
        if online is not None:
            online = arguments.flag(online, "online_enabled", where)
        return DeltaSource(path, name, version, None if keys is None else tuple(keys), event_time, online)
