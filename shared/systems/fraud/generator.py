"""The card-fraud system's transactions: a seeded simulation of one day of card payments, frauds included.

`transactions` returns the payments of one simulated day, and `fraud_reports` the
chargebacks that arrive on a day; `history` concatenates the transactions of several days
(the backfill). Every day is a pure function of `SEED` and the day alone: its random
numbers come from ``SeedSequence([SALT, SEED, day ordinal, stream])``, one stream per
aspect (legitimate spending, trips, frauds, arrival delays, reports), so a day is the same
whichever other days were generated before, in any order and in any process.

**Legitimate spending.** Each card has hidden habits drawn once (`_habits`): a daily rate
(about 3 transactions a day on average, varying from card to card and a little by weekday),
a spending scale, a share of online purchases and its own preference among the merchant
categories. Hours follow a daytime-heavy profile; amounts are lognormal per category. A
card-present transaction takes place at the merchant's terminal, in the city where the
card holder is; a card-not-present one at the holder's device, normally at home.

**Travel.** Now and then a card holder travels to another of the cities for 2 to 6 days
(`_trips`). On the days of the flights, no transaction happens in the air: the first one in
the destination comes after a plausible flight time (cruise speed `_FLIGHT_KMH` plus an
hour at the airports), so the speed between two legitimate transactions stays below
1,000 km/h.

**Frauds**, about `FRAUD_RATE` of all transactions (``is_fraud`` = 1; ``fraud_pattern``
names the pattern):

* ``card_testing``: 3 to 8 small card-not-present charges (1 to 5 in money, growing) a few
  minutes apart at digital-goods web shops, then 1 or 2 large card-not-present purchases
  (electronics, digital goods, jewellery), all from a device far from the holder's home;
* ``impossible_travel``: a cloned card used card-present in a city at least
  `_FAR_KM` away, minutes after a legitimate transaction at home (thousands of km/h),
  1 to 3 purchases of larger amounts;
* ``account_takeover``: one card-not-present purchase far above the card's usual amounts,
  in a category the holder rarely uses, from a new device far away.

A share `HARD_FRAUD_SHARE` of fraud incidents is made hard to catch on purpose: the
fraudster's device is in the holder's own city, the amounts are ordinary, the cloned card
buys groceries one to three hours after the holder's last purchase (a speed a flight could
explain), or a takeover buys about what the holder usually buys online; no model separates
fraud perfectly. A few genuine online purchases seem to come from another city too
(`_ROAMING_SHARE`: a device's place is a guess), so "far from home" alone is not fraud.

**Arrival.** A transaction reaches the stream (``arrived_at``) a second or two after it
happens; card-present transactions from terminals that were offline arrive late:
`LATE_SHARE` of all transactions 1 to 10 minutes late, `VERY_LATE_SHARE` 1 to 6 hours late
(out of order, possibly after midnight).

**Reports.** A card holder disputes fraudulent transactions 1 to `REPORT_DELAY_DAYS` days
later (the same day for all frauds of one card on one day; most after 2 to 5 days);
`NEVER_REPORTED_SHARE` of fraudulent transactions are never reported. Reports never
concern legitimate transactions (no false chargebacks in this world).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fti.exceptions import ParameterError
from fti.teach import synthetic

from .data import (
    CARD_PRESENT_CATEGORIES,
    CARDS,
    CITIES,
    CITY_SPREAD_KM,
    FIRST_DAY,
    FRAUD_RATE,
    NEVER_REPORTED_SHARE,
    ONLINE_CATEGORIES,
    REPORT_DELAY_DAYS,
    SALT,
    SEED,
    accounts,
    cards,
    entity_rng,
    merchants,
    scatter,
)

__all__ = [
    "COLUMNS",
    "HARD_FRAUD_SHARE",
    "LATE_SHARE",
    "REPORT_COLUMNS",
    "VERY_LATE_SHARE",
    "fraud_reports",
    "history",
    "transactions",
]

COLUMNS: tuple[str, ...] = ("tx_id", "card_id", "merchant_id", "ts", "arrived_at", "amount", "latitude",
                            "longitude", "card_present", "is_fraud", "fraud_pattern")
"""Columns of `transactions`, in order."""

REPORT_COLUMNS: tuple[str, ...] = ("tx_id", "card_id", "ts", "reported_at", "is_fraud")
"""Columns of `fraud_reports`, in order."""

HARD_FRAUD_SHARE = 0.35
"""Share of fraud incidents made to look like ordinary spending (see the module docstring)."""

LATE_SHARE = 0.01
"""Share of all transactions (all card-present: offline terminals) that arrive 1 to 10 minutes late."""

VERY_LATE_SHARE = 0.0005
"""Share of all transactions (card-present) that arrive 1 to 6 hours late."""

# -- legitimate spending ------------------------------------------------------

_MEAN_DAILY_RATE = 3.0
# Weekday factors, Monday first: a little more on Fridays and Saturdays, less on Sundays.
_WEEKDAY_FACTOR = (0.95, 0.95, 1.0, 1.0, 1.1, 1.15, 0.85)
# Relative weight of each hour of the day (UTC; the cities are 0-2 hours ahead, close enough).
_HOUR_WEIGHTS = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.2, 0.6, 1.2, 2.0, 2.6, 3.0, 3.4,
                          3.8, 3.4, 3.0, 3.0, 3.2, 3.6, 3.8, 3.4, 2.6, 1.8, 1.1, 0.6])
# Legitimate transactions happen before this second of the day, so that moving one by a
# second (two of a card in the same second) never pushes it into the next day.
_ROAMING_SHARE = 0.04
"""Share of genuine card-not-present transactions whose device seems to be in another city."""
_LAST_SECOND = 86_340

# Median amount and lognormal sigma per category.
_AMOUNTS: dict[str, tuple[float, float]] = {
    "grocery": (32.0, 0.6), "restaurant": (28.0, 0.55), "fuel": (55.0, 0.35), "pharmacy": (18.0, 0.6),
    "clothing": (55.0, 0.7), "electronics": (140.0, 0.9), "jewelry": (220.0, 0.8), "travel": (240.0, 0.7),
    "online_retail": (40.0, 0.8), "digital_goods": (12.0, 0.9),
}
_CARD_PRESENT_WEIGHTS = {"grocery": 0.34, "restaurant": 0.25, "fuel": 0.12, "pharmacy": 0.08, "clothing": 0.10,
                         "electronics": 0.04, "jewelry": 0.01, "travel": 0.02}
_ONLINE_WEIGHTS = {"online_retail": 0.5, "digital_goods": 0.3, "electronics": 0.1, "travel": 0.08, "jewelry": 0.02}
# How much a card's category preferences differ from the average (Dirichlet concentration):
# larger is more alike.
_PREFERENCE_CONCENTRATION = 20.0
_MEAN_ONLINE_SHARE = 0.25
_MIN_AMOUNT = 0.5
# A card-not-present purchase at home is made from the holder's phone or computer: within
# a few hundred metres of home.
_DEVICE_SPREAD_KM = 0.3

# -- travel ---------------------------------------------------------------------

# Trips start on the first day of an account's 8-day slot (slots staggered per account), so
# one account's trips never overlap and a day needs only the last 8 days' draws.
_TRIP_SLOT_DAYS = 8
_TRIP_SHARE = 0.03  # of accounts, per slot: ~1.5% of card holders are away on any day
_TRIP_DAYS = (2, 6)  # days between the outbound and the return flight
_FLIGHT_KMH = 750.0
_AIRPORT_HOURS = 1.0
_ARRIVAL_HOURS = (9.0, 20.0)  # a flight lands between these hours of the day

# -- fraud -----------------------------------------------------------------------

# Share of fraud *transactions* per pattern, and transactions per incident (mean).
_PATTERN_SHARE = {"card_testing": 0.45, "impossible_travel": 0.30, "account_takeover": 0.25}
_CARD_TESTING_SMALL = (3, 8)
_CARD_TESTING_LARGE = (1, 2)
_IMPOSSIBLE_TRAVEL = (1, 3)
_TX_PER_INCIDENT = {"card_testing": sum(_CARD_TESTING_SMALL) / 2 + sum(_CARD_TESTING_LARGE) / 2,
                    "impossible_travel": sum(_IMPOSSIBLE_TRAVEL) / 2, "account_takeover": 1.0}
_FAR_KM = 800.0  # a fraudster's city is at least this far from the holder's home

# -- arrival and reports -------------------------------------------------------------

# Chance of a report k days after the fraud, k = 1..REPORT_DELAY_DAYS: proportional to
# k^2 exp(-k / 1.2), which peaks at 2-3 days and puts ~70% of reports at 2 to 5 days (for 10 days).
_DELAYS = np.arange(1, REPORT_DELAY_DAYS + 1)
_REPORT_DELAY_WEIGHTS = _DELAYS**2 * np.exp(-_DELAYS / 1.2)
_REPORT_HOURS = (7.0, 22.0)

# Stream numbers of the per-day random generators.
_LEGIT, _TRIPS, _FRAUD, _ARRIVAL, _REPORTS = 11, 12, 13, 14, 15
_HABIT_STREAM = 4
_DAY_SECONDS = 86_400


def _day_rng(day: dt.date, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([SALT, SEED, day.toordinal(), stream]))


def _haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(v, dtype=np.float64)) for v in (lat1, lon1, lat2, lon2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.sqrt(a))


# ---------------------------------------------------------------------------
# The fixed world, in arrays
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _World:
    """The entities as NumPy arrays, plus every card's hidden habits, for fast vectorised days."""

    card_id: np.ndarray
    card_account: np.ndarray  # row in accounts of each card
    card_city: np.ndarray  # home city index per card
    card_home_lat: np.ndarray
    card_home_lon: np.ndarray
    credit_limit: np.ndarray
    rate: np.ndarray  # legitimate transactions per day
    scale: np.ndarray  # multiplies every amount of the card
    online_share: np.ndarray
    present_cum: np.ndarray  # (cards, card-present categories): cumulative preferences
    online_cum: np.ndarray  # (cards, online categories)
    account_city: np.ndarray
    city_lat: np.ndarray
    city_lon: np.ndarray
    city_km: np.ndarray  # distances between city centres
    shop_first: np.ndarray  # (cities, card-present categories): row of the first such shop
    shop_count: np.ndarray  # (card-present categories,)
    web_first: np.ndarray  # (online categories,)
    web_count: np.ndarray
    merchant_id: np.ndarray
    merchant_lat: np.ndarray
    merchant_lon: np.ndarray


