"""The source adapter of the __System__ system: the one place where its raw data comes in.

Every pipeline gets raw data through this module, so replacing the data source
(an API, a file published every day, a database) changes this file and nothing
else. Three calls:

* `backfill`: history, for the backfill notebook (the days before ``until``);
* `pull`: what is new since the last run, for the daily feature pipeline (the
  days after ``since``, the newest reading the feature store already has, up to
  ``until``), so a day the pipeline missed is caught up the next time it runs;
* `record_fixture`: call the live source once and keep its answer in
  ``fixtures/readings.csv``, so the tests and nbval run offline and the same
  every time, even when the live source is an API.

`backfill` and `pull` take ``data_source``: ``"fixture"`` reads the recording,
``"live"`` calls `fetch_live`. The notebooks default to the fixture (tests,
nbval, a first run in JupyterLab); ``pipelines.yml`` gives ``live`` to the
scheduled runs.

Out of the box `fetch_live` is a stand-in, so the system runs the minute it is
created: daily readings of 16 stations computed from the date alone (a level
per station, a weekly pattern, a yearly wave and noise seeded by the date). It
answers for any day, without a network. Replace its body with a call to your
source and keep its contract (`COLUMNS`, one row per station and day, the days
asked for); then record a fixture: ``python -m systems.__system__.source record``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fti.exceptions import ParameterError, SchemaError, SourceError
from fti.teach import synthetic

__all__ = ["COLUMNS", "DATA_SOURCES", "FIXTURE", "backfill", "fetch_live", "pull", "record_fixture"]

KEY = "station_id"
"""Which entity a reading is about: the primary key of the feature group."""

EVENT_TIME = "observed_at"
"""When a reading became true: midnight (UTC) of the day it is for."""

COLUMNS: tuple[str, ...] = (KEY, EVENT_TIME, "value")
"""What the source delivers, in this order: one row per station and day."""

DTYPES: dict[str, str] = {KEY: "int64", EVENT_TIME: "datetime64[us, UTC]", "value": "float64"}

FIXTURE: Path = Path(__file__).resolve().parent / "fixtures" / "readings.csv"
"""The recorded answer of the live source, for offline runs (``data_source="fixture"``)."""

DATA_SOURCES: tuple[str, ...] = ("fixture", "live")

DEFAULT_HISTORY_DAYS = 90

# The stand-in live source. Its salt keeps its random numbers apart from other systems'.
STATIONS: tuple[int, ...] = tuple(range(1, 17))
_SALT = synthetic.seed_salt("EXAMPLE")
_WEEKLY = np.array([3.0, 4.0, 4.0, 3.0, 1.0, -6.0, -9.0])  # Monday to Sunday: busy weekdays, quiet weekends
_NOISE_SD = 3.0


def fetch_live(first_day: dt.date, last_day: dt.date) -> pd.DataFrame:
    """Every station's reading for each day from ``first_day`` to ``last_day`` (both included), from the live source.

    REPLACE THE BODY with a call to your source (``requests.get(...)``, reading a
    published file...). Keep the contract: return a frame with `COLUMNS`, one row
    per station and day for exactly the days asked, ``observed_at`` the day's
    midnight in UTC. `backfill`, `pull` and `record_fixture` check what it returns.

    Args:
        first_day: The first day.
        last_day: The last day, not before ``first_day``.
    """
    # The stand-in: each day's numbers come from the date alone, so a day asked twice
    # gives the same readings, like a real source that publishes each day once.
    rows = []
    stations = np.asarray(STATIONS, dtype=np.int64)
    levels = 40.0 + 3.0 * stations
    for day in pd.date_range(first_day, last_day, freq="D"):
        noise = synthetic.rng_for_date(day.date(), _SALT).normal(0.0, _NOISE_SD, len(stations))
        wave = 5.0 * math.sin(2 * math.pi * day.day_of_year / 365.25)
        rows.append(pd.DataFrame({
            KEY: stations,
            EVENT_TIME: pd.Timestamp(day.date(), tz="UTC"),
            "value": np.round(levels + _WEEKLY[day.day_of_week] + wave + noise, 2),
        }))
    return pd.concat(rows, ignore_index=True)


def backfill(until: dt.date | str, days: int = DEFAULT_HISTORY_DAYS, *, data_source: str = "fixture") -> pd.DataFrame:
    """History for the backfill: every reading of the ``days`` days before ``until`` (``until`` itself excluded).

    Args:
        until: The day the backfill runs (``"YYYY-MM-DD"`` or a date); its own
            readings come with the daily feature pipeline.
        days: How many days of history, at least 1.
        data_source: ``"fixture"`` (the recording) or ``"live"``.

    Returns:
        Checked readings, `COLUMNS`, sorted by station and time.

    Raises:
        ParameterError: A malformed date, ``days < 1`` or an unknown ``data_source``.
        SourceError: The fixture does not cover those days.
        SchemaError: The live source returned something else than its contract says.
    """
    last = synthetic.as_date(until, "until") - dt.timedelta(days=1)
    days = synthetic.as_int(days, "days")
    if days < 1:
        raise ParameterError(f"days (of history) must be at least 1, got {days}")
    return _readings(last - dt.timedelta(days=days - 1), last, data_source)


def pull(since: pd.Timestamp | None, until: dt.date | str, *, data_source: str = "fixture") -> pd.DataFrame:
    """What is new since the last run: the readings of the days after ``since``, up to ``until`` (included).

    Args:
        since: The newest ``observed_at`` the feature store already has (``None``
            or ``NaT`` for an empty store: then only ``until`` is pulled).
        until: The day the pipeline runs for.
        data_source: ``"fixture"`` (the recording) or ``"live"``.

    Returns:
        Checked readings, `COLUMNS`, sorted by station and time; no rows when
        nothing is new (the day already ran).

    Raises:
        ParameterError: A malformed date or an unknown ``data_source``.
        SourceError: The fixture does not cover those days.
        SchemaError: The live source returned something else than its contract says.
    """
    last = synthetic.as_date(until, "until")
    if since is None or pd.isna(since):
        first = last
    else:
        first = synthetic.as_date(pd.Timestamp(since), "since") + dt.timedelta(days=1)
    if first > last:
        return _checked(pd.DataFrame({column: [] for column in COLUMNS}), "pull")
    return _readings(first, last, data_source)


def record_fixture(first_day: dt.date | str, last_day: dt.date | str, path: str | Path = FIXTURE) -> Path:
    """Call the live source for these days and keep its checked answer as the fixture.

    Args:
        first_day: The first day to record.
        last_day: The last day to record (included).
        path: Where to write the CSV file (default: `FIXTURE`).

    Returns:
        The fixture's path. The file is replaced whole, never half-written.
    """
    first, last = synthetic.as_date(first_day, "first_day"), synthetic.as_date(last_day, "last_day")
    if first > last:
        raise ParameterError(f"record_fixture: first_day {first} is after last_day {last}")
    readings = _checked(fetch_live(first, last), "the live source")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    readings.to_csv(partial, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    partial.replace(target)
    return target


def _readings(first: dt.date, last: dt.date, data_source: str) -> pd.DataFrame:
    """The checked readings of the days ``first`` to ``last`` from the chosen source."""
    if data_source not in DATA_SOURCES:
        raise ParameterError(f"data_source must be one of {', '.join(DATA_SOURCES)}, got {data_source!r}")
    if data_source == "live":
        return _checked(fetch_live(first, last), "the live source")
    if not FIXTURE.is_file():
        raise SourceError(f"no fixture at {FIXTURE}: record one with `python -m systems.__system__.source record`")
    recorded = _checked(pd.read_csv(FIXTURE), f"fixture {FIXTURE}")
    covered = recorded[EVENT_TIME].dt.date
    if covered.min() > first or covered.max() < last:
        raise SourceError(
            f"fixture {FIXTURE} covers {covered.min()} to {covered.max()}, not {first} to {last}: record a longer "
            "one (python -m systems.__system__.source record --first ... --last ...) or use data_source='live'"
        )
    return recorded[(covered >= first) & (covered <= last)].reset_index(drop=True)


def _checked(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """``frame`` with exactly `COLUMNS` in their dtypes, sorted; refuses what the pipelines could not use."""
    missing = [column for column in COLUMNS if column not in frame.columns]
    if missing:
        raise SchemaError(f"{where}: missing column(s) {', '.join(missing)}; a reading has {', '.join(COLUMNS)}")
    readings = frame[list(COLUMNS)].copy()
    try:
        readings[EVENT_TIME] = pd.to_datetime(readings[EVENT_TIME], utc=True)
        readings = readings.astype(DTYPES)
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"{where}: a column cannot be read as {DTYPES}: {exc}") from None
    empty = [column for column in COLUMNS if readings[column].isna().any()]
    if empty:
        raise SchemaError(f"{where}: missing values in {', '.join(empty)}; every reading needs all of {COLUMNS}")
    repeated = readings.duplicated([KEY, EVENT_TIME])
    if repeated.any():
        first = readings[repeated].iloc[0]
        raise SchemaError(f"{where}: {int(repeated.sum())} repeated reading(s), e.g. station {first[KEY]} "
                          f"on {first[EVENT_TIME]:%Y-%m-%d}; one reading per station and day")
    return readings.sort_values([KEY, EVENT_TIME]).reset_index(drop=True)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m systems.__system__.source record [--first DAY] [--last DAY]``: record the fixture."""
    parser = argparse.ArgumentParser(prog="python -m systems.__system__.source",
                                     description="Record the live source's answer as the offline fixture.")
    parser.add_argument("action", choices=["record"])
    parser.add_argument("--first", default="2025-10-01", help="first day to record (default: 2025-10-01)")
    parser.add_argument("--last", default="2026-01-31", help="last day to record (default: 2026-01-31)")
    args = parser.parse_args(argv)
    path = record_fixture(args.first, args.last)
    print(f"recorded {args.first} to {args.last} in {path}")


if __name__ == "__main__":
    main()
