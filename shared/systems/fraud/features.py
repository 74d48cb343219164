"""The card-fraud system's features: stream windows per card and on-demand features per request.

Three kinds, by when they can be computed:

* **Static profiles** (feature groups ``cards`` and ``merchants``): a card's credit limit and
  its holder's home, a merchant's category. Written by the backfill; looked up online by key.
* **Stream features** (feature group ``card_windows``, `WINDOWS`): per card, how many
  transactions and how much money in the last 10 minutes, hour, day and week, and the
  card's previous transaction's time, place and card-present flag. The streaming pipeline
  updates them with every transaction (`fti.stream`); the backfill computes the same rows
  in batch (`fti.stream.batch_windows`), and a test proves the two agree.
* **On-demand features** (the functions below): what only the request itself can tell,
  such as the time since the card's previous transaction or the speed the card holder
  would have needed to travel from there. One function each, called row by row when
  training data is read and once per request when serving, so both compute them alike.

**Which transactions a window holds.** ``card_windows`` has one row per transaction: the
card's state right *after* it, with every window ending at that transaction and including
it. A transaction is scored *before* it enters the stream, so its features are the row of
the card's *previous* transaction: the online store's newest row when it is served, and the
row strictly before its time when training data is read (``strictly_before=True`` in the
feature view's join). The transaction being scored is in none of its own windows; its own
amount, place and time enter through the on-demand features.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from fti.stream import WindowSpec

__all__ = [
    "MODEL_INPUTS", "ON_DEMAND_FEATURES", "WINDOWS", "WINDOW_FEATURES", "amount_to_day_mean",
    "distance_from_home_km", "haversine_km", "seconds_since_previous", "travel_speed_kmh",
]

WINDOWS = WindowSpec(
    key="card_id",
    time="ts",
    windows={"10m": "10min", "1h": "1h", "1d": "1D", "7d": "7D"},
    aggregates={"tx_count": ("amount", "count"), "amount_sum": ("amount", "sum")},
    last=["ts", "latitude", "longitude", "card_present"],
    # Terminals that were offline for a while send their transactions late; up to 15 minutes
    # late they still enter the windows, later ones are reported and left out.
    allowed_lateness="15min",
)
"""The stream features of ``card_windows``: the card's state right after each transaction."""

WINDOW_FEATURES = [f"{prefix}_{suffix}" for prefix in ("tx_count", "amount_sum") for suffix in WINDOWS.windows]
"""The windowed aggregates, as the model sees them."""

# A card-present purchase two minutes after one 500 km away is not a flight. Below this many
# seconds between two transactions, speed is computed over this minimum, so that two
# transactions in the same second give a finite (and still very large) speed.
MIN_TRAVEL_SECONDS = 60.0
EARTH_RADIUS_KM = 6371.0088


def _missing(value: Any) -> bool:
    """None, NaN and NaT alike: training rows carry NaN where serving has None."""
    if value is None or value is pd.NaT:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _seconds(value: Any) -> float:
    """A time as seconds since the epoch (a pandas Timestamp, a datetime or ISO text)."""
    return pd.Timestamp(value).value / 1e9


def haversine_km(latitude: float, longitude: float, other_latitude: float, other_longitude: float) -> float:
    """Great-circle distance between two points, in kilometres."""
    phi1, phi2 = math.radians(latitude), math.radians(other_latitude)
    half_dphi = (phi2 - phi1) / 2
    half_dlambda = math.radians(other_longitude - longitude) / 2
    a = math.sin(half_dphi) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(half_dlambda) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def seconds_since_previous(ts: Any, last_ts: Any) -> float:
    """Seconds since the card's previous transaction; missing for its first one."""
    if _missing(ts) or _missing(last_ts):
        return math.nan
    return _seconds(ts) - _seconds(last_ts)


def travel_speed_kmh(ts: Any, latitude: float, longitude: float, last_ts: Any, last_latitude: float,
                     last_longitude: float) -> float:
    """How fast the card holder would have travelled from the previous transaction's place, in km/h.

    Computed over at least `MIN_TRAVEL_SECONDS`; missing for a card's first transaction.
    """
    if any(_missing(v) for v in (ts, latitude, longitude, last_ts, last_latitude, last_longitude)):
        return math.nan
    hours = max(_seconds(ts) - _seconds(last_ts), MIN_TRAVEL_SECONDS) / 3600.0
    return haversine_km(last_latitude, last_longitude, latitude, longitude) / hours


def amount_to_day_mean(amount: float, amount_sum_1d: float, tx_count_1d: float) -> float:
    """This amount divided by the card's mean amount over the day before; missing without one."""
    if _missing(amount) or _missing(amount_sum_1d) or _missing(tx_count_1d) or tx_count_1d <= 0:
        return math.nan
    mean = amount_sum_1d / tx_count_1d
    return amount / mean if mean > 0 else math.nan


def distance_from_home_km(latitude: float, longitude: float, home_latitude: float, home_longitude: float) -> float:
    """How far the transaction takes place from the card holder's home, in kilometres."""
    if any(_missing(v) for v in (latitude, longitude, home_latitude, home_longitude)):
        return math.nan
    return haversine_km(home_latitude, home_longitude, latitude, longitude)


ON_DEMAND_FEATURES = {
    "seconds_since_previous": seconds_since_previous,
    "travel_speed_kmh": travel_speed_kmh,
    "amount_to_day_mean": amount_to_day_mean,
    "distance_from_home_km": distance_from_home_km,
}
"""The feature view's on-demand features: name -> function (its parameters name its inputs)."""

MODEL_INPUTS = [
    "amount", "card_present", "credit_limit", "category", "online", *WINDOW_FEATURES, "last_card_present",
    *ON_DEMAND_FEATURES,
]
"""The columns the model reads. The feature view also returns raw times and coordinates, which
the on-demand features need but a model should not learn places and dates from."""


def card_profiles(cards: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    """One row per card with what the card's account adds (home, age): the ``cards`` feature group.

    The account's columns are copied onto each of its cards, because a request names the
    card, and one online lookup by card is cheaper than two.
    """
    holder = accounts[["account_id", "home_latitude", "home_longitude", "customer_age"]]
    profiles = cards.merge(holder, on="account_id", how="left", validate="many_to_one")
    return profiles.sort_values("card_id", kind="stable").reset_index(drop=True)
