"""The card-fraud system's fixed world: card holders' accounts, their cards, the merchants, and the constants.

Everything here is drawn once from `SEED` and never changes during the course: ~1,000
cards (`CARDS`) on `ACCOUNTS` accounts whose holders live around eight European cities
(`CITIES`), and the shops and web sites they buy from. The transactions of each simulated
day, the frauds among them and the chargebacks that report them days later are generated
from these in `systems.fraud.generator`.

Places are coordinates (latitude, longitude in degrees), never IP addresses: a
card-present transaction happens at the merchant's terminal, a card-not-present one at the
buyer's device. Times are UTC.

The simulated calendar: the backfill covers `HISTORY_DAYS` days from `FIRST_DAY`; the
course's first live day is `START`.

Each entity frame is cached once per process and returned as a copy, so a caller can
change its copy freely.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from typing import NamedTuple

import numpy as np
import pandas as pd

from fti.teach import synthetic

__all__ = [
    "ACCOUNTS",
    "CARDS",
    "CARD_PRESENT_CATEGORIES",
    "CITIES",
    "FIRST_DAY",
    "FRAUD_PATTERNS",
    "FRAUD_RATE",
    "HISTORY_DAYS",
    "NEVER_REPORTED_SHARE",
    "ONLINE_CATEGORIES",
    "REPORT_DELAY_DAYS",
    "SEED",
    "START",
    "City",
    "accounts",
    "cards",
    "merchants",
]

SEED = 2026
"""The one seed of the whole world: changing it changes every account, card, merchant and transaction."""

# Mixed into every random stream, so this system's numbers differ from another system's
# drawn from the same seed. "FRAU" in ASCII.
SALT = synthetic.seed_salt("FRAU")

CARDS = 1_000
"""Number of cards."""

ACCOUNTS = 850
"""Number of accounts; the first ``CARDS - ACCOUNTS`` of them hold two cards, the others one."""

FIRST_DAY = dt.date(2026, 1, 1)
"""The first simulated day with transactions: where the backfill starts."""

HISTORY_DAYS = 28
"""Days of history the backfill loads before the course starts."""

START = FIRST_DAY + dt.timedelta(days=HISTORY_DAYS)
"""The course's first live day (2026-01-29): the streaming pipeline replays from here."""

FRAUD_RATE = 0.005
"""Target share of fraudulent transactions, all patterns together (the realised share varies by day)."""

REPORT_DELAY_DAYS = 7
"""A fraud's chargeback arrives 1 to this many days after the transaction (most after 2 to 5), or never."""

NEVER_REPORTED_SHARE = 0.03
"""Share of fraudulent transactions whose card holder never reports them: they stay labelled legitimate."""

FRAUD_PATTERNS: tuple[str, ...] = ("card_testing", "impossible_travel", "account_takeover")
"""The values of ``fraud_pattern`` for a fraud (a legitimate transaction has ``""``)."""


class City(NamedTuple):
    """A city where card holders live and shops stand: a name, a centre and a relative size."""

    name: str
    latitude: float
    longitude: float
    weight: float


CITIES: tuple[City, ...] = (
    City("Paris", 48.8566, 2.3522, 2.0),
    City("Berlin", 52.5200, 13.4050, 1.8),
    City("Madrid", 40.4168, -3.7038, 1.6),
    City("Rome", 41.9028, 12.4964, 1.4),
    City("Amsterdam", 52.3676, 4.9041, 0.9),
    City("Vienna", 48.2082, 16.3738, 1.0),
    City("Warsaw", 52.2297, 21.0122, 1.0),
    City("Stockholm", 59.3293, 18.0686, 0.8),
)
"""The eight cities, with weights roughly proportional to their population (share of card holders)."""

CITY_SPREAD_KM = 5.0
"""Standard deviation, per axis, of homes and shops around their city's centre."""

CARD_PRESENT_CATEGORIES: tuple[str, ...] = (
    "grocery", "restaurant", "fuel", "pharmacy", "clothing", "electronics", "jewelry", "travel",
)
"""Categories of shops with a terminal in a city (card-present transactions)."""

ONLINE_CATEGORIES: tuple[str, ...] = ("online_retail", "digital_goods", "electronics", "travel", "jewelry")
"""Categories of web shops (card-not-present transactions)."""

