"""Feature views: the one definition of a model's inputs, used by training and inference alike.

A feature view names a query (which features, joined point-in-time), the labels
to predict, the model-dependent transformations and any on-demand features. The
training pipeline asks it for training data; the inference pipelines ask the
*same* view for batch data or single feature vectors, so a model never sees its
inputs computed two different ways (training/serving skew).

`FeatureView` is a thin handle: it checks arguments, remembers which training
dataset's transformations it applies, and delegates the work to
`fti.store.feature_view_engine`.
"""

from __future__ import annotations

import datetime as dt
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from fti.exceptions import ParameterError, ParameterTypeError, QueryError, SchemaError, ServingError
from fti.store import arguments
from fti.store.engine import StoreEngine
from fti.store.feature_view_engine import (
    UNBOUND,
    Binding,
    FeatureViewMeta,
    OnDemand,
    ServingPlan,
    Split,
    TrainingData,
    feature_vector,
    function_reference,
    import_function,
    split_columns,
    transform,
)
from fti.store.log_engine import (
    LogBatch,
    LogEngine,
    as_frame,
    check_rows,
    event_time_column,
    model_identity,
    prediction_frame,
    serving_key_columns,
)
from fti.store.query import Query
from fti.store.transformations import Transformation

# Defined in the engine; kept importable from here, where they were first.
__all__ = ["FeatureView", "OnDemand", "function_reference", "import_function"]

RETURN_TYPES = ("list", "dict", "pandas")


def _model_identity(model: Any, model_name: Any, model_version: Any, where: str) -> tuple[str | None, int | None]:
    """The model name and version a log call names: from a registry ``model``, or given one by one."""
    name, version = model_identity(model, where)
    if model_name is not None:
        name = arguments.text(model_name, "model_name", where)
    if model_version is not None:
        version = arguments.version(model_version, f"{where}: model")
    return name, version


def _labels_out(y: pd.DataFrame, hopsworks: bool) -> pd.Series | pd.DataFrame:
    # One label comes back as a Series, which every scikit-learn estimator takes as is; Hopsworks
    # code (a store opened through fti.login()) gets the DataFrame its client returns.
    return y.iloc[:, 0] if y.shape[1] == 1 and not hopsworks else y


# Hopsworks arguments of the training data and batch data calls that change nothing here:
# file formats and locations of materialised training data, statistics, read and write options.
_IGNORED_DATA_OPTIONS = frozenset({"statistics_config", "read_options", "write_options", "data_format",
                                   "coalesce", "location", "storage_connector", "dataframe_type"})


