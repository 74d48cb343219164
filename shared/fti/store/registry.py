"""The model registry: versioned models with their metrics, lineage and artifacts.

The training pipeline registers every model it trains as a new version of a
named model, with its metrics and a pointer to the feature view and training
dataset (and so the exact commit) it was trained on. Inference pipelines do not
ask for "the latest" model but for an alias such as ``production``; moving the
alias to another version is a push-button upgrade, and moving it back a rollback.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from fti import clock
from fti.store import artifacts
from fti.exceptions import ModelNotFoundError
from fti.names import check_name, check_version
from fti.store.storage import fetch_frame, fetch_record, fetch_rows

if TYPE_CHECKING:
    from fti.store.feature_store import FeatureStore
    from fti.store.feature_view import FeatureView


def _json_ready(value: Any) -> Any:
    """Metrics and examples as plain JSON values (numpy scalars, timestamps; missing values as None)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item") and not isinstance(value, (list, dict)):
        value = value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        return None
    return value


class Model:
    """One model version: metrics, lineage and the artifact. Created by `ModelRegistry.create_model`."""

    def __init__(self, registry: ModelRegistry, record: dict[str, Any]):
        self._registry = registry
        self.name: str = record["name"]
        self.version: int | None = record.get("version")
        self.description: str = record.get("description", "")
        self.metrics: dict[str, Any] = record.get("metrics", {})
        self.feature_view_name: str | None = record.get("fv_name")
        self.feature_view_version: int | None = record.get("fv_version")
        self.training_dataset_version: int | None = record.get("td_version")
        self.trained_on_commit: int | None = record.get("trained_on_commit")
        self.input_schema: list[dict[str, str]] | None = record.get("input_schema")
        self.input_example: list[dict[str, Any]] | None = record.get("input_example")
        self.framework: str | None = record.get("framework")
        self.created_at: pd.Timestamp | None = record.get("created_at")
        self.sha256: str | None = record.get("sha256")
        self._artifact: str | None = record.get("artifact")

    def __repr__(self) -> str:
        version = "unsaved" if self.version is None else f"version={self.version}"
        return f"Model(name={self.name!r}, {version}, metrics={self.metrics})"

    @property
    def label(self) -> str:
        return f"model '{self.name}'" + ("" if self.version is None else f" v{self.version}")

    @property
    def artifact_path(self) -> Path | None:
        return None if self._artifact is None else self._registry._fs.path / self._artifact

    @property
    def feature_view(self) -> FeatureView | None:
        """The feature view this model was trained from, set to its training dataset's transformations."""
        if self.feature_view_name is None:
            return None
        fv = self._registry._fs.get_feature_view(self.feature_view_name, self.feature_view_version)
        if self.training_dataset_version is not None:
            fv.init_batch_scoring(self.training_dataset_version)
        return fv

    def get_feature_view(self, init: bool = True) -> FeatureView | None:
        """Hopsworks-style accessor for `feature_view`."""
        del init
        return self.feature_view

    def save(self, model: Any) -> Model:
        """Store the trained object (or a file or folder) as the next version of this model.

        XGBoost models are saved in XGBoost's native format; other objects with
        joblib (pickle: see `fti.store.artifacts`).

        Returns:
            This model, now with ``version``, ``sha256`` and ``created_at`` set.
        """
        return self._registry._save(self, model)

    def load(self) -> Any:
        """Return the trained object (or the path of a saved file or folder).

        Raises:
            ArtifactIntegrityError: The artifact changed since it was saved.
        """
        if self.version is None:
            raise ModelNotFoundError(f"{self.label} is not saved yet: call model.save(trained_model) first")
        folder = self.artifact_path
        artifacts.verify(folder, self.sha256, self.label)
        return artifacts.read(folder, self.framework)

    def download(self) -> str:
        """The artifact folder, checked (Hopsworks returns a local copy; here it is already local)."""
        artifacts.verify(self.artifact_path, self.sha256, self.label)
        return str(self.artifact_path)


class _Flavour:
    """``mr.python``, ``mr.sklearn``...: Hopsworks groups ``create_model`` by framework; here they are one."""

    def __init__(self, registry: ModelRegistry):
        self.create_model = registry.create_model


