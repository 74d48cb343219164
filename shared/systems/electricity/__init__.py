"""The electricity demand system: a batch time-series system that forecasts tomorrow, half-hour by half-hour.

Every day at the cutoff (midnight), the feature pipeline stores the day's demand
and temperature, the weather forecast issued for the next two days and the
features of tomorrow's 48 half-hours; the batch inference pipeline forecasts
them with the production model; the monitoring pipeline judges past forecasts
against the demand that arrived since. A training pipeline re-trains weekly and
promotes a model only when its rolling-origin backtest beats the seasonal naive
scale and the production model. Its notebooks, schedule (``pipelines.yml``) and
notebook story are in ``notebooks/electricity/``.

The simulated clock replays 2014 (Victoria's demand and Melbourne's temperature,
`load_demand`). One module per concern:

* `systems.electricity.data`: the data, `load_demand`, its grid check, the cutoff of a run date.
* `systems.electricity.weather`: `issue_forecast`, the simulated temperature forecasts.
* `systems.electricity.features`: `calendar_features` and `demand_features`, as known at a cutoff.
* `systems.electricity.expectations`: the feature groups' expectation suites.
* `systems.electricity.model`: `ModelParams`, `fit_predict` for backtests, `Forecaster`.

The generic parts (seasonal naive, MASE, backtests, intervals, the promotion gate)
are in `fti.teach.forecasting`; the store features it relies on (time keys, joins
as of a chosen time) are in the store core.
"""

from __future__ import annotations

from .data import (
    DAILY_SEASON,
    ELECDEMAND_CSV,
    FIRST_DAY,
    FIRST_FEATURE_DAY,
    HOLIDAYS,
    HORIZON,
    REGION,
    STEP,
    WEEKLY_SEASON,
    arrivals,
    check_half_hour_grid,
    cutoff,
    cutoffs,
    day_start,
    history,
    load_demand,
)
from .expectations import demand_expectations, forecast_expectations, weather_expectations
from .features import CALENDAR_FEATURES, DEMAND_FEATURES, calendar_features, demand_features, target_times
from .model import Forecaster, ModelParams, fit_predict, lead_hour
from .weather import ForecastSkill, issue_forecast, issue_forecasts

__all__ = [
    "CALENDAR_FEATURES",
    "DAILY_SEASON",
    "DEMAND_FEATURES",
    "ELECDEMAND_CSV",
    "FIRST_DAY",
    "FIRST_FEATURE_DAY",
    "HOLIDAYS",
    "HORIZON",
    "REGION",
    "STEP",
    "WEEKLY_SEASON",
    "ForecastSkill",
    "Forecaster",
    "ModelParams",
    "arrivals",
    "calendar_features",
    "check_half_hour_grid",
    "cutoff",
    "cutoffs",
    "day_start",
    "demand_expectations",
    "demand_features",
    "fit_predict",
    "forecast_expectations",
    "history",
    "issue_forecast",
    "issue_forecasts",
    "lead_hour",
    "load_demand",
    "target_times",
    "weather_expectations",
]
