"""The demand model: gradient-boosted trees (XGBoost) with prediction intervals from its backtest.

`ModelParams` is the recipe (the hyperparameters); `fit_predict` turns it into a
model for `fti.teach.forecasting.backtest`; `Forecaster` is what the training
pipeline registers: the fitted XGBoost model, the feature columns in order, the
recipe, and the interval table (the backtest's forecast errors per hour ahead).

A `Forecaster` is saved as a folder: ``model.ubj`` in XGBoost's own format and
``forecaster.json`` with the rest, both plain data (no pickle), which the model
registry stores and checksums like any other artifact folder.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fti.exceptions import ParameterError
from fti.teach import forecasting, synthetic

__all__ = ["Forecaster", "ModelParams", "fit_predict", "lead_hour"]

MODEL_FILE = "model.ubj"
DESCRIPTION_FILE = "forecaster.json"


@dataclass(frozen=True)
class ModelParams:
    """The XGBoost recipe: same parameters and data, same model (one thread, a fixed seed).

    Attributes:
        n_estimators: Number of trees.
        max_depth: Depth of each tree.
        learning_rate: Shrinkage per tree.
        subsample: Share of rows each tree sees.
        colsample_bytree: Share of features each tree sees.
        seed: Seed of the row and feature sampling.
    """

    n_estimators: int = 300
    max_depth: int = 6
    learning_rate: float = 0.05
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    seed: int = 42

    def __post_init__(self) -> None:
        for name in ("n_estimators", "max_depth"):
            if synthetic.as_int(getattr(self, name), f"ModelParams {name}") < 1:
                raise ParameterError(f"ModelParams {name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("learning_rate", "subsample", "colsample_bytree"):
            value = synthetic.as_finite_float(getattr(self, name), f"ModelParams {name}")
            if not 0 < value <= 1:
                raise ParameterError(f"ModelParams {name} must be in (0, 1], got {value!r}")
        synthetic.as_int(self.seed, "ModelParams seed")

    def regressor(self) -> Any:
        """An unfitted ``xgboost.XGBRegressor`` with this recipe."""
        from xgboost import XGBRegressor

        # One thread: the same model bit for bit on every run, and a fair share of a shared laptop.
        return XGBRegressor(n_estimators=self.n_estimators, max_depth=self.max_depth,
                            learning_rate=self.learning_rate, subsample=self.subsample,
                            colsample_bytree=self.colsample_bytree, random_state=self.seed, n_jobs=1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def lead_hour(target_time: pd.Series, issue_time: pd.Series) -> pd.Series:
    """Whole hours between a forecast's issue time and its target (0 for the first hour ahead)."""
    hours = (pd.to_datetime(target_time) - pd.to_datetime(issue_time)) // pd.Timedelta(hours=1)
    return pd.Series(np.asarray(hours, dtype="int64"), name="lead_hour")


