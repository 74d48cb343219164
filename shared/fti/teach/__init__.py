"""The teaching layer: helpers that the example pipelines and the exercises call.

``evaluation`` (metrics, the promotion gate), ``forecasting`` (baselines, MASE,
rolling-origin backtests, intervals, the forecasting promotion gate), ``monitoring`` (hindcast, drift,
verdict), ``plots`` and ``dashboard`` (figures and static pages), ``synthetic``
(date-seeded generators, per-day id blocks and drift switches for the example
systems' synthetic data), ``exercises`` and ``grading`` (student copies, checks,
grading a class), ``demo`` (a tour of the store), ``scaffold`` (``fti new``: a
student's own system from ``shared/templates/``) and ``shape`` (``fti check``: is
a system's shape sound?). Notebooks reach them as
``fti.teach.plots`` and so on; each is imported on first use, so ``import fti``
stays quick.

It may use the store core and the run layer; it never imports an example system.
"""

from __future__ import annotations

import importlib
from types import ModuleType

_MODULES = {"dashboard", "demo", "evaluation", "exercises", "forecasting", "grading", "monitoring", "plots",
            "scaffold", "shape", "synthetic"}


def __getattr__(name: str) -> ModuleType:
    if name in _MODULES:
        return importlib.import_module(f"fti.teach.{name}")
    raise AttributeError(f"module 'fti.teach' has no attribute {name!r}")
