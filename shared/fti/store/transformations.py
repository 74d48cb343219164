"""Model-dependent transformations: encoders, scalers and imputers.

They are *model-dependent* because their parameters (a mean, the list of
categories) are learned from the training data of one model. So they are fitted
on the training split only (never on test rows, which would leak), saved with the
training dataset version, and applied by the same code to training data, batch
inference data and single online feature vectors. A model trained on scaled ages
then always sees ages scaled the same way.

Each transformation is a small stateless object: ``fit`` returns a JSON-able
state, ``transform`` applies it to a column, ``transform_value`` to one value
(the online path, where building a pandas object per request would cost more
than the lookup itself).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from fti.exceptions import ParameterTypeError, TransformationError


def _present(series: pd.Series) -> pd.Series:
    return series.dropna()


def _plain(value: Any) -> Any:
    """numpy scalars to Python ones, so states serialise to JSON."""
    return value.item() if hasattr(value, "item") else value


def _categories(series: pd.Series) -> list[Any]:
    """The distinct present values of a training column, sorted, as plain Python values."""
    return sorted(_plain(value) for value in _present(series).unique())


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


@dataclass(frozen=True)
class Transformation:
    """Base class: a named step with JSON-able parameters."""

    name: ClassVar[str] = ""

    def params(self) -> dict[str, Any]:
        return {}

    def fit(self, series: pd.Series) -> dict[str, Any]:
        return {}

    def transform(self, series: pd.Series, state: dict[str, Any]) -> pd.DataFrame:
        """Return the transformed column(s) as a DataFrame (one-hot makes several)."""
        raise NotImplementedError

    def transform_value(self, value: Any, state: dict[str, Any]) -> list[Any]:
        """Return the transformed value(s) of one input value."""
        raise NotImplementedError

    def output_names(self, column: str, state: dict[str, Any]) -> list[str]:
        return [column]

    def __call__(self, feature: str) -> BoundTransformation:
        """This step bound to one feature, for a list of transformation functions (Hopsworks' form).

        ``fs.get_transformation_function("standard_scaler")("age")`` is the same as
        ``standard_scaler("age")`` from ``fti.hsfs.builtin_transformations``.

        Raises:
            TransformationError: ``feature`` is not a column name.
        """
        if not isinstance(feature, str) or not feature:
            raise TransformationError(
                f"transformation function '{self.name}' is bound to one feature by name, e.g. "
                f"{self.name}('age'); got {feature!r:.80}"
            )
        return BoundTransformation(feature, self)


@dataclass(frozen=True)
class BoundTransformation:
    """A transformation step bound to the feature it transforms: one item of a list of transformation functions.

    The Hopsworks client takes ``transformation_functions=[label_encoder("sex"), ...]``;
    the kit's own form is ``{"sex": "label_encoder"}``. `by_feature` turns the list into that.

    Attributes:
        feature: The column it transforms.
        step: The transformation.
    """

    feature: str
    step: Transformation


def by_feature(functions: Iterable[Any], where: str) -> dict[str, list[Transformation]]:
    """``{feature: [step, ...]}`` of a list of bound transformations, in the order given.

    Raises:
        ParameterTypeError: An item is not bound to a feature (a bare step, or a name).
    """
    mapping: dict[str, list[Transformation]] = {}
    for item in functions:
        if not isinstance(item, BoundTransformation):
            shown = f"'{item.name}'" if isinstance(item, Transformation) else repr(item)[:80]
            raise ParameterTypeError(
                f"{where}: in a list of transformation_functions each item names its feature, e.g. "
                f"label_encoder('sex'); got {shown}. Or give a dict: {{'sex': 'label_encoder'}}"
            )
        mapping.setdefault(item.feature, []).append(item.step)
    return mapping


@dataclass(frozen=True)
class LabelEncoder(Transformation):
    """Categories to integer codes 0..k-1 in sorted order; unseen categories become -1, missing stays missing."""

    name: ClassVar[str] = "label_encoder"

    def fit(self, series: pd.Series) -> dict[str, Any]:
        return {"categories": _categories(series)}

    def transform(self, series: pd.Series, state: dict[str, Any]) -> pd.DataFrame:
        codes = {category: float(code) for code, category in enumerate(state["categories"])}
        out = series.map(lambda value: np.nan if _missing(value) else codes.get(value, -1.0)).astype("float64")
        return out.to_frame(series.name)

    def transform_value(self, value: Any, state: dict[str, Any]) -> list[Any]:
        if _missing(value):
            return [math.nan]
        try:
            return [float(state["categories"].index(value))]
        except ValueError:
            return [-1.0]


@dataclass(frozen=True)
class OrdinalEncoder(LabelEncoder):
    """Categories to codes in a given order (e.g. ``["low", "medium", "high"]``); unseen become -1."""

    name: ClassVar[str] = "ordinal_encoder"
    categories: tuple[Any, ...] = ()

    def params(self) -> dict[str, Any]:
        return {"categories": list(self.categories)}

    def fit(self, series: pd.Series) -> dict[str, Any]:
        if not self.categories:
            return super().fit(series)
        return {"categories": list(self.categories)}


@dataclass(frozen=True)
class OneHotEncoder(Transformation):
    """One 0/1 column per category seen in training, named ``column_category``; unseen or missing: all 0."""

    name: ClassVar[str] = "one_hot_encoder"

    def fit(self, series: pd.Series) -> dict[str, Any]:
        return {"categories": _categories(series)}

    def transform(self, series: pd.Series, state: dict[str, Any]) -> pd.DataFrame:
        names = self.output_names(str(series.name), state)
        data = {name: (series == category).fillna(False).astype("int64").to_numpy()
                for name, category in zip(names, state["categories"], strict=True)}
        return pd.DataFrame(data, index=series.index)

    def transform_value(self, value: Any, state: dict[str, Any]) -> list[Any]:
        return [1 if value == category else 0 for category in state["categories"]]

    def output_names(self, column: str, state: dict[str, Any]) -> list[str]:
        return [f"{column}_{category}" for category in state["categories"]]


@dataclass(frozen=True)
class StandardScaler(Transformation):
    """``(x - mean) / std`` with the training mean and population standard deviation."""

    name: ClassVar[str] = "standard_scaler"

    def fit(self, series: pd.Series) -> dict[str, Any]:
        values = _present(series).astype("float64")
        mean = float(values.mean()) if len(values) else 0.0
        std = float(values.std(ddof=0)) if len(values) else 0.0
        return {"mean": mean, "std": std if std > 0 else 1.0}

    def transform(self, series: pd.Series, state: dict[str, Any]) -> pd.DataFrame:
        return ((series.astype("float64") - state["mean"]) / state["std"]).to_frame(series.name)

    def transform_value(self, value: Any, state: dict[str, Any]) -> list[Any]:
        return [math.nan if _missing(value) else (float(value) - state["mean"]) / state["std"]]


@dataclass(frozen=True)
class MinMaxScaler(Transformation):
    """``(x - min) / (max - min)`` with the training minimum and maximum."""

    name: ClassVar[str] = "min_max_scaler"

    def fit(self, series: pd.Series) -> dict[str, Any]:
        values = _present(series).astype("float64")
        low = float(values.min()) if len(values) else 0.0
        high = float(values.max()) if len(values) else 1.0
        return {"min": low, "range": (high - low) if high > low else 1.0}

    def transform(self, series: pd.Series, state: dict[str, Any]) -> pd.DataFrame:
        return ((series.astype("float64") - state["min"]) / state["range"]).to_frame(series.name)

    def transform_value(self, value: Any, state: dict[str, Any]) -> list[Any]:
        return [math.nan if _missing(value) else (float(value) - state["min"]) / state["range"]]


@dataclass(frozen=True)
class _Imputer(Transformation):
    def _fill(self, series: pd.Series) -> Any:
        raise NotImplementedError

    def fit(self, series: pd.Series) -> dict[str, Any]:
        present = _present(series)
        return {"value": _plain(self._fill(present)) if len(present) else None}

    def transform(self, series: pd.Series, state: dict[str, Any]) -> pd.DataFrame:
        if state["value"] is None:
            return series.to_frame()
        if isinstance(state["value"], float) and pd.api.types.is_integer_dtype(series.dtype):
            # A mean of whole numbers is a real number; nullable Int64 cannot hold 1.4.
            series = series.astype("float64")
        return series.fillna(state["value"]).to_frame(series.name)

    def transform_value(self, value: Any, state: dict[str, Any]) -> list[Any]:
        return [state["value"] if _missing(value) else value]


@dataclass(frozen=True)
class ImputeMean(_Imputer):
    """Missing values become the training mean."""

    name: ClassVar[str] = "impute_mean"

    def _fill(self, series: pd.Series) -> Any:
        return float(series.astype("float64").mean())


@dataclass(frozen=True)
class ImputeMedian(_Imputer):
    """Missing values become the training median."""

    name: ClassVar[str] = "impute_median"

    def _fill(self, series: pd.Series) -> Any:
        return float(series.astype("float64").median())


@dataclass(frozen=True)
class ImputeMostFrequent(_Imputer):
    """Missing values become the most frequent training value (the smallest on ties)."""

    name: ClassVar[str] = "impute_most_frequent"

    def _fill(self, series: pd.Series) -> Any:
        counts = series.value_counts()
        return sorted(counts[counts == counts.max()].index)[0]


@dataclass(frozen=True)
class ImputeConstant(_Imputer):
    """Missing values become a fixed value."""

    name: ClassVar[str] = "impute_constant"
    value: Any = 0

    def params(self) -> dict[str, Any]:
        return {"value": self.value}

    def fit(self, series: pd.Series) -> dict[str, Any]:
        return {"value": self.value}


TRANSFORMATIONS: dict[str, type[Transformation]] = {
    cls.name: cls
    for cls in (LabelEncoder, OrdinalEncoder, OneHotEncoder, StandardScaler, MinMaxScaler,
                ImputeMean, ImputeMedian, ImputeMostFrequent, ImputeConstant)
}


def get_transformation_function(name: str, **params: Any) -> Transformation:
    """Return a transformation by name, e.g. ``"min_max_scaler"`` or ``"impute_constant", value=0``.

    Raises:
        TransformationError: No transformation has that name, or it does not take these parameters.
    """
    cls = TRANSFORMATIONS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise TransformationError(f"no transformation function {name!r}; there are {sorted(TRANSFORMATIONS)}")
    takes = sorted(field.name for field in dataclasses.fields(cls))
    unknown = sorted(set(params) - set(takes))
    if unknown:
        accepted = f"it takes {takes}" if takes else "it takes no parameters"
        raise TransformationError(f"transformation function {name!r} has no parameter(s) {unknown}; {accepted}")
    try:
        json.dumps(params)
    except (TypeError, ValueError):
        raise TransformationError(
            f"transformation function {name!r}: parameters {params!r:.80} must be plain values (numbers, text, "
            "booleans, None or lists of them): they are stored with the feature view"
        ) from None
    if "categories" in params:
        categories = params["categories"]
        if isinstance(categories, (str, bytes)) or not isinstance(categories, Iterable):
            raise TransformationError(
                f"transformation function {name!r}: categories must be a list such as ['low', 'high'], "
                f"got {categories!r}"
            )
        params["categories"] = tuple(categories)
    return cls(**params)


def parse_spec(spec: Any, column: str, where: str = "") -> list[Transformation]:
    """Turn ``"standard_scaler"``, a `Transformation`, or a list of them into a list of steps.

    Args:
        spec: What a feature view definition gives for one column.
        column: That column.
        where: The feature view, for messages (``"feature view 'fraud' v1"``).

    Raises:
        TransformationError: A step is neither a name nor a `Transformation`, the name is
            unknown, or a one-hot encoder is not the last step.
    """
    prefix = f"{where}: " if where else ""
    steps = spec if isinstance(spec, (list, tuple)) else [spec]
    out = []
    for step in steps:
        if isinstance(step, str):
            try:
                out.append(get_transformation_function(step))
            except TransformationError as exc:
                raise TransformationError(f"{prefix}transformation for column '{column}': {exc}") from None
        elif isinstance(step, Transformation):
            try:
                # Rebuilt by name and parameters: catches a step made with unstorable parameters.
                out.append(get_transformation_function(step.name, **step.params()))
            except TransformationError as exc:
                raise TransformationError(f"{prefix}transformation for column '{column}': {exc}") from None
        else:
            raise TransformationError(
                f"{prefix}transformation for column '{column}' must be a name such as 'standard_scaler' or a "
                f"Transformation, got {step!r}"
            )
    if not out:
        raise TransformationError(f"{prefix}transformation for column '{column}' is an empty list")
    for earlier in out[:-1]:
        if isinstance(earlier, OneHotEncoder):
            raise TransformationError(
                f"{prefix}transformations of column '{column}': one_hot_encoder must be the last step"
            )
    return out


def spec_to_json(steps: list[Transformation]) -> list[dict[str, Any]]:
    return [{"name": step.name, **step.params()} for step in steps]


def spec_from_json(data: list[dict[str, Any]]) -> list[Transformation]:
    return [get_transformation_function(item["name"], **{k: v for k, v in item.items() if k != "name"})
            for item in data]


class FittedTransformations:
    """A feature view's transformations with the state learned on one training split.

    Args:
        steps: ``{column: [Transformation, ...]}``.
        state: ``{column: [state, ...]}`` from `fit`.
    """

    def __init__(self, steps: dict[str, list[Transformation]], state: dict[str, list[dict[str, Any]]]):
        self.steps = steps
        self.state = state

    @classmethod
    def fit(cls, steps: dict[str, list[Transformation]], train: pd.DataFrame) -> FittedTransformations:
        """Learn every step's state from the training frame only."""
        state: dict[str, list[dict[str, Any]]] = {}
        for column, column_steps in steps.items():
            series = train[column]
            state[column] = []
            for step in column_steps:
                step_state = step.fit(series)
                state[column].append(step_state)
                if not isinstance(step, OneHotEncoder):
                    series = step.transform(series, step_state).iloc[:, 0]
        return cls(steps, state)

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Apply to a frame; columns keep their order, one-hot columns replace their source."""
        pieces = []
        for column in frame.columns:
            if column not in self.steps:
                pieces.append(frame[[column]])
                continue
            current: pd.DataFrame = frame[[column]]
            for step, step_state in zip(self.steps[column], self.state[column], strict=True):
                current = step.transform(current.iloc[:, 0], step_state)
            pieces.append(current)
        if not pieces:
            return frame.copy()
        return pd.concat(pieces, axis=1)

    def transform_row(self, values: dict[str, Any], columns: list[str]) -> list[Any]:
        """Apply to one row given as ``{column: value}``; returns values in output order."""
        out: list[Any] = []
        for column in columns:
            value = values[column]
            if column not in self.steps:
                out.append(value)
                continue
            current = [value]
            for step, step_state in zip(self.steps[column], self.state[column], strict=True):
                current = step.transform_value(current[0], step_state)
            out.extend(current)
        return out

    def output_columns(self, columns: list[str]) -> list[str]:
        names: list[str] = []
        for column in columns:
            if column in self.steps:
                names.extend(self.steps[column][-1].output_names(column, self.state[column][-1]))
            else:
                names.append(column)
        return names