def fit_predict(params: ModelParams, features: Sequence[str], target: str,
                train_inputs: Mapping[str, str] | None = None,
                test_inputs: Mapping[str, str] | None = None) -> forecasting.FitPredict:
    """A model for `fti.teach.forecasting.backtest`: fit the recipe on the training rows, forecast the test rows.

    Args:
        params: The recipe.
        features: The model's input columns, in order.
        target: The column to learn.
        train_inputs: ``{feature: column}`` when a feature is read from another column of
            the training rows (the leak lesson trains on observed temperature...).
        test_inputs: The same for the test rows (...and forecasts from the forecast).
    """
    features = list(features)

    def inputs(rows: pd.DataFrame, mapping: Mapping[str, str] | None) -> pd.DataFrame:
        mapping = mapping or {}
        return pd.DataFrame({name: rows[mapping.get(name, name)].to_numpy() for name in features})

    def run(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
        model = params.regressor().fit(inputs(train, train_inputs), train[target])
        return model.predict(inputs(test, test_inputs))

    return run


@dataclass
class Forecaster:
    """A fitted demand model with what it needs to forecast: its inputs, recipe and intervals.

    Attributes:
        model: The fitted ``xgboost.XGBRegressor``.
        features: Its input columns, in order.
        params: The recipe it was fitted with.
        intervals: `fti.teach.forecasting.interval_table` by ``lead_hour``: error quantiles to add.
        coverage: The share of outcomes the intervals are meant to contain (0.8: 80%).
    """

    model: Any
    features: list[str]
    params: ModelParams
    intervals: pd.DataFrame = field(repr=False)
    coverage: float = 0.8

    @classmethod
    def fit(cls, rows: pd.DataFrame, features: Sequence[str], target: str, params: ModelParams,
            intervals: pd.DataFrame, coverage: float = 0.8) -> Forecaster:
        """Fit the recipe on every row with a known target."""
        known = rows.dropna(subset=[target])
        model = params.regressor().fit(known[list(features)], known[target])
        return cls(model, list(features), params, intervals, coverage)

    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        """Point forecasts for rows that have the feature columns.

        Raises:
            ParameterError: A feature column is missing.
        """
        missing = [name for name in self.features if name not in rows.columns]
        if missing:
            raise ParameterError(f"the forecaster needs the column(s) {missing}; the rows have {list(rows.columns)}")
        return np.asarray(self.model.predict(rows[self.features]), dtype=float)

    def forecast(self, rows: pd.DataFrame, target_time: str = "target_time",
                 issue_time: str = "issue_time") -> pd.DataFrame:
        """Point forecasts with their interval: columns ``lead_hours``, ``predicted_gw``, ``lower_gw``, ``upper_gw``."""
        point = self.predict(rows)
        lead = lead_hour(rows[target_time], rows[issue_time])
        lower, upper = forecasting.apply_intervals(point, lead, self.intervals)
        hours = (pd.to_datetime(rows[target_time]) - pd.to_datetime(rows[issue_time])) / pd.Timedelta(hours=1)
        return pd.DataFrame({"lead_hours": hours.to_numpy(dtype=float), "predicted_gw": point.round(4),
                             "lower_gw": lower.round(4), "upper_gw": upper.round(4)}, index=rows.index)

    # -- files ----------------------------------------------------------------------------------

    def save(self, folder: str | Path) -> Path:
        """Write ``model.ubj`` and ``forecaster.json`` into ``folder`` (created); return it."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_model(str(folder / MODEL_FILE))
        description = {"features": self.features, "params": self.params.to_dict(), "coverage": self.coverage,
                       "intervals": self.intervals.to_dict(orient="list")}
        (folder / DESCRIPTION_FILE).write_text(json.dumps(description, indent=1, sort_keys=True) + "\n",
                                               encoding="utf-8")
        return folder

    @contextlib.contextmanager
    def saved(self) -> Iterator[Path]:
        """A temporary folder holding the saved forecaster, to hand to ``Model.save``; removed afterwards."""
        with tempfile.TemporaryDirectory(prefix="fti-forecaster-") as scratch:
            yield self.save(Path(scratch) / "forecaster")

    @classmethod
    def load(cls, folder: str | Path) -> Forecaster:
        """Read a forecaster `save` wrote (e.g. the folder ``Model.load()`` returns).

        Raises:
            ParameterError: The folder does not hold a saved forecaster.
        """
        folder = Path(folder)
        if not (folder / MODEL_FILE).is_file() or not (folder / DESCRIPTION_FILE).is_file():
            raise ParameterError(f"{folder} holds no saved forecaster ({MODEL_FILE} and {DESCRIPTION_FILE})")
        from xgboost import XGBRegressor

        model = XGBRegressor()
        model.load_model(str(folder / MODEL_FILE))
        description = json.loads((folder / DESCRIPTION_FILE).read_text(encoding="utf-8"))
        return cls(model, list(description["features"]), ModelParams(**description["params"]),
                   pd.DataFrame(description["intervals"]), float(description["coverage"]))
