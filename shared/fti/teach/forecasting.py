"""Judging forecasts: baselines, error measures, rolling-origin backtests, intervals, the promotion gate.

A forecast is only good compared with a simple one. The simplest serious
baseline for a seasonal series is the **seasonal naive** forecast: the value one
season earlier, ``ŷ(T+h | T) = y(T + h - m(k+1))`` with ``k = floor((h-1)/m)``
for a season of ``m`` steps (Hyndman & Athanasopoulos, *Forecasting: Principles
and Practice*, 3rd ed., §5.2).

Error measures (FPP3 §5.8):

* **MAE** and **RMSE**, in the units of the series;
* **MAPE**, in percent: scale-free, but undefined at zero and harsher on over-forecasts;
* **MASE**, the mean absolute scaled error of Hyndman & Koehler (2006), "Another
  look at measures of forecast accuracy", *International Journal of Forecasting*
  22(4), 679-688, doi:10.1016/j.ijforecast.2006.03.001: the mean absolute error
  divided by the in-sample mean absolute error of the seasonal naive forecast,
  ``(1/(T-m)) * sum_{t=m+1..T} |y_t - y_{t-m}|``, computed on the *training* series
  with the series' seasonal period ``m`` (48 for half-hourly data with a daily
  cycle), not the forecast horizon. Below 1: better, on average, than what the
  seasonal naive method did in-sample.

A **rolling-origin backtest** (FPP3 §5.10, "time series cross-validation")
re-trains at several origins and forecasts what follows each one, so a model is
judged on many forecasts made the way production makes them, never on data from
after its origin. `backtest` does that for several models at once, on the same
folds; `promote_if_better` then moves the ``production`` alias only to a
candidate whose MASE is below 1 and lower than production's on the same folds.

Prediction intervals come from the backtest too: the quantiles of the forecast
errors at each lead time (`interval_table`), so an interval is as wide as the
errors really were, per hour ahead.

Everything here is generic: it takes DataFrames, column names and functions; an
example system supplies its own models and features.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fti.exceptions import ModelNotFoundError, ParameterError, PromotionError
from fti.teach.monitoring import Verdict

if TYPE_CHECKING:
    from fti.store.registry import Model, ModelRegistry

__all__ = [
    "Backtest",
    "Fold",
    "ForecastPromotion",
    "apply_intervals",
    "backtest",
    "error_table",
    "forecast_metrics",
    "forecast_verdict",
    "interval_table",
    "lookahead_columns",
    "mae",
    "mape",
    "mase",
    "promote_if_better",
    "range_table",
    "rmse",
    "rolling_origins",
    "seasonal_naive",
    "seasonal_naive_scale",
]

METRICS = ("mae", "rmse", "mape", "mase")

FitPredict = Callable[[pd.DataFrame, pd.DataFrame], Any]
"""A model for `backtest`: given the training rows and the test rows, return one prediction per test row."""


# -- checks ------------------------------------------------------------------------------------


def _season(season: Any) -> int:
    if isinstance(season, bool) or not isinstance(season, (int, np.integer)) or season < 1:
        raise ParameterError(
            f"season must be a whole number of steps >= 1 (48 for half-hours in a day), got {season!r}")
    return int(season)


def _pair(actual: Any, predicted: Any) -> tuple[np.ndarray, np.ndarray]:
    """Actuals and predictions as float arrays of one length, without missing values."""
    y = np.asarray(actual, dtype=float).ravel()
    p = np.asarray(predicted, dtype=float).ravel()
    if y.shape != p.shape:
        raise ParameterError(f"{len(y)} actual values but {len(p)} predictions: they must pair up one to one")
    if not len(y):
        raise ParameterError("no forecasts to score: actual and predicted are empty")
    if np.isnan(y).any() or np.isnan(p).any():
        raise ParameterError(
            f"{int(np.isnan(y).sum())} actual and {int(np.isnan(p).sum())} predicted values are missing; "
            "score only forecasts whose outcome is known (drop the rows with missing values first)"
        )
    return y, p


# -- baselines and measures --------------------------------------------------------------------------


def seasonal_naive(history: Sequence[float] | pd.Series, horizon: int, season: int) -> np.ndarray:
    """The seasonal naive forecast of the next ``horizon`` steps after ``history``.

    ``ŷ(T+h | T) = y(T + h - m(k+1))`` with ``k = floor((h-1)/m)``: each step takes the
    value of the same point of the last season observed (FPP3 §5.2).

    Args:
        history: The series up to the forecast origin, oldest first, regularly spaced.
        horizon: How many steps to forecast (>= 1).
        season: The seasonal period ``m`` in steps (48: a day of half-hours; 336: a week).

    Returns:
        ``horizon`` forecasts.

    Raises:
        ParameterError: A history shorter than one season, or a horizon or season below 1.
    """
    season = _season(season)
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ParameterError(f"horizon must be a whole number of steps >= 1, got {horizon!r}")
    values = np.asarray(history, dtype=float).ravel()
    if len(values) < season:
        raise ParameterError(f"a seasonal naive forecast with season {season} needs at least {season} past values, "
                             f"got {len(values)}")
    steps = np.arange(1, horizon + 1)
    k = (steps - 1) // season
    return values[len(values) - 1 + steps - season * (k + 1)]


def mae(actual: Any, predicted: Any) -> float:
    """Mean absolute error, in the series' units."""
    y, p = _pair(actual, predicted)
    return float(np.mean(np.abs(y - p)))