# Shops per city and category, and web shops per category: how many merchants the world has.
# More of the everyday kinds, few jewellers.
_SHOPS_PER_CITY = {"grocery": 12, "restaurant": 12, "fuel": 5, "pharmacy": 4, "clothing": 6,
                   "electronics": 3, "jewelry": 2, "travel": 2}
_WEB_SHOPS = {"online_retail": 20, "digital_goods": 15, "electronics": 8, "travel": 6, "jewelry": 3}

# Account and card numbers start here, so an id never looks like a count or a row number.
_FIRST_ACCOUNT_ID = 10_000
_FIRST_CARD_ID = 500_000
_FIRST_MERCHANT_ID = 70_000

_KM_PER_DEGREE_LATITUDE = 111.2

# Stream numbers of the entity generators (each entity draws from its own stream, so
# adding a column to one never changes another).
_ACCOUNT_STREAM, _CARD_STREAM, _MERCHANT_STREAM, _MERCHANT_OPENED_STREAM = 1, 2, 3, 4


def entity_rng(stream: int) -> np.random.Generator:
    """The random generator of one fixed entity stream (independent of any day)."""
    return np.random.default_rng(np.random.SeedSequence([SALT, SEED, stream]))


def scatter(rng: np.random.Generator, latitude: np.ndarray, longitude: np.ndarray,
            spread_km: float) -> tuple[np.ndarray, np.ndarray]:
    """Points scattered around centres with a Gaussian of ``spread_km`` per axis (degrees, 5 decimals ~ 1 m)."""
    north = rng.normal(0.0, spread_km, len(latitude))
    east = rng.normal(0.0, spread_km, len(latitude))
    lat = latitude + north / _KM_PER_DEGREE_LATITUDE
    lon = longitude + east / (_KM_PER_DEGREE_LATITUDE * np.cos(np.radians(latitude)))
    return np.round(lat, 5), np.round(lon, 5)


def _utc(day: dt.date) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC").as_unit("us")


@functools.cache
def _accounts() -> pd.DataFrame:
    rng = entity_rng(_ACCOUNT_STREAM)
    weights = np.array([c.weight for c in CITIES])
    home_city = rng.choice(len(CITIES), size=ACCOUNTS, p=weights / weights.sum())
    centre_lat = np.array([c.latitude for c in CITIES])[home_city]
    centre_lon = np.array([c.longitude for c in CITIES])[home_city]
    latitude, longitude = scatter(rng, centre_lat, centre_lon, CITY_SPREAD_KM)
    # Accounts opened over the 15 years before the simulation (at least a month before it), whole seconds.
    span = (_utc(FIRST_DAY - dt.timedelta(days=30)) - _utc(dt.date(2011, 1, 1))).total_seconds()
    opened = _utc(dt.date(2011, 1, 1)) + pd.to_timedelta(np.floor(rng.random(ACCOUNTS) * span), unit="s")
    # Adults 18-90, most between 25 and 65.
    age = np.clip(np.round(rng.normal(45.0, 15.0, ACCOUNTS)), 18, 90).astype(np.int64)
    return pd.DataFrame({
        "account_id": np.arange(_FIRST_ACCOUNT_ID, _FIRST_ACCOUNT_ID + ACCOUNTS, dtype=np.int64),
        "home_city": pd.array([CITIES[i].name for i in home_city], dtype="str"),
        "home_latitude": latitude,
        "home_longitude": longitude,
        "opened_at": pd.DatetimeIndex(opened).as_unit("us"),
        "customer_age": age,
    })


def accounts() -> pd.DataFrame:
    """The card holders' accounts, one row each, ordered by ``account_id``.

    Returns:
        ``account_id`` (int64), ``home_city`` (str, a `CITIES` name), ``home_latitude`` and
        ``home_longitude`` (float64, degrees; homes spread a few km around the city centre),
        ``opened_at`` (datetime64[us, UTC], before `FIRST_DAY`), ``customer_age`` (int64, 18-90).
    """
    return _accounts().copy()


