"""The model registry: versioned models with their metrics, lineage and artifacts.

The training pipeline registers every model it trains as a new version of a
named model, with its metrics and a pointer to the feature view and training
dataset (and so the exact commit) it was trained on. Inference pipelines do not
ask for "the latest" model but for an alias such as ``production``; moving the
alias to another version is a push-button upgrade, and moving it back a rollback.

`ModelRegistry` and `Model` are thin: they check arguments and delegate to
`fti.store.model_engine`, which keeps the rows and the artifacts.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import shutil
from pathlib import Path
from typing import Any, overload

import numpy as np
import pandas as pd

from fti.exceptions import InvalidNameError, ModelNotFoundError, ParameterError, ParameterTypeError
from fti.names import check_name
from fti.store import arguments
from fti.store.deployment import Deployment, ModelServing
from fti.store.engine import StoreEngine
from fti.store.feature_store import FeatureStore
from fti.store.feature_view import FeatureView
from fti.store.model_engine import ModelRecord
from fti.store.model_schema import ModelSchema


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


def _metric(name: str, value: Any, where: str) -> float | int | None:
    """A metric value as a plain number (NaN, e.g. an undefined ROC AUC, is kept as missing).

    Raises:
        ParameterTypeError: The value is not a number (a string, a bool, a list...).
        ParameterError: The value is infinite.
    """
    if value is None or (isinstance(value, numbers.Real) and not isinstance(value, bool)):
        plain = _json_ready(value)
        if isinstance(plain, float) and math.isinf(plain):
            raise ParameterError(f"{where}: metric '{name}' is {plain}, not a finite number")
        return plain
    raise ParameterTypeError(f"{where}: metric '{name}' must be a number, got {type(value).__name__} {value!r:.80}")


class Model:
    """One model version: metrics, lineage and the artifact. Created by `ModelRegistry.create_model`.

    Args:
        registry: The registry it belongs to.
        record: What the registry knows of it (``version`` None until it is saved).
    """

    def __init__(self, registry: ModelRegistry, record: ModelRecord):
        self._registry = registry
        self._record = record
        self.name: str = record.name
        self.version: int | None = record.version
        self.description: str = record.description
        self.metrics: dict[str, Any] = dict(record.metrics)
        self.feature_view_name: str | None = record.fv_name
        self.feature_view_version: int | None = record.fv_version
        self.training_dataset_version: int | None = record.td_version
        self.trained_on_commit: int | None = record.trained_on_commit
        self.input_schema: list[dict[str, str]] | None = record.input_schema
        self.input_example: list[Any] | None = record.input_example
        self._model_schema: ModelSchema | None = None
        self._requested_version: int | None = None
        self.framework: str | None = record.framework
        self.created_at: pd.Timestamp | None = record.created_at
        self.sha256: str | None = record.sha256

    def __repr__(self) -> str:
        version = "unsaved" if self.version is None else f"version={self.version}"
        return f"Model(name={self.name!r}, {version}, metrics={self.metrics})"

    @property
    def label(self) -> str:
        return f"model '{self.name}'" + ("" if self.version is None else f" v{self.version}")

    @property
    def artifact_path(self) -> Path | None:
        """The folder holding exactly what was saved (what `download` returns, unchecked)."""
        return self._registry._engine.models.files_path(self._record)

    @property
    def model_schema(self) -> ModelSchema | None:
        """The `ModelSchema` given to ``create_model`` (kept as ``model_schema.json`` with the version), or None."""
        if self._model_schema is None:
            stored = self._registry._engine.models.model_schema(self._record)
            if stored is not None:
                self._model_schema = ModelSchema(**stored)
        return self._model_schema

    @property
    def training_metrics(self) -> dict[str, Any]:
        """hsml's name for `metrics`."""
        return self.metrics

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

    def save(self, model_path: Any = None, await_registration: int = 480, keep_original_files: bool = False,
             upload_configuration: dict[str, Any] | None = None, *, model: Any = None) -> Model:
        """Store the trained object, or a file or folder (Hopsworks' ``model_path``), as the next version.

        A folder's files are kept as they are: ``download()`` returns a folder holding
        exactly them (``model_dir/model.pkl`` is ``download() + "/model.pkl"``).
        XGBoost objects are saved in XGBoost's native format (``model.ubj``); other
        objects with joblib (``model.joblib``: pickle, see `fti.store.artifacts`).

        Args:
            model_path: The path of a file or folder (Hopsworks' name), or the trained object.
            await_registration: Hopsworks' upload settings: no-ops here (the copy is local).
            keep_original_files: As above (the originals are always kept).
            upload_configuration: As above.
            model: The kit's older name for ``model_path``.

        Returns:
            This model, now with ``version``, ``sha256`` and ``created_at`` set.

        Raises:
            ModelSaveError: ``model`` cannot be pickled, is a path to nothing, or the
                ``version`` given to ``create_model`` is taken.
        """
        del await_registration, keep_original_files, upload_configuration
        if (model_path is None) == (model is None):
            raise ParameterError(f"{self.label}: save needs what to save: model.save(model_dir) or model.save(trained)")
        if model is None:
            model = model_path
        # What a notebook may have changed on this object since create_model is what gets saved.
        where = f"model '{self.name}'"
        draft = ModelRecord(
            name=self.name, description=arguments.text(self.description, "description", where),
            metrics=_metrics(self.metrics, where), fv_name=self.feature_view_name,
            fv_version=self.feature_view_version, td_version=self.training_dataset_version,
            trained_on_commit=self.trained_on_commit, input_schema=self.input_schema,
            input_example=self.input_example,
            model_schema=None if self._model_schema is None else self._model_schema.to_dict(),
        )
        self._record = self._registry._engine.models.save(draft, model, self._requested_version)
        self.version, self.framework, self.sha256 = self._record.version, self._record.framework, self._record.sha256
        self.created_at = self._record.created_at
        return self

    def load(self) -> Any:
        """Return the trained object (or the path of a saved file or folder).

        Raises:
            ModelNotFoundError: The model is not saved yet.
            ArtifactIntegrityError: The artifact changed since it was saved.
        """
        return self._registry._engine.models.load(self._record)

    def delete(self) -> None:
        """Delete this model version: its registry entry and its artifact folder (as in the Hopsworks client).

        Other versions stay, and the version number is never given again. Refused
        while an alias (``production``) points at it: inference pipelines load by
        alias, so move or remove the alias first. All or nothing.

        Raises:
            ModelNotFoundError: It is not saved, or was deleted already.
            InUseError: An alias points at it; nothing was deleted.
        """
        if self.version is None:
            raise ModelNotFoundError(f"{self.label} is not saved, so there is nothing to delete")
        self._registry._engine.models.delete(self.name, self.version)

    def download(self, local_path: str | os.PathLike[str] | None = None) -> str:
        """The folder holding exactly what was saved, checked against its SHA-256.

        Without ``local_path`` it is the store's own folder (Hopsworks downloads to a
        cache; here the files are local already): read it, do not change it. With
        ``local_path`` the files are copied there (created if needed) and that is returned.

        Raises:
            ModelNotFoundError: The model is not saved yet.
            ArtifactIntegrityError: The artifact changed since it was saved.
        """
        files = self._registry._engine.models.verified_files(self._record)
        if local_path is None:
            return str(files)
        target = Path(local_path)
        shutil.copytree(files, target, dirs_exist_ok=True)
        return str(target.resolve())

    def deploy(self, name: str | None = None, description: str | None = None, script_file: str | None = None,
               config_file: str | None = None, env_vars: dict[str, str] | None = None,
               transformer: Any = None, **options: Any) -> Deployment:
        """Create a deployment of this version (stopped: ``start()`` it), as hsml's ``Model.deploy``.

        Args:
            name: Letters and digits only (Hopsworks' rule); default: the model's name
                without its other characters (``"fraud_model"`` gives ``"fraudmodel"``).
            description: Free text.
            script_file: The predictor script: a file defining class ``Predict`` (or
                ``Predictor``) with ``predict(self, inputs)``; its ``__init__`` finds the
                model's files in ``os.environ["MODEL_FILES_PATH"]``. Required here.
            config_file: Found at ``os.environ["CONFIG_FILE_PATH"]`` by the script.
            env_vars: Set while the script runs.
            transformer: Refused (see `fti.store.deployment.ModelServing.create_predictor`).
            **options: Server settings (``resources``, ``serving_tool``...): no-ops here.

        Raises:
            DeploymentError: The name is not valid or taken, no script_file, the model is not saved.
            PredictorScriptError: The script file does not exist.
        """
        serving = self._registry._model_serving()
        return serving.create_predictor(
            self, name=name, script_file=script_file, config_file=config_file, description=description,
            env_vars=env_vars, transformer=transformer, **options,
        ).deploy()

    def get_url(self) -> str | None:
        """Where the saved files are (a folder here; Hopsworks gives a web page)."""
        files = self.artifact_path
        return None if files is None else files.as_uri()