def rmse(actual: Any, predicted: Any) -> float:
    """Root mean squared error, in the series' units."""
    y, p = _pair(actual, predicted)
    return float(np.sqrt(np.mean((y - p) ** 2)))


def mape(actual: Any, predicted: Any) -> float:
    """Mean absolute percentage error, in percent.

    Raises:
        ParameterError: An actual value is zero (the percentage is undefined there).
    """
    y, p = _pair(actual, predicted)
    if (y == 0).any():
        raise ParameterError("MAPE is undefined when an actual value is 0; use MAE or MASE for this series")
    return float(100 * np.mean(np.abs((y - p) / y)))


def seasonal_naive_scale(training: Sequence[float] | pd.Series, season: int) -> float:
    """The MASE denominator: the in-sample mean absolute error of the seasonal naive forecast.

    ``(1/(T-m)) * sum_{t=m+1..T} |y_t - y_{t-m}|`` (Hyndman & Koehler 2006; FPP3 §5.8).
    A Series with a DatetimeIndex is paired by time (``y_t`` with the value ``m``
    steps earlier, the step being the index's most common spacing), so a gap in the
    training data leaves pairs out instead of pairing the wrong values; anything else
    is taken as a regular series, oldest first.

    Raises:
        ParameterError: Fewer than ``season + 1`` values, or a constant seasonal pattern
            (a scale of 0, which would make MASE infinite).
    """
    season = _season(season)
    if isinstance(training, pd.Series) and isinstance(training.index, pd.DatetimeIndex):
        series = training.dropna().sort_index()
        if len(series) <= season:
            raise ParameterError(f"MASE's scale with season {season} needs more than {season} training values, "
                                 f"got {len(series)}")
        step = pd.Series(series.index).diff().mode().iloc[0]
        earlier = series.reindex(series.index - season * step).to_numpy()
        differences = np.abs(series.to_numpy() - earlier)
        differences = differences[~np.isnan(differences)]
    else:
        values = np.asarray(training, dtype=float).ravel()
        if len(values) <= season:
            raise ParameterError(f"MASE's scale with season {season} needs more than {season} training values, "
                                 f"got {len(values)}")
        differences = np.abs(values[season:] - values[:-season])
        differences = differences[~np.isnan(differences)]
    if not len(differences):
        raise ParameterError(f"the training series has no pair of values {season} steps apart")
    scale = float(np.mean(differences))
    if scale == 0:
        raise ParameterError("the training series repeats itself exactly every season: MASE's scale is 0")
    return scale


def mase(actual: Any, predicted: Any, training: Sequence[float] | pd.Series, season: int) -> float:
    """Mean absolute scaled error (Hyndman & Koehler 2006): MAE over `seasonal_naive_scale` of the training series.

    Args:
        actual: What happened.
        predicted: The forecasts of it.
        training: The series the model was trained on (in-sample), to scale by.
        season: The series' seasonal period ``m`` (48 for half-hours with a daily cycle).
    """
    return mae(actual, predicted) / seasonal_naive_scale(training, season)


def forecast_metrics(actual: Any, predicted: Any, training: Sequence[float] | pd.Series | None = None,
                     season: int = 48, scale: float | None = None) -> dict[str, float]:
    """MAE, RMSE, MAPE (%) and MASE of a set of forecasts, rounded to 4 places.

    MASE is scaled by ``scale`` when given, else by `seasonal_naive_scale` of ``training``.
    """
    if scale is None:
        if training is None:
            raise ParameterError("forecast_metrics needs the training series (or its scale) for MASE")
        scale = seasonal_naive_scale(training, season)
    error = mae(actual, predicted)
    return {"mae": round(error, 4), "rmse": round(rmse(actual, predicted), 4),
            "mape": round(mape(actual, predicted), 4), "mase": round(error / scale, 4)}


