"""Weather forecasts, simulated: what the Bureau would have forecast at each cutoff.

The data has only *observed* temperature. A demand forecast made at midnight
cannot use tomorrow afternoon's observed temperature, only a forecast of it, so
the feature pipeline issues one: the observation plus an error that grows with
the lead time (the hours between issue and valid time), as real forecasts do.

The error at lead ``h`` hours has standard deviation ``base + growth * h`` and is
correlated from one half-hour to the next (a forecast that is too warm at 14:00
is too warm at 14:30 too): an AR(1) sequence with correlation ``persistence``
per step, scaled to that standard deviation. It is drawn from a generator seeded
by the issue date (`fti.teach.synthetic.rng_for_date`), so a forecast is the same
every time its day is run.

Each forecast row has two times, both kept in the feature group: ``issue_time``
(when it was made: the event time) and ``valid_time`` (the half-hour it is for:
part of the primary key).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fti.exceptions import ParameterError
from fti.teach import synthetic

from .data import REGION, STEP

__all__ = ["FORECAST_COLUMNS", "ForecastSkill", "issue_forecast", "issue_forecasts"]

SALT = synthetic.seed_salt("ELEC")

FORECAST_COLUMNS: tuple[str, ...] = ("region", "valid_time", "issue_time", "lead_hours", "temperature_c")
"""Columns of an issued forecast, in order."""


@dataclass(frozen=True)
class ForecastSkill:
    """How wrong the simulated forecasts are.

    Attributes:
        base: Standard deviation of the error at lead 0, in °C.
        growth: Added to it per hour of lead time, in °C (0.07: 1.7 °C a day ahead, 3.7 °C two days ahead).
        persistence: Correlation of the error between consecutive half-hours (0 to 1).
    """

    base: float = 0.4
    growth: float = 0.07
    persistence: float = 0.9

    def __post_init__(self) -> None:
        for name in ("base", "growth"):
            if not synthetic.as_finite_float(getattr(self, name), f"ForecastSkill {name}") >= 0:
                raise ParameterError(f"ForecastSkill {name} must be >= 0, got {getattr(self, name)!r}")
        if not 0 <= synthetic.as_finite_float(self.persistence, "ForecastSkill persistence") < 1:
            raise ParameterError(f"ForecastSkill persistence must be in [0, 1), got {self.persistence!r}")

    def standard_deviation(self, lead_hours: np.ndarray) -> np.ndarray:
        """The error's standard deviation at each lead time."""
        return self.base + self.growth * np.asarray(lead_hours, dtype=float)


def issue_forecast(observed: pd.Series, issue_time: pd.Timestamp, hours: int = 48,
                   skill: ForecastSkill | None = None) -> pd.DataFrame:
    """The temperature forecast issued at ``issue_time`` for the next ``hours`` hours.

    Args:
        observed: Observed temperature in °C, indexed by time (UTC), half-hourly. The
            simulation takes the truth from here and adds the forecast error; valid
            times past its end are left out (the data ends with 2014).
        issue_time: When the forecast is issued (a cutoff, e.g. midnight).
        hours: How far ahead it goes.
        skill: The error model (default `ForecastSkill()`).

    Returns:
        One row per half-hour from ``issue_time`` (lead 0) on, columns `FORECAST_COLUMNS`.

    Raises:
        ParameterError: ``hours`` below 1, or no observation at the issue time.
    """
    if isinstance(hours, bool) or not isinstance(hours, (int, np.integer)) or hours < 1:
        raise ParameterError(f"hours must be a whole number >= 1, got {hours!r}")
    skill = skill or ForecastSkill()
    issue = pd.Timestamp(issue_time)
    issue = issue.tz_localize("UTC") if issue.tzinfo is None else issue.tz_convert("UTC")
    valid = pd.date_range(issue, periods=2 * int(hours), freq=STEP)
    valid = valid[valid.isin(observed.index)]
    if valid.empty or valid[0] != issue:
        raise ParameterError(f"no observed temperature at the issue time {issue}: cannot simulate its forecast")
    lead = ((valid - issue) / pd.Timedelta(hours=1)).to_numpy(dtype=float)
    # Drawn in a fixed order from a generator seeded by the issue date: the same forecast every run.
    shocks = synthetic.rng_for_date(issue.date(), SALT).standard_normal(2 * int(hours))[: len(valid)]
    error = np.empty(len(valid))
    rho = skill.persistence
    for step, shock in enumerate(shocks):
        error[step] = shock if step == 0 else rho * error[step - 1] + np.sqrt(1 - rho**2) * shock
    temperature = observed.loc[valid].to_numpy(dtype=float) + skill.standard_deviation(lead) * error
    return pd.DataFrame({
        "region": REGION,
        "valid_time": valid.as_unit("us"),
        "issue_time": issue.as_unit("us"),
        "lead_hours": lead,
        "temperature_c": temperature.round(1),
    })


def issue_forecasts(observed: pd.Series, issue_times: Iterable[pd.Timestamp], hours: int = 48,
                    skill: ForecastSkill | None = None) -> pd.DataFrame:
    """`issue_forecast` for several issue times, one after the other (a backfill)."""
    frames = [issue_forecast(observed, issue, hours, skill) for issue in issue_times]
    if not frames:
        return pd.DataFrame({name: [] for name in FORECAST_COLUMNS})
    return pd.concat(frames, ignore_index=True)