@functools.cache
def _cards() -> pd.DataFrame:
    rng = entity_rng(_CARD_STREAM)
    two_card_accounts = CARDS - ACCOUNTS
    account_index = np.concatenate([np.arange(ACCOUNTS), np.arange(two_card_accounts)])
    account_index.sort()
    account = _accounts().iloc[account_index]
    credit = rng.random(CARDS) < 0.55
    # Credit cards: limits of 1,000 to 15,000 in steps of 500; debit cards: the account's spending limit.
    credit_limit = np.where(
        credit,
        np.clip(np.round(rng.lognormal(math.log(4_000.0), 0.6, CARDS) / 500.0) * 500.0, 1_000.0, 15_000.0),
        np.clip(np.round(rng.lognormal(math.log(2_000.0), 0.4, CARDS) / 250.0) * 250.0, 500.0, 5_000.0),
    )
    # Issued after the account was opened (a second card later than the first), and at least
    # a week before the simulation starts.
    opened = account["opened_at"].dt.tz_localize(None).to_numpy()
    latest = _utc(FIRST_DAY - dt.timedelta(days=7)).to_datetime64()
    gap = (latest - opened).astype("timedelta64[s]").astype(np.int64)
    issued = opened + (np.floor(rng.random(CARDS) * gap)).astype("timedelta64[s]")
    return pd.DataFrame({
        "card_id": np.arange(_FIRST_CARD_ID, _FIRST_CARD_ID + CARDS, dtype=np.int64),
        "account_id": account["account_id"].to_numpy(),
        "credit_limit": credit_limit.astype(np.float64),
        "card_type": pd.array(np.where(credit, "credit", "debit"), dtype="str"),
        "issued_at": pd.DatetimeIndex(issued, tz="UTC").as_unit("us"),
    })


def cards() -> pd.DataFrame:
    """The cards, one row each, ordered by ``card_id``; some accounts hold two.

    Returns:
        ``card_id`` (int64), ``account_id`` (int64, an `accounts` row), ``credit_limit``
        (float64: the credit limit of a credit card, the spending limit of a debit card),
        ``card_type`` (str, ``"credit"`` or ``"debit"``), ``issued_at`` (datetime64[us, UTC]).
    """
    return _cards().copy()


@functools.cache
def _merchants() -> pd.DataFrame:
    rng = entity_rng(_MERCHANT_STREAM)
    category: list[str] = []
    city_index: list[int] = []
    for index, _city in enumerate(CITIES):
        for name, count in _SHOPS_PER_CITY.items():
            category += [name] * count
            city_index += [index] * count
    shops = len(category)
    for name, count in _WEB_SHOPS.items():
        category += [name] * count
        # A web shop's coordinates are its seat, in one of the cities; its buyers are elsewhere.
        city_index += list(rng.integers(0, len(CITIES), count))
    cities = np.asarray(city_index)
    latitude, longitude = scatter(rng, np.array([c.latitude for c in CITIES])[cities],
                                  np.array([c.longitude for c in CITIES])[cities], CITY_SPREAD_KM)
    online = np.arange(len(category)) >= shops
    # When each merchant started taking cards: a stream of its own, so the draws above stay as they were.
    first, last = _utc(dt.date(2005, 1, 1)), _utc(FIRST_DAY - dt.timedelta(days=30))
    seconds = np.floor(entity_rng(_MERCHANT_OPENED_STREAM).random(len(category)) * (last - first).total_seconds())
    return pd.DataFrame({
        "merchant_id": np.arange(_FIRST_MERCHANT_ID, _FIRST_MERCHANT_ID + len(category), dtype=np.int64),
        "category": pd.array(category, dtype="str"),
        "city": pd.array([CITIES[i].name for i in cities], dtype="str"),
        "latitude": latitude,
        "longitude": longitude,
        "online": online,
        "opened_at": pd.DatetimeIndex(first + pd.to_timedelta(seconds, unit="s")).as_unit("us"),
    })


def merchants() -> pd.DataFrame:
    """The merchants, one row each, ordered by ``merchant_id``: shops in every city, then web shops.

    Returns:
        ``merchant_id`` (int64), ``category`` (str, from `CARD_PRESENT_CATEGORIES` for
        shops and `ONLINE_CATEGORIES` for web shops), ``city`` (str: where the shop stands
        or the web shop has its seat), ``latitude``, ``longitude`` (float64, degrees),
        ``online`` (bool: a web shop, whose transactions are card-not-present and located
        at the buyer's device, not here), ``opened_at`` (datetime64[us, UTC], before `FIRST_DAY`:
        when it started taking cards, the merchants feature group's event time).
    """
    return _merchants().copy()
