"""The demand data: Victoria's half-hourly electricity demand and Melbourne's temperature in 2014.

`load_demand` reads ``data/elecdemand_vic_2014.csv`` (17,520 half-hours from the
R package fpp2, ``elecdemand``: Australian Energy Market Operator and Bureau of
Meteorology) and checks every value, so a damaged file stops with the line that
is wrong instead of training a model on it.

Times. The file's timestamps are Melbourne standard time (UTC+10) without
daylight-saving shifts, 30 minutes apart. The system keeps them as they are and
stores them as UTC labels (the store reads naive times as UTC), so the day of the
data is the day of the simulated clock: the pipelines of run date 2014-09-01 see
the demand of 1 September.

The simulation replays 2014: each simulated day, that day's 48 half-hours of
demand and temperature "arrive" (`arrivals`), and the day's forecasts are issued
at the **cutoff**, midnight at the end of the run date (`cutoff`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from fti.exceptions import ParameterError, SchemaError
from fti.paths import DATA_DIR
from fti.teach import synthetic

__all__ = [
    "DAILY_SEASON",
    "ELECDEMAND_CSV",
    "FIRST_DAY",
    "FIRST_FEATURE_DAY",
    "HOLIDAYS",
    "HORIZON",
    "LAST_DAY",
    "REGION",
    "STEP",
    "WEEKLY_SEASON",
    "arrivals",
    "check_half_hour_grid",
    "cutoff",
    "cutoffs",
    "day_start",
    "history",
    "load_demand",
]

ELECDEMAND_CSV: Path = DATA_DIR / "elecdemand_vic_2014.csv"
"""Default location of the data (a plain copy of the kit's data file)."""

REGION = "VIC"
"""The one region of the data, the entity every row describes (its primary key)."""

STEP = pd.Timedelta(minutes=30)
"""The spacing of the series."""

HORIZON = 48
"""Forecast horizon in steps: a day of half-hours after each cutoff."""

DAILY_SEASON = 48
"""The daily seasonal period in half-hours: the seasonal naive baseline's m, and MASE's."""

WEEKLY_SEASON = 336
"""The weekly seasonal period in half-hours: the second seasonal naive baseline."""

FIRST_DAY = dt.date(2014, 1, 1)
LAST_DAY = dt.date(2014, 12, 31)

FIRST_FEATURE_DAY = dt.date(2014, 1, 7)
"""The first run date with a week of demand behind its cutoff: the first whose targets have every lag."""

HOLIDAYS: tuple[dt.date, ...] = (
    dt.date(2014, 1, 1),    # New Year's Day
    dt.date(2014, 1, 27),   # Australia Day (observed)
    dt.date(2014, 3, 10),   # Labour Day (Victoria)
    dt.date(2014, 4, 18),   # Good Friday
    dt.date(2014, 4, 21),   # Easter Monday
    dt.date(2014, 4, 25),   # Anzac Day
    dt.date(2014, 6, 9),    # Queen's Birthday
    dt.date(2014, 11, 4),   # Melbourne Cup Day
    dt.date(2014, 12, 25),  # Christmas Day
    dt.date(2014, 12, 26),  # Boxing Day
)
"""Victoria's public holidays on weekdays in 2014: known in advance, and exactly the data's non-working weekdays."""

COLUMNS: tuple[str, ...] = ("region", "timestamp", "demand_gw", "temperature_c", "work_day")
"""Columns of `load_demand`, in order."""

_RAW = ("timestamp", "demand_gw", "work_day", "temperature_c")
# Plausible bounds, far outside anything Victoria saw: a value beyond them is a broken file.
_RANGES = {"demand_gw": (0.5, 20.0), "temperature_c": (-15.0, 55.0), "work_day": (0, 1)}


def load_demand(path: str | Path | None = None) -> pd.DataFrame:
    """Read and check the half-hourly demand data.

    Args:
        path: CSV file with the columns ``timestamp, demand_gw, work_day, temperature_c``
            (others ignored). Defaults to `ELECDEMAND_CSV`.

    Returns:
        One row per half-hour, oldest first, columns `COLUMNS`: ``region`` (str,
        always `REGION`), ``timestamp`` (datetime64[us, UTC]), ``demand_gw`` and
        ``temperature_c`` (float64), ``work_day`` (int64, 0 or 1).

    Raises:
        FileNotFoundError: No file at ``path``.
        SchemaError: A missing column, a time that is not a date, a gap or a repeat in
            the half-hour grid, a missing value or one outside its plausible range; the
            message names the file, the column and the line.
    """
    file = Path(path) if path is not None else ELECDEMAND_CSV
    if not file.is_file():
        raise FileNotFoundError(f"demand data {file}: no such file (the kit keeps a copy in {ELECDEMAND_CSV})")
    raw = pd.read_csv(file, dtype=str)
    raw.columns = [str(c).strip() for c in raw.columns]
    source = f"demand data {file}"
    missing = [c for c in _RAW if c not in raw.columns]
    if missing:
        raise SchemaError(f"{source}: missing column(s) {missing}; expected {list(_RAW)}")
    if raw.empty:
        raise SchemaError(f"{source}: no rows")
    times = pd.to_datetime(raw["timestamp"].str.strip(), errors="coerce", format="%Y-%m-%d %H:%M:%S")
    bad = times.isna().to_numpy()
    if bad.any():
        raise SchemaError(f"{source}: column 'timestamp' is not a 'YYYY-MM-DD HH:MM:SS' time at line "
                          f"{int(np.flatnonzero(bad)[0]) + 2} ({raw['timestamp'].iloc[int(np.flatnonzero(bad)[0])]!r})")
    frame = pd.DataFrame({"region": REGION, "timestamp": times.dt.tz_localize("UTC").astype("datetime64[us, UTC]")})
    for column, (low, high) in _RANGES.items():
        values = pd.to_numeric(raw[column].str.strip(), errors="coerce").to_numpy(dtype=float)
        wrong = np.isnan(values) | (values < low) | (values > high)
        if wrong.any():
            line = int(np.flatnonzero(wrong)[0])
            raise SchemaError(f"{source}: column '{column}' must be a number between {low:g} and {high:g}; got "
                              f"{raw[column].iloc[line]!r} at line {line + 2}")
        frame[column] = values
    frame["work_day"] = frame["work_day"].astype("int64")
    check_half_hour_grid(frame, "timestamp", source)
    return frame[list(COLUMNS)].reset_index(drop=True)


def check_half_hour_grid(frame: pd.DataFrame, column: str, where: str, start: pd.Timestamp | None = None,
                         end: pd.Timestamp | None = None) -> None:
    """Refuse a frame whose times are not one row per half-hour, without gaps.

    An expectation suite checks values row by row; a gap is a property of the rows
    together (one is *missing*), so it is checked here, before an insert.

    Args:
        frame: The rows.
        column: Their time column.
        where: What the rows are, for the message.
        start: First half-hour that must be present (default: the frame's first).
        end: End (exclusive) of the grid (default: after the frame's last).

    Raises:
        SchemaError: Off-grid, repeated or missing half-hours, naming the first few.
    """
    times = pd.DatetimeIndex(frame[column])
    if times.empty:
        raise SchemaError(f"{where}: no rows")
    off_grid = times[(times.second != 0) | (times.minute % 30 != 0)]
    if len(off_grid):
        raise SchemaError(f"{where}: {len(off_grid)} time(s) are not on the half-hour, e.g. {off_grid[0]}")
    repeated = times[times.duplicated()]
    if len(repeated):
        raise SchemaError(f"{where}: {len(repeated)} half-hour(s) appear twice, e.g. {repeated[0]}")
    first = times.min() if start is None else start
    last = times.max() + STEP if end is None else end
    grid = pd.date_range(first, last, freq=STEP, inclusive="left")
    absent = grid.difference(times)
    extra = times.difference(grid)
    if len(absent) or len(extra):
        parts = []
        if len(absent):
            parts.append(f"{len(absent)} half-hour(s) missing, e.g. {', '.join(str(t) for t in absent[:3])}")
        if len(extra):
            parts.append(f"{len(extra)} outside {first} to {last}, e.g. {extra[0]}")
        raise SchemaError(f"{where}: {' and '.join(parts)}")


def day_start(run_date: dt.date | str) -> pd.Timestamp:
    """Midnight (UTC label) at the start of ``run_date``.

    Raises:
        ParameterError: Not a date in 2014, the year the data covers.
    """
    day = synthetic.as_date(run_date, "run_date")
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ParameterError(f"run_date {day} is outside the data, which covers {FIRST_DAY} to {LAST_DAY}")
    return pd.Timestamp(day, tz="UTC").as_unit("us")


def cutoff(run_date: dt.date | str) -> pd.Timestamp:
    """The forecast cutoff of a run date: midnight at its end, when its forecasts are issued.

    Everything observed on ``run_date`` is known at the cutoff; the day after it is forecast.
    """
    return day_start(run_date) + pd.Timedelta(days=1)


def cutoffs(first: dt.date | str, until: dt.date | str) -> pd.DatetimeIndex:
    """The cutoffs of the run dates from ``first`` to the day before ``until``: what a backfill on ``until`` replays."""
    start, end = cutoff(first), day_start(until)
    if start > end:
        raise ParameterError(f"no run dates from {first} until {until}: the first must come before the second")
    return pd.date_range(start, end, freq="D").as_unit("us")


def arrivals(data: pd.DataFrame, run_date: dt.date | str) -> pd.DataFrame:
    """The 48 half-hours of ``run_date``: what arrives from the market operator and the weather bureau that day."""
    start = day_start(run_date)
    day = data[(data["timestamp"] >= start) & (data["timestamp"] < start + pd.Timedelta(days=1))]
    return day.reset_index(drop=True)


def history(data: pd.DataFrame, until: dt.date | str) -> pd.DataFrame:
    """Every half-hour before ``until`` (a run date): what a backfill on that date loads."""
    return data[data["timestamp"] < day_start(until)].reset_index(drop=True)