def _cumulative(weights: np.ndarray) -> np.ndarray:
    cum = np.cumsum(weights, axis=-1)
    cum /= cum[..., -1:]
    cum[..., -1] = 1.0  # so u < 1 always finds a category
    return cum


@functools.cache
def _world() -> _World:
    holders, card_table, shops = accounts(), cards(), merchants()
    names = [c.name for c in CITIES]
    account_city = np.array([names.index(n) for n in holders["home_city"]])
    card_account = (card_table["account_id"].to_numpy() - holders["account_id"].iloc[0]).astype(np.int64)

    rng = entity_rng(_HABIT_STREAM)
    rate = rng.gamma(2.0, _MEAN_DAILY_RATE / 2.0, CARDS)
    scale = rng.lognormal(0.0, 0.35, CARDS)
    online_share = rng.beta(2.0, 2.0 / _MEAN_ONLINE_SHARE - 2.0, CARDS)
    present = rng.dirichlet(_PREFERENCE_CONCENTRATION * np.array(list(_CARD_PRESENT_WEIGHTS.values())), CARDS)
    online = rng.dirichlet(_PREFERENCE_CONCENTRATION * np.array(list(_ONLINE_WEIGHTS.values())), CARDS)

    city_lat = np.array([c.latitude for c in CITIES])
    city_lon = np.array([c.longitude for c in CITIES])
    city_km = _haversine_km(city_lat[:, None], city_lon[:, None], city_lat[None, :], city_lon[None, :])

    # Merchants are stored grouped by (city, category) for shops and by category for web
    # shops (see data._merchants); find each group's first row and size.
    category = shops["category"].to_numpy(dtype=object)
    city = np.array([names.index(n) for n in shops["city"]])
    is_online = shops["online"].to_numpy()
    shop_first = np.zeros((len(CITIES), len(CARD_PRESENT_CATEGORIES)), dtype=np.int64)
    shop_count = np.zeros(len(CARD_PRESENT_CATEGORIES), dtype=np.int64)
    for j, name in enumerate(CARD_PRESENT_CATEGORIES):
        for i in range(len(CITIES)):
            rows = np.flatnonzero(~is_online & (category == name) & (city == i))
            shop_first[i, j], shop_count[j] = rows[0], len(rows)
    web_first = np.zeros(len(ONLINE_CATEGORIES), dtype=np.int64)
    web_count = np.zeros(len(ONLINE_CATEGORIES), dtype=np.int64)
    for j, name in enumerate(ONLINE_CATEGORIES):
        rows = np.flatnonzero(is_online & (category == name))
        web_first[j], web_count[j] = rows[0], len(rows)

    return _World(
        card_id=card_table["card_id"].to_numpy(),
        card_account=card_account,
        card_city=account_city[card_account],
        card_home_lat=holders["home_latitude"].to_numpy()[card_account],
        card_home_lon=holders["home_longitude"].to_numpy()[card_account],
        credit_limit=card_table["credit_limit"].to_numpy(),
        rate=rate,
        scale=scale,
        online_share=online_share,
        present_cum=_cumulative(present),
        online_cum=_cumulative(online),
        account_city=account_city,
        city_lat=city_lat,
        city_lon=city_lon,
        city_km=city_km,
        shop_first=shop_first,
        shop_count=shop_count,
        web_first=web_first,
        web_count=web_count,
        merchant_id=shops["merchant_id"].to_numpy(),
        merchant_lat=shops["latitude"].to_numpy(),
        merchant_lon=shops["longitude"].to_numpy(),
    )


