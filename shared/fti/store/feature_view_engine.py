"""The feature view engine: view definitions, training datasets and online feature vectors.

It does the work behind `fti.store.feature_view.FeatureView`, on plain data: a
`FeatureViewMeta` (the stored definition with its `QueryPlan`), a `Binding` (which
training dataset's fitted transformations to apply), a `Split` and a `ServingPlan`.

Every ``train_test_split`` is saved as a *training dataset version*: the commit it
read, how it split, and the transformation state fitted on its training rows. That
is enough to re-create exactly the same data later, and it is what a model version
points to, so inference applies the transformations that model was trained with.
"""

from __future__ import annotations

import importlib
import inspect
import json
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from fti.exceptions import (
    FeatureViewNotFoundError,
    InUseError,
    QueryError,
    ServingError,
    TrainingDatasetNotFoundError,
)
from fti.names import check_name
from fti.store import arguments
from fti.store.feature_group_engine import FeatureGroupEngine, FeatureGroupMeta
from fti.store.query_engine import QueryEngine, QueryPlan, time_window
from fti.store.storage import Store, fetch_frame, fetch_record, fetch_rows
from fti.store.transformations import FittedTransformations, Transformation, parse_spec, spec_from_json, spec_to_json

OnDemand = Callable[..., Any]

_VIEW_SQL = "SELECT * FROM fti_feature_views WHERE name = ? AND version = ?"
_DATASET_SQL = "SELECT * FROM fti_training_datasets WHERE fv_name = ? AND fv_version = ? AND td_version = ?"


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


