"""What is in a store, on one screen: ``fti store`` (and ``fti ls``) print it.

Feature groups with their commits and rows, feature views with their training
datasets, models with their versions, metrics and aliases, and the most recent
runs of the run log. It only reads: the same tables a notebook reaches with
``fs.get_feature_groups()``, ``fs.get_feature_views()``, ``mr.get_models()`` and
``fti.get_runs()``. It lives in the run layer because the run log does.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from fti.exceptions import StoreConfigError
from fti.run.runlog import get_runs
from fti.store.feature_store import FeatureStore
from fti.store.registry import ModelRegistry
from fti.store.storage import OFFLINE_FILE, TIMELINE_REAL, TIMELINE_SIMULATED, Store, default_store_path

_TIMELINES = {
    TIMELINE_SIMULATED: "simulated (commits follow a fixed clock, FTI_NOW: fti run --start/--days, make notebooks)",
    TIMELINE_REAL: "real (commits follow the real clock: JupyterLab, scripts, fti run --now)",
    None: "none yet (nothing committed)",
}


def store_overview(path: str | os.PathLike[str] | None = None, runs: int = 10) -> str:
    """Everything a store holds, as plain text.

    Args:
        path: The store folder (default: ``FTI_STORE`` or ``data/store/``).
        runs: How many of the most recent runs to list (0: none).

    Raises:
        StoreConfigError: There is no store in that folder (nothing was ever written there).
    """
    folder = Path(path).expanduser().resolve() if path is not None else default_store_path()
    if not (folder / OFFLINE_FILE).is_file():
        raise StoreConfigError(f"there is no store at {folder} (no {OFFLINE_FILE}): nothing was written there yet; "
                               f"`make run` fills data/store, and JupyterLab (`make lab`) data/lab-store")
    store = Store(folder)
    fs = FeatureStore(folder)
    timeline = store.recorded_timeline()
    sections = [f"Store {folder}\ntimeline: {_TIMELINES.get(timeline, timeline)}",
                _feature_groups(fs), _feature_views(fs), _models(ModelRegistry(fs))]
    if runs:
        sections.append(_runs(store, runs))
    return "\n\n".join(sections)


def _when(value: Any) -> str:
    return "" if value is None or pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")


def text_table(frame: pd.DataFrame, indent: str = "") -> str:
    """A DataFrame as plain text: text columns left-aligned, numbers right-aligned, no index."""
    columns = []
    for name in frame.columns:
        values = frame[name]
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        cells = ["" if value is None or (not isinstance(value, (list, dict)) and pd.isna(value)) else str(value)
                 for value in values]
        width = max([len(str(name))] + [len(cell) for cell in cells])
        align = str.rjust if numeric else str.ljust
        columns.append([align(str(name), width)] + [align(cell, width) for cell in cells])
    return "\n".join(indent + "  ".join(row).rstrip() for row in zip(*columns, strict=True))


def _table(frame: pd.DataFrame) -> str:
    return text_table(frame, indent="  ")


def _feature_groups(fs: FeatureStore) -> str:
    groups = fs.get_feature_groups()
    if groups.empty:
        return "Feature groups: none"
    shown = pd.DataFrame({
        "name": groups["name"], "version": groups["version"], "commits": groups["commits"], "rows": groups["rows"],
        "last commit": [_when(value) for value in groups["last_commit_at"]],
        "primary key": [", ".join(json.loads(keys)) if isinstance(keys, str) else ", ".join(keys)
                        for keys in groups["primary_key"]],
        "event time": groups["event_time"].fillna(""),
        "online": ["yes" if online else "no" for online in groups["online_enabled"]],
    })
    return f"Feature groups ({len(groups)})\n{_table(shown)}"


# A view retrained every day has dozens: the latest few say what is going on.
_LATEST_DATASETS = 5


def _feature_views(fs: FeatureStore) -> str:
    views = fs.get_feature_views()
    if views.empty:
        return "Feature views: none"
    lines = [f"Feature views ({len(views)})"]
    for row in views.itertuples(index=False):
        labels = ", ".join(row.labels) or "no labels"
        lines.append(f"  {row.name} v{row.version}: labels {labels}; {row.training_datasets} training dataset(s)"
                     + (f"; {row.description}" if row.description else ""))
        if row.training_datasets:
            datasets = fs.get_feature_view(row.name, int(row.version)).get_training_datasets()
            if len(datasets) > _LATEST_DATASETS:
                lines.append(f"    ({len(datasets) - _LATEST_DATASETS} earlier training datasets; all of them: "
                             f"fs.get_feature_view({row.name!r}, {row.version}).get_training_datasets())")
            for dataset in datasets.tail(_LATEST_DATASETS).itertuples(index=False):
                lines.append(f"    training dataset v{dataset.td_version}: created {_when(dataset.created_at)}, "
                             f"reads commit {dataset.as_of_commit}")
    return "\n".join(lines)


def _metrics(metrics: Mapping[str, Any]) -> str:
    def number(value: Any) -> str:
        if isinstance(value, float) and not math.isnan(value):
            return f"{value:.4g}"
        return str(value)

    return " ".join(f"{name}={number(value)}" for name, value in sorted(metrics.items()))


def _models(mr: ModelRegistry) -> str:
    models = mr.get_models()
    if models.empty:
        return "Models: none"
    shown = pd.DataFrame({
        "name": models["name"], "version": models["version"],
        "created": [_when(value) for value in models["created_at"]],
        "aliases": [", ".join(aliases) for aliases in models["aliases"]],
        "metrics": [_metrics(metrics) for metrics in models["metrics"]],
        "trained from": [
            "" if view is None or pd.isna(view) else f"{view}, training dataset v{dataset}"
            for view, dataset in zip(models["feature_view"], models["training_dataset_version"], strict=True)],
    })
    names = models["name"].nunique()
    return f"Models ({names} model(s), {len(models)} version(s))\n{_table(shown)}"


def _runs(store: Store, last: int) -> str:
    log = get_runs(store=store)
    if log.empty:
        return "Runs: none recorded"
    recent = log.tail(last)
    shown = pd.DataFrame({
        "run": recent["run_id"], "system": recent["system"],
        "date": pd.to_datetime(recent["run_date"]).dt.strftime("%Y-%m-%d"),
        "notebook": recent["notebook"], "status": recent["status"],
        "seconds": recent["duration_s"].round(1), "reason": recent["reason"].fillna("scheduled").str.slice(0, 70),
    })
    return f"Recent runs (the last {len(recent)} of {len(log)}; all of them: fti runs)\n{_table(shown)}"