def error_table(frame: pd.DataFrame, actual: str, predicted: str, by: str | list[str],
                scale: float) -> pd.DataFrame:
    """`forecast_metrics` per group (a lead time, an issue day...), with the number of forecasts ``n``.

    Rows whose actual value is not known yet are left out.

    Args:
        frame: One row per forecast.
        actual: Column of what happened.
        predicted: Column of the forecast.
        by: Column(s) to group by.
        scale: The MASE denominator (`seasonal_naive_scale` of the training series).
    """
    keys = [by] if isinstance(by, str) else list(by)
    known = frame.dropna(subset=[actual, predicted])
    rows = []
    for group, part in known.groupby(keys, sort=True):
        values = group if isinstance(group, tuple) else (group,)
        metrics = forecast_metrics(part[actual], part[predicted], scale=scale)
        rows.append({**dict(zip(keys, values, strict=True)), "n": len(part), **metrics})
    return pd.DataFrame(rows, columns=[*keys, "n", *METRICS])


# -- rolling-origin backtests ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Fold:
    """One origin of a rolling-origin backtest.

    Attributes:
        number: 1 for the oldest fold.
        origin: The forecast origin: models train on outcomes known before it.
        end: The test window is the forecasts issued in ``[origin, end)``.
    """

    number: int
    origin: pd.Timestamp
    end: pd.Timestamp


def rolling_origins(last: Any, folds: int = 4, step: Any = "7D") -> list[Fold]:
    """``folds`` consecutive test windows of length ``step``, the last one ending at ``last``.

    Args:
        last: End (exclusive) of the last test window, usually the newest forecast origin.
        folds: How many folds (>= 1).
        step: Length of each test window, and distance between origins (``"7D"``: weekly).
    """
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 1:
        raise ParameterError(f"folds must be a whole number >= 1, got {folds!r}")
    end = pd.Timestamp(last)
    end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
    width = pd.Timedelta(step)
    if width <= pd.Timedelta(0):
        raise ParameterError(f"step must be a positive duration, got {step!r}")
    return [Fold(i + 1, end - (folds - i) * width, end - (folds - i - 1) * width) for i in range(folds)]


@dataclass(frozen=True)
class Backtest:
    """What `backtest` measured: every forecast, and the metrics per fold and model.

    Attributes:
        folds: The folds, oldest first.
        predictions: One row per test row and model: ``model``, ``fold``, the time
            columns, ``actual``, ``predicted``, ``error`` (actual - predicted).
        scores: One row per fold and model: ``model``, ``fold``, ``origin``, ``n``, ``scale``,
            then ``mae``, ``rmse``, ``mape``, ``mase``.
        season: The seasonal period MASE was scaled with.
    """

    folds: tuple[Fold, ...]
    predictions: pd.DataFrame = field(repr=False)
    scores: pd.DataFrame = field(repr=False)
    season: int

    def summary(self) -> pd.DataFrame:
        """The mean of each metric over the folds, one row per model, best MASE first."""
        table = self.scores.groupby("model", sort=False)[list(METRICS)].mean().round(4)
        return table.sort_values("mase")

    def model_scores(self, model: str) -> pd.DataFrame:
        """The per-fold scores of one model.

        Raises:
            ParameterError: No model of that name was backtested.
        """
        scores = self.scores[self.scores["model"] == model]
        if scores.empty:
            raise ParameterError(f"no backtest of model {model!r}; the backtest has {self.models}")
        return scores.reset_index(drop=True)

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(self.scores["model"]))


