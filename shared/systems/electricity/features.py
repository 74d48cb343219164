"""The features of a day-ahead forecast, each computed once, as it was known at the cutoff.

A forecast is issued at a cutoff (midnight) for the 48 half-hours that follow.
Each of those half-hours is a **target**: a row keyed by (region, target time),
whose event time is the cutoff (``issue_time``), because that is when its
features are known. Two feature groups hold them:

* ``targets`` (`calendar_features`): the calendar of the target half-hour, known
  long in advance: the half-hour of the day (``slot``), the day of the week,
  working day and public holiday. Training and inference both read these rows,
  so the calendar is computed once, in one place.
* ``demand_features`` (`demand_features`): what the demand history says at the
  cutoff. Lags of at least the horizon, so every lag of every target was observed
  before the cutoff: ``lag_48`` (a day before the target) and ``lag_336`` (a week
  before), also the two seasonal naive forecasts; the mean of the same half-hour
  over the last 7 days; and rolling statistics that *end at the cutoff*: the mean
  and maximum of the last day, the mean of the last week. A rolling window that
  ends at the target instead would include demand that was not known yet.

Every function takes the series and the cutoffs; values after a cutoff are never
read for its rows (the tests check this by scrambling them).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from .data import DAILY_SEASON, HOLIDAYS, HORIZON, REGION, STEP, WEEKLY_SEASON

__all__ = [
    "CALENDAR_FEATURES",
    "DEMAND_FEATURES",
    "calendar_features",
    "demand_features",
    "target_times",
]

CALENDAR_FEATURES: tuple[str, ...] = ("slot", "day_of_week", "work_day", "holiday")
"""Calendar columns of the ``targets`` feature group."""

DEMAND_FEATURES: tuple[str, ...] = (
    "lag_48", "lag_336", "same_slot_mean_7d", "mean_last_day", "max_last_day", "mean_last_week",
)
"""Demand columns of the ``demand_features`` feature group."""

_DAY = pd.Timedelta(days=1)


def _cutoffs(issue_times: pd.Timestamp | Iterable[pd.Timestamp]) -> pd.DatetimeIndex:
    if isinstance(issue_times, (pd.Timestamp, str)):
        issue_times = [issue_times]
    index = pd.DatetimeIndex(pd.to_datetime(list(issue_times)))
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    return index.as_unit("us")


def target_times(issue_times: pd.Timestamp | Iterable[pd.Timestamp],
                 horizon: int = HORIZON) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """The targets of each cutoff: ``horizon`` half-hours from the cutoff on, and their cutoff.

    Returns:
        ``(target_time, issue_time)``, one entry per target, cutoff by cutoff.
    """
    cutoffs = _cutoffs(issue_times)
    issues = cutoffs.repeat(horizon)
    targets = issues + pd.TimedeltaIndex(np.tile(np.arange(horizon), len(cutoffs)) * STEP)
    return targets, issues


def calendar_features(issue_times: pd.Timestamp | Iterable[pd.Timestamp], horizon: int = HORIZON) -> pd.DataFrame:
    """The ``targets`` rows of one or more cutoffs: each target half-hour with its calendar.

    Returns:
        Columns ``region, target_time, issue_time, slot`` (0-47, the half-hour of the
        day), ``day_of_week`` (0 Monday - 6 Sunday), ``work_day`` (1 on weekdays that
        are not public holidays) and ``holiday`` (1 on a public holiday).
    """
    targets, issues = target_times(issue_times, horizon)
    days = pd.Index(targets.date)
    holiday = days.isin(HOLIDAYS)
    day_of_week = targets.day_of_week.to_numpy()
    return pd.DataFrame({
        "region": REGION,
        "target_time": targets,
        "issue_time": issues,
        "slot": (targets.hour * 2 + targets.minute // 30).to_numpy(dtype="int64"),
        "day_of_week": day_of_week.astype("int64"),
        "work_day": ((day_of_week < 5) & ~holiday).astype("int64"),
        "holiday": holiday.astype("int64"),
    })


def demand_features(demand: pd.Series, issue_times: pd.Timestamp | Iterable[pd.Timestamp],
                    horizon: int = HORIZON) -> pd.DataFrame:
    """The ``demand_features`` rows of one or more cutoffs, from the demand observed before each.

    Args:
        demand: Demand in GW indexed by time (UTC), half-hourly. Values at or after a
            cutoff are never used for that cutoff's rows; missing half-hours give NaN.
        issue_times: The cutoffs.
        horizon: Targets per cutoff.

    Returns:
        Columns ``region, target_time, issue_time`` and `DEMAND_FEATURES`.
    """
    targets, issues = target_times(issue_times, horizon)
    series = demand.sort_index()
    series = series[~series.index.duplicated(keep="last")]

    def at(times: pd.DatetimeIndex) -> np.ndarray:
        # Only values observed before the target's cutoff may be read (the lags reach at least that far back).
        values = series.reindex(times).to_numpy(dtype=float, copy=True)
        values[times >= issues] = np.nan
        return values

    same_slot = np.column_stack([at(targets - k * _DAY) for k in range(1, 8)])
    # Rolling windows that end at the cutoff: [cutoff - window, cutoff).
    cutoffs = issues.unique()
    last_day = {c: series[(series.index >= c - _DAY) & (series.index < c)] for c in cutoffs}
    last_week = {c: series[(series.index >= c - 7 * _DAY) & (series.index < c)] for c in cutoffs}

    def per_cutoff(windows: dict, statistic: str, size: int) -> np.ndarray:
        # A window with missing half-hours is not summarised: its mean would describe another day.
        values = {c: getattr(w, statistic)() if len(w) == size else np.nan for c, w in windows.items()}
        return np.array([values[c] for c in issues], dtype=float)

    with np.errstate(invalid="ignore"):
        slot_mean = np.where(np.isnan(same_slot).any(axis=1), np.nan, same_slot.mean(axis=1))
    return pd.DataFrame({
        "region": REGION,
        "target_time": targets,
        "issue_time": issues,
        "lag_48": at(targets - DAILY_SEASON * STEP),
        "lag_336": at(targets - WEEKLY_SEASON * STEP),
        "same_slot_mean_7d": slot_mean,
        "mean_last_day": per_cutoff(last_day, "mean", DAILY_SEASON),
        "max_last_day": per_cutoff(last_day, "max", DAILY_SEASON),
        "mean_last_week": per_cutoff(last_week, "mean", WEEKLY_SEASON),
    })
