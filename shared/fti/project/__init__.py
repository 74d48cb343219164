"""The project: what ``hopsworks.login()`` returns, as a local stand-in, for code written against the Hopsworks client.

A lab written for Hopsworks starts with ``import hopsworks`` and ``project =
hopsworks.login()``. Written ``import fti as hopsworks``, the same lab runs here:
`login` opens the local store (no account, no network) and returns a `Project`,
whose feature store, model registry, model serving, secrets and file area are
all in that one store folder.

A store opened through `login` follows the Hopsworks client where the kit's own
defaults differ (``StoreEngine(hopsworks=True)``): feature names are lower-cased
on the way in, integer event times are epoch milliseconds, one label comes back
as a DataFrame. The kit's own notebooks open their store with
``fti.get_feature_store()`` and keep the kit's defaults. The README's table
"Differences from Hopsworks" lists what still differs.

* ``secrets``: `SecretsApi`, secrets from environment variables or a file in the store;
* ``datasets``: `DatasetApi`, upload and download to the store's file area.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fti.exceptions import ParameterError
from fti.store import arguments
from fti.store.feature_store import FeatureStore
from fti.store.registry import ModelRegistry

if TYPE_CHECKING:
    from fti.project.datasets import DatasetApi
    from fti.project.secrets import SecretsApi
    from fti.store.deployment import ModelServing

__all__ = ["Project", "get_current_project", "get_secrets_api", "login"]

_current: Project | None = None


class Project:
    """A project: one store folder with its feature store, model registry, serving, secrets and files.

    Get one with ``fti.login()`` (``hopsworks.login()`` in a lab that imports ``fti as hopsworks``).

    Args:
        path: The store directory (default: ``FTI_STORE`` or ``data/store/``).
        name: The project's name (default: the store folder's name).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, name: str | None = None):
        self._fs = FeatureStore(path, hopsworks=True)
        self._name = self._fs.path.name if name is None else arguments.text(name, "project", "login")

    @property
    def name(self) -> str:
        """The project's name: the one given to ``login(project=...)``, else the store folder's name."""
        return self._name

    @property
    def id(self) -> int:  # noqa: A003 - Hopsworks' name
        """A whole number that stays the same for this store folder (Hopsworks numbers its projects)."""
        return zlib.crc32(str(self._fs.path).encode()) & 0x7FFFFFFF

    @property
    def path(self) -> Path:
        """The store folder everything of this project lives in."""
        return self._fs.path

    def get_url(self) -> str:
        """Where the project lives: the store folder as a ``file://`` URL (Hopsworks gives its web page)."""
        return self._fs.path.as_uri()

    def get_feature_store(self, name: str | None = None) -> FeatureStore:
        """The project's feature store.

        Args:
            name: Hopsworks can open another project's shared feature store by name; here
                there is only this one, named ``<project>_featurestore``.

        Raises:
            ParameterError: ``name`` names another feature store.
        """
        own = f"{self._name.lower()}_featurestore"
        if name is not None and name != own:
            raise ParameterError(
                f"project '{self._name}': get_feature_store({name!r}) asks for another project's shared feature "
                f"store, which this local stand-in does not have; call get_feature_store() for its own ({own!r})"
            )
        return self._fs

    def get_model_registry(self) -> ModelRegistry:
        """The project's model registry (in the same store folder)."""
        return ModelRegistry(self._fs, project=self)

    def get_model_serving(self) -> ModelServing:
        """The project's model serving: deployments of registry models, run in-process."""
        from fti.store.deployment import ModelServing

        return ModelServing(self.get_model_registry(), project=self)

    def get_secrets_api(self) -> SecretsApi:
        """Secrets from environment variables or the store's secrets file (see `fti.project.secrets`)."""
        from fti.project.secrets import SecretsApi

        return SecretsApi(self._fs.path)

    def get_dataset_api(self) -> DatasetApi:
        """Upload and download files to the store's file area (see `fti.project.datasets`)."""
        from fti.project.datasets import DatasetApi

        return DatasetApi(self._fs.path, project=self._name)

    def __repr__(self) -> str:
        return f"Project(name={self._name!r}, store={str(self._fs.path)!r})"


def login(path: str | os.PathLike[str] | None = None, project: str | None = None, **ignored: Any) -> Project:
    """Stand-in for ``hopsworks.login()``: no account and no network, just the local store.

    Args:
        path: The store directory (default: ``FTI_STORE`` or ``data/store/``).
        project: The project's name (default: the store folder's name).
        **ignored: Connection arguments such as ``host``, ``api_key_value`` or
            ``api_key_file``: there is nothing to connect to.

    Returns:
        The `Project`, which later calls of `get_current_project` and `get_secrets_api` use.
    """
    global _current
    del ignored
    _current = Project(path, project)
    return _current


def get_current_project() -> Project:
    """The project of the last `login` in this process (logging in to the default store if there was none)."""
    return _current if _current is not None else login()


def get_secrets_api() -> SecretsApi:
    """``hopsworks.get_secrets_api()``: the secrets of the current project's store."""
    return get_current_project().get_secrets_api()
