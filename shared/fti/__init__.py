"""fti: feature, training and inference pipelines on a laptop.

One small package for the whole course. It holds an embedded feature store
(DuckDB for the offline history, SQLite for online lookups) and a model
registry, both in one folder, with calls named like the Hopsworks client::

    import fti
    fs = fti.get_feature_store()
    mr = fti.get_model_registry()
"""

from __future__ import annotations

import importlib
from pathlib import Path

from fti.clock import now
from fti.exceptions import (
    ArtifactIntegrityError,
    ExpectationsFailedError,
    FeatureGroupNotFoundError,
    FeatureViewNotFoundError,
    FTIError,
    InvalidNameError,
    ModelNotFoundError,
    NotFoundError,
    PipelineFailedError,
    QueryError,
    ScheduleError,
    SchemaError,
    ServingError,
    StoreBusyError,
    TimeTravelError,
    TrainingDatasetNotFoundError,
)
from fti.feature_store import FeatureStore
from fti.registry import ModelRegistry
from fti.runlog import get_runs

__all__ = [
    "ArtifactIntegrityError", "ExpectationsFailedError", "FeatureGroupNotFoundError", "FeatureStore",
    "FeatureViewNotFoundError", "FTIError", "InvalidNameError", "ModelNotFoundError", "ModelRegistry",
    "NotFoundError", "PipelineFailedError", "Project", "QueryError", "ScheduleError", "SchemaError", "ServingError",
    "StoreBusyError", "TimeTravelError", "TrainingDatasetNotFoundError", "get_feature_store", "get_model_registry",
    "get_runs", "login", "now",
]


# Submodules a notebook reaches as ``fti.plots`` etc. They are imported on first use, so
# ``import fti`` stays quick for pipelines that need only the store.
_SUBMODULES = {"clock", "dashboard", "evaluation", "exercises", "grading", "monitoring", "paths", "plots", "titanic",
               "transformations", "validation"}


def __getattr__(name: str) -> object:
    if name in _SUBMODULES:
        return importlib.import_module(f"fti.{name}")
    raise AttributeError(f"module 'fti' has no attribute {name!r}")


def get_feature_store(path: str | Path | None = None) -> FeatureStore:
    """The feature store in ``path``, or in ``FTI_STORE``, or in ``data/store/``."""
    return FeatureStore(path)


def get_model_registry(path: str | Path | None = None) -> ModelRegistry:
    """The model registry of the same store as `get_feature_store`."""
    return ModelRegistry(FeatureStore(path))


class Project:
    """What `login` returns, so Hopsworks-style code (``project.get_feature_store()``) runs unchanged."""

    def __init__(self, path: str | Path | None = None):
        self._fs = FeatureStore(path)

    def get_feature_store(self) -> FeatureStore:
        return self._fs

    def get_model_registry(self) -> ModelRegistry:
        return ModelRegistry(self._fs)

    def __repr__(self) -> str:
        return f"Project(store={str(self._fs.path)!r})"


def login(path: str | Path | None = None, **ignored: object) -> Project:
    """Stand-in for ``hopsworks.login()``: no account and no network, just the local store.

    Args:
        path: The store directory (default: ``FTI_STORE`` or ``data/store/``).
        **ignored: Hopsworks arguments such as ``project`` or ``api_key_value``; not needed here.
    """
    del ignored
    return Project(path)
