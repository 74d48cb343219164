"""One clock for the whole kit.

Pipelines stamp commits, model versions and run logs with `now()`. In class it is
the real time; when the environment variable ``FTI_NOW`` is set (the scheduler
and the notebook build do this) it is that fixed instant instead, so that a
simulated month of pipeline runs writes the same store every time.
"""

from __future__ import annotations

import datetime as dt
import os

import pandas as pd

from fti.exceptions import InvalidTimeError

NOW_VARIABLE = "FTI_NOW"

TimeLike = str | dt.date | dt.datetime | pd.Timestamp


def now() -> pd.Timestamp:
    """Return the current time as a timezone-aware UTC timestamp.

    Returns:
        ``FTI_NOW`` parsed as UTC when that variable is set, else the wall clock.

    Raises:
        ValueError: ``FTI_NOW`` is set but is not a date or time.
    """
    fixed = os.environ.get(NOW_VARIABLE)
    if fixed:
        try:
            return to_utc(fixed)
        except ValueError as exc:
            raise InvalidTimeError(f"{NOW_VARIABLE}={fixed!r} is not an ISO date or time: {exc}") from None
    return pd.Timestamp.now(tz="UTC").floor("us")


def to_utc(value: TimeLike, what: str = "time") -> pd.Timestamp:
    """Convert a date, datetime or ISO string to a UTC timestamp with microsecond precision.

    Naive input is taken to be UTC already (the store keeps every time in UTC), and an
    aware one is converted.

    Args:
        value: The time to convert.
        what: What the value is, for the error message (e.g. ``"as_of"``).

    Raises:
        ValueError: The value is not a time.
    """
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise InvalidTimeError(f"{what} {value!r} is not a date or time: {exc}") from None
    if stamp is pd.NaT:
        raise InvalidTimeError(f"{what} is missing (NaT)")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.as_unit("us")