class FeatureView:
    """A handle on one feature view version. Get one from `FeatureStore.get_or_create_feature_view`.

    Args:
        engine: The engine of the store it lives in.
        meta: Its stored definition.
        query: Its query, with the feature group handles.
    """

    def __init__(self, engine: StoreEngine, meta: FeatureViewMeta, query: Query):
        self._engine = engine
        self._meta = meta
        self._query = query
        self._binding: Binding = UNBOUND
        self._serving: ServingPlan | None = None
        self._logs = LogEngine(engine.storage)

    # -- description ---------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._meta.name

    @property
    def version(self) -> int:
        return self._meta.version

    @property
    def description(self) -> str:
        return self._meta.description

    @property
    def query(self) -> Query:
        """The query whose columns the view's features and labels are."""
        return self._query

    @property
    def labels(self) -> list[str]:
        """Columns to predict."""
        return list(self._meta.labels)

    @property
    def transformation_functions(self) -> dict[str, list[Transformation]]:
        """``{column: [Transformation, ...]}``, applied in order."""
        return {column: list(steps) for column, steps in self._meta.transformation_functions.items()}

    @property
    def label(self) -> str:
        return self._meta.label

    @property
    def helper_columns(self) -> list[str]:
        """The label side's primary key and event time: they identify rows but are not model inputs."""
        return self._meta.plan.helper_columns

    @property
    def feature_names(self) -> list[str]:
        """Model inputs before transformations: selected features, then on-demand features."""
        return self._meta.feature_names

    @property
    def training_dataset_version(self) -> int | None:
        """The training dataset whose transformation state this handle applies (None: none yet)."""
        return self._binding.training_dataset_version

    def __repr__(self) -> str:
        return (
            f"FeatureView(name={self.name!r}, version={self.version}, features={self.feature_names}, "
            f"labels={self.labels})"
        )

    def delete(self) -> None:
        """Delete this feature view version, its training datasets and its log (as in the Hopsworks client).

        Its feature groups and their data stay. Refused while a model version was
        trained from it: that model needs the view's transformations to predict, so
        delete the model versions first. All or nothing.

        Raises:
            FeatureViewNotFoundError: It does not exist (any more).
            InUseError: A model version was trained from it; nothing was deleted.
        """
        name, version = self.name, self.version
        with self._engine.storage.transaction() as con:  # the view and its log go together, or neither
            self._engine.feature_views.delete(
                name, version, users=lambda con: self._engine.models.trained_from(con, name, version))
            self._logs.drop(con, name, version)
        self._bind(UNBOUND)

    # -- shared steps ---------------------------------------------------------------------------

    def _bind(self, binding: Binding) -> None:
        self._binding = binding
        self._serving = None  # a serving plan applies one binding's transformations

    def _ensure_bound(self) -> None:
        if self._binding.training_dataset_version is None and self._meta.transformation_functions:
            self._bind(self._engine.feature_views.bind(self._meta, None))

    def _training_dataset_version(self, value: Any) -> int | None:
        return arguments.optional_version(value, f"{self.label}: training dataset")

    def _labels(self, y: pd.DataFrame) -> pd.Series | pd.DataFrame:
        return _labels_out(y, self._engine.hopsworks)

    def _time(self, value: Any) -> Any:
        """A time argument; whole numbers are epoch milliseconds in Hopsworks code."""
        return arguments.epoch_ms(value, self._engine.hopsworks)

    def _data_options(self, options: dict[str, Any], call: str) -> None:
        """Accept the Hopsworks options that change nothing here; refuse the others with advice.

        Raises:
            ParameterError: ``spine``, ``extra_filter``, helper columns, a dataframe type other
                than pandas, or an unknown argument.
        """
        where = f"{self.label}: {call}"
        kind = options.get("dataframe_type", "default")
        arguments.unsupported(
            where,
            spine=(options.get("spine"), "the label side's feature group gives the observations; insert the "
                                         "spine's rows into a feature group and build the view on it"),
            extra_filter=(options.get("extra_filter"), "filter the feature view's query (fg.select(...).filter"
                                                       "(...)) or the returned DataFrame"),
            training_helper_columns=(options.get("training_helper_columns"),
                                     "use primary_key=True / event_time=True for the label side's helper columns"),
            inference_helper_columns=(options.get("inference_helper_columns"),
                                      "use primary_key=True / event_time=True for the label side's helper columns"),
            dataframe_type=(None if kind in ("default", "pandas") else kind, "every call returns pandas here"),
            transformation_context=(options.get("transformation_context"), "transformations here take no context"),
        )
        known = _IGNORED_DATA_OPTIONS | {"spine", "extra_filter", "training_helper_columns",
                                         "inference_helper_columns", "transformation_context"}
        if unknown := sorted(set(options) - known):
            raise ParameterError(f"{where}: unknown argument(s) {unknown}")

    def _flags(self, **flags: Any) -> dict[str, bool]:
        return {name: arguments.flag(value, name, self.label) for name, value in flags.items()}

    def _four_way(self, data: TrainingData, X: pd.DataFrame, y: pd.DataFrame) -> tuple:
        """``X_train, X_test, y_train, y_test`` from row positions."""
        def rows(frame: pd.DataFrame, positions: np.ndarray) -> pd.DataFrame:
            return frame.iloc[positions].reset_index(drop=True)

        return (rows(X, data.train_rows), rows(X, data.test_rows),
                self._labels(rows(y, data.train_rows)), self._labels(rows(y, data.test_rows)))

    def transform(self, features: pd.DataFrame) -> pd.DataFrame:
        """Apply the bound training dataset's fitted transformations to untransformed features.

        Columns that are not features of this view (keys, event time) pass through
        unchanged, in front.

        Raises:
            ParameterTypeError: ``features`` is not a DataFrame.
            QueryError: A feature column is missing.
            TrainingDatasetNotFoundError: The view has transformations but no training dataset yet.
        """
        if isinstance(features, (list, tuple, np.ndarray)):
            return self._transform_rows(features)
        if not isinstance(features, pd.DataFrame):
            raise ParameterTypeError(
                f"{self.label}: transform needs a pandas DataFrame or a feature vector (a list in the order of "
                f"feature_names), got {type(features).__name__}"
            )
        self._ensure_bound()
        return transform(self._meta, self._binding, features)

    def _transform_rows(self, rows: Any) -> list:
        """Hopsworks' ``fv.transform(vector)``: one untransformed vector (or a list of them) in, the same shape out.

        Raises:
            ParameterTypeError: A vector does not have one value per feature.
        """
        single = len(rows) > 0 and not isinstance(rows[0], (list, tuple, np.ndarray))
        vectors = [list(rows)] if single else [list(row) for row in rows]
        names = self.feature_names
        for vector in vectors:
            if len(vector) != len(names):
                raise ParameterTypeError(
                    f"{self.label}: transform got a list of {len(vector)} value(s); a feature vector needs one "
                    f"value per feature, in the order {names} (or pass a DataFrame)"
                )
        self._ensure_bound()
        out = transform(self._meta, self._binding, pd.DataFrame(vectors, columns=names))
        # Plain Python values, as get_feature_vector returns them.
        result = [[None if pd.isna(value) else (value.item() if hasattr(value, "item") else value)
                   for value in row] for row in out.astype(object).itertuples(index=False)]
        return result[0] if single else result

    # -- training data --------------------------------------------------------------------------

    def _split(self, test_size: Any, seed: Any, times: dict[str, Any]) -> Split:
        """The split asked for: random (``test_size``, ``seed``) or by time (``test_start``...)."""
        if times["test_start"] is None and test_size is None:
            raise QueryError(
                f"{self.label}: train_test_split needs test_size (random split) or test_start (time split)"
            )
        if times["test_start"] is not None and test_size is not None:
            raise QueryError(f"{self.label}: give test_size or test_start, not both")
        if test_size is not None:
            if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
                raise ParameterTypeError(
                    f"{self.label}: test_size must be a fraction between 0 and 1, got {type(test_size).__name__} "
                    f"{test_size!r:.80}"
                )
            if not 0 < float(test_size) < 1:
                raise QueryError(f"{self.label}: test_size must be between 0 and 1, got {test_size!r}")
            if seed is None:
                # Draw and record a seed, so get_train_test_split re-creates this very split.
                seed = int(np.random.SeedSequence().generate_state(1)[0])
            elif isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
                raise ParameterTypeError(f"{self.label}: seed must be a whole number, got {seed!r:.80}")
            elif seed < 0:
                raise ParameterError(f"{self.label}: seed must not be negative, got {seed}")
            return Split("random", test_size=float(test_size), seed=int(seed))
        if not self._meta.plan.left.event_time:
            raise QueryError(f"{self.label}: a time split needs an event time on {self._meta.plan.left.label}")
        iso = {key: None if value is None else arguments.moment(self._time(value), key, self.label).isoformat()
               for key, value in times.items()}
        return Split("time", **iso)

    def train_test_split(self, test_size: float | None = None, seed: int | None = None, *,
                         test_start: Any = None, test_end: Any = None, train_start: Any = None,
                         train_end: Any = None, as_of: Any = None, description: str = "",
                         primary_key: bool = False, event_time: bool = False, **hopsworks_options: Any) -> tuple:
        """Create a training dataset version and return ``X_train, X_test, y_train, y_test``.

        Two ways to split:

        * random: ``test_size`` (a fraction) and ``seed``; the same seed and data give the same split;
        * by time: ``test_start`` (with optional ``train_start``, ``train_end``, ``test_end``):
          observations before ``test_start`` train, the rest test. Use this for time series.

        Transformations are fitted on the training rows only and saved with the new version.

        Args:
            test_size: Fraction of rows for testing, for a random split.
            seed: Random seed for a random split.
            test_start: First event time of the test set, for a time split.
            test_end: End (exclusive) of the test set.
            train_start: First event time of the training set.
            train_end: End (exclusive) of the training set; defaults to ``test_start``.
            as_of: Commit id or datetime to read the feature groups as of (default: now).
            description: Kept with the training dataset version.
            primary_key: Also return the label side's primary key columns in X.
            event_time: Also return the label side's event time column in X.
            **hopsworks_options: Accepted and ignored: ``statistics_config``, ``read_options``,
                ``dataframe_type="pandas"``; refused with advice: ``spine``, ``extra_filter``,
                ``training_helper_columns``.

        Returns:
            ``X_train, X_test, y_train, y_test``: y is a Series when there is one label (a
            DataFrame in Hopsworks code, a store opened through ``fti.login()``).

        Raises:
            QueryError: Neither or both of ``test_size`` and ``test_start``, a ``test_size``
                outside (0, 1), a time split without an event time.
            ParameterError: A bad ``seed`` or flag (`ParameterTypeError` for a wrong type).
            InvalidTimeError: A split time that is not a date or time.
            TimeTravelError: A bad ``as_of``.
        """
        self._data_options(hopsworks_options, "train_test_split")
        split = self._split(test_size, seed, {"train_start": train_start, "train_end": train_end,
                                              "test_start": test_start, "test_end": test_end})
        description = arguments.text(description, "description", self.label)
        flags = self._flags(primary_key=primary_key, event_time=event_time)
        data = self._engine.feature_views.create_training_dataset(self._meta, split, as_of, description)
        self._bind(data.binding)
        X, y = split_columns(self._meta, data.binding, data.frame, **flags)
        return self._four_way(data, X, y)

    def training_data(self, as_of: Any = None, description: str = "", primary_key: bool = False,
                      event_time: bool = False, *, start_time: Any = None, end_time: Any = None,
                      **hopsworks_options: Any) -> tuple:
        """Create a training dataset version of all rows (no split); return ``X, y``.

        Args:
            as_of: Commit id or datetime to read the feature groups as of (default: now).
            description: Kept with the training dataset version.
            primary_key: Also return the label side's primary key columns in X.
            event_time: Also return the label side's event time column in X.
            start_time: Refused: a training dataset here has all rows (use `train_test_split`
                with ``train_start`` and ``test_start`` for a time range).
            end_time: Refused, likewise.
            **hopsworks_options: As in `train_test_split`.
        """
        self._data_options(hopsworks_options, "training_data")
        arguments.unsupported(
            f"{self.label}: training_data",
            start_time=(start_time, "a training dataset here has all rows; for a time range use "
                                    "train_test_split(train_start=..., test_start=...)"),
            end_time=(end_time, "a training dataset here has all rows; for a time range use "
                                "train_test_split(train_start=..., test_start=...)"),
        )
        description = arguments.text(description, "description", self.label)
        flags = self._flags(primary_key=primary_key, event_time=event_time)
        data = self._engine.feature_views.create_training_dataset(self._meta, Split("all"), as_of, description)
        self._bind(data.binding)
        X, y = split_columns(self._meta, data.binding, data.frame, **flags)
        return X, self._labels(y)

    def get_train_test_split(self, training_dataset_version: int, primary_key: bool = False,
                             event_time: bool = False, transformed: bool = True, **hopsworks_options: Any) -> tuple:
        """Re-create the exact data of an earlier training dataset version.

        The feature groups are read as of the commit that version recorded, so new
        inserts and upserts since then do not change the result.

        Args:
            training_dataset_version: Which version to re-create.
            primary_key: Also return the label side's primary key columns in X.
            event_time: Also return the label side's event time column in X.
            transformed: False returns the features before transformations, e.g. to
                score another model version, with its own transformations, on the same rows.
            **hopsworks_options: As in `train_test_split`.

        Raises:
            InvalidNameError: ``training_dataset_version`` is not a positive whole number.
            TrainingDatasetNotFoundError: The view has no such training dataset.
        """
        self._data_options(hopsworks_options, "get_train_test_split")
        version = arguments.version(training_dataset_version, f"{self.label}: training dataset")
        flags = self._flags(primary_key=primary_key, event_time=event_time, transformed=transformed)
        data = self._engine.feature_views.training_data(self._meta, version)
        self._bind(data.binding)
        X, y = split_columns(self._meta, data.binding, data.frame, **flags)
        if data.split.kind == "all":
            return X, self._labels(y)
        return self._four_way(data, X, y)

    get_training_data = get_train_test_split

    def create_train_test_split(self, test_size: float | None = None, seed: int | None = None,
                                **split: Any) -> tuple[int, None]:
        """Hopsworks' two-step form: record a training dataset version now, read it later.

        Takes the arguments of `train_test_split` and records the same training dataset
        version; read its data with ``get_train_test_split(training_dataset_version=...)``.

        Returns:
            ``(training dataset version, None)``: Hopsworks returns the job that writes the
            files as the second item; here the version is complete when this returns.
        """
        self.train_test_split(test_size, seed, **split)
        return self._binding.training_dataset_version, None

    def create_training_data(self, **definition: Any) -> tuple[int, None]:
        """Hopsworks' two-step form of `training_data`: ``(training dataset version, None)``.

        Read the data with ``get_training_data(training_dataset_version=...)``.
        """
        self.training_data(**definition)
        return self._binding.training_dataset_version, None

    def get_training_datasets(self) -> pd.DataFrame:
        """Every training dataset version of this view: when, which commit, how it split."""
        return self._engine.feature_views.training_datasets(self.name, self.version)

    # -- inference ------------------------------------------------------------------------------

    def init_batch_scoring(self, training_dataset_version: int | None = None) -> None:
        """Use the transformation state of this training dataset version (default: the latest)."""
        version = self._training_dataset_version(training_dataset_version)
        self._bind(self._engine.feature_views.bind(self._meta, version))

    def init_serving(self, training_dataset_version: int | None = None, external: bool | None = None,
                     options: dict | None = None, feature_logger: Any = None, **clients: Any) -> None:
        """Prepare online lookups with this training dataset version's transformations (default: the latest).

        Args:
            training_dataset_version: Whose transformations to apply.
            external: Accepted for Hopsworks code and ignored (there is no cluster to reach).
            options: Accepted and ignored (connection options of Hopsworks' clients).
            feature_logger: Accepted and ignored: `log` writes to this store directly, which is
                what Hopsworks' own logger does.
            **clients: Hopsworks' client choices (``init_rest_client``, ``init_sql_client``...):
                accepted and ignored, there is one client here.
        """
        del external, options, feature_logger, clients  # one local store: no clients or loggers to choose
        self.init_batch_scoring(training_dataset_version)
        self._serving = self._engine.feature_views.serving_plan(self._meta, self._binding)

    def get_batch_data(self, start_time: Any = None, end_time: Any = None, *, primary_key: bool = False,
                       event_time: bool = False, as_of: Any = None, transformed: bool = True,
                       **hopsworks_options: Any) -> pd.DataFrame:
        """Features of the observations with event time in ``[start_time, end_time)``, ready for ``predict``.

        Transformations use the state of the bound training dataset version (see
        `init_batch_scoring`; by default the latest one).

        Args:
            start_time: Inclusive lower bound on the label side's event time.
            end_time: Exclusive upper bound.
            primary_key: Also return the primary key columns (to attach predictions to).
            event_time: Also return the event time column.
            as_of: Read the feature groups as of a commit id or datetime.
            transformed: False returns the features before transformations.
            **hopsworks_options: As in `train_test_split` (``inference_helper_columns`` is refused).

        Raises:
            InvalidTimeError: ``start_time`` or ``end_time`` is not a time.
            TimeTravelError: A bad ``as_of``.
            TrainingDatasetNotFoundError: The view has transformations but no training dataset yet.
        """
        self._data_options(hopsworks_options, "get_batch_data")
        flags = self._flags(primary_key=primary_key, event_time=event_time, transformed=transformed)
        self._ensure_bound()
        frame = self._engine.feature_views.batch_data(self._meta, self._time(start_time),
                                                      self._time(end_time), as_of)
        X, _ = split_columns(self._meta, self._binding, frame, **flags)
        return X

    def get_batch_query(self, start_time: Any = None, end_time: Any = None) -> str:
        """The SQL that reads the view's observations with event time in ``[start_time, end_time)``, as text.

        DuckDB SQL of this store, for reading (Hopsworks shows its Spark/Hive SQL). The rows
        are those `get_batch_data` transforms.

        Raises:
            InvalidTimeError: ``start_time`` or ``end_time`` is not a time.
        """
        return self._query.to_string(start_time=self._time(start_time),
                                     end_time=self._time(end_time))

    def _mapping(self, value: Any, argument: str, example: str) -> dict[str, Any]:
        """A dict argument of a lookup (only reached when it is not a dict already)."""
        if isinstance(value, Mapping):
            return dict(value)
        raise ParameterTypeError(
            f"{self.label}: {argument} must be a dict such as {example}, got {type(value).__name__} {value!r:.80}"
        )

    def get_feature_vector(self, entry: dict[str, Any], request_parameters: dict[str, Any] | None = None,
                           passed_features: dict[str, Any] | None = None, return_type: str = "list", *,
                           transform: bool = True, **hopsworks_options: Any) -> Any:
        """One row of model input from the online store, for real-time inference.

        Looks up the newest values of each online-enabled feature group by key,
        computes on-demand features from ``request_parameters``, and applies the
        transformations, in the order of the training columns.

        Args:
            entry: Serving keys, e.g. ``{"cc_num": 4242}``.
            request_parameters: Values known only at request time, for on-demand features.
            passed_features: Feature values supplied by the caller instead of looked up.
            return_type: ``"list"`` (default), ``"dict"`` or ``"pandas"``.
            transform: False returns the features before transformations (e.g. to log them).
            **hopsworks_options: Hopsworks' client choices (``external``, ``force_rest_client``,
                ``force_sql_client``, ``allow_missing=False``, ``logging_data=False``): accepted
                and ignored, one local store has one client. ``allow_missing=True`` is refused
                (a missing serving key is an error here).

        Raises:
            ParameterTypeError: ``entry``, ``request_parameters`` or ``passed_features`` is not a dict.
            ParameterError: An unknown ``return_type``.
            ServingError: A serving key is missing, or a feature group that must be
                looked up is not online enabled.
        """
        if type(return_type) is not str:  # checked first: comparing e.g. a DataFrame with "list" raises
            raise ParameterTypeError(
                f"{self.label}: return_type must be 'list', 'dict' or 'pandas', got {return_type!r:.80}"
            )
        if hopsworks_options:
            self._vector_options(hopsworks_options)
        plan = self._serving
        if plan is None:
            self._ensure_bound()
            self.init_serving(self._binding.training_dataset_version)
            plan = self._serving
        # The isinstance checks are the whole cost of checking input on this hot path.
        if not isinstance(entry, dict):
            entry = self._mapping(entry, "entry", "{'cc_num': 4242}")
        if request_parameters is None:
            request_parameters = {}
        elif not isinstance(request_parameters, dict):
            request_parameters = self._mapping(request_parameters, "request_parameters", "{'amount': 12.5}")
        if passed_features is not None and not isinstance(passed_features, dict):
            passed_features = self._mapping(passed_features, "passed_features", "{'amount': 12.5}")
        transformed = transform if transform is True else self._flags(transform=transform)["transform"]
        vector = feature_vector(plan, entry, request_parameters, passed_features, transformed)
        columns = plan.output_columns if transformed else plan.feature_names
        if return_type == "list":
            return vector
        if return_type == "dict":
            return dict(zip(columns, vector, strict=True))
        if return_type == "pandas":
            return pd.DataFrame([vector], columns=list(columns))
        raise ParameterError(f"{self.label}: return_type {return_type!r} is not one of 'list', 'dict', 'pandas'")

    def _vector_options(self, options: dict[str, Any]) -> None:
        """Accept Hopsworks' client choices for lookups; refuse ``allow_missing=True``.

        Raises:
            ParameterError: ``allow_missing=True`` or an unknown argument.
        """
        where = f"{self.label}: get_feature_vector"
        arguments.unsupported(
            where,
            allow_missing=(options.get("allow_missing"), "a missing serving key is an error here; pass every "
                                                         "serving key"),
            logging_data=(options.get("logging_data"), "log what you serve with fv.log(...)"),
        )
        known = {"external", "force_rest_client", "force_sql_client", "allow_missing", "logging_data"}
        if unknown := sorted(set(options) - known):
            raise ParameterError(f"{where}: unknown argument(s) {unknown}")

    def get_feature_vectors(self, entry: list[dict[str, Any]], request_parameters: list[dict[str, Any]] | None = None,
                            passed_features: list[dict[str, Any]] | None = None, return_type: str = "list", *,
                            transform: bool = True, **hopsworks_options: Any) -> Any:
        """`get_feature_vector` for several entries; ``"pandas"`` gives one DataFrame.

        Raises:
            ParameterTypeError: ``entry`` (or another argument) is not a list.
            ServingError: ``request_parameters`` or ``passed_features`` do not have one item per entry.
        """
        for argument, value in (("entry", entry), ("request_parameters", request_parameters),
                                ("passed_features", passed_features)):
            if (value is not None or argument == "entry") and not isinstance(value, (list, tuple)):
                raise ParameterTypeError(
                    f"{self.label}: get_feature_vectors needs {argument} as a list with one dict per entry, "
                    f"got {type(value).__name__}"
                )
        if not isinstance(return_type, str) or return_type not in RETURN_TYPES:
            raise ParameterError(f"{self.label}: return_type {return_type!r} is not one of 'list', 'dict', 'pandas'")
        requests = request_parameters or [None] * len(entry)
        passed = passed_features or [None] * len(entry)
        if len(requests) != len(entry) or len(passed) != len(entry):
            raise ServingError(f"{self.label}: request_parameters and passed_features need one item per entry")
        inner = "dict" if return_type == "pandas" else return_type
        vectors = [self.get_feature_vector(e, r, p, inner, transform=transform, **hopsworks_options)
                   for e, r, p in zip(entry, requests, passed, strict=True)]
        return pd.DataFrame(vectors) if return_type == "pandas" else vectors

    # -- feature logging ------------------------------------------------------------------------

    @property
    def logging_enabled(self) -> bool:
        """Whether `log` keeps what this view served (see `enable_logging`)."""
        return self._logs.enabled(self._meta)

    def enable_logging(self) -> None:
        """Keep what this view serves: turn on `log` (nothing changes when it is on already)."""
        self._logs.enable(self._meta)

    def pause_logging(self) -> None:
        """Accepted for Hopsworks code; does nothing here.

        Hopsworks pauses the scheduled job that copies logs to the offline store. This
        store writes every `log` straight to its offline table, so there is no job to
        pause: `log` keeps logging and `read_log` sees every row at once.
        """

    def resume_logging(self) -> None:
        """Accepted for Hopsworks code; does nothing here (see `pause_logging`)."""

    def materialize_log(self, wait: bool = False, transformed: bool | None = None) -> list:
        """Accepted for Hopsworks code; returns ``[]``: logs are readable as soon as `log` returns."""
        del wait, transformed  # nothing to copy: every log is already in the offline store
        return []

    def delete_log(self, transformed: bool | None = None) -> None:
        """Delete every logged row of this view; logging stays enabled (or not) as it was.

        Args:
            transformed: Accepted for Hopsworks code and ignored: transformed and untransformed
                features are logged in the same rows, so both go.
        """
        del transformed
        self._logs.delete_log(self._meta)

    def _key_frame(self, given: Any, features: Any, keys: list[str]) -> pd.DataFrame | None:
        """Serving keys as given (any of them), else those an untransformed features DataFrame holds."""
        if given is not None:
            return as_frame(given, keys, "serving_keys", self.label, partial=True)
        if isinstance(features, pd.DataFrame):
            present = [key for key in keys if key in features.columns]
            return features[present].reset_index(drop=True) if present else None
        return None

    def _event_time_frame(self, given: Any, features: Any, column: str, rows: int | None) -> pd.DataFrame | None:
        """The requests' event times as one UTC datetime column (a single time applies to every request)."""
        if given is None:
            if isinstance(features, pd.DataFrame) and column in features.columns:
                given = features[column]
            else:
                return None
        if isinstance(given, (str, dt.datetime, dt.date, np.datetime64)) and rows is not None:
            given = [arguments.moment(given, "event_time", self.label)] * rows
        frame = as_frame(given, [column], "event_time", self.label)
        if not ptypes.is_datetime64_any_dtype(frame[column].dtype):
            try:
                frame[column] = pd.to_datetime(frame[column], utc=True)
            except (ValueError, TypeError):
                raise SchemaError(
                    f"{self.label}: event_time must hold dates or times, got e.g. {frame[column].iloc[0]!r:.80}"
                ) from None
        return frame

    def _request_id_frame(self, given: Any, rows: int | None) -> pd.DataFrame | None:
        """Request ids as one text column (a single id applies to every request of the call)."""
        if given is None:
            return None
        if isinstance(given, str) and rows is not None:
            given = [given] * rows
        frame = as_frame(given, ["request_id"], "request_id", self.label)
        ids = frame["request_id"]
        if not (ptypes.is_string_dtype(ids.dtype) and not ptypes.is_object_dtype(ids.dtype)):
            # Whole numbers or UUIDs are kept as their text (a per-value step only for ids that are not text).
            frame["request_id"] = ids.map(lambda value: None if pd.isna(value) else str(value)).astype(object)
        return frame

    def _transformed_frame(self, given: Any) -> pd.DataFrame | None:
        """Transformed features; a DataFrame keeps its columns, rows follow the bound training dataset's columns."""
        if given is None:
            return None
        if isinstance(given, pd.DataFrame):
            return given.reset_index(drop=True)
        self._ensure_bound()
        return as_frame(given, self._binding.output_columns(self._meta), "transformed_features", self.label)

    def log(self, untransformed_features: Any = None, predictions: Any = None, transformed_features: Any = None,
            model: Any = None, *, serving_keys: Any = None, event_time: Any = None, request_id: Any = None,
            training_dataset_version: int | None = None, model_name: str | None = None,
            model_version: int | None = None, write_options: dict[str, Any] | None = None) -> int:
        """Log served requests: their features, predictions, keys and the model, for monitoring later.

        One row per request, written all together or not at all, stamped with the log
        time `fti.now()` (the simulated clock when ``FTI_NOW`` is set). Every argument
        takes a DataFrame (by column name), a list of dicts (by key), a list of lists or
        a numpy array (in column order), or, for one column, a Series or list of values.

        Args:
            untransformed_features: The model inputs before transformations, the columns of
                `feature_names`. A DataFrame may also hold the serving keys and the event time
                column, which are then logged as such.
            predictions: What the model predicted. A DataFrame keeps its column names;
                anything else is named after the view's labels (``is_fraud``). Logged and
                read back as ``predicted_<name>``, apart from the label that arrives later.
            transformed_features: The inputs after transformations (kept as given, read
                back with ``read_log(transformed=True)``).
            model: The registry model version that predicted (its name and version are logged).
            serving_keys: The keys looked up, e.g. the ``entry`` dicts given to
                `get_feature_vectors` (``[{"cc_num": 4242}, ...]``): any of the label side's
                primary key and the join keys (a DataFrame or dicts may hold some of them;
                rows of values must hold all, in that order).
            event_time: When each request happened (one time applies to all).
            request_id: An id per request (one text applies to all).
            training_dataset_version: Whose transformations were applied (default: the
                training dataset this handle is bound to).
            model_name: The model's name, instead of ``model``.
            model_version: The model's version, instead of ``model``.
            write_options: Accepted for Hopsworks code and ignored (there is no job to start).

        Returns:
            The number of rows logged.

        Raises:
            LoggingDisabledError: Logging is not enabled for this view.
            SchemaError: Features with missing or unexpected columns, rows of the wrong width,
                values that do not fit a logged column.
            ParameterError: Nothing to log, or arguments with different numbers of rows
                (`ParameterTypeError`: an argument or ``model`` of the wrong type).
        """
        where = self.label
        if write_options is not None and not isinstance(write_options, Mapping):
            raise ParameterTypeError(f"{where}: write_options must be a dict, got {type(write_options).__name__}")
        keys = serving_key_columns(self._meta)
        time_column = event_time_column(self._meta)
        features = None if untransformed_features is None else as_frame(
            untransformed_features, self.feature_names, "untransformed_features", where,
            passing=[*keys, time_column, *self.helper_columns])
        predicted = None if predictions is None else prediction_frame(predictions, self.labels, where)
        transformed = self._transformed_frame(transformed_features)
        rows = check_rows(where, untransformed_features=features, predictions=predicted,
                          transformed_features=transformed)
        key_frame = self._key_frame(serving_keys, untransformed_features, keys)
        time_frame = self._event_time_frame(event_time, untransformed_features, time_column, rows)
        id_frame = self._request_id_frame(request_id, rows)
        check_rows(where, untransformed_features=features, predictions=predicted, transformed_features=transformed,
                   serving_keys=key_frame, event_time=time_frame, request_id=id_frame)
        name, version = _model_identity(model, model_name, model_version, where)
        td = self._training_dataset_version(training_dataset_version)
        batch = LogBatch(rows, key_frame, time_frame, id_frame, features, transformed, predicted, name, version,
                         self.training_dataset_version if td is None else td)
        return self._logs.log(self._meta, batch)

    def read_log(self, start_time: Any = None, end_time: Any = None, filter: Any = None,  # noqa: A002 - Hopsworks' name
                 transformed: bool = False, training_dataset_version: int | None = None, model: Any = None, *,
                 model_name: str | None = None, model_version: int | None = None) -> pd.DataFrame:
        """The logged requests, in the order they were logged.

        Columns: ``log_time``, ``request_id``, ``model_name``, ``model_version``,
        ``training_dataset_version``, the serving keys, the event time, the features
        (untransformed, or transformed with ``transformed=True``) and the predictions
        (``predicted_<label>``). Times are UTC.

        Args:
            start_time: Only rows logged at or after this time.
            end_time: Only rows logged before this time.
            filter: Not supported here (Hopsworks takes a feature filter); filter the
                returned DataFrame with pandas instead.
            transformed: Return the transformed features instead of the untransformed ones.
            training_dataset_version: Only rows logged with this training dataset version.
            model: Only rows of this registry model version (its name and version).
            model_name: Only rows of this model name (instead of ``model``).
            model_version: Only rows of this model version (with ``model_name`` or alone).

        Raises:
            InvalidTimeError: ``start_time`` or ``end_time`` is not a time.
            ParameterError: A ``filter`` was given (`ParameterTypeError`: a bad ``model``).
        """
        where = self.label
        if filter is not None:
            raise ParameterError(
                f"{where}: read_log does not take a filter here; filter the DataFrame it returns, e.g. "
                "log[log['amount'] > 100]"
            )
        flags = self._flags(transformed=transformed)
        start = None if start_time is None else arguments.moment(start_time, "start_time", where)
        end = None if end_time is None else arguments.moment(end_time, "end_time", where)
        name, version = _model_identity(model, model_name, model_version, where)
        td = self._training_dataset_version(training_dataset_version)
        return self._logs.read(self._meta, start, end, name, version, flags["transformed"], td)