def backtest(frame: pd.DataFrame, models: Mapping[str, FitPredict], folds: Sequence[Fold], *, target: str,
             target_time: str, issue_time: str, season: int = 48) -> Backtest:
    """Backtest several models on the same rolling origins.

    For each fold, a model trains on the rows whose outcome was known at the origin
    (``target_time`` before it) and forecasts the rows issued in the fold's window
    (``issue_time`` in ``[origin, end)``); its MASE is scaled by the seasonal naive error
    of those same training rows. Every model sees exactly the same rows.

    Args:
        frame: One row per forecast target with its features, ``target`` and both times.
            Rows without a known ``target`` are dropped.
        models: ``{name: fit_predict}``; ``fit_predict(train, test)`` returns one forecast
            per test row (a baseline may simply return a lag column of ``test``).
        folds: From `rolling_origins`.
        target: The column to forecast.
        target_time: When each target happens.
        issue_time: When each forecast is made (its features must be known then).
        season: The seasonal period for MASE.

    Raises:
        ParameterError: A fold without training or test rows, missing columns, or a model
            returning the wrong number of forecasts.
    """
    missing = [c for c in (target, target_time, issue_time) if c not in frame.columns]
    if missing:
        raise ParameterError(f"backtest: the frame has no column(s) {missing}; it has {list(frame.columns)}")
    if not models:
        raise ParameterError("backtest: no models to backtest")
    known = frame.dropna(subset=[target]).sort_values([issue_time, target_time]).reset_index(drop=True)
    predictions, scores = [], []
    for fold in folds:
        train = known[known[target_time] < fold.origin]
        test = known[(known[issue_time] >= fold.origin) & (known[issue_time] < fold.end)]
        if train.empty or test.empty:
            raise ParameterError(
                f"backtest fold {fold.number} ({fold.origin:%Y-%m-%d %H:%M} to {fold.end:%Y-%m-%d %H:%M}) has "
                f"{len(train)} training and {len(test)} test rows; both need some (choose earlier origins)"
            )
        scale = seasonal_naive_scale(train.set_index(target_time)[target], season)
        for name, fit_predict in models.items():
            forecast = np.asarray(fit_predict(train, test), dtype=float).ravel()
            if len(forecast) != len(test):
                raise ParameterError(f"backtest: model {name!r} returned {len(forecast)} forecasts for "
                                     f"{len(test)} test rows in fold {fold.number}")
            predictions.append(pd.DataFrame({
                "model": name, "fold": fold.number, target_time: test[target_time].to_numpy(),
                issue_time: test[issue_time].to_numpy(), "actual": test[target].to_numpy(dtype=float),
                "predicted": forecast,
            }))
            metrics = forecast_metrics(test[target], forecast, scale=scale)
            scores.append({"model": name, "fold": fold.number, "origin": fold.origin, "n": len(test),
                           "scale": round(scale, 4), **metrics})
    table = pd.concat(predictions, ignore_index=True)
    table["error"] = table["actual"] - table["predicted"]
    return Backtest(tuple(folds), table, pd.DataFrame(scores), _season(season))


# -- intervals ------------------------------------------------------------------------------------


def interval_table(errors: pd.Series, groups: pd.Series, coverage: float = 0.8) -> pd.DataFrame:
    """Empirical prediction intervals: quantiles of past errors (actual - predicted) per group.

    With ``coverage`` 0.8, a forecast's interval is ``[forecast + q10, forecast + q90]`` of
    the errors made at the same group (e.g. the same hour ahead) in the backtest.

    Returns:
        One row per group: the group, ``lower`` and ``upper`` (offsets to add to a forecast), ``n``.
    """
    if not 0 < coverage < 1:
        raise ParameterError(f"coverage must be between 0 and 1, got {coverage!r}")
    if len(errors) != len(groups):
        raise ParameterError(f"{len(errors)} errors but {len(groups)} group labels")
    low, high = (1 - coverage) / 2, 1 - (1 - coverage) / 2
    frame = pd.DataFrame({"group": np.asarray(groups), "error": np.asarray(errors, dtype=float)}).dropna()
    table = frame.groupby("group", sort=True)["error"].agg(
        lower=lambda e: e.quantile(low), upper=lambda e: e.quantile(high), n="size")
    name = groups.name if isinstance(groups, pd.Series) and groups.name else "group"
    return table.round(4).reset_index().rename(columns={"group": name})