def _parameters(function: OnDemand, where: str, name: str) -> tuple[str, ...]:
    try:
        return tuple(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        raise QueryError(
            f"{where}: on-demand feature '{name}': the parameters of {function!r} cannot be read"
        ) from None


@dataclass(frozen=True)
class OnDemandFeature:
    """A feature computed by a function from other columns or request parameters.

    Attributes:
        name: The feature's name.
        reference: ``module:qualname`` of the function, as stored.
        function: The function, or None when it cannot be imported here (it was
            defined in a notebook); then it must be passed to ``get_feature_view``.
        arguments: The function's parameter names, read once (inspecting a signature
            on every request would cost more than the lookup).
    """

    name: str
    reference: str
    function: OnDemand | None
    arguments: tuple[str, ...] = ()

    @classmethod
    def of(cls, name: str, reference: str, function: OnDemand | None, where: str) -> OnDemandFeature:
        arguments = () if function is None else _parameters(function, where, name)
        return cls(name, reference, function, arguments)


@dataclass(frozen=True)
class FeatureViewMeta:
    """One feature view version: its stored definition, ready to compute with.

    Attributes:
        name: The view's name.
        version: Its version.
        description: Free text.
        plan: The query, with the feature groups' metadata.
        labels: Columns to predict.
        transformation_functions: ``{column: (step, ...)}``.
        on_demand: The on-demand features, in definition order.
    """

    name: str
    version: int
    description: str
    plan: QueryPlan
    labels: tuple[str, ...]
    transformation_functions: Mapping[str, tuple[Transformation, ...]] = field(hash=False)
    on_demand: tuple[OnDemandFeature, ...] = ()

    @property
    def label(self) -> str:
        """How messages name it: ``feature view 'fraud' v1``."""
        return f"feature view '{self.name}' v{self.version}"

    @property
    def feature_names(self) -> list[str]:
        """Model inputs before transformations: selected features, then on-demand features."""
        excluded = set(self.labels) | set(self.plan.helper_columns)
        return [name for name in self.plan.output if name not in excluded] + [f.name for f in self.on_demand]

    def function(self, feature: OnDemandFeature) -> OnDemand:
        """The function of an on-demand feature.

        Raises:
            QueryError: It could not be imported here and was not passed again.
        """
        if feature.function is None:
            raise QueryError(
                f"{self.label}: on-demand feature '{feature.name}' uses {feature.reference}, which cannot be "
                "imported here (a function defined in a notebook is not saved); pass it again: "
                f"fs.get_feature_view({self.name!r}, {self.version}, on_demand_features={{{feature.name!r}: function}})"
            )
        return feature.function


@dataclass(frozen=True)
class Split:
    """How a training dataset's rows were split; stored as JSON with the training dataset.

    Attributes:
        kind: ``"random"``, ``"time"`` or ``"all"`` (no test set).
        test_size: Fraction of test rows (random split).
        seed: Seed of the random split.
        train_start: First event time of the training set (time split), ISO text or None.
        train_end: End (exclusive) of the training set; None means ``test_start``.
        test_start: First event time of the test set.
        test_end: End (exclusive) of the test set.
    """

    kind: str
    test_size: float | None = None
    seed: int | None = None
    train_start: str | None = None
    train_end: str | None = None
    test_start: str | None = None
    test_end: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form, with only the keys of its kind (the stored format)."""
        if self.kind == "random":
            return {"kind": "random", "test_size": self.test_size, "seed": self.seed}
        if self.kind == "time":
            return {"kind": "time", "train_start": self.train_start, "train_end": self.train_end,
                    "test_start": self.test_start, "test_end": self.test_end}
        return {"kind": self.kind}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Split:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)

    def rows(self, frame: pd.DataFrame, event_time: str | None) -> tuple[np.ndarray, np.ndarray]:
        """Positions of the training rows and of the test rows of ``frame``."""
        n = len(frame)
        if self.kind == "all":
            return np.arange(n), np.arange(0)
        if self.kind == "random":
            order = np.random.default_rng(self.seed).permutation(n)
            n_test = int(round(self.test_size * n))
            return np.sort(order[n_test:]), np.sort(order[:n_test])
        times = frame[event_time]

        def between(start: str | None, end: str | None) -> np.ndarray:
            mask = np.ones(n, dtype=bool)
            if start is not None:
                mask &= (times >= pd.Timestamp(start)).to_numpy()
            if end is not None:
                mask &= (times < pd.Timestamp(end)).to_numpy()
            return np.flatnonzero(mask)

        return between(self.train_start, self.train_end or self.test_start), between(self.test_start, self.test_end)


@dataclass(frozen=True)
class TrainingDatasetMeta:
    """One training dataset version of a feature view.

    Attributes:
        version: Its number within the view.
        as_of_commit: The commit its rows were read as of.
        split: How it split them.
        description: Free text given when it was made.
        transformation_state: ``{column: [state, ...]}`` fitted on its training rows.
    """

    version: int
    as_of_commit: int
    split: Split
    description: str
    transformation_state: dict = field(hash=False)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> TrainingDatasetMeta:
        split = json.loads(record["split"])
        return cls(int(record["td_version"]), int(record["as_of_commit"]), Split.from_dict(split),
                   split.get("description", ""), json.loads(record["transformation_state"]))


@dataclass(frozen=True)
class Binding:
    """The training dataset whose fitted transformations a feature view applies.

    Attributes:
        training_dataset_version: None before any is chosen (or when the view has no
            transformations and none was asked for).
        fitted: The fitted transformations, or None when there is nothing to apply.
    """

    training_dataset_version: int | None = None
    fitted: FittedTransformations | None = field(default=None, compare=False)

    @classmethod
    def of(cls, view: FeatureViewMeta, dataset: TrainingDatasetMeta) -> Binding:
        state = dataset.transformation_state
        steps = {column: list(column_steps) for column, column_steps in view.transformation_functions.items()}
        return cls(dataset.version, FittedTransformations(steps, state) if state else None)

    def output_columns(self, view: FeatureViewMeta) -> list[str]:
        """The model's input columns after transformations (one-hot makes several)."""
        names = view.feature_names
        return self.fitted.output_columns(names) if self.fitted is not None else names


UNBOUND = Binding()


@dataclass(frozen=True)
class ServingStep:
    """How one feature group of a view contributes to a feature vector.

    Attributes:
        feature_group: Its label, for messages.
        outputs: ``((output column, column of the group), ...)`` to fill from the looked-up row.
        keys: ``((name in the entry or earlier outputs, key column of the group), ...)``.
        lookup: The prepared online lookup, or None when the group is not online enabled.
        ttl: Values older than this are served as missing, or None.
        event_time: The group's event time column, to check the ttl.
    """

    feature_group: str
    outputs: tuple[tuple[str, str], ...]
    keys: tuple[tuple[str, str], ...]
    lookup: Callable[[Sequence[object]], dict | None] | None
    ttl: Any = None
    event_time: str | None = None


class OnDemandCall(NamedTuple):
    """One on-demand feature at serving time (a tuple, so the hot path unpacks it cheaply).

    Attributes:
        name: The feature.
        function: What computes it (or raises why it cannot be imported here).
        parameters: The function's parameter names, looked up in the request, then in the features.
    """

    name: str
    function: OnDemand
    parameters: tuple[str, ...]


@dataclass(frozen=True)
class ServingPlan:
    """Everything `feature_vector` needs, prepared once by `FeatureViewEngine.serving_plan`.

    Attributes:
        view: The view's label, for messages.
        steps: One per feature group of the query.
        query_columns: The query's output columns (serving keys among them count as given).
        on_demand: One `OnDemandCall` per on-demand feature, in definition order.
        feature_names: Model inputs before transformations, in order.
        output_columns: Model inputs after transformations, in order.
        fitted: The transformations to apply, or None.
    """

    view: str
    steps: tuple[ServingStep, ...]
    query_columns: frozenset[str]
    on_demand: tuple[OnDemandCall, ...]
    feature_names: tuple[str, ...]
    output_columns: tuple[str, ...]
    fitted: FittedTransformations | None = field(default=None, compare=False)


def feature_vector(plan: ServingPlan, entry: Mapping[str, Any], request: Mapping[str, Any],
                   passed: Mapping[str, Any] | None, transformed: bool = True) -> list[Any]:
    """One row of model input: online lookups, passed features, on-demand features, transformations.

    With ``transformed=False`` the row is the untransformed features, in `feature_names` order.
    This is the serving hot path: everything that does not depend on the request was
    prepared in ``plan``.

    Raises:
        ServingError: A serving key or request parameter is missing, or a feature group
            that must be looked up is not online enabled.
    """
    # Serving keys that are also features (a card number on a transaction) count as given.
    query_columns = plan.query_columns
    given = {name: value for name, value in entry.items() if name in query_columns}
    if passed:
        given.update(passed)
    values: dict[str, Any] = {}
    now = None
    for step in plan.steps:
        outputs = step.outputs
        if all(out in given for out, _ in outputs):
            continue
        key_values = []
        for left, right in step.keys:
            if left in entry:
                key_values.append(entry[left])
            elif right in entry:
                key_values.append(entry[right])
            elif left in values:
                key_values.append(values[left])
            else:
                raise ServingError(
                    f"{plan.view}: serving key '{left}' for {step.feature_group} is missing from entry {entry}"
                )
        lookup = step.lookup
        if lookup is None:
            raise ServingError(
                f"{plan.view}: {step.feature_group} is not online enabled; enable it "
                "(online_enabled=True) or pass its features in passed_features"
            )
        row = lookup(key_values)
        if row is not None and step.ttl is not None and row.get(step.event_time) is not None:
            now = now or arguments.now()
            if now - row[step.event_time] > step.ttl:
                row = None
        for out, src in outputs:
            values[out] = None if row is None else row[src]
    values.update(given)
    for name, function, parameters in plan.on_demand:
        call = {}
        for parameter in parameters:
            if parameter in request:
                call[parameter] = request[parameter]
            elif parameter in values:
                call[parameter] = values[parameter]
            else:
                raise ServingError(
                    f"{plan.view}: on-demand feature '{name}' needs '{parameter}': pass it in request_parameters"
                )
        values[name] = function(**call)
    if plan.fitted is not None and transformed:
        return plan.fitted.transform_row(values, plan.feature_names)
    return [values.get(name) for name in plan.feature_names]


def _function_or_refusal(view: FeatureViewMeta, feature: OnDemandFeature) -> OnDemand:
    """The on-demand function, or one that raises why it is missing when a request needs it."""
    if feature.function is not None:
        return feature.function

    def missing(**_: Any) -> Any:
        return view.function(feature)  # raises QueryError: how to pass the function again

    return missing


def transform(view: FeatureViewMeta, binding: Binding, features: pd.DataFrame) -> pd.DataFrame:
    """Apply a binding's fitted transformations; columns that are not features pass through, in front.

    Raises:
        QueryError: A feature column is missing.
    """
    if binding.fitted is None:
        return features
    names = view.feature_names
    missing = [name for name in names if name not in features.columns]
    if missing:
        raise QueryError(f"{view.label}: cannot transform, feature column(s) {missing} are missing")
    others = [name for name in features.columns if name not in names]
    out = binding.fitted.transform(features[names])
    return pd.concat([features[others], out], axis=1) if others else out


def split_columns(view: FeatureViewMeta, binding: Binding, frame: pd.DataFrame, *, primary_key: bool,
                  event_time: bool, transformed: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``X`` (optionally with the label side's key and event time, in front) and ``y`` of a read frame."""
    left = view.plan.left
    helpers = (list(left.primary_key) if primary_key else []) + (
        [left.event_time] if event_time and left.event_time else []
    )
    X = frame[helpers + view.feature_names]
    y = frame[list(view.labels)]
    if transformed:
        X = transform(view, binding, X)
    return X.reset_index(drop=True), y.reset_index(drop=True)


@dataclass(frozen=True)
class TrainingData:
    """What making (or re-creating) a training dataset read.

    Attributes:
        frame: Every row, untransformed, with on-demand features.
        train_rows: Positions of the training rows.
        test_rows: Positions of the test rows.
        split: How they were split.
        binding: The training dataset and its fitted transformations.
    """

    frame: pd.DataFrame = field(compare=False)
    train_rows: np.ndarray = field(compare=False)
    test_rows: np.ndarray = field(compare=False)
    split: Split
    binding: Binding


class FeatureViewEngine:
    """Reads, writes and serves the feature views of one store.

    Args:
        storage: The store's offline database.
        feature_groups: For feature group metadata, ``as_of`` and the online copy.
        queries: Runs the views' queries.
    """

    def __init__(self, storage: Store, feature_groups: FeatureGroupEngine, queries: QueryEngine):
        self._storage = storage
        self._feature_groups = feature_groups
        self._queries = queries

    # -- definitions ------------------------------------------------------------------------------

    @staticmethod
    def check_definition(plan: QueryPlan, labels: list[str], transformation_functions: dict[str, Any],
                         on_demand_features: dict[str, OnDemand], where: str) -> tuple[dict, dict]:
        """Validate a definition; return the transformation JSON and on-demand references.

        Raises:
            QueryError: Unknown labels or transformed columns, bad on-demand functions.
            TransformationError: A transformation that cannot be made.
        """
        columns = plan.columns
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
            for argument in _parameters(function, where, name):
                if argument not in columns:
                    raise QueryError(
                        f"{where}: on-demand feature '{name}' takes '{argument}', which is not a column of the "
                        f"query {columns}; in training every input must be a column (at serving time it may "
                        "come from request_parameters)"
                    )
            on_demand_refs[name] = function_reference(function)
        transformations = {}
        # The label side's key and event time identify rows; they are never model inputs.
        helpers = set(plan.helper_columns)
        usable = [name for name in columns if name not in labels and name not in helpers] + list(on_demand_features)
        for column, spec in transformation_functions.items():
            if column not in usable:
                raise QueryError(f"{where}: cannot transform '{column}': it is not a feature of the view {usable}")
            transformations[column] = spec_to_json(parse_spec(spec, column, where))
        return transformations, on_demand_refs

    def get_or_create(self, name: str, version: int, plan: QueryPlan, labels: list[str],
                      transformation_functions: dict[str, Any], on_demand_features: dict[str, OnDemand],
                      description: str) -> FeatureViewMeta:
        """Return feature view ``name`` v``version``, creating it from this definition if it does not exist.

        Raises:
            QueryError: The definition is invalid, or differs from the stored one.
        """
        where = f"feature view '{name}' v{version}"
        transformations, refs = self.check_definition(plan, labels, transformation_functions, on_demand_features,
                                                      where)
        definition = [json.dumps(plan.to_dict(), sort_keys=True), json.dumps(labels),
                      json.dumps(transformations, sort_keys=True), json.dumps(refs, sort_keys=True)]
        with self._storage.transaction() as con:
            record = fetch_record(con, _VIEW_SQL, [name, version])
            if record is None:
                con.execute(
                    "INSERT INTO fti_feature_views VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [name, version, *definition, description, arguments.now()],
                )
                record = fetch_record(con, _VIEW_SQL, [name, version])
            else:
                stored = [record["query"], record["labels"], record["transformation_functions"],
                          record["on_demand_features"]]
                if stored != definition:
                    raise QueryError(
                        f"{where} exists with a different definition (query, labels, transformations or on-demand "
                        f"features); create version {version + 1}, or get it with "
                        f"fs.get_feature_view({name!r}, {version})"
                    )
        return self._meta(record, plan, on_demand_features)

    def newest_version(self, name: str) -> int | None:
        """The newest version of feature view ``name``, or None when there is none."""
        with self._storage.connect() as con:
            newest = fetch_rows(con, "SELECT max(version) FROM fti_feature_views WHERE name = ?", [name])[0][0]
        return None if newest is None else int(newest)

    def exists(self, name: str, version: int) -> bool:
        """Whether feature view ``name`` v``version`` exists."""
        with self._storage.connect() as con:
            return fetch_record(con, _VIEW_SQL, [name, version]) is not None

    def get(self, name: str, version: int | None, on_demand_features: dict[str, OnDemand]) -> FeatureViewMeta:
        """Return feature view ``name`` v``version`` (the newest when None), with its query's metadata.

        Args:
            on_demand_features: Functions to use for on-demand features that cannot be
                imported here.

        Raises:
            FeatureViewNotFoundError: There is no such feature view.
        """
        with self._storage.connect() as con:
            if version is None:
                version = fetch_rows(con, "SELECT max(version) FROM fti_feature_views WHERE name = ?", [name])[0][0]
            record = None if version is None else fetch_record(con, _VIEW_SQL, [name, int(version)])
            if record is None:
                which = "any version" if version is None else f"version {version}"
                raise FeatureViewNotFoundError(
                    f"there is no feature view '{name}' ({which}) in the store {self._storage.path}"
                )
            plan = QueryPlan.from_dict(json.loads(record["query"]), self._feature_groups.get)
        functions = {
            feature: on_demand_features.get(feature) or import_function(reference)
            for feature, reference in json.loads(record["on_demand_features"]).items()
        }
        return self._meta(record, plan, functions)

    @staticmethod
    def readers(con: Any, name: str, version: int) -> list[str]:
        """Feature views whose query reads feature group ``name`` v``version``, as ``"'view' v1"``, on ``con``."""
        rows = fetch_rows(con, "SELECT name, version, query FROM fti_feature_views ORDER BY name, version")
        return [f"'{view}' v{view_version}" for view, view_version, query in rows
                if (name, version) in QueryPlan.feature_groups_in(json.loads(query))]

    def delete(self, name: str, version: int, users: Callable[[Any], list[str]]) -> None:
        """Delete a feature view version and its training datasets, all or nothing.

        Args:
            name: The feature view.
            version: Its version.
            users: Given the open connection, the models trained from this version, e.g.
                ``["'titanic' v1"]``: while there are any, the delete is refused.

        Raises:
            FeatureViewNotFoundError: There is no such feature view.
            InUseError: A model version was trained from it; nothing was deleted.
        """
        label = f"feature view '{name}' v{version}"
        with self._storage.transaction() as con:
            if fetch_record(con, _VIEW_SQL, [name, version]) is None:
                raise FeatureViewNotFoundError(f"there is no {label} in the store {self._storage.path}")
            models = users(con)
            if models:
                raise InUseError(
                    f"{label} cannot be deleted: model {', '.join(models)} was trained from it and would lose its "
                    "transformations. Delete those model versions first (model.delete()), or keep this version "
                    f"and create version {version + 1}"
                )
            con.execute("DELETE FROM fti_training_datasets WHERE fv_name = ? AND fv_version = ?", [name, version])
            con.execute("DELETE FROM fti_feature_views WHERE name = ? AND version = ?", [name, version])
            con.execute("INSERT INTO fti_deleted VALUES (?, ?, ?, ?, NULL)",
                        ["feature view", name, version, arguments.now()])

    @staticmethod
    def _meta(record: dict[str, Any], plan: QueryPlan,
              functions: Mapping[str, OnDemand | None]) -> FeatureViewMeta:
        where = f"feature view '{record['name']}' v{record['version']}"
        refs = json.loads(record["on_demand_features"])
        return FeatureViewMeta(
            name=record["name"],
            version=int(record["version"]),
            description=record["description"],
            plan=plan,
            labels=tuple(json.loads(record["labels"])),
            transformation_functions=types.MappingProxyType({
                column: tuple(spec_from_json(steps))
                for column, steps in json.loads(record["transformation_functions"]).items()
            }),
            on_demand=tuple(OnDemandFeature.of(name, reference, functions.get(name), where)
                            for name, reference in refs.items()),
        )

    # -- reading --------------------------------------------------------------------------------

    def read(self, view: FeatureViewMeta, commit: int | None, start: pd.Timestamp | None = None,
             end: pd.Timestamp | None = None) -> pd.DataFrame:
        """The view's query as of a commit, with its on-demand features computed."""
        frame = self._queries.read_at(view.plan, commit, start, end)
        for feature in view.on_demand:
            function = view.function(feature)
            columns = [frame[argument].tolist() for argument in feature.arguments]
            # Row by row, exactly as at serving time: one function, one meaning.
            frame[feature.name] = [function(*row) for row in zip(*columns, strict=True)] if len(frame) else []
        return frame

    def batch_data(self, view: FeatureViewMeta, start_time: Any, end_time: Any, as_of: Any) -> pd.DataFrame:
        """The untransformed rows with event time in ``[start_time, end_time)``, as of ``as_of``."""
        with self._storage.connect():
            commit = self._feature_groups.resolve_as_of(view.plan.left, as_of)
            start, end = time_window(start_time, end_time, view.label)
            return self.read(view, commit, start, end)

    # -- training datasets ----------------------------------------------------------------------------

    def create_training_dataset(self, view: FeatureViewMeta, split: Split, as_of: Any,
                                description: str) -> TrainingData:
        """Read the view as of ``as_of``, split it, fit the transformations on the training rows, save it all."""
        with self._storage.connect():
            commit = self._feature_groups.resolve_as_of(view.plan.left, as_of)
            if commit is None:
                commit = self._feature_groups.latest_commit()
            frame = self.read(view, commit)
            train_rows, test_rows = split.rows(frame, view.plan.left.event_time)
            steps = {column: list(column_steps) for column, column_steps in view.transformation_functions.items()}
            fitted = (
                FittedTransformations.fit(steps, frame.iloc[train_rows][view.feature_names]) if steps else None
            )
            binding = Binding(None, fitted)
            version = self._save_training_dataset(view, binding, commit, split, description)
        return TrainingData(frame, train_rows, test_rows, split, Binding(version, fitted))

    def _save_training_dataset(self, view: FeatureViewMeta, binding: Binding, commit: int, split: Split,
                               description: str) -> int:
        with self._storage.transaction() as tx:
            if fetch_record(tx, _VIEW_SQL, [view.name, view.version]) is None:
                # A handle kept in a notebook after fv.delete(): no training dataset without its view.
                raise FeatureViewNotFoundError(
                    f"{view.label} was deleted: create it again with fs.get_or_create_feature_view(...)")
            version = int(fetch_rows(
                tx, "SELECT coalesce(max(td_version), 0) + 1 FROM fti_training_datasets "
                "WHERE fv_name = ? AND fv_version = ?",
                [view.name, view.version],
            )[0][0])
            state = {} if binding.fitted is None else binding.fitted.state
            tx.execute(
                "INSERT INTO fti_training_datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [view.name, view.version, version, arguments.now(), commit,
                 json.dumps({**split.to_dict(), "description": description}, sort_keys=True),
                 json.dumps(state, sort_keys=True), json.dumps(binding.output_columns(view))],
            )
        return version

    def training_dataset(self, name: str, version: int, training_dataset_version: int | None) -> TrainingDatasetMeta:
        """A training dataset version of feature view ``name`` v``version`` (the newest when None).

        Raises:
            TrainingDatasetNotFoundError: There is none (with this version).
        """
        label = f"feature view '{name}' v{version}"
        with self._storage.connect() as con:
            td = training_dataset_version
            if td is None:
                td = fetch_rows(
                    con, "SELECT max(td_version) FROM fti_training_datasets WHERE fv_name = ? AND fv_version = ?",
                    [name, version],
                )[0][0]
                if td is None:
                    raise TrainingDatasetNotFoundError(
                        f"{label} has no training dataset yet: its transformations are fitted by "
                        "train_test_split (or training_data) in the training pipeline"
                    )
            record = fetch_record(con, _DATASET_SQL, [name, version, int(td)])
        if record is None:
            raise TrainingDatasetNotFoundError(f"{label} has no training dataset version {td}")
        return TrainingDatasetMeta.from_record(record)

    def training_data(self, view: FeatureViewMeta, training_dataset_version: int) -> TrainingData:
        """Re-create the rows of an earlier training dataset version, as of the commit it recorded."""
        # One connection for the metadata and the rows: each open of the file costs ~25 ms.
        with self._storage.connect():
            dataset = self.training_dataset(view.name, view.version, training_dataset_version)
            frame = self.read(view, dataset.as_of_commit)
        train_rows, test_rows = dataset.split.rows(frame, view.plan.left.event_time)
        return TrainingData(frame, train_rows, test_rows, dataset.split, Binding.of(view, dataset))

    def list_all(self) -> pd.DataFrame:
        """Every feature view: name, version, labels, number of training datasets, description, created_at."""
        with self._storage.connect() as con:
            frame = fetch_frame(
                con,
                "SELECT v.name, v.version, v.labels, count(t.td_version) AS training_datasets, v.description, "
                "v.created_at FROM fti_feature_views v LEFT JOIN fti_training_datasets t "
                "ON t.fv_name = v.name AND t.fv_version = v.version GROUP BY ALL ORDER BY v.name, v.version",
            )
        frame["labels"] = [json.loads(labels) for labels in frame["labels"]]
        return frame

    def training_datasets(self, name: str, version: int) -> pd.DataFrame:
        """Every training dataset version of a view: when, which commit, how it split."""
        with self._storage.connect() as con:
            return fetch_frame(
                con,
                "SELECT td_version, created_at, as_of_commit, split FROM fti_training_datasets "
                "WHERE fv_name = ? AND fv_version = ? ORDER BY td_version",
                [name, version],
            )

    def bind(self, view: FeatureViewMeta, training_dataset_version: int | None) -> Binding:
        """The binding to a training dataset version (the newest when None).

        A view without transformations needs none, so asking for "the newest" of such
        a view binds to nothing rather than failing.

        Raises:
            TrainingDatasetNotFoundError: The view has transformations but no such training dataset.
        """
        if training_dataset_version is None and not view.transformation_functions:
            return UNBOUND
        return Binding.of(view, self.training_dataset(view.name, view.version, training_dataset_version))

    # -- serving -------------------------------------------------------------------------------------

    def serving_plan(self, view: FeatureViewMeta, binding: Binding) -> ServingPlan:
        """Bring the view's online feature groups up to date and prepare their lookups."""
        for fg in view.plan.feature_groups:
            if fg.online_enabled:
                self._feature_groups.sync_online(fg)
        skipped = set(view.labels) | set(view.plan.helper_columns)
        steps = []
        for index, part in enumerate(view.plan.parts):
            fg: FeatureGroupMeta = part.feature_group
            outputs = tuple((out, origin.column) for out, origin in view.plan.output.items()
                            if origin.part == index and out not in skipped)
            keys = tuple((key, key) for key in fg.primary_key) if index == 0 else part.on
            wanted = [src for _, src in outputs]
            if fg.ttl is not None and fg.event_time and fg.event_time not in wanted:
                wanted.append(fg.event_time)
            lookup = self._feature_groups.online_lookup(fg, wanted) if fg.online_enabled and wanted else None
            steps.append(ServingStep(fg.label, outputs, keys, lookup, fg.ttl, fg.event_time))
        return ServingPlan(
            view=view.label,
            steps=tuple(steps),
            query_columns=frozenset(view.plan.output),
            on_demand=tuple(OnDemandCall(feature.name, _function_or_refusal(view, feature), feature.arguments)
                            for feature in view.on_demand),
            feature_names=tuple(view.feature_names),
            output_columns=tuple(binding.output_columns(view)),
            fitted=binding.fitted,
        )
