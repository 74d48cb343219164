"""fti: feature, training and inference pipelines on a laptop.

One helper package for the whole course, with calls named like the Hopsworks client::

    import fti
    fs = fti.get_feature_store()
    mr = fti.get_model_registry()

The map, from the bottom layer up (each imports only the ones below it):

* ``exceptions``, ``clock``, ``names``, ``paths``: every error, the clock, valid names, folders;
* ``store/``: the feature store and model registry (DuckDB, SQLite, model files in one folder);
* ``stream/``: stream feature pipelines in-process: windows per key, late events, replay on the clock;
* ``run/``: executing notebooks as scheduled pipelines, batches and the committed-notebook build;
* ``serve/``: a system's online inference over HTTP, with a page to try it (``fti serve``);
* ``project/``, ``hsfs/``, ``hsml/``: what Hopsworks labs call, so they run with ``import fti as hopsworks``;
* ``teach/``: what pipelines and exercises call: metrics, monitoring, plots, dashboards, grading;
* ``cli``: the ``fti`` command.

The example systems are not here: each is a package of its own (``from systems import titanic``).
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
from fti.project import Project, get_current_project, get_secrets_api, login
from fti.run.on_demand import request_run
from fti.run.runlog import get_runs
from fti.store.feature_store import FeatureStore
from fti.store.registry import ModelRegistry

__all__ = [
    "ArtifactIntegrityError", "ExpectationsFailedError", "FeatureGroupNotFoundError", "FeatureStore",
    "FeatureViewNotFoundError", "FTIError", "InvalidNameError", "ModelNotFoundError", "ModelRegistry",
    "NotFoundError", "PipelineFailedError", "Project", "QueryError", "ScheduleError", "SchemaError", "ServingError",
    "StoreBusyError", "TimeTravelError", "TrainingDatasetNotFoundError", "get_feature_store", "get_model_registry",
    "get_current_project", "get_runs", "get_secrets_api", "login", "now", "request_run",
]


# Sub-packages a notebook reaches as ``fti.teach.plots`` or ``fti.store.validation``. They are
# imported on first use, so ``import fti`` stays quick for pipelines that need only the store.
_SUBMODULES = {"clock", "hsfs", "hsml", "paths", "project", "run", "serve", "store", "stream", "teach"}


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