def _draw_category(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Category index per row by inverse CDF: ``cum`` holds each row's cumulative weights."""
    return np.minimum((cum <= u[:, None]).sum(axis=1), cum.shape[1] - 1)


def _amounts(rng: np.random.Generator, categories: list[str] | np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Lognormal amounts for the named categories, times ``factor``, 2 decimals."""
    median = np.array([_AMOUNTS[c][0] for c in categories])
    sigma = np.array([_AMOUNTS[c][1] for c in categories])
    return np.round(np.maximum(median * factor * np.exp(sigma * rng.standard_normal(len(median))), _MIN_AMOUNT), 2)


# ---------------------------------------------------------------------------
# Trips
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Trips:
    """The trips under way on one day, per account: where to, and when the holder moves."""

    account: np.ndarray
    destination: np.ndarray  # city index
    # Seconds of the day: before `leave` the holder is at the first place, after `land` at
    # the second, in between in the air. -1 / 0 when the holder does not move that day.
    leave: np.ndarray
    land: np.ndarray
    outbound: np.ndarray  # True: first place home, second the destination; False: the way back
    moving: np.ndarray  # a flight on this day


def _trips(day: dt.date) -> _Trips:
    """The trips that touch ``day``: drawn on their first day, from the last `_TRIP_SLOT_DAYS` days' streams."""
    world = _world()
    n_accounts = len(world.account_city)
    # Each account's slots start on days whose ordinal is its offset modulo the slot length.
    offset = np.arange(n_accounts) % _TRIP_SLOT_DAYS
    parts: list[tuple[np.ndarray, ...]] = []
    for back in range(_TRIP_SLOT_DAYS):
        start = day - dt.timedelta(days=back)
        rng = _day_rng(start, _TRIPS)
        goes = rng.random(n_accounts) < _TRIP_SHARE
        length = rng.integers(_TRIP_DAYS[0], _TRIP_DAYS[1] + 1, n_accounts)
        pick = rng.random(n_accounts)
        land_out = rng.uniform(*_ARRIVAL_HOURS, n_accounts) * 3600.0
        land_back = rng.uniform(*_ARRIVAL_HOURS, n_accounts) * 3600.0
        chosen = goes & (offset == start.toordinal() % _TRIP_SLOT_DAYS) & (length >= back)
        travellers = np.flatnonzero(chosen)
        if travellers.size == 0:
            continue
        home = world.account_city[travellers]
        # Any other city, uniformly: the pick among the seven others.
        destination = (home + 1 + (pick[travellers] * (len(CITIES) - 1)).astype(np.int64)) % len(CITIES)
        hours = world.city_km[home, destination] / _FLIGHT_KMH + _AIRPORT_HOURS
        outbound_day = back == 0
        return_day = back == length[travellers]
        land = np.where(outbound_day, land_out[travellers], np.where(return_day, land_back[travellers], 0.0))
        leave = np.where(outbound_day | return_day, land - hours * 3600.0, -1.0)
        parts.append((travellers, destination, leave, land, np.full(travellers.size, outbound_day),
                      outbound_day | return_day))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return _Trips(empty, empty, empty.astype(float), empty.astype(float), empty.astype(bool), empty.astype(bool))
    columns = [np.concatenate(c) for c in zip(*parts, strict=True)]
    return _Trips(*columns)


# ---------------------------------------------------------------------------
# One day
# ---------------------------------------------------------------------------


def _legitimate(day: dt.date) -> dict[str, np.ndarray]:
    """The day's legitimate transactions (unsorted), as columns; ``card`` is a row of the cards."""
    world = _world()
    rng = _day_rng(day, _LEGIT)
    counts = rng.poisson(world.rate * _WEEKDAY_FACTOR[day.weekday()])
    card = np.repeat(np.arange(CARDS), counts)
    n = card.size
    hour = rng.choice(24, size=n, p=_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum())
    second = np.minimum(hour * 3600 + np.floor(rng.random(n) * 3600).astype(np.int64), _LAST_SECOND - 1)
    present = rng.random(n) >= world.online_share[card]
    u_category, u_merchant, u_amount = rng.random(n), rng.random(n), rng.standard_normal(n)
    device_lat, device_lon = scatter(rng, world.card_home_lat[card], world.card_home_lon[card], _DEVICE_SPREAD_KM)

    # Where the holder is at each transaction: home, unless on a trip.
    city = world.card_city[card].copy()
    keep = np.ones(n, dtype=bool)
    away = np.zeros(n, dtype=bool)
    trips = _trips(day)
    if trips.account.size:
        trip_of_account = np.full(len(world.account_city), -1)
        trip_of_account[trips.account] = np.arange(trips.account.size)
        trip = trip_of_account[world.card_account[card]]
        on_trip = trip >= 0
        t = trip[on_trip]
        moving = trips.moving[t]
        before = second[on_trip] < trips.leave[t]
        after = second[on_trip] >= trips.land[t]
        # Not moving today: away all day. Moving: at the first place before leaving, in the air
        # (no transaction) until landing, at the second place after.
        at_destination = ~moving | np.where(trips.outbound[t], after, before)
        keep[on_trip] = ~moving | before | after
        away[on_trip] = at_destination
        city[np.flatnonzero(on_trip)[at_destination]] = trips.destination[t][at_destination]
    # A holder abroad buys online from the hotel: the device is in the destination city.
    if away.any():
        hotel_lat, hotel_lon = scatter(rng, world.city_lat[city[away]], world.city_lon[city[away]], CITY_SPREAD_KM)
        device_lat[away], device_lon[away] = hotel_lat, hotel_lon
    # A device's place is a guess (mobile networks, VPNs): a few genuine online purchases seem
    # to come from another city, so "far from home" alone does not mean fraud.
    roaming = ~away & (rng.random(n) < _ROAMING_SHARE)
    if roaming.any():
        elsewhere = _far_city(rng, world.card_city[card[roaming]])
        device_lat[roaming], device_lon[roaming] = scatter(rng, world.city_lat[elsewhere], world.city_lon[elsewhere],
                                                           CITY_SPREAD_KM)

    present_category = _draw_category(world.present_cum[card], u_category)
    online_category = _draw_category(world.online_cum[card], u_category)
    shop = world.shop_first[city, present_category] + (u_merchant * world.shop_count[present_category]).astype(np.int64)
    web = world.web_first[online_category] + (u_merchant * world.web_count[online_category]).astype(np.int64)
    merchant_row = np.where(present, shop, web)
    median = np.array([_AMOUNTS[c][0] for c in CARD_PRESENT_CATEGORIES + ONLINE_CATEGORIES])
    sigma = np.array([_AMOUNTS[c][1] for c in CARD_PRESENT_CATEGORIES + ONLINE_CATEGORIES])
    index = np.where(present, present_category, len(CARD_PRESENT_CATEGORIES) + online_category)
    amount = median[index] * world.scale[card] * np.exp(sigma[index] * u_amount)
    amount = np.round(np.clip(amount, _MIN_AMOUNT, world.credit_limit[card]), 2)

    columns = {
        "card": card, "second": second, "merchant_row": merchant_row, "amount": amount,
        "latitude": np.where(present, world.merchant_lat[merchant_row], device_lat),
        "longitude": np.where(present, world.merchant_lon[merchant_row], device_lon),
        "card_present": present, "away": away,
    }
    return {name: values[keep] for name, values in columns.items()}


def _far_city(rng: np.random.Generator, home_city: np.ndarray) -> np.ndarray:
    """For each home city, a random city at least `_FAR_KM` away."""
    world = _world()
    far = world.city_km[home_city] >= _FAR_KM  # (n, cities)
    # Uniform among the far cities: the k-th True of each row, k drawn per row.
    k = (rng.random(home_city.size) * far.sum(axis=1)).astype(np.int64)
    return np.argmax(np.cumsum(far, axis=1) > k[:, None], axis=1)


def _frauds(day: dt.date, legit: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The day's fraudulent transactions (unsorted), as columns like `_legitimate`'s plus ``pattern``."""
    world = _world()
    rng = _day_rng(day, _FRAUD)
    n_legit = legit["card"].size
    fraud_tx = FRAUD_RATE * n_legit / (1.0 - FRAUD_RATE)
    incidents = {p: int(rng.poisson(_PATTERN_SHARE[p] * fraud_tx / _TX_PER_INCIDENT[p])) for p in _PATTERN_SHARE}

    # Victims: cards whose holder is at home all day (no trip touches the day), each hit at
    # most once a day. A victim of impossible travel needs a legitimate transaction at home to
    # be cloned right after.
    at_home = ~np.isin(world.card_account, _trips(day).account)
    anchor_ok = ~legit["away"] & (legit["second"] < _LAST_SECOND - 4 * 3600)
    has_anchor = np.zeros(CARDS, dtype=bool)
    has_anchor[legit["card"][anchor_ok]] = True
    order = rng.permutation(CARDS)
    travel_victims = order[(has_anchor & at_home)[order]][: incidents["impossible_travel"]]
    rest = order[at_home[order] & ~np.isin(order, travel_victims)]
    testing_victims = rest[: incidents["card_testing"]]
    takeover_victims = rest[incidents["card_testing"]: incidents["card_testing"] + incidents["account_takeover"]]

    rows: list[dict[str, np.ndarray]] = []
    for card in testing_victims:
        rows.append(_card_testing(rng, world, int(card)))
    for card in travel_victims:
        candidates = np.flatnonzero(anchor_ok & (legit["card"] == card))
        anchor = candidates[rng.integers(candidates.size)]
        rows.append(_impossible_travel(rng, world, int(card), int(legit["second"][anchor])))
    for card in takeover_victims:
        rows.append(_account_takeover(rng, world, int(card)))
    if not rows:
        return {name: values[:0] for name, values in {**legit, "pattern": np.zeros(0, dtype=object)}.items()}
    return {name: np.concatenate([r[name] for r in rows]) for name in rows[0]}


def _incident(world: _World, card: int, pattern: str, seconds: np.ndarray, merchant_rows: np.ndarray,
              amounts: np.ndarray, latitude: np.ndarray, longitude: np.ndarray, present: bool) -> dict[str, np.ndarray]:
    n = seconds.size
    return {
        "card": np.full(n, card), "second": seconds.astype(np.int64), "merchant_row": merchant_rows,
        "amount": np.round(np.clip(amounts, _MIN_AMOUNT, world.credit_limit[card]), 2),
        "latitude": np.round(latitude, 5), "longitude": np.round(longitude, 5),
        "card_present": np.full(n, present), "away": np.zeros(n, dtype=bool),
        "pattern": np.full(n, pattern, dtype=object),
    }


def _web_shop(rng: np.random.Generator, world: _World, categories: list[str]) -> np.ndarray:
    j = np.array([ONLINE_CATEGORIES.index(c) for c in categories])
    return world.web_first[j] + (rng.random(j.size) * world.web_count[j]).astype(np.int64)


def _device(rng: np.random.Generator, world: _World, card: int, hard: bool, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A fraudster's device: in a far city, or (a hard case) in the holder's own city."""
    city = world.card_city[card] if hard else int(_far_city(rng, np.array([world.card_city[card]]))[0])
    lat, lon = scatter(rng, np.array([world.city_lat[city]]), np.array([world.city_lon[city]]), CITY_SPREAD_KM)
    return np.full(n, lat[0]), np.full(n, lon[0])


def _card_testing(rng: np.random.Generator, world: _World, card: int) -> dict[str, np.ndarray]:
    hard = rng.random() < HARD_FRAUD_SHARE
    small = int(rng.integers(_CARD_TESTING_SMALL[0], _CARD_TESTING_SMALL[1] + 1))
    large = int(rng.integers(_CARD_TESTING_LARGE[0], _CARD_TESTING_LARGE[1] + 1))
    gaps = np.concatenate([rng.integers(30, 300, small - 1), rng.integers(120, 1200, large)])
    start = rng.integers(0, _LAST_SECOND - int(gaps.sum()))
    seconds = start + np.concatenate([[0], np.cumsum(gaps)])
    # Growing small charges, then purchases as large as the fraudster dares (a hard case: modest ones).
    tests = np.sort(rng.uniform(1.0, 5.0, small))
    big_median = 150.0 if hard else 700.0
    bigs = big_median * np.exp(0.5 * rng.standard_normal(large))
    categories = ["digital_goods"] * small + list(rng.choice(["electronics", "digital_goods", "jewelry"], large))
    latitude, longitude = _device(rng, world, card, hard, small + large)
    return _incident(world, card, "card_testing", seconds, _web_shop(rng, world, categories),
                     np.concatenate([tests, bigs]), latitude, longitude, present=False)


def _impossible_travel(rng: np.random.Generator, world: _World, card: int, anchor: int) -> dict[str, np.ndarray]:
    hard = rng.random() < HARD_FRAUD_SHARE
    n = int(rng.integers(_IMPOSSIBLE_TRAVEL[0], _IMPOSSIBLE_TRAVEL[1] + 1))
    # Minutes after the genuine transaction, then every 10 to 60 minutes. A hard case waits one to
    # three hours, long enough to look like a flight (when the day has room for it).
    gaps = np.concatenate([rng.integers(120, 900, 1), rng.integers(600, 3600, n - 1)])
    if hard and anchor + 10_800 + int(gaps[1:].sum()) < _LAST_SECOND:
        gaps[0] = rng.integers(3_600, 10_800)
    seconds = anchor + np.cumsum(gaps)
    city = int(_far_city(rng, np.array([world.card_city[card]]))[0])
    # The clone buys what resells (a hard case: what the holder would buy anyway).
    pool = ["grocery", "fuel", "restaurant"] if hard else ["electronics", "jewelry", "clothing"]
    categories = list(rng.choice(pool, n))
    j = np.array([CARD_PRESENT_CATEGORIES.index(c) for c in categories])
    shops = world.shop_first[city, j] + (rng.random(n) * world.shop_count[j]).astype(np.int64)
    amounts = _amounts(rng, categories, np.full(n, world.scale[card] * (1.0 if hard else 2.5)))
    return _incident(world, card, "impossible_travel", seconds, shops, amounts, world.merchant_lat[shops],
                     world.merchant_lon[shops], present=True)


def _account_takeover(rng: np.random.Generator, world: _World, card: int) -> dict[str, np.ndarray]:
    hard = rng.random() < HARD_FRAUD_SHARE
    second = np.array([rng.integers(0, _LAST_SECOND)])
    category = "online_retail" if hard else str(rng.choice(["jewelry", "electronics", "travel"]))
    # Far above the card's usual amounts (a hard case: about its usual online basket).
    usual = _AMOUNTS["online_retail"][0] * world.scale[card]
    factor = (1.5 if hard else 15.0) * math.exp(0.4 * rng.standard_normal())
    latitude, longitude = _device(rng, world, card, hard, 1)
    return _incident(world, card, "account_takeover", second, _web_shop(rng, world, [category]),
                     np.array([usual * factor]), latitude, longitude, present=False)


def _separate_same_seconds(card: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Seconds moved forward one at a time until no card has two transactions in the same second."""
    second = second.copy()
    while True:
        order = np.lexsort((second, card))
        same = (card[order][1:] == card[order][:-1]) & (second[order][1:] == second[order][:-1])
        if not same.any():
            return second
        second[order[1:][same]] += 1


@functools.lru_cache(maxsize=64)
def _day(day: dt.date) -> pd.DataFrame:
    world = _world()
    legit = _legitimate(day)
    fraud = _frauds(day, legit)
    n_legit = legit["card"].size
    both = {name: np.concatenate([legit[name], fraud[name]]) for name in legit}
    pattern = np.concatenate([np.full(n_legit, "", dtype=object), fraud["pattern"]])
    second = _separate_same_seconds(both["card"], both["second"])
    # Sorted by time; ties (different cards) by card, so the order is fully determined.
    order = np.lexsort((both["card"], second))
    n = order.size

    rng = _day_rng(day, _ARRIVAL)
    delay = 0.3 + rng.exponential(1.5, n)  # seconds, in the order of `order`
    present = both["card_present"][order]
    u = rng.random(n)
    # Only card-present transactions come late (offline terminals); scale the chance so the
    # shares hold among all transactions.
    present_share = max(present.mean(), 1e-9)
    late = present & (u < LATE_SHARE / present_share)
    very_late = present & (u >= LATE_SHARE / present_share) & (u < (LATE_SHARE + VERY_LATE_SHARE) / present_share)
    delay = np.where(late, rng.uniform(60.0, 600.0, n), delay)
    delay = np.where(very_late, rng.uniform(3600.0, 6 * 3600.0, n), delay)

    midnight = pd.Timestamp(day, tz="UTC").as_unit("us")
    ts = midnight + pd.to_timedelta(second[order], unit="s")
    arrived = ts + pd.to_timedelta(np.round(delay * 1e3).astype(np.int64), unit="ms")
    frame = pd.DataFrame({
        "tx_id": day.toordinal() * 1_000_000 + np.arange(n, dtype=np.int64),
        "card_id": world.card_id[both["card"][order]],
        "merchant_id": world.merchant_id[both["merchant_row"][order]],
        "ts": pd.DatetimeIndex(ts).as_unit("us"),
        "arrived_at": pd.DatetimeIndex(arrived).as_unit("us"),
        "amount": both["amount"][order].astype(np.float64),
        "latitude": both["latitude"][order].astype(np.float64),
        "longitude": both["longitude"][order].astype(np.float64),
        "card_present": both["card_present"][order].astype(bool),
        "is_fraud": (pattern[order] != "").astype(np.int64),
        "fraud_pattern": pd.array(pattern[order].astype(str), dtype="str"),
    })
    return frame


def _as_day(day: object, what: str = "day") -> dt.date:
    value = synthetic.as_date(day, what)
    if value < FIRST_DAY:
        raise ParameterError(f"{what} {value} is before the first simulated day {FIRST_DAY}; "
                             f"the card-fraud world has no transactions before it")
    return value


def transactions(day: dt.date | str) -> pd.DataFrame:
    """The card transactions of one simulated day, legitimate and fraudulent, sorted by time.

    Args:
        day: The simulated day (a date, a datetime whose UTC date is used, or ``"YYYY-MM-DD"``),
            `FIRST_DAY` or later.

    Returns:
        One row per transaction, columns `COLUMNS`: ``tx_id`` (int64, ``day ordinal * 1e6 + n``,
        unique across days, increasing with ``ts``), ``card_id``, ``merchant_id`` (int64),
        ``ts`` (datetime64[us, UTC], whole seconds on ``day``; no card twice in one second),
        ``arrived_at`` (datetime64[us, UTC], when the stream receives it: after ``ts``, see
        the module docstring), ``amount`` (float64, 2 decimals), ``latitude``, ``longitude``
        (float64: the terminal's place if ``card_present``, else the buyer's device),
        ``card_present`` (bool), ``is_fraud`` (int64 0/1: the hidden truth) and
        ``fraud_pattern`` (str: ``""`` or one of `FRAUD_PATTERNS`).

    Raises:
        ParameterError: A day before `FIRST_DAY` or a malformed date string.
        ParameterTypeError: ``day`` is not a date or a string.
    """
    return _day(_as_day(day)).copy()


def history(start: dt.date | str, end: dt.date | str) -> pd.DataFrame:
    """The transactions of the days from ``start`` (included) to ``end`` (excluded), in time order.

    Raises:
        ParameterError: ``end`` before ``start``, or a day before `FIRST_DAY`.
    """
    first, stop = _as_day(start, "start"), synthetic.as_date(end, "end")
    if stop < first:
        raise ParameterError(f"history: end {stop} is before start {first}; "
                             "give the first day and the day after the last")
    days = [first + dt.timedelta(days=k) for k in range((stop - first).days)]
    if not days:
        return _day(first).iloc[:0].copy()
    return pd.concat([_day(d) for d in days], ignore_index=True)


@functools.lru_cache(maxsize=64)
def _reports_of(day: dt.date) -> pd.DataFrame:
    """When each fraud of ``day`` is reported (``reported_at`` NaT: never)."""
    frauds = _day(day)
    frauds = frauds.loc[frauds["is_fraud"] == 1, ["tx_id", "card_id", "ts"]].reset_index(drop=True)
    rng = _day_rng(day, _REPORTS)
    # One dispute per card and day (the holder reports the frauds on the statement together);
    # some small ones go unnoticed.
    victims = np.unique(frauds["card_id"].to_numpy())
    weights = _REPORT_DELAY_WEIGHTS / _REPORT_DELAY_WEIGHTS.sum()
    delay_days = 1 + rng.choice(REPORT_DELAY_DAYS, size=victims.size, p=weights)
    hour = rng.uniform(*_REPORT_HOURS, victims.size)
    never = rng.random(len(frauds)) < NEVER_REPORTED_SHARE
    victim = np.searchsorted(victims, frauds["card_id"].to_numpy())
    midnight = pd.Timestamp(day, tz="UTC").as_unit("us")
    offset = pd.to_timedelta(delay_days[victim] * _DAY_SECONDS + np.floor(hour[victim] * 3600.0), unit="s")
    reported = pd.Series(midnight + offset, index=frauds.index).astype("datetime64[us, UTC]")
    reported[never] = pd.NaT
    frauds["reported_at"] = reported
    frauds["is_fraud"] = np.int64(1)
    return frauds


def fraud_reports(day: dt.date | str) -> pd.DataFrame:
    """The chargebacks that arrive on ``day``: fraudulent transactions of the days before, now reported.

    Each fraudulent transaction is reported at most once, 1 to `REPORT_DELAY_DAYS` days after
    the day it happened, or never (`NEVER_REPORTED_SHARE`); only frauds are reported.

    Args:
        day: The day the reports arrive (see `transactions`).

    Returns:
        Columns `REPORT_COLUMNS`: ``tx_id``, ``card_id`` (int64), ``ts`` (the transaction's
        time), ``reported_at`` (datetime64[us, UTC], on ``day``), ``is_fraud`` (int64, always 1),
        sorted by ``reported_at`` then ``tx_id``. Empty on `FIRST_DAY`.
    """
    when = _as_day(day)
    start, end = pd.Timestamp(when, tz="UTC"), pd.Timestamp(when, tz="UTC") + pd.Timedelta(days=1)
    parts = []
    for back in range(1, REPORT_DELAY_DAYS + 1):
        source = when - dt.timedelta(days=back)
        if source < FIRST_DAY:
            break
        reports = _reports_of(source)
        parts.append(reports[(reports["reported_at"] >= start) & (reports["reported_at"] < end)])
    if not parts:
        parts = [_reports_of(FIRST_DAY).iloc[:0]]
    frame = pd.concat(parts, ignore_index=True)
    frame = frame.sort_values(["reported_at", "tx_id"], kind="stable").reset_index(drop=True)
    return frame[list(REPORT_COLUMNS)]