class ModelRegistry:
    """The model registry of a store. Get one with `fti.get_model_registry()`."""

    def __init__(self, fs: FeatureStore):
        self._fs = fs
        self.python = self.sklearn = self.xgboost = self.torch = _Flavour(self)

    def __repr__(self) -> str:
        return f"ModelRegistry({str(self._fs.path)!r})"

    def create_model(self, name: str, metrics: dict[str, Any] | None = None,
                     feature_view: FeatureView | None = None, input_example: Any = None,
                     description: str = "", training_dataset_version: int | None = None) -> Model:
        """Describe a new model version; `Model.save` stores it.

        Args:
            name: The model's name; versions are numbered within it.
            metrics: e.g. ``{"accuracy": 0.81}``: used by `get_best_model`.
            feature_view: The view it was trained from (lineage: view, training
                dataset version and the commit it read).
            input_example: A few input rows (DataFrame); their columns and dtypes
                are kept as the input schema.
            description: Free text.
            training_dataset_version: Defaults to the feature view's last training dataset.
        """
        check_name(name, "model")
        record: dict[str, Any] = {
            "name": name,
            "description": description,
            "metrics": {check_name(str(k), f"model '{name}': metric"): _json_ready(v) for k, v in (metrics or {}).items()},
        }
        if feature_view is not None:
            record["fv_name"] = feature_view.name
            record["fv_version"] = feature_view.version
            td = training_dataset_version or feature_view.training_dataset_version
            if td is not None:
                td_record = feature_view._training_dataset_record(td)
                record["td_version"] = int(td)
                record["trained_on_commit"] = int(td_record["as_of_commit"])
        if input_example is not None:
            example = pd.DataFrame(input_example)
            record["input_schema"] = [{"name": str(c), "dtype": str(t)} for c, t in example.dtypes.items()]
            record["input_example"] = [
                {str(k): _json_ready(v) for k, v in row.items()} for row in example.to_dict(orient="records")
            ]
        return Model(self, record)

    def _save(self, model: Model, obj: Any) -> Model:
        root = self._fs._store.models_path / model.name
        staging = root / f".staging-{uuid.uuid4().hex}"
        final = None
        try:
            # Inside the try: an object that cannot be written must not leave a half-written folder.
            framework = artifacts.write(obj, staging)
            digest = artifacts.checksum(staging)
            created_at = clock.now()
            with self._fs._store.transaction() as con:
                version = int(fetch_rows(
                    con, "SELECT coalesce(max(version), 0) + 1 FROM fti_models WHERE name = ?", [model.name]
                )[0][0])
                final = root / str(version)
                if final.exists():  # left by a process that died before its commit: no row points to it
                    shutil.rmtree(final)
                staging.rename(final)
                relative = final.relative_to(self._fs.path).as_posix()
                con.execute(
                    "INSERT INTO fti_models VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        model.name, version, created_at, model.description,
                        json.dumps(model.metrics, sort_keys=True), model.feature_view_name,
                        model.feature_view_version, model.training_dataset_version, model.trained_on_commit,
                        None if model.input_schema is None else json.dumps(model.input_schema),
                        None if model.input_example is None else json.dumps(model.input_example),
                        framework, relative, digest,
                    ],
                )
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            if final is not None:
                shutil.rmtree(final, ignore_errors=True)
            raise
        model.version, model.framework, model.sha256 = version, framework, digest
        model.created_at, model._artifact = created_at, relative
        return model

    def _from_row(self, record: dict[str, Any]) -> Model:
        for key in ("metrics", "input_schema", "input_example"):
            if record.get(key) is not None:
                record[key] = json.loads(record[key])
        for key in ("fv_version", "td_version", "trained_on_commit"):
            if record.get(key) is not None and pd.isna(record[key]):
                record[key] = None
        return Model(self, record)

    def _query_one(self, sql: str, params: list[Any]) -> dict[str, Any] | None:
        with self._fs._store.connect() as con:
            return fetch_record(con, sql, params)

    def get_model(self, name: str, version: int | None = None, alias: str | None = None) -> Model:
        """Return a saved model version: ``version``, the one ``alias`` points to, or the latest.

        Raises:
            ModelNotFoundError: No such model, version or alias.
        """
        check_name(name, "model")
        if version is not None and alias is not None:
            raise ValueError("give a model version or an alias, not both")
        if alias is not None:
            check_name(alias, "model alias")
            row = self._query_one("SELECT version FROM fti_model_aliases WHERE name = ? AND alias = ?", [name, alias])
            if row is None:
                raise ModelNotFoundError(f"model '{name}' has no alias '{alias}' (set one with mr.set_alias)")
            version = int(row["version"])
        if version is None:
            record = self._query_one(
                "SELECT * FROM fti_models WHERE name = ? ORDER BY version DESC LIMIT 1", [name]
            )
            if record is None:
                raise ModelNotFoundError(f"there is no model '{name}' in the registry at {self._fs.path}")
        else:
            check_version(version, f"model '{name}'")
            record = self._query_one("SELECT * FROM fti_models WHERE name = ? AND version = ?", [name, int(version)])
            if record is None:
                raise ModelNotFoundError(f"model '{name}' has no version {version}")
        return self._from_row(record)

    def get_models(self, name: str) -> list[Model]:
        """Every version of a model, oldest first."""
        check_name(name, "model")
        with self._fs._store.connect() as con:
            frame = fetch_frame(con, "SELECT * FROM fti_models WHERE name = ? ORDER BY version", [name])
        return [self._from_row(dict(row)) for row in frame.to_dict(orient="records")]

    def get_best_model(self, name: str, metric: str, direction: str = "max") -> Model:
        """The version with the highest (``"max"``) or lowest (``"min"``) value of ``metric``; ties: the older.

        Raises:
            ModelNotFoundError: No version of the model records that metric.
        """
        if direction not in ("max", "min"):
            raise ValueError(f"direction must be 'max' or 'min', got {direction!r}")
        candidates = [m for m in self.get_models(name) if isinstance(m.metrics.get(metric), (int, float))]
        if not candidates:
            raise ModelNotFoundError(f"no version of model '{name}' records the metric '{metric}'")
        sign = 1 if direction == "max" else -1
        return max(candidates, key=lambda m: (sign * m.metrics[metric], -m.version))

    def set_alias(self, name: str, alias: str, version: int) -> None:
        """Point ``alias`` (e.g. ``"production"``) at a version: to promote, or to roll back."""
        check_name(alias, "model alias")
        model = self.get_model(name, version)
        with self._fs._store.transaction() as con:
            con.execute(
                "INSERT OR REPLACE INTO fti_model_aliases VALUES (?, ?, ?, ?)",
                [name, alias, model.version, clock.now()],
            )

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove an alias."""
        check_name(alias, "model alias")
        with self._fs._store.transaction() as con:
            con.execute("DELETE FROM fti_model_aliases WHERE name = ? AND alias = ?", [name, alias])

    def get_aliases(self, name: str) -> dict[str, int]:
        """``{alias: version}`` for a model."""
        with self._fs._store.connect() as con:
            rows = fetch_rows(con, "SELECT alias, version FROM fti_model_aliases WHERE name = ? ORDER BY alias", [name])
        return {alias: int(version) for alias, version in rows}