def _metric_name(name: Any, where: str) -> str:
    """A metric name: any non-empty text (``"f1 score"``, ``"f1-score"``, ``"MAE (days)"``), as Hopsworks allows.

    Metrics are kept as JSON and compared in Python, so names never reach SQL.

    Raises:
        InvalidNameError: Not text, empty or blank, longer than 200 characters, or with control characters.
    """
    if not isinstance(name, str) or not name.strip() or len(name) > 200 or not name.isprintable():
        raise InvalidNameError(
            f"{where}: metric name {name!r:.80} is not valid: use non-empty printable text of at most 200 characters"
        )
    return name


def _metrics(metrics: Any, where: str) -> dict[str, Any]:
    """Checked metrics: ``{name: number}``."""
    given = arguments.mapping(metrics, "metrics", where)
    return {_metric_name(name, where): _metric(name, value, where) for name, value in given.items()}


def _input_example(value: Any, where: str) -> tuple[list[dict[str, str]] | None, list[Any]]:
    """The input schema and JSON-ready rows of an ``input_example``, in the forms hsml takes.

    A DataFrame gives its rows as records and its columns as the schema; a Series or a
    dict is one such row. A numpy array or list is kept as rows of values (a flat
    one is one row), with no column names to make a schema from.

    Raises:
        ParameterTypeError: Anything else.
    """
    if isinstance(value, (pd.Series, dict)):
        value = pd.DataFrame([value])
    if isinstance(value, pd.DataFrame):
        schema = [{"name": str(c), "dtype": str(t)} for c, t in value.dtypes.items()]
        rows = [{str(k): _json_ready(v) for k, v in row.items()} for row in value.to_dict(orient="records")]
        return schema, rows
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)) and value:
        rows = [list(row) if isinstance(row, (list, tuple)) else row for row in value]
        if not isinstance(rows[0], (list, dict)):
            rows = [rows]  # one input: [age, fare] is one row
        if all(isinstance(row, dict) for row in rows):
            return _input_example(pd.DataFrame(rows), where)
        return None, [[_json_ready(v) for v in row] if isinstance(row, list) else _json_ready(row) for row in rows]
    raise ParameterTypeError(
        f"{where}: input_example must be a few rows (X_train.head(3), a Series, a numpy array or a list), "
        f"got {type(value).__name__}"
    )


