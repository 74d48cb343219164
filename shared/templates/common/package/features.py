"""The features of the __System__ system, and its label: computed here once, used by both feature pipelines.

The backfill and the daily feature pipeline call the same functions, so a
feature is never computed two ways. Every feature of a day uses only readings
up to that day, which are known when the pipelines run in the evening; only the
label looks one day ahead, and it is filled in the next day, when that reading
arrives.

The example predicts whether a station's next reading is higher than today's
(`LABEL`), from today's reading, its change since yesterday, the mean of the
last seven days and the day of the week (`FEATURES`).
"""

from __future__ import annotations

import pandas as pd

from .source import COLUMNS, EVENT_TIME, KEY

__all__ = ["FEATURES", "LABEL", "add_features", "rows_to_write"]

FEATURES: list[str] = ["value", "change_1d", "mean_7d", "day_of_week"]
"""What the model may use: all known on the evening of the day a prediction is made."""

LABEL = "goes_up"
"""What the model predicts: 1 if the station's next reading is higher than this one, 0 if not, missing until known."""

# The rolling mean covers the day itself and the six before it: seven readings, all known today.
_WINDOW = "7D"
# The daily pipeline recomputes the day before the new ones (its label is now known) from these many days back.
_LOOKBACK_DAYS = 8


def add_features(readings: pd.DataFrame) -> pd.DataFrame:
    """Features and label for every reading.

    Lags are looked up by date, not by position in the frame, so a missing day
    gives a missing lag instead of quietly using an older reading.

    Args:
        readings: `COLUMNS` (as the source adapter returns them), any order.

    Returns:
        One row per reading, sorted by station and time: ``station_id``,
        ``observed_at``, `FEATURES` and `LABEL` (nullable integer; missing while
        the next day's reading has not arrived).
    """
    frame = readings[list(COLUMNS)].sort_values([KEY, EVENT_TIME]).reset_index(drop=True)
    frame["change_1d"] = frame["value"] - _value_on(frame, days=-1)
    # groupby keeps the stations in sorted order and each station's rows in time order: the frame's own order.
    window = frame.set_index(EVENT_TIME).groupby(KEY)["value"].rolling(_WINDOW).mean()
    frame["mean_7d"] = window.to_numpy().round(4)
    frame["day_of_week"] = frame[EVENT_TIME].dt.day_of_week.astype("int64")
    following = _value_on(frame, days=1)
    frame[LABEL] = pd.array((following > frame["value"]).astype("int64"), dtype="Int64")
    frame.loc[following.isna(), LABEL] = pd.NA
    return frame


def rows_to_write(stored: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """What the daily feature pipeline inserts: the new days, and the day before them, whose label is now known.

    Args:
        stored: The feature group's rows so far (at least `COLUMNS`).
        new: The readings `pull` returned.

    Returns:
        Rows as `add_features` makes them; none when ``new`` is empty. Inserting
        them upserts: the day before is replaced by the same row with its label.
    """
    if new.empty:
        return add_features(new)
    first = new[EVENT_TIME].min()
    recent = stored.loc[stored[EVENT_TIME] >= first - pd.Timedelta(days=_LOOKBACK_DAYS), list(COLUMNS)]
    combined = pd.concat([recent, new[list(COLUMNS)]], ignore_index=True)
    features = add_features(combined.drop_duplicates([KEY, EVENT_TIME], keep="last"))
    return features[features[EVENT_TIME] >= first - pd.Timedelta(days=1)].reset_index(drop=True)


def _value_on(frame: pd.DataFrame, days: int) -> pd.Series:
    """Each row's station reading ``days`` days later (earlier when negative); missing where there is none."""
    moved = frame[[KEY, EVENT_TIME, "value"]].assign(**{EVENT_TIME: frame[EVENT_TIME] - pd.Timedelta(days=days)})
    return frame[[KEY, EVENT_TIME]].merge(moved, on=[KEY, EVENT_TIME], how="left")["value"]
