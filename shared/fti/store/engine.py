"""The engine of one store folder: the engines that do the work, wired together.

The public objects (`FeatureStore`, `FeatureGroup`, `Query`, `FeatureView`,
`ModelRegistry`, `Model`) check and shape what a notebook passes, then delegate
here; each engine takes names, versions and plain data and knows nothing of them:

* ``feature_group_engine``: feature group records, commits, reads, ``as_of``, the online copy;
* ``query_engine``: query plans and their point-in-time SQL;
* ``feature_view_engine``: feature view records, training datasets, serving plans and vectors;
* ``model_engine``: model versions, aliases and artifacts.
"""

from __future__ import annotations

import os
from pathlib import Path

from fti.store.feature_group_engine import FeatureGroupEngine
from fti.store.feature_view_engine import FeatureViewEngine
from fti.store.model_engine import ModelEngine
from fti.store.online import OnlineStore
from fti.store.query_engine import QueryEngine
from fti.store.storage import Store


class StoreEngine:
    """One store folder's storage and engines, sharing one offline database and one online copy.

    Args:
        path: The store directory (default: ``FTI_STORE`` or ``data/store``); created if missing.

    Attributes:
        storage: The folder and its DuckDB database.
        online: The SQLite online copy.
        feature_groups: See `FeatureGroupEngine`.
        queries: See `QueryEngine`.
        feature_views: See `FeatureViewEngine`.
        models: See `ModelEngine`.
        hopsworks: True for a store opened through ``fti.login()`` (``import fti as hopsworks``):
            the public objects then follow the Hopsworks client where the kit's own
            defaults differ (lower-case feature names, labels as a DataFrame...). See
            ``fti.project``.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, hopsworks: bool = False):
        self.hopsworks = hopsworks
        self.storage = Store(path)
        self.online = OnlineStore(self.storage.online_path)
        self.feature_groups = FeatureGroupEngine(self.storage, self.online)
        self.queries = QueryEngine(self.storage, self.feature_groups)
        self.feature_views = FeatureViewEngine(self.storage, self.feature_groups, self.queries)
        self.models = ModelEngine(self.storage)

    @property
    def path(self) -> Path:
        """The store directory."""
        return self.storage.path

    def __repr__(self) -> str:
        return f"StoreEngine({str(self.path)!r})"