class _Flavour:
    """``mr.python``, ``mr.sklearn``...: Hopsworks groups ``create_model`` by framework; here they are one.

    The framework changes nothing here: every flavour saves what it is given the same way.
    """

    def __init__(self, registry: ModelRegistry):
        self.create_model = registry.create_model


class ModelRegistry:
    """The model registry of a store. Get one with `fti.get_model_registry()`.

    Args:
        fs: The feature store whose folder also holds the models (and whose feature
            views models are trained from).
        project: The `fti.project.Project` it belongs to, if any: what a predictor
            script whose ``__init__`` takes ``project`` receives from ``model.deploy``.

    Raises:
        ParameterTypeError: ``fs`` is not a `FeatureStore`.
    """

    def __init__(self, fs: FeatureStore, project: Any = None):
        if not isinstance(fs, FeatureStore):
            raise ParameterTypeError(
                f"ModelRegistry needs a FeatureStore (use fti.get_model_registry()), got {type(fs).__name__}"
            )
        self._fs = fs
        # Its own engine on the same folder: connections are shared per folder and thread anyway.
        self._engine = StoreEngine(fs.path)
        self._engine.models.remove_dead_staging()  # left by saves that were killed
        self.python = self.sklearn = self.xgboost = self.torch = self.tensorflow = self.llm = _Flavour(self)
        self._project = project
        self._serving: ModelServing | None = None

    def _model_serving(self) -> ModelServing:
        """The store's deployments (what ``project.get_model_serving()`` returns, made here for ``model.deploy``)."""
        if self._serving is None:
            self._serving = ModelServing(self, project=self._project)
        return self._serving

    def __repr__(self) -> str:
        return f"ModelRegistry({str(self._fs.path)!r})"

    def _model(self, record: ModelRecord) -> Model:
        return Model(self, record)

    def create_model(self, name: str, metrics: dict[str, Any] | None = None,
                     feature_view: FeatureView | None = None, input_example: Any = None,
                     description: str | None = "", training_dataset_version: int | None = None,
                     version: int | None = None, model_schema: Any = None) -> Model:
        """Describe a new model version; `Model.save` stores it.

        Args:
            name: The model's name; versions are numbered within it.
            metrics: e.g. ``{"accuracy": 0.81, "f1 score": 0.7}``: numbers, used by `get_best_model`.
            feature_view: The view it was trained from (lineage: view, training
                dataset version and the commit it read).
            input_example: A few input rows (DataFrame; a Series, dict, numpy array or
                list is one row or rows); a DataFrame's columns and dtypes are kept as
                the input schema.
            description: Free text (None: empty).
            training_dataset_version: Defaults to the feature view's last training dataset.
            version: The version number to give (as in Hopsworks); default: the next one.
            model_schema: A `ModelSchema` (``fti.hsml.model_schema``), kept with the version
                and read back as ``model.model_schema``.

        Raises:
            InvalidNameError: The name, a metric name or the version is not valid.
            ParameterTypeError: A metric that is not a number, a ``feature_view`` that is not
                a FeatureView, an ``input_example`` that is not rows, a ``model_schema`` that
                is not a ModelSchema.
            TrainingDatasetNotFoundError: The feature view has no such training dataset.
        """
        check_name(name, "model")
        where = f"model '{name}'"
        requested_version = arguments.optional_version(version, where)
        schema = ModelSchema.from_value(model_schema, where)
        record = ModelRecord(name=name, description=arguments.text(description or "", "description", where),
                             metrics=_metrics(metrics, where))
        td = arguments.optional_version(training_dataset_version, f"{where}: training dataset")
        if feature_view is not None:
            if not isinstance(feature_view, FeatureView):
                raise ParameterTypeError(
                    f"{where}: feature_view must be a FeatureView (fs.get_feature_view(...)), "
                    f"got {type(feature_view).__name__}"
                )
            td = td or feature_view.training_dataset_version
            record = dataclasses.replace(record, fv_name=feature_view.name, fv_version=feature_view.version)
            if td is not None:
                dataset = self._engine.feature_views.training_dataset(feature_view.name, feature_view.version, td)
                record = dataclasses.replace(record, td_version=td, trained_on_commit=dataset.as_of_commit)
        if input_example is not None:
            input_schema, rows = _input_example(input_example, where)
            record = dataclasses.replace(record, input_schema=input_schema, input_example=rows)
        model = self._model(record)
        model._model_schema = schema
        model._requested_version = requested_version
        return model

    def get_model(self, name: str, version: int | None = None, alias: str | None = None) -> Model:
        """Return a saved model version: ``version``, the one ``alias`` points to, or the latest.

        Raises:
            ParameterError: Both a version and an alias.
            InvalidNameError: The name, version or alias is not valid.
            ModelNotFoundError: No such model, version or alias.
        """
        check_name(name, "model")
        if version is not None and alias is not None:
            raise ParameterError(
                f"model '{name}': give a version or an alias, not both (got version={version!r}, alias={alias!r})"
            )
        version = arguments.optional_version(version, f"model '{name}'")
        if alias is not None:
            version = self._engine.models.alias_version(name, check_name(alias, f"model '{name}': alias"))
        return self._model(self._engine.models.get(name, version))

    @overload
    def get_models(self, name: str) -> list[Model]: ...

    @overload
    def get_models(self, name: None = None) -> pd.DataFrame: ...

    def get_models(self, name: str | None = None) -> list[Model] | pd.DataFrame:
        """Every version of a model, oldest first; without a name, a table of every model to browse.

        Args:
            name: The model (as in the Hopsworks client); ``None`` lists every model.

        Returns:
            With a name, the `Model` versions (an empty list for a model that does not
            exist). Without one, a DataFrame with one row per version: ``name``,
            ``version``, ``metrics`` (a dict), ``aliases`` (a list, e.g.
            ``["production"]``), ``created_at``, ``feature_view`` (``"titanic v1"``),
            ``training_dataset_version`` and ``description``; empty when the registry is.

        Raises:
            InvalidNameError: ``name`` is not a valid name.
        """
        if name is None:
            return self._engine.models.list_all()
        check_name(name, "model")
        return [self._model(record) for record in self._engine.models.versions(name)]

    def get_best_model(self, name: str, metric: str, direction: str = "max") -> Model:
        """The version with the highest (``"max"``) or lowest (``"min"``) value of ``metric``; ties: the older.

        Raises:
            ParameterError: ``direction`` is not ``"max"`` or ``"min"``.
            ModelNotFoundError: No version of the model records that metric.
        """
        check_name(name, "model")
        _metric_name(metric, f"model '{name}'")
        if not isinstance(direction, str) or direction not in ("max", "min"):
            raise ParameterError(f"model '{name}': direction must be 'max' or 'min', got {direction!r}")
        candidates = [m for m in self.get_models(name) if isinstance(m.metrics.get(metric), (int, float))]
        if not candidates:
            raise ModelNotFoundError(f"no version of model '{name}' records the metric '{metric}'")
        sign = 1 if direction == "max" else -1
        return max(candidates, key=lambda m: (sign * m.metrics[metric], -m.version))

    def set_alias(self, name: str, alias: str, version: int) -> None:
        """Point ``alias`` (e.g. ``"production"``) at a version: to promote, or to roll back.

        Raises:
            InvalidNameError: The name, alias or version is not valid.
            ModelNotFoundError: No such model or version.
        """
        check_name(name, "model")
        check_name(alias, f"model '{name}': alias")
        version = arguments.version(version, f"model '{name}'")
        self._engine.models.set_alias(name, alias, version)

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove an alias."""
        check_name(name, "model")
        check_name(alias, f"model '{name}': alias")
        self._engine.models.delete_alias(name, alias)

    def get_aliases(self, name: str) -> dict[str, int]:
        """``{alias: version}`` for a model."""
        check_name(name, "model")
        return self._engine.models.aliases(name)
