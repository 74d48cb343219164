"""Feature views: the one definition of a model's inputs, used by training and inference alike.

A feature view names a query (which features, joined point-in-time), the labels
to predict, the model-dependent transformations and any on-demand features. The
training pipeline asks it for training data; the inference pipelines ask the
*same* view for batch data or single feature vectors, so a model never sees its
inputs computed two different ways (training/serving skew).

Every ``train_test_split`` is saved as a *training dataset version*: the commit
it read, how it split, and the transformation state fitted on its training rows.
That is enough to re-create exactly the same data later, and it is what a model
version points to, so inference applies the transformations that model was
trained with.
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fti import clock
from fti.exceptions import QueryError, ServingError, TrainingDatasetNotFoundError
from fti.names import check_name
from fti.store.query import Query
from fti.store.storage import fetch_frame, fetch_record, fetch_rows
from fti.store.transformations import FittedTransformations, Transformation, parse_spec, spec_from_json, spec_to_json

if TYPE_CHECKING:
    from fti.store.feature_store import FeatureStore

OnDemand = Callable[..., Any]


def function_reference(function: OnDemand) -> str:
    """``module:qualname`` of a function, stored so other processes can import it again."""
    return f"{function.__module__}:{function.__qualname__}"


def import_function(reference: str) -> OnDemand | None:
    """Import a function from ``module:qualname``; None if it cannot be found (e.g. it lived in a notebook)."""
    module_name, _, qualname = reference.partition(":")
    if module_name == "__main__":
        return None
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError):
        return None
    return target if callable(target) else None


class FeatureView:
    """A handle on one feature view version. Get one from `FeatureStore.get_or_create_feature_view`."""

    def __init__(self, fs: FeatureStore, record: dict[str, Any], query: Query,
                 on_demand: dict[str, OnDemand | None]):
        self._fs = fs
        self.name: str = record["name"]
        self.version: int = int(record["version"])
        self.description: str = record["description"]
        self.query = query
        self.labels: list[str] = json.loads(record["labels"])
        self.transformation_functions: dict[str, list[Transformation]] = {
            column: spec_from_json(steps) for column, steps in json.loads(record["transformation_functions"]).items()
        }
        self._on_demand_refs: dict[str, str] = json.loads(record["on_demand_features"])
        self._on_demand = on_demand
        self._on_demand_args: dict[str, list[str]] = {}
        self._training_dataset_version: int | None = None
        self._fitted: FittedTransformations | None = None
        self._serving_plan: list[dict[str, Any]] | None = None

    # -- description ---------------------------------------------------------------------------

    @property
    def label(self) -> str:
        return f"feature view '{self.name}' v{self.version}"

    @property
    def helper_columns(self) -> list[str]:
        """The label side's primary key and event time: they identify rows but are not model inputs."""
        left = self.query.left
        return left.primary_key + ([left.event_time] if left.event_time else [])

    @property
    def feature_names(self) -> list[str]:
        """Model inputs before transformations: selected features, then on-demand features."""
        excluded = set(self.labels) | set(self.helper_columns)
        return [name for name in self.query.columns if name not in excluded] + list(self._on_demand_refs)

    @property
    def training_dataset_version(self) -> int | None:
        """The training dataset whose transformation state this handle applies (None: none yet)."""
        return self._training_dataset_version

    def __repr__(self) -> str:
        return (
            f"FeatureView(name={self.name!r}, version={self.version}, features={self.feature_names}, "
            f"labels={self.labels})"
        )

    @staticmethod
    def check_definition(query: Query, labels: list[str], transformation_functions: dict[str, Any],
                         on_demand_features: dict[str, OnDemand], where: str) -> tuple[dict, dict]:
        """Validate a definition; return the transformation JSON and on-demand references.

        Raises:
            QueryError: Unknown labels or transformed columns, bad on-demand functions.
        """
        if not isinstance(query, Query):
            raise QueryError(f"{where}: query must be built with fg.select(...), got {type(query).__name__}")
        columns = query.columns
        for label in labels:
            if label not in columns:
                raise QueryError(f"{where}: label '{label}' is not a column of the query {columns}")
        on_demand_refs = {}
        for name, function in on_demand_features.items():
            check_name(name, f"{where}: on-demand feature")
            if name in columns:
                raise QueryError(f"{where}: on-demand feature '{name}' clashes with a column of the query")
            if not callable(function):
                raise QueryError(f"{where}: on-demand feature '{name}' must be a function, got {function!r}")
            for argument in inspect.signature(function).parameters:
                if argument not in columns:
                    raise QueryError(
                        f"{where}: on-demand feature '{name}' takes '{argument}', which is not a column of the "
                        f"query {columns}; in training every input must be a column (at serving time it may "
                        "come from request_parameters)"
                    )
            on_demand_refs[name] = function_reference(function)
        transformations = {}
        # The label side's key and event time identify rows; they are never model inputs.
        helpers = set(query.left.primary_key) | ({query.left.event_time} if query.left.event_time else set())
        usable = [name for name in columns if name not in labels and name not in helpers] + list(on_demand_features)
        for column, spec in transformation_functions.items():
            if column not in usable:
                raise QueryError(f"{where}: cannot transform '{column}': it is not a feature of the view {usable}")
            transformations[column] = spec_to_json(parse_spec(spec, column))
        return transformations, on_demand_refs

    # -- shared steps ---------------------------------------------------------------------------

    def _on_demand_function(self, name: str) -> OnDemand:
        function = self._on_demand.get(name)
        if function is None:
            raise QueryError(
                f"{self.label}: on-demand feature '{name}' uses {self._on_demand_refs[name]}, which cannot be "
                "imported here (a function defined in a notebook is not saved); pass it again: "
                f"fs.get_feature_view({self.name!r}, {self.version}, on_demand_features={{{name!r}: function}})"
            )
        return function

    def _on_demand_arguments(self, name: str) -> list[str]:
        # Read once: inspecting a signature on every request would cost more than the lookup.
        if name not in self._on_demand_args:
            self._on_demand_args[name] = list(inspect.signature(self._on_demand_function(name)).parameters)
        return self._on_demand_args[name]

    def _add_on_demand(self, frame: pd.DataFrame) -> pd.DataFrame:
        for name in self._on_demand_refs:
            function = self._on_demand_function(name)
            arguments = self._on_demand_arguments(name)
            columns = [frame[argument].tolist() for argument in arguments]
            # Row by row, exactly as at serving time: one function, one meaning.
            frame[name] = [function(*row) for row in zip(*columns)] if len(frame) else []
        return frame

    def _split_columns(self, frame: pd.DataFrame, primary_key: bool, event_time: bool,
                       transformed: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
        left = self.query.left
        helpers = (left.primary_key if primary_key else []) + (
            [left.event_time] if event_time and left.event_time else []
        )
        features = self.feature_names
        X = frame[helpers + features]
        y = frame[self.labels]
        if transformed:
            X = self.transform(X)
        return X.reset_index(drop=True), y.reset_index(drop=True)

    def transform(self, features: pd.DataFrame) -> pd.DataFrame:
        """Apply the bound training dataset's fitted transformations to untransformed features.

        Columns that are not features of this view (keys, event time) pass through
        unchanged, in front.
        """
        self._ensure_bound()
        if self._fitted is None:
            return features
        names = self.feature_names
        missing = [name for name in names if name not in features.columns]
        if missing:
            raise QueryError(f"{self.label}: cannot transform, feature column(s) {missing} are missing")
        others = [name for name in features.columns if name not in names]
        out = self._fitted.transform(features[names])
        return pd.concat([features[others], out], axis=1) if others else out

    @staticmethod
    def _labels_out(y: pd.DataFrame) -> pd.Series | pd.DataFrame:
        # One label comes back as a Series, which every scikit-learn estimator takes as is.
        return y.iloc[:, 0] if y.shape[1] == 1 else y

    def _four_way(self, X: pd.DataFrame, y: pd.DataFrame, train_rows: np.ndarray, test_rows: np.ndarray) -> tuple:
        """``X_train, X_test, y_train, y_test`` from row positions."""
        def rows(frame: pd.DataFrame, positions: np.ndarray) -> pd.DataFrame:
            return frame.iloc[positions].reset_index(drop=True)

        return (rows(X, train_rows), rows(X, test_rows),
                self._labels_out(rows(y, train_rows)), self._labels_out(rows(y, test_rows)))

    def _read(self, commit: int | None, start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.DataFrame:
        with self._fs._store.connect() as con:
            sql, params = self.query.sql(commit, start, end)
            frame = fetch_frame(con, sql, params)
        return self._add_on_demand(frame)

    # -- training data --------------------------------------------------------------------------

    def train_test_split(self, test_size: float | None = None, seed: int | None = None, *,
                         test_start: Any = None, test_end: Any = None, train_start: Any = None,
                         train_end: Any = None, as_of: Any = None, description: str = "",
                         primary_key: bool = False, event_time: bool = False) -> tuple:
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

        Returns:
            ``X_train, X_test, y_train, y_test``: y is a Series when there is one label.
        """
        if test_start is None and test_size is None:
            raise QueryError(f"{self.label}: train_test_split needs test_size (random split) or test_start (time split)")
        if test_start is not None and test_size is not None:
            raise QueryError(f"{self.label}: give test_size or test_start, not both")
        if test_size is not None:
            if not 0 < float(test_size) < 1:
                raise QueryError(f"{self.label}: test_size must be between 0 and 1, got {test_size!r}")
            if seed is None:
                # Draw and record a seed, so get_train_test_split re-creates this very split.
                seed = int(np.random.SeedSequence().generate_state(1)[0])
            split = {"kind": "random", "test_size": float(test_size), "seed": int(seed)}
        else:
            if not self.query.left.event_time:
                raise QueryError(f"{self.label}: a time split needs an event time on {self.query.left.label}")
            split = {"kind": "time"}
            for key, value in (("train_start", train_start), ("train_end", train_end),
                               ("test_start", test_start), ("test_end", test_end)):
                split[key] = None if value is None else clock.to_utc(value, key).isoformat()
        with self._fs._store.connect() as con:
            commit = self._fs._resolve_as_of(con, as_of, self.query.left)
            if commit is None:
                commit = self._fs._latest_commit(con)
            frame = self._read(commit, None, None)
            train_rows, test_rows = self._split_rows(frame, split)
            train = frame.iloc[train_rows]
            self._fitted = (
                FittedTransformations.fit(self.transformation_functions, train[self.feature_names])
                if self.transformation_functions else None
            )
            self._training_dataset_version = self._save_training_dataset(con, commit, split, description)
        X, y = self._split_columns(frame, primary_key, event_time)
        return self._four_way(X, y, train_rows, test_rows)

    def training_data(self, as_of: Any = None, description: str = "", primary_key: bool = False,
                      event_time: bool = False) -> tuple:
        """Create a training dataset version of all rows (no split); return ``X, y``."""
        with self._fs._store.connect() as con:
            commit = self._fs._resolve_as_of(con, as_of, self.query.left)
            if commit is None:
                commit = self._fs._latest_commit(con)
            frame = self._read(commit, None, None)
            self._fitted = (
                FittedTransformations.fit(self.transformation_functions, frame[self.feature_names])
                if self.transformation_functions else None
            )
            self._training_dataset_version = self._save_training_dataset(con, commit, {"kind": "all"}, description)
        X, y = self._split_columns(frame, primary_key, event_time)
        return X, self._labels_out(y)

    def _split_rows(self, frame: pd.DataFrame, split: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        n = len(frame)
        if split["kind"] == "all":
            return np.arange(n), np.arange(0)
        if split["kind"] == "random":
            order = np.random.default_rng(split["seed"]).permutation(n)
            n_test = int(round(split["test_size"] * n))
            return np.sort(order[n_test:]), np.sort(order[:n_test])
        times = frame[self.query.left.event_time]

        def between(start: str | None, end: str | None) -> np.ndarray:
            mask = np.ones(n, dtype=bool)
            if start is not None:
                mask &= (times >= pd.Timestamp(start)).to_numpy()
            if end is not None:
                mask &= (times < pd.Timestamp(end)).to_numpy()
            return np.flatnonzero(mask)

        train = between(split["train_start"], split["train_end"] or split["test_start"])
        test = between(split["test_start"], split["test_end"])
        return train, test

    def _save_training_dataset(self, con, commit: int, split: dict[str, Any], description: str) -> int:
        with self._fs._store.transaction() as tx:
            version = int(fetch_rows(
                tx, "SELECT coalesce(max(td_version), 0) + 1 FROM fti_training_datasets WHERE fv_name = ? AND fv_version = ?",
                [self.name, self.version],
            )[0][0])
            state = {} if self._fitted is None else self._fitted.state
            outputs = self._output_columns()
            tx.execute(
                "INSERT INTO fti_training_datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [self.name, self.version, version, clock.now(), commit,
                 json.dumps({**split, "description": description}, sort_keys=True),
                 json.dumps(state, sort_keys=True), json.dumps(outputs)],
            )
        return version

    def _output_columns(self) -> list[str]:
        names = self.feature_names
        return self._fitted.output_columns(names) if self._fitted is not None else names

    def get_train_test_split(self, training_dataset_version: int, primary_key: bool = False,
                             event_time: bool = False, transformed: bool = True) -> tuple:
        """Re-create the exact data of an earlier training dataset version.

        The feature groups are read as of the commit that version recorded, so new
        inserts and upserts since then do not change the result.

        Args:
            training_dataset_version: Which version to re-create.
            primary_key: Also return the label side's primary key columns in X.
            event_time: Also return the label side's event time column in X.
            transformed: False returns the features before transformations, e.g. to
                score another model version, with its own transformations, on the same rows.
        """
        record = self._training_dataset_record(training_dataset_version)
        split = json.loads(record["split"])
        self._bind(training_dataset_version, record)
        frame = self._read(int(record["as_of_commit"]), None, None)
        train_rows, test_rows = self._split_rows(frame, split)
        X, y = self._split_columns(frame, primary_key, event_time, transformed=transformed)
        if split["kind"] == "all":
            return X, self._labels_out(y)
        return self._four_way(X, y, train_rows, test_rows)

    get_training_data = get_train_test_split

    def get_training_datasets(self) -> pd.DataFrame:
        """Every training dataset version of this view: when, which commit, how it split."""
        with self._fs._store.connect() as con:
            return fetch_frame(
                con,
                "SELECT td_version, created_at, as_of_commit, split FROM fti_training_datasets "
                "WHERE fv_name = ? AND fv_version = ? ORDER BY td_version",
                [self.name, self.version],
            )

    def _training_dataset_record(self, version: int | None) -> dict[str, Any]:
        with self._fs._store.connect() as con:
            if version is None:
                rows = fetch_rows(
                    con, "SELECT max(td_version) FROM fti_training_datasets WHERE fv_name = ? AND fv_version = ?",
                    [self.name, self.version],
                )
                version = rows[0][0]
                if version is None:
                    raise TrainingDatasetNotFoundError(
                        f"{self.label} has no training dataset yet: its transformations are fitted by "
                        "train_test_split (or training_data) in the training pipeline"
                    )
            record = fetch_record(
                con, "SELECT * FROM fti_training_datasets WHERE fv_name = ? AND fv_version = ? AND td_version = ?",
                [self.name, self.version, int(version)],
            )
        if record is None:
            raise TrainingDatasetNotFoundError(f"{self.label} has no training dataset version {version}")
        return record

    def _bind(self, version: int | None, record: dict[str, Any] | None = None) -> None:
        if record is None:
            if not self.transformation_functions and version is None:
                self._training_dataset_version, self._fitted = None, None
                return
            record = self._training_dataset_record(version)
        state = json.loads(record["transformation_state"])
        self._training_dataset_version = int(record["td_version"])
        self._fitted = FittedTransformations(self.transformation_functions, state) if state else None
        self._serving_plan = None

    # -- inference ------------------------------------------------------------------------------

    def init_batch_scoring(self, training_dataset_version: int | None = None) -> None:
        """Use the transformation state of this training dataset version (default: the latest)."""
        self._bind(training_dataset_version)

    def init_serving(self, training_dataset_version: int | None = None) -> None:
        """Prepare online lookups with this training dataset version's transformations (default: the latest)."""
        self._bind(training_dataset_version)
        for fg in self.query.feature_groups:
            if fg.online_enabled:
                self._fs._sync_online(fg)
        self._serving_plan = self._make_serving_plan()

    def _ensure_bound(self) -> None:
        if self._training_dataset_version is None and self.transformation_functions:
            self._bind(None)

    def get_batch_data(self, start_time: Any = None, end_time: Any = None, *, primary_key: bool = False,
                       event_time: bool = False, as_of: Any = None) -> pd.DataFrame:
        """Features of the observations with event time in ``[start_time, end_time)``, ready for ``predict``.

        Transformations use the state of the bound training dataset version (see
        `init_batch_scoring`; by default the latest one).

        Args:
            start_time: Inclusive lower bound on the label side's event time.
            end_time: Exclusive upper bound.
            primary_key: Also return the primary key columns (to attach predictions to).
            event_time: Also return the event time column.
            as_of: Read the feature groups as of a commit id or datetime.
        """
        self._ensure_bound()
        with self._fs._store.connect() as con:
            commit = self._fs._resolve_as_of(con, as_of, self.query.left)
            start, end = self._fs._time_window(start_time, end_time)
            frame = self._read(commit, start, end)
        X, _ = self._split_columns(frame, primary_key, event_time)
        return X

    def _make_serving_plan(self) -> list[dict[str, Any]]:
        plan = []
        output = self.query._output
        for index, part in enumerate(self.query._parts):
            fg = part.fg
            outputs = [(out, src) for out, (i, src, _) in output.items()
                       if i == index and out not in self.labels and out not in self.helper_columns]
            keys = [(key, key) for key in fg.primary_key] if index == 0 else list(part.on)
            wanted = [src for _, src in outputs]
            if fg.ttl is not None and fg.event_time and fg.event_time not in wanted:
                wanted.append(fg.event_time)
            lookup = None
            if fg.online_enabled and wanted:
                lookup = self._fs._online.lookup_plan(fg.table, fg.columns, fg.primary_key, wanted)
            plan.append({"fg": fg, "outputs": outputs, "keys": keys, "lookup": lookup,
                         "ttl": fg.ttl, "event_time": fg.event_time, "right_keys": [r for _, r in keys]})
        return plan

    def get_feature_vector(self, entry: dict[str, Any], request_parameters: dict[str, Any] | None = None,
                           passed_features: dict[str, Any] | None = None, return_type: str = "list") -> Any:
        """One row of model input from the online store, for real-time inference.

        Looks up the newest values of each online-enabled feature group by key,
        computes on-demand features from ``request_parameters``, and applies the
        transformations, in the order of the training columns.

        Args:
            entry: Serving keys, e.g. ``{"cc_num": 4242}``.
            request_parameters: Values known only at request time, for on-demand features.
            passed_features: Feature values supplied by the caller instead of looked up.
            return_type: ``"list"`` (default), ``"dict"`` or ``"pandas"``.

        Raises:
            ServingError: A serving key is missing, or a feature group that must be
                looked up is not online enabled.
        """
        if self._serving_plan is None:
            self._ensure_bound()
            self.init_serving(self._training_dataset_version)
        request = request_parameters or {}
        # Serving keys that are also features (a card number on a transaction) count as given.
        given = {**{name: value for name, value in entry.items() if name in self.query._output},
                 **(passed_features or {})}
        values: dict[str, Any] = {}
        now = None
        for step in self._serving_plan:
            outputs = step["outputs"]
            if all(out in given for out, _ in outputs):
                continue
            key_values = []
            for left, right in step["keys"]:
                if left in entry:
                    key_values.append(entry[left])
                elif right in entry:
                    key_values.append(entry[right])
                elif left in values:
                    key_values.append(values[left])
                else:
                    raise ServingError(
                        f"{self.label}: serving key '{left}' for {step['fg'].label} is missing from entry {entry}"
                    )
            if step["lookup"] is None:
                raise ServingError(
                    f"{self.label}: {step['fg'].label} is not online enabled; enable it "
                    "(online_enabled=True) or pass its features in passed_features"
                )
            row = step["lookup"](key_values)
            if row is not None and step["ttl"] is not None and row.get(step["event_time"]) is not None:
                now = now or clock.now()
                if now - row[step["event_time"]] > step["ttl"]:
                    row = None
            for out, src in outputs:
                values[out] = None if row is None else row[src]
        values.update(given)
        for name in self._on_demand_refs:
            function = self._on_demand_function(name)
            arguments = {}
            for argument in self._on_demand_arguments(name):
                if argument in request:
                    arguments[argument] = request[argument]
                elif argument in values:
                    arguments[argument] = values[argument]
                else:
                    raise ServingError(
                        f"{self.label}: on-demand feature '{name}' needs '{argument}': pass it in request_parameters"
                    )
            values[name] = function(**arguments)
        features = self.feature_names
        if self._fitted is not None:
            vector = self._fitted.transform_row(values, features)
        else:
            vector = [values.get(name) for name in features]
        if return_type == "list":
            return vector
        columns = self._output_columns()
        if return_type == "dict":
            return dict(zip(columns, vector))
        if return_type == "pandas":
            return pd.DataFrame([vector], columns=columns)
        raise ValueError(f"return_type {return_type!r} is not one of 'list', 'dict', 'pandas'")

    def get_feature_vectors(self, entry: list[dict[str, Any]], request_parameters: list[dict[str, Any]] | None = None,
                            passed_features: list[dict[str, Any]] | None = None, return_type: str = "list") -> Any:
        """`get_feature_vector` for several entries; ``"pandas"`` gives one DataFrame."""
        requests = request_parameters or [None] * len(entry)
        passed = passed_features or [None] * len(entry)
        if len(requests) != len(entry) or len(passed) != len(entry):
            raise ServingError(f"{self.label}: request_parameters and passed_features need one item per entry")
        inner = "dict" if return_type == "pandas" else return_type
        vectors = [self.get_feature_vector(e, r, p, inner) for e, r, p in zip(entry, requests, passed)]
        return pd.DataFrame(vectors) if return_type == "pandas" else vectors