def apply_intervals(forecast: Any, groups: Any, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds for forecasts, from an `interval_table` (its first column names the groups).

    Raises:
        ParameterError: A forecast's group has no interval in the table.
    """
    key = table.columns[0]
    offsets = table.set_index(key)
    labels = pd.Index(np.asarray(groups))
    unknown = sorted(set(labels) - set(offsets.index))
    if unknown:
        raise ParameterError(f"no interval for {key} {unknown[:5]}: the table covers {list(offsets.index)[:5]}...")
    point = np.asarray(forecast, dtype=float)
    return point + offsets.loc[labels, "lower"].to_numpy(), point + offsets.loc[labels, "upper"].to_numpy()


# -- the promotion gate -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForecastPromotion:
    """What the forecasting promotion gate decided, and on which figures."""

    promoted: bool
    metric: str
    candidate_version: int
    candidate_score: float
    production_version: int | None
    production_score: float | None
    folds: int
    threshold: float

    def __str__(self) -> str:
        name = self.metric.upper()
        if not self.candidate_score < self.threshold:
            kept = "no production model" if self.production_version is None else f"v{self.production_version}"
            return (f"kept {kept} in production: candidate v{self.candidate_version} {name} "
                    f"{self.candidate_score:.4f} is not below {self.threshold:g} (the seasonal naive scale)")
        if self.production_version is None:
            return (f"promoted v{self.candidate_version} to production: there was no production model "
                    f"({name} {self.candidate_score:.4f} < {self.threshold:g} on {self.folds} folds)")
        verb = "promoted" if self.promoted else "kept"
        winner = self.candidate_version if self.promoted else self.production_version
        return (f"{verb} v{winner} in production: candidate v{self.candidate_version} {name} "
                f"{self.candidate_score:.4f} vs production v{self.production_version} {self.production_score:.4f} "
                f"on the same {self.folds} folds")


def _mean_score(scores: pd.DataFrame, metric: str, role: str) -> float:
    if metric not in scores.columns or scores.empty:
        raise PromotionError(f"the {role}'s backtest scores have no {metric!r} values")
    # Rounded as `Backtest.summary` rounds (numpy's rule), so the figures printed side by side agree.
    return float(np.round(scores[metric].mean(), 4))


def promote_if_better(registry: ModelRegistry, candidate: Model, candidate_scores: pd.DataFrame,
                      production_scores: pd.DataFrame | None = None, metric: str = "mase",
                      alias: str = "production", threshold: float = 1.0) -> ForecastPromotion:
    """Point ``alias`` at ``candidate`` only if it forecasts well enough and better than production.

    The candidate needs a mean ``metric`` over its backtest folds below ``threshold``
    (MASE < 1: better than the in-sample seasonal naive error) and, when there is a
    production model, strictly below production's mean on the *same* folds (the
    caller backtests production's recipe on the candidate's folds). Ties keep
    production: a new version has to earn its place.

    Args:
        registry: The model registry.
        candidate: The saved candidate version.
        candidate_scores: The candidate's rows of `Backtest.scores`.
        production_scores: Production's rows on the same folds; None when there is no production model.
        metric: A column of the scores where lower is better (``mase``, ``mae``...).
        alias: The alias to move.
        threshold: The candidate's score must be below this.

    Raises:
        PromotionError: The two backtests did not use the same folds, or have no scores.
    """
    if metric not in METRICS:
        raise ParameterError(f"metric {metric!r} is not one of {METRICS} (lower is better)")
    candidate_score = _mean_score(candidate_scores, metric, "candidate")
    try:
        production = registry.get_model(candidate.name, alias=alias)
    except ModelNotFoundError:  # no alias yet: the candidate competes with nobody
        production = None
    folds = len(candidate_scores)
    production_score = None
    if production is not None:
        if production_scores is None:
            raise PromotionError(f"{production.label} is in production: backtest it on the candidate's folds and "
                                 "pass its scores as production_scores")
        if list(pd.to_datetime(production_scores["origin"])) != list(pd.to_datetime(candidate_scores["origin"])):
            raise PromotionError("the candidate and production were backtested on different folds; a fair "
                                 "comparison needs the same origins")
        production_score = _mean_score(production_scores, metric, "production model")
    good_enough = candidate_score < threshold
    better = production is None or candidate_score < production_score
    promoted = bool(good_enough and better)
    if promoted:
        registry.set_alias(candidate.name, alias, candidate.version)
    return ForecastPromotion(promoted, metric, int(candidate.version), candidate_score,
                             None if production is None else int(production.version), production_score, folds,
                             float(threshold))


# -- monitoring ---------------------------------------------------------------------------------------


def forecast_verdict(daily_errors: pd.DataFrame, drift: pd.DataFrame, max_mase: float = 1.0,
                     window: int = 7) -> Verdict:
    """Retrain or not, from a hindcast's errors per day (`error_table` by issue day) and a drift table.

    Retrain when the MASE of the last ``window`` days (weighted by their forecasts) is
    at or above ``max_mase``, or when a feature drifted: ``drift`` is a table with
    ``feature`` and ``drifted`` columns (`range_table`, or
    `fti.teach.monitoring.drift_table`, whose PSI the verdict then keeps).
    """
    reasons, triggers = [], []
    recent = daily_errors.tail(window)
    if len(recent):
        score = float(np.average(recent["mase"], weights=recent["n"]))
        status = "at or above" if not score < max_mase else "below"
        reasons.append(f"MASE over the last {len(recent)} day(s) is {score:.3f}, {status} {max_mase:.3f}")
        if not score < max_mase:
            triggers.append(reasons[-1])
    else:
        reasons.append("no forecasts with known outcomes yet")
    drifted = drift.loc[drift["drifted"], "feature"].tolist() if len(drift) else []
    if drifted:
        reasons.append(f"drift in {', '.join(drifted)} (PSI above threshold)")
        triggers.append(reasons[-1])
    else:
        reasons.append("no feature drifted beyond the threshold")
    psi = dict(zip(drift["feature"], drift["psi"], strict=True)) if "psi" in drift.columns else {}
    return Verdict(retrain=bool(triggers), reasons=reasons, triggers=triggers, enough_data=bool(len(recent)),
                   predictions=int(recent["n"].sum()) if len(recent) else 0, psi=psi)


def range_table(reference: pd.DataFrame, current: pd.DataFrame, features: Sequence[str],
                max_outside: float = 0.05) -> pd.DataFrame:
    """How much of the recent data lies outside the range the model was trained on, per feature.

    Trees (XGBoost) cannot extrapolate: past the hottest day they saw, they forecast as
    for that day. A seasonal series drifts by nature (spring is not winter), and a model
    with lags follows it; what it cannot follow is values it never saw. A feature counts
    as drifted when more than ``max_outside`` of its recent values are outside the
    reference's minimum-maximum.

    Returns:
        One row per feature: ``feature``, the reference's ``min`` and ``max``, the recent
        ``current_min`` and ``current_max``, ``outside`` (the share of recent values beyond
        the reference's range) and ``drifted``.
    """
    rows = []
    for name in features:
        low, high = float(reference[name].min()), float(reference[name].max())
        values = current[name].dropna().astype(float)
        outside = float(((values < low) | (values > high)).mean()) if len(values) else 0.0
        rows.append({"feature": name, "min": round(low, 3), "max": round(high, 3),
                     "current_min": round(float(values.min()), 3) if len(values) else None,
                     "current_max": round(float(values.max()), 3) if len(values) else None,
                     "outside": round(outside, 4)})
    table = pd.DataFrame(rows)
    table["drifted"] = table["outside"] > max_outside
    return table


# -- leaks ------------------------------------------------------------------------------------------


def lookahead_columns(make_features: Callable[[pd.Series], pd.DataFrame], series: pd.Series,
                      cutoff: Any, targets: Sequence[Any]) -> list[str]:
    """Feature columns that see the future: their values for ``targets`` change when the series after ``cutoff`` does.

    A feature of a forecast issued at ``cutoff`` may only use values observed
    before it. This recomputes the features after scrambling every value at or after
    the cutoff; a column whose value at some target changes used one of them.

    Args:
        make_features: Builds features (one row per time, indexed like ``series``) from the series.
        series: The observed series, with a DatetimeIndex.
        cutoff: When the forecasts are issued.
        targets: The times forecast from that cutoff (rows of the features to compare).

    Returns:
        The leaking columns, in the features' column order (empty: no lookahead found).
    """
    if not isinstance(series.index, pd.DatetimeIndex):
        raise ParameterError("lookahead_columns needs a series indexed by time (a DatetimeIndex)")
    when = pd.Timestamp(cutoff)
    if series.index.tz is not None and when.tzinfo is None:
        when = when.tz_localize(series.index.tz)
    future = series.index >= when
    if not future.any():
        raise ParameterError(f"the series has no values at or after the cutoff {when}, so nothing can leak")
    scrambled = series.copy()
    # Values no real series takes, so that any use of them shows.
    scrambled[future] = series[future].to_numpy()[::-1] * 3.0 + 1000.0
    honest, peeking = make_features(series), make_features(scrambled)
    rows = pd.Index(targets)
    leaks = []
    for column in honest.columns:
        a = honest.loc[rows, column].to_numpy(dtype=float)
        b = peeking.loc[rows, column].to_numpy(dtype=float)
        same = np.isclose(a, b, equal_nan=True)
        if not same.all():
            leaks.append(column)
    return leaks
