"""The feature store: where feature groups and feature views are created and found.

Named like the Hopsworks client (``get_or_create_feature_group``,
``get_or_create_feature_view``...), so pipeline code written against this store
reads like code written for a production one.
"""

from __future__ import annotations

import datetime as dt
import json
import numbers
from pathlib import Path
from typing import Any

import pandas as pd

from fti import clock
from fti.store import validation
from fti.exceptions import FeatureGroupNotFoundError, FeatureViewNotFoundError, QueryError, SchemaError, TimeTravelError
from fti.store.feature_group import FeatureGroup, normalize_policy
from fti.store.feature_view import FeatureView, OnDemand, import_function
from fti.names import check_name, check_version, quote
from fti.store.online import OnlineStore
from fti.store.query import Query
from fti.store.storage import Store, fetch_frame, fetch_record, fetch_rows
from fti.store.transformations import Transformation, get_transformation_function


_VIEW_SQL = "SELECT * FROM fti_feature_views WHERE name = ? AND version = ?"


def _latest_version(con, table: str, name: str) -> int | None:
    """The highest version of ``name`` in one of the store's own tables, or None."""
    return fetch_rows(con, f"SELECT max(version) FROM {table} WHERE name = ?", [name])[0][0]


class FeatureStore:
    """A feature store in one directory. Get one with `fti.get_feature_store()`.

    Args:
        path: The store directory (default: ``FTI_STORE`` or ``data/store``).
    """

    def __init__(self, path: str | Path | None = None):
        self._store = Store(path)
        self._online = OnlineStore(self._store.online_path)

    @property
    def path(self) -> Path:
        return self._store.path

    def __repr__(self) -> str:
        return f"FeatureStore({str(self.path)!r})"

    # -- feature groups -------------------------------------------------------------------------

    def _feature_group_record(self, con, name: str, version: int) -> dict[str, Any] | None:
        return fetch_record(con, "SELECT * FROM fti_feature_groups WHERE name = ? AND version = ?", [name, version])

    def get_or_create_feature_group(self, name: str, version: int = 1, primary_key: list[str] | None = None,
                                    event_time: str | None = None, description: str = "",
                                    online_enabled: bool = False, expectation_suite: Any = None,
                                    validation_ingestion_policy: str = "strict",
                                    ttl: dt.timedelta | float | None = None) -> FeatureGroup:
        """Return the feature group ``name`` v``version``, creating it if it does not exist.

        Its columns are defined by the first insert.

        Args:
            name: A valid identifier, e.g. ``"passengers"``.
            version: Bump it when the schema or meaning changes; old versions stay readable.
            primary_key: Column(s) that identify the entity a row describes.
            event_time: The column saying when the values became true (a datetime).
            description: What the group holds, for people reading the store.
            online_enabled: Also keep the newest row per key in the online store.
            expectation_suite: A Great Expectations suite every insert is validated against.
            validation_ingestion_policy: ``"strict"`` (reject failing frames) or ``"warn"``.
            ttl: Maximum age of a feature value (timedelta or seconds); older values
                join as nulls.

        Raises:
            SchemaError: It exists with a different primary key or event time.
        """
        check_name(name, "feature group")
        check_version(version, f"feature group '{name}'")
        if not primary_key:
            raise SchemaError(f"feature group '{name}' v{version}: primary_key needs at least one column")
        keys = [check_name(key, f"feature group '{name}': primary key column") for key in primary_key]
        if event_time is not None:
            check_name(event_time, f"feature group '{name}': event time column")
            if event_time in keys:
                raise SchemaError(f"feature group '{name}': event time '{event_time}' cannot also be a primary key column")
        policy = normalize_policy(validation_ingestion_policy)
        ttl_seconds = None
        if ttl is not None:
            ttl_seconds = ttl.total_seconds() if isinstance(ttl, dt.timedelta) else float(ttl)
            if ttl_seconds <= 0:
                raise SchemaError(f"feature group '{name}': ttl must be positive, got {ttl!r}")
        suite = None if expectation_suite is None else json.dumps(validation.suite_to_dict(expectation_suite), sort_keys=True)
        with self._store.transaction() as con:
            record = self._feature_group_record(con, name, version)
            if record is None:
                con.execute(
                    "INSERT INTO fti_feature_groups VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)",
                    [name, version, json.dumps(keys), event_time, description, bool(online_enabled),
                     ttl_seconds, suite, policy, clock.now()],
                )
                record = self._feature_group_record(con, name, version)
            else:
                if json.loads(record["primary_key"]) != keys or record["event_time"] != event_time:
                    raise SchemaError(
                        f"feature group '{name}' v{version} exists with primary key {json.loads(record['primary_key'])} "
                        f"and event time {record['event_time']!r}; create version {version + 1} for a new definition"
                    )
                if suite is not None and (suite != record["expectation_suite"] or policy != record["ingestion_policy"]):
                    # Re-running a notebook with an edited suite updates it, like save_expectation_suite.
                    con.execute(
                        "UPDATE fti_feature_groups SET expectation_suite = ?, ingestion_policy = ? "
                        "WHERE name = ? AND version = ?",
                        [suite, policy, name, version],
                    )
                    record = self._feature_group_record(con, name, version)
        return FeatureGroup(self, record)

    def get_feature_group(self, name: str, version: int | None = None) -> FeatureGroup:
        """Return an existing feature group; the newest version when ``version`` is None.

        Raises:
            FeatureGroupNotFoundError: There is no such feature group.
        """
        check_name(name, "feature group")
        with self._store.connect() as con:
            if version is None:
                version = _latest_version(con, "fti_feature_groups", name)
            record = None if version is None else self._feature_group_record(con, name, int(version))
        if record is None:
            which = "any version" if version is None else f"version {version}"
            raise FeatureGroupNotFoundError(f"there is no feature group '{name}' ({which}) in the store {self.path}")
        return FeatureGroup(self, record)

    def get_feature_groups(self) -> pd.DataFrame:
        """Every feature group: name, version, keys, online flag, description."""
        with self._store.connect() as con:
            return fetch_frame(
                con,
                "SELECT name, version, primary_key, event_time, online_enabled, description FROM fti_feature_groups "
                "ORDER BY name, version",
            )

    # -- feature views --------------------------------------------------------------------------

    def get_or_create_feature_view(self, name: str, version: int = 1, query: Query | None = None,
                                   labels: list[str] | None = None,
                                   transformation_functions: dict[str, Any] | None = None,
                                   on_demand_features: dict[str, OnDemand] | None = None,
                                   description: str = "") -> FeatureView:
        """Return the feature view ``name`` v``version``, creating it from this definition if needed.

        Args:
            name: A valid identifier.
            version: Bump it when the definition changes.
            query: ``fg.select([...]).join(...)``; its first feature group gives the observations.
            labels: Columns of the query to predict; excluded from the features.
            transformation_functions: ``{column: "standard_scaler"}`` (a name, a
                `Transformation`, or a list of them applied in order).
            on_demand_features: ``{name: function}``; the function's parameter names
                are columns of the query (in training) or request parameters (online).
                Define it in an importable module so other processes can use it too.
            description: What the view is for.

        Raises:
            QueryError: The definition is invalid, or differs from the stored one.
        """
        check_name(name, "feature view")
        check_version(version, f"feature view '{name}'")
        where = f"feature view '{name}' v{version}"
        labels = list(labels or [])
        on_demand = dict(on_demand_features or {})
        if query is None:
            return self.get_feature_view(name, version, on_demand_features=on_demand)
        transformations, refs = FeatureView.check_definition(
            query, labels, dict(transformation_functions or {}), on_demand, where
        )
        definition = [json.dumps(query.to_dict(), sort_keys=True), json.dumps(labels),
                      json.dumps(transformations, sort_keys=True), json.dumps(refs, sort_keys=True)]
        with self._store.transaction() as con:
            record = fetch_record(con, _VIEW_SQL, [name, version])
            if record is None:
                con.execute(
                    "INSERT INTO fti_feature_views VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [name, version, *definition, description, clock.now()],
                )
                record = fetch_record(con, _VIEW_SQL, [name, version])
            else:
                stored = [record["query"], record["labels"], record["transformation_functions"],
                          record["on_demand_features"]]
                if stored != definition:
                    raise QueryError(
                        f"{where} exists with a different definition (query, labels, transformations or on-demand "
                        f"features); create version {version + 1}, or get it with fs.get_feature_view({name!r}, {version})"
                    )
        return FeatureView(self, record, query, on_demand)

    def get_feature_view(self, name: str, version: int | None = None,
                         on_demand_features: dict[str, OnDemand] | None = None) -> FeatureView:
        """Return an existing feature view; the newest version when ``version`` is None.

        Args:
            on_demand_features: Functions for on-demand features that cannot be
                imported from where they were defined (e.g. a notebook).

        Raises:
            FeatureViewNotFoundError: There is no such feature view.
        """
        check_name(name, "feature view")
        with self._store.connect() as con:
            if version is None:
                version = _latest_version(con, "fti_feature_views", name)
            record = None if version is None else fetch_record(con, _VIEW_SQL, [name, int(version)])
            if record is None:
                which = "any version" if version is None else f"version {version}"
                raise FeatureViewNotFoundError(f"there is no feature view '{name}' ({which}) in the store {self.path}")
            query = Query.from_dict(json.loads(record["query"]), self)
        given = dict(on_demand_features or {})
        functions = {
            feature: given.get(feature) or import_function(reference)
            for feature, reference in json.loads(record["on_demand_features"]).items()
        }
        return FeatureView(self, record, query, functions)

    def get_transformation_function(self, name: str, **params: Any) -> Transformation:
        """A built-in transformation by name: ``label_encoder``, ``one_hot_encoder``, ``standard_scaler``,
        ``min_max_scaler``, ``ordinal_encoder``, ``impute_mean``, ``impute_median``,
        ``impute_most_frequent``, ``impute_constant``."""
        return get_transformation_function(name, **params)

    # -- time ----------------------------------------------------------------------------------

    def _latest_commit(self, con) -> int:
        return int(fetch_rows(con, "SELECT coalesce(max(commit_id), 0) FROM fti_commits")[0][0])

    def _resolve_as_of(self, con, as_of: Any, fg: FeatureGroup) -> int | None:
        """Turn ``as_of`` (None, commit id or time) into a store-wide commit id.

        Raises:
            TimeTravelError: It is before ``fg``'s first commit, or a commit that does not exist.
        """
        if as_of is None:
            return None
        first = fetch_rows(
            con, "SELECT min(commit_id), min(committed_at) FROM fti_commits WHERE fg_name = ? AND fg_version = ?",
            [fg.name, fg.version],
        )[0]
        if first[0] is None:
            raise TimeTravelError(f"as_of={as_of!r}: {fg.label} has no commits yet")
        if isinstance(as_of, numbers.Integral) and not isinstance(as_of, bool):
            commit = int(as_of)
            latest = self._latest_commit(con)
            if commit < first[0]:
                raise TimeTravelError(f"as_of commit {commit} is before the first commit of {fg.label} ({first[0]})")
            if commit > latest:
                raise TimeTravelError(f"as_of commit {commit} does not exist yet; the latest commit is {latest}")
            return commit
        moment = clock.to_utc(as_of, "as_of")
        commit = fetch_rows(con, "SELECT max(commit_id) FROM fti_commits WHERE committed_at <= ?", [moment])[0][0]
        if commit is None or commit < first[0]:
            raise TimeTravelError(
                f"as_of {moment.isoformat()} is before the first commit of {fg.label} "
                f"(committed at {pd.Timestamp(first[1]).isoformat()})"
            )
        return int(commit)

    @staticmethod
    def _time_window(start_time: Any, end_time: Any) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        start = None if start_time is None else clock.to_utc(start_time, "start_time")
        end = None if end_time is None else clock.to_utc(end_time, "end_time")
        if start is not None and end is not None and start > end:
            raise QueryError(f"start_time {start.isoformat()} is after end_time {end.isoformat()}")
        return start, end

    # -- online store ---------------------------------------------------------------------------

    def _sync_online(self, fg: FeatureGroup) -> None:
        """Bring ``fg``'s online table up to its latest offline commit (only the keys that changed)."""
        applied = self._online.applied_commit(fg.table)
        with self._store.connect() as con:
            last = fetch_rows(
                con, "SELECT max(commit_id) FROM fti_commits WHERE fg_name = ? AND fg_version = ?",
                [fg.name, fg.version],
            )[0][0]
            if last is None or applied == last:
                return
            rebuild = applied is None or applied > last
            keys = ", ".join(quote(key) for key in fg.primary_key)
            order = f"ORDER BY {quote(fg.event_time)} DESC" if fg.event_time else ""
            latest = f"SELECT * FROM ({fg.state_sql(None)}) QUALIFY row_number() OVER (PARTITION BY {keys} {order}) = 1"
            if not rebuild:
                touched = f"SELECT DISTINCT {keys} FROM {quote(fg.table)} WHERE _fti_commit > {int(applied)}"
                latest = f"SELECT l.* FROM ({latest}) l SEMI JOIN ({touched}) t USING ({keys})"
            names = ", ".join(quote(name) for name in fg.features)
            rows = fetch_frame(con, f"SELECT {names} FROM ({latest})")
        self._online.write(fg.table, fg.columns, fg.primary_key, rows, int(last), replace_all=rebuild)
