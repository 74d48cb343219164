"""Tests for the point-in-time (as-of) join of `fti.store.query.Query`.

The join is checked two ways:

* a few hand-written examples that show, on tiny tables, what a point-in-time
  join is for (a naive "latest value" join leaks the future into training data);
* randomized stores generated with hypothesis, whose query results must equal a
  brute-force oracle written in plain Python (loops over rows, no DuckDB, no
  ``merge_asof``).

The rules the oracle encodes (from the spec):

1. The first (label) feature group gives the observation rows: one output row per
   observation row, in the order of its primary key and event time.
2. For each observation and each joined feature group, the values come from the
   row with the same key whose event time is the greatest one ``<=`` the
   observation's event time. No such row: nulls (the observation is kept).
3. A null join key matches nothing.
4. An insert upserts on (primary key, event time): a later commit replaces the
   values of the same (key, event time).
5. With a TTL, a value older than ``ttl`` (observation time - feature time > ttl)
   becomes null.
6. ``read(as_of=commit)`` sees the store as it was right after that commit.
7. ``start_time`` is inclusive and ``end_time`` exclusive, on the observation time.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import math
import tempfile
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fti
from fti.store.storage import Store

BASE = pd.Timestamp("2024-01-01", tz="UTC")


def at(minute: int) -> pd.Timestamp:
    """The test clock: ``minute`` minutes after midnight, 1 January 2024, UTC."""
    return BASE + pd.Timedelta(minutes=minute)


def plain(value: Any) -> Any:
    """A cell as a plain Python value: NaN, NA and NaT become None, numpy scalars Python ones."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.tz_convert("UTC") if value.tzinfo else value.tz_localize("UTC")
    if hasattr(value, "item"):
        return value.item()
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A DataFrame as a list of row dicts of plain values (for exact comparison)."""
    return [{name: plain(value) for name, value in row.items()} for row in frame.to_dict(orient="records")]


# =====================================================================================
# The oracle: a plain-Python model of the store and of the point-in-time join.
# =====================================================================================


class FakeGroup:
    """What the oracle knows about one feature group: its keys, TTL and current rows.

    Attributes:
        key: Primary key columns.
        event_time: Event time column.
        ttl: Maximum age of a value, or None.
        rows: ``{(key values..., event time): row dict}``: one row per pair, as in the store.
    """

    def __init__(self, key: list[str], event_time: str, ttl: dt.timedelta | None = None):
        self.key = key
        self.event_time = event_time
        self.ttl = ttl
        self.rows: dict[tuple, dict[str, Any]] = {}

    def insert(self, batch: list[dict[str, Any]]) -> None:
        """Upsert: the same (key, event time) is replaced by the newer row."""
        for row in batch:
            self.rows[tuple(row[k] for k in self.key) + (row[self.event_time],)] = dict(row)


def oracle_lookup(group: FakeGroup, key: tuple, when: pd.Timestamp) -> dict[str, Any] | None:
    """The row of ``group`` a point-in-time join gives for ``key`` at time ``when``, or None.

    Scans every row: same key, event time not after ``when``, the greatest such
    event time; then drops it if it is older than the TTL.
    """
    if any(part is None for part in key):
        return None  # a missing key matches nothing
    best = None
    for row in group.rows.values():
        if tuple(row[k] for k in group.key) != key:
            continue
        if row[group.event_time] > when:
            continue  # known only after the observation: using it would leak the future
        if best is None or row[group.event_time] > best[group.event_time]:
            best = row
    if best is not None and group.ttl is not None and when - best[group.event_time] > group.ttl:
        return None
    return best


def oracle_join(label: FakeGroup, label_columns: list[str],
                joins: list[tuple[FakeGroup, list[str], list[str]]],
                start: pd.Timestamp | None = None, end: pd.Timestamp | None = None) -> list[dict[str, Any]]:
    """The expected result of a query, row by row.

    Args:
        label: The label-side group: its rows are the observations.
        label_columns: Its columns to output, in order.
        joins: ``(group, left key columns, feature columns)`` per joined group, in join order;
            the left key columns are columns of the output built so far.
        start: Keep observations at or after this time.
        end: Keep observations before this time.
    """
    out = []
    for obs in sorted(label.rows.values(), key=lambda r: tuple(r[k] for k in label.key) + (r[label.event_time],)):
        when = obs[label.event_time]
        if start is not None and when < start:
            continue
        if end is not None and when >= end:
            continue
        row = {name: obs[name] for name in label_columns}
        for group, left_keys, features in joins:
            match = oracle_lookup(group, tuple(row[k] for k in left_keys), when)
            for name in features:
                row[name] = None if match is None else match[name]
        out.append(row)
    return out


# =====================================================================================
# Hand-written examples: what a student should be able to follow.
# =====================================================================================


def test_naive_latest_value_join_leaks_the_future_but_the_as_of_join_does_not(fs):
    """A fraud label at 10:00 must see the card's balance as it was at 10:00.

    The balance was updated at 11:00, after the transaction. A naive join on the
    card number with each card's newest row hands the 11:00 balance to the 10:00
    transaction: a model trained on that has seen the future. The point-in-time
    join gives the 09:00 value.
    """
    transactions = fs.get_or_create_feature_group("transactions", primary_key=["tx_id"], event_time="tx_time")
    transactions.insert(pd.DataFrame({
        "tx_id": [1], "tx_time": [at(600)], "card": [42], "is_fraud": [True],
    }))
    cards = fs.get_or_create_feature_group("cards", primary_key=["card"], event_time="updated_at")
    cards.insert(pd.DataFrame({
        "card": [42, 42], "updated_at": [at(540), at(660)], "balance": [100.0, 5000.0],
    }))

    # The naive way, for contrast: each card's newest row, joined on the key only.
    newest = cards.read().sort_values("updated_at").groupby("card").tail(1)
    naive = transactions.read().merge(newest[["card", "balance"]], on="card", how="left")
    assert naive["balance"].tolist() == [5000.0]  # the leak

    joined = transactions.select_all().join(cards.select(["balance"])).read()
    assert joined["balance"].tolist() == [100.0]  # the value known at 10:00


def test_observation_before_any_feature_value_is_kept_with_nulls(fs):
    """An observation earlier than every feature row of its key keeps its row, with nulls."""
    labels = fs.get_or_create_feature_group("labels", primary_key=["user"], event_time="t")
    labels.insert(pd.DataFrame({"user": [1, 1, 2], "t": [at(1), at(5), at(5)], "y": [0, 1, 0]}))
    profile = fs.get_or_create_feature_group("profile", primary_key=["user"], event_time="pt")
    profile.insert(pd.DataFrame({"user": [1], "pt": [at(3)], "age": [30]}))

    result = labels.select_all().join(profile.select(["age"])).read()

    assert records(result) == [
        {"user": 1, "t": at(1), "y": 0, "age": None},  # before user 1's first profile row
        {"user": 1, "t": at(5), "y": 1, "age": 30},
        {"user": 2, "t": at(5), "y": 0, "age": None},  # user 2 has no profile at all
    ]


def test_feature_at_exactly_the_observation_time_is_used(fs):
    """The boundary is inclusive: a value stamped at the observation's time is already known."""
    labels = fs.get_or_create_feature_group("labels", primary_key=["user"], event_time="t")
    labels.insert(pd.DataFrame({"user": [1], "t": [at(10)], "y": [1]}))
    profile = fs.get_or_create_feature_group("profile", primary_key=["user"], event_time="pt")
    profile.insert(pd.DataFrame({"user": [1, 1, 1], "pt": [at(9), at(10), at(11)], "score": [9, 10, 11]}))

    result = labels.select_all().join(profile.select(["score"])).read()

    assert result["score"].tolist() == [10]


def test_repeated_observations_get_one_row_each(fs):
    """Three orders of the same customer at the same instant: three output rows, not more, not fewer."""
    orders = fs.get_or_create_feature_group("orders", primary_key=["order_id"], event_time="t")
    orders.insert(pd.DataFrame({
        "order_id": [1, 2, 3, 4], "t": [at(5)] * 3 + [at(1)], "customer": [7, 7, 7, 7], "amount": [1, 2, 3, 4],
    }))
    customers = fs.get_or_create_feature_group("customers", primary_key=["customer"], event_time="ct")
    customers.insert(pd.DataFrame({"customer": [7, 7], "ct": [at(0), at(4)], "tier": ["bronze", "gold"]}))

    result = orders.select_all().join(customers.select(["tier"])).read()

    assert result["order_id"].tolist() == [1, 2, 3, 4]
    assert result["tier"].tolist() == ["gold", "gold", "gold", "bronze"]


def test_composite_keys_never_collide(fs):
    """Keys (1, 12) and (11, 2) are different entities, whatever "112" they may spell."""
    trips = fs.get_or_create_feature_group("trips", primary_key=["trip"], event_time="t")
    trips.insert(pd.DataFrame({
        "trip": [1, 2, 3], "t": [at(10)] * 3, "origin": [1, 11, 1], "dest": [12, 2, 2],
    }))
    routes = fs.get_or_create_feature_group("routes", primary_key=["origin", "dest"], event_time="rt")
    routes.insert(pd.DataFrame({"origin": [1, 11], "dest": [12, 2], "rt": [at(0), at(0)], "km": [112.0, 1102.0]}))

    result = trips.select_all().join(routes.select(["km"])).read()

    assert records(result[["trip", "km"]]) == [
        {"trip": 1, "km": 112.0},
        {"trip": 2, "km": 1102.0},
        {"trip": 3, "km": None},  # (1, 2) exists nowhere
    ]


def test_ttl_turns_stale_values_into_nulls(fs):
    """With ttl=5 min, a value 5 min old is still valid, one 6 min old is not."""
    labels = fs.get_or_create_feature_group("labels", primary_key=["obs"], event_time="t")
    labels.insert(pd.DataFrame({"obs": [1, 2, 3], "t": [at(14), at(15), at(16)], "sensor": [1, 1, 1]}))
    readings = fs.get_or_create_feature_group(
        "readings", primary_key=["sensor"], event_time="rt", ttl=dt.timedelta(minutes=5)
    )
    readings.insert(pd.DataFrame({"sensor": [1], "rt": [at(10)], "celsius": [21.5]}))

    result = labels.select_all().join(readings.select(["celsius"])).read()

    assert records(result[["obs", "celsius"]]) == [
        {"obs": 1, "celsius": 21.5},  # 4 min old
        {"obs": 2, "celsius": 21.5},  # exactly 5 min old: not older than the TTL
        {"obs": 3, "celsius": None},  # 6 min old: stale
    ]


def test_ttl_does_not_fall_back_to_an_even_older_value(fs):
    """TTL nulls the value the join picked; it never reaches past it for another row."""
    labels = fs.get_or_create_feature_group("labels", primary_key=["obs"], event_time="t")
    labels.insert(pd.DataFrame({"obs": [1], "t": [at(100)], "sensor": [1]}))
    readings = fs.get_or_create_feature_group(
        "readings", primary_key=["sensor"], event_time="rt", ttl=dt.timedelta(minutes=5)
    )
    readings.insert(pd.DataFrame({"sensor": [1, 1], "rt": [at(0), at(50)], "celsius": [1.0, 2.0]}))

    result = labels.select_all().join(readings.select(["celsius"])).read()

    assert records(result[["obs", "celsius"]]) == [{"obs": 1, "celsius": None}]


def test_upsert_later_commit_wins_and_as_of_reads_the_earlier_value(fs):
    """Re-inserting a (key, event time) replaces its values; as_of still sees the old ones."""
    labels = fs.get_or_create_feature_group("labels", primary_key=["user"], event_time="t")
    labels.insert(pd.DataFrame({"user": [1], "t": [at(10)], "y": [1]}))
    profile = fs.get_or_create_feature_group("profile", primary_key=["user"], event_time="pt")
    first = profile.insert(pd.DataFrame({"user": [1], "pt": [at(5)], "city": ["Oslo"]}))
    second = profile.insert(pd.DataFrame({"user": [1], "pt": [at(5)], "city": ["Bergen"]}))  # a correction
    query = labels.select_all().join(profile.select(["city"]))

    assert query.read()["city"].tolist() == ["Bergen"]
    assert query.read(as_of=second.commit_id)["city"].tolist() == ["Bergen"]
    assert query.read(as_of=first.commit_id)["city"].tolist() == ["Oslo"]


def test_as_of_a_datetime_reads_the_state_after_the_last_commit_before_it(fs, monkeypatch):
    """``as_of`` may be a time: the state after the last commit at or before it."""
    monkeypatch.setenv("FTI_NOW", "2024-06-01T08:00:00")
    labels = fs.get_or_create_feature_group("labels", primary_key=["user"], event_time="t")
    labels.insert(pd.DataFrame({"user": [1], "t": [at(10)], "y": [1]}))
    profile = fs.get_or_create_feature_group("profile", primary_key=["user"], event_time="pt")
    profile.insert(pd.DataFrame({"user": [1], "pt": [at(5)], "score": [1]}))
    monkeypatch.setenv("FTI_NOW", "2024-06-01T12:00:00")
    profile.insert(pd.DataFrame({"user": [1], "pt": [at(5)], "score": [2]}))
    query = labels.select_all().join(profile.select(["score"]))

    assert query.read(as_of="2024-06-01T09:00:00")["score"].tolist() == [1]
    assert query.read(as_of="2024-06-01T12:00:00")["score"].tolist() == [2]


def test_time_window_is_start_inclusive_end_exclusive(fs):
    """``read(start_time, end_time)`` keeps observations with start <= time < end."""
    labels = fs.get_or_create_feature_group("labels", primary_key=["obs"], event_time="t")
    labels.insert(pd.DataFrame({"obs": [1, 2, 3, 4], "t": [at(0), at(10), at(20), at(30)], "user": [1] * 4}))
    profile = fs.get_or_create_feature_group("profile", primary_key=["user"], event_time="pt")
    profile.insert(pd.DataFrame({"user": [1, 1], "pt": [at(0), at(15)], "score": [1, 2]}))
    query = labels.select_all().join(profile.select(["score"]))

    result = query.read(start_time=at(10), end_time=at(30))

    assert records(result[["obs", "score"]]) == [{"obs": 2, "score": 1}, {"obs": 3, "score": 2}]


def test_feature_group_without_event_time_joins_on_key_only(fs):
    """A group with no event time (a static table) gives its one row per key to every observation."""
    labels = fs.get_or_create_feature_group("labels", primary_key=["obs"], event_time="t")
    labels.insert(pd.DataFrame({"obs": [1, 2], "t": [at(0), at(100)], "country": ["NO", "SE"]}))
    countries = fs.get_or_create_feature_group("countries", primary_key=["country"])
    countries.insert(pd.DataFrame({"country": ["NO", "SE"], "population": [5, 10]}))

    result = labels.select_all().join(countries.select(["population"])).read()

    assert result["population"].tolist() == [5, 10]


def test_label_group_without_event_time_takes_the_newest_feature_row(fs):
    """Observations without a time (a static list of entities) get each key's newest value."""
    customers = fs.get_or_create_feature_group("customers", primary_key=["customer"])
    customers.insert(pd.DataFrame({"customer": [1, 2], "churned": [True, False]}))
    spend = fs.get_or_create_feature_group("spend", primary_key=["customer"], event_time="month")
    spend.insert(pd.DataFrame({"customer": [1, 1, 2], "month": [at(0), at(60), at(30)], "total": [10.0, 20.0, 5.0]}))

    result = customers.select_all().join(spend.select(["total"])).read()

    assert records(result) == [
        {"customer": 1, "churned": True, "total": 20.0},
        {"customer": 2, "churned": False, "total": 5.0},
    ]


def test_null_join_key_matches_nothing(fs):
    """An observation whose key is missing gets nulls, even if a null-keyed row could 'match'."""
    labels = fs.get_or_create_feature_group("labels", primary_key=["obs"], event_time="t")
    labels.insert(pd.DataFrame({
        "obs": [1, 2], "t": [at(5), at(5)], "user": pd.array([1, None], dtype="Int64"),
    }))
    profile = fs.get_or_create_feature_group("profile", primary_key=["user"], event_time="pt")
    profile.insert(pd.DataFrame({"user": [1], "pt": [at(0)], "score": [7]}))

    result = labels.select_all().join(profile.select(["score"])).read()

    assert records(result[["obs", "score"]]) == [{"obs": 1, "score": 7}, {"obs": 2, "score": None}]


# =====================================================================================
# Randomized stores against the oracle.
# =====================================================================================

# Small domains on purpose: keys and times collide often, which is where joins go wrong.
MINUTES = st.integers(0, 20)
USERS = st.one_of(st.none(), st.integers(1, 3))
# Contains (1, 12) and (11, 2): equal if the parts were glued together as text.
PAIR_PARTS = (st.sampled_from([1, 11]), st.sampled_from([2, 12]))
CITIES = st.sampled_from(["a", "ab", "b"])
TTLS = st.sampled_from([None, dt.timedelta(minutes=2), dt.timedelta(minutes=5)])

ROW_STRATEGIES = {
    # Label side: observations of a user (and of a pair) at a time; obs_id is its own key,
    # so many observations can share one user and time.
    "obs": st.fixed_dictionaries({
        "obs_id": st.integers(1, 6), "t": MINUTES, "user": USERS,
        "k1": PAIR_PARTS[0], "k2": PAIR_PARTS[1], "y": st.integers(0, 1),
    }),
    "users": st.fixed_dictionaries({
        "user": st.integers(1, 3), "tu": MINUTES,
        "fu": st.one_of(st.none(), st.integers(-50, 50).map(float)),
        "city": st.one_of(st.none(), CITIES),
    }),
    "pairs": st.fixed_dictionaries({
        "k1": PAIR_PARTS[0], "k2": PAIR_PARTS[1], "tp": MINUTES, "fp": st.integers(0, 1000),
    }),
    "cities": st.fixed_dictionaries({"city": CITIES, "tc": MINUTES, "pop": st.integers(0, 1000)}),
}
KEYS = {"obs": ["obs_id"], "users": ["user"], "pairs": ["k1", "k2"], "cities": ["city"]}
EVENT_TIMES = {"obs": "t", "users": "tu", "pairs": "tp", "cities": "tc"}
DTYPES = {
    "obs_id": "int64", "user": "Int64", "k1": "int64", "k2": "int64", "y": "int64",
    "fu": "float64", "city": "str", "fp": "int64", "pop": "int64",
}

COLUMNS = {
    "obs": ["obs_id", "t", "user", "k1", "k2", "y"],
    "users": ["user", "tu", "fu", "city"],
    "pairs": ["k1", "k2", "tp", "fp"],
    "cities": ["city", "tc", "pop"],
}


def to_frame(name: str, batch: list[dict[str, Any]]) -> pd.DataFrame:
    """A generated batch (times in minutes) as the DataFrame a feature pipeline would insert."""
    columns = COLUMNS[name]
    data = {}
    for column in columns:
        values = [row[column] for row in batch]
        if column == EVENT_TIMES[name]:
            data[column] = pd.Series(values, dtype="datetime64[us, UTC]")
        else:
            data[column] = pd.Series(values, dtype=DTYPES[column])
    return pd.DataFrame(data)


@st.composite
def batches(draw: st.DrawFn, name: str) -> tuple[str, list[dict[str, Any]]]:
    """One insert into feature group ``name``: 1-8 rows, unique on (key, event time) as an insert must be."""
    rows = draw(st.lists(ROW_STRATEGIES[name], min_size=1, max_size=8))
    unique: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        row = {**row, EVENT_TIMES[name]: at(row[EVENT_TIMES[name]])}
        unique[tuple(row[k] for k in KEYS[name]) + (row[EVENT_TIMES[name]],)] = row
    return name, list(unique.values())


@st.composite
def store_histories(draw: st.DrawFn) -> dict[str, Any]:
    """A random history of commits to the four feature groups, plus TTLs.

    Every group gets at least one commit (its first insert defines its schema), and
    later commits often repeat a (key, event time) with other values: upserts.
    """
    names = list(ROW_STRATEGIES)
    first = draw(st.permutations(names))
    more = draw(st.lists(st.sampled_from(names), min_size=0, max_size=6))
    # Each group's first commit in a random order (so the label group is not always first),
    # then more commits to any group.
    order = list(first) + more
    commits = [draw(batches(name)) for name in order]
    ttls = {"users": draw(TTLS), "pairs": draw(TTLS), "cities": draw(TTLS)}
    return {"commits": commits, "ttls": ttls}


def build(history: dict[str, Any], fs: fti.FeatureStore) -> tuple[dict, dict, list]:
    """Write a generated history to a new store and to the oracle, snapshotting after each commit.

    Returns:
        The store's feature groups, the oracle's groups (latest state) and
        ``[(commit_id, name of the group written, oracle groups right after it), ...]``.
    """
    ttls = history["ttls"]
    groups = {
        name: fs.get_or_create_feature_group(
            name, primary_key=KEYS[name], event_time=EVENT_TIMES[name], ttl=ttls.get(name)
        )
        for name in ROW_STRATEGIES
    }
    fakes = {name: FakeGroup(KEYS[name], EVENT_TIMES[name], ttls.get(name)) for name in ROW_STRATEGIES}
    snapshots = []
    for name, batch in history["commits"]:
        commit = groups[name].insert(to_frame(name, batch))
        fakes[name].insert(batch)
        snapshots.append((commit.commit_id, name, copy.deepcopy(fakes)))
    return groups, fakes, snapshots


# Obs: label side. users joined on obs.user; pairs on the composite (k1, k2); cities on the
# city that the users join produced (a key from an earlier join, TTL applied).
LABEL_COLUMNS = ["obs_id", "t", "user", "k1", "k2", "y"]


def expected(fakes: dict[str, FakeGroup], start: pd.Timestamp | None = None,
             end: pd.Timestamp | None = None) -> list[dict[str, Any]]:
    return oracle_join(
        fakes["obs"], LABEL_COLUMNS,
        [
            (fakes["users"], ["user"], ["fu", "city"]),
            (fakes["pairs"], ["k1", "k2"], ["fp"]),
            (fakes["cities"], ["city"], ["pop"]),
        ],
        start, end,
    )


def make_query(groups: dict[str, Any]) -> Any:
    return (
        groups["obs"].select_all()
        .join(groups["users"].select(["fu", "city"]))
        .join(groups["pairs"].select(["fp"]))
        .join(groups["cities"].select(["pop"]))
    )


@contextlib.contextmanager
def one_connection(path: str) -> Iterator[fti.FeatureStore]:
    """A fresh store in ``path`` whose calls share one DuckDB connection.

    The store opens and closes its database file around every call (so notebooks
    never lock each other out); that costs ~40 ms a call, most of a random example.
    Holding one connection open for the whole example makes the nested calls reuse
    it; the SQL they run is the same.
    """
    fs = fti.get_feature_store(path)
    with Store(fs.path).connect():
        yield fs


# Each example writes its own store (a new temporary folder), so examples never share data.
RANDOM_SETTINGS = settings(max_examples=40, deadline=None)


@RANDOM_SETTINGS
@given(history=store_histories())
def test_random_stores_join_like_the_oracle(history):
    """The latest state: every observation once, each joined group as of its time, TTLs applied."""
    with tempfile.TemporaryDirectory() as path, one_connection(path) as fs:
        groups, fakes, _ = build(history, fs)
        result = make_query(groups).read()
        want = expected(fakes)

        assert list(result.columns) == LABEL_COLUMNS + ["fu", "city", "fp", "pop"]
        assert len(result) == len(fakes["obs"].rows)  # exactly one row per observation
        assert records(result) == want


@RANDOM_SETTINGS
@given(history=store_histories(), data=st.data())
def test_random_stores_time_travel_like_the_oracle(history, data):
    """``read(as_of=commit)`` equals the oracle run on the data as it was after that commit."""
    with tempfile.TemporaryDirectory() as path, one_connection(path) as fs:
        groups, _, snapshots = build(history, fs)
        query = make_query(groups)
        label_first = next(i for i, (_, name, _) in enumerate(snapshots) if name == "obs")
        if label_first > 0:
            # Before the label group's first commit there are no observations to read.
            with pytest.raises(fti.TimeTravelError):
                query.read(as_of=snapshots[label_first - 1][0])
        picks = data.draw(st.lists(st.integers(label_first, len(snapshots) - 1), min_size=1, max_size=3))
        for index in picks:
            commit_id, _, fakes = snapshots[index]
            assert records(query.read(as_of=commit_id)) == expected(fakes), f"as_of={commit_id}"


@RANDOM_SETTINGS
@given(
    history=store_histories(),
    start=st.one_of(st.none(), MINUTES),
    end=st.one_of(st.none(), MINUTES),
)
def test_random_stores_batch_windows_like_the_oracle(history, start, end):
    """``read`` and ``get_batch_data`` keep observations with start <= time < end, joined as usual."""
    if start is not None and end is not None and start > end:
        start, end = end, start
    start_time = None if start is None else at(start)
    end_time = None if end is None else at(end)
    with tempfile.TemporaryDirectory() as path, one_connection(path) as fs:
        groups, fakes, _ = build(history, fs)
        query = make_query(groups)
        want = expected(fakes, start_time, end_time)

        assert records(query.read(start_time=start_time, end_time=end_time)) == want

        fv = fs.get_or_create_feature_view("pit", query=query, labels=["y"])
        batch = fv.get_batch_data(start_time, end_time, primary_key=True, event_time=True)
        # The key and event time first (asked for), then the features; the label is left out.
        assert list(batch.columns) == ["obs_id", "t", "user", "k1", "k2", "fu", "city", "fp", "pop"]
        assert records(batch) == [{k: v for k, v in row.items() if k != "y"} for row in want]


def test_oracle_detects_a_naive_join():
    """The oracle itself is not vacuous: it refuses a future value and a colliding key."""
    label = FakeGroup(["obs"], "t")
    label.insert([{"obs": 1, "t": at(5), "a": 1, "b": 12}])
    feature = FakeGroup(["a", "b"], "ft")
    feature.insert([
        {"a": 1, "b": 12, "ft": at(9), "v": "future"},
        {"a": 11, "b": 2, "ft": at(0), "v": "other entity"},
    ])
    assert oracle_join(label, ["obs", "t", "a", "b"], [(feature, ["a", "b"], ["v"])]) == [
        {"obs": 1, "t": at(5), "a": 1, "b": 12, "v": None}
    ]


@pytest.mark.parametrize("ttl_minutes, expected_value", [(None, 1.0), (3, 1.0), (2, None)])
def test_oracle_ttl_boundary(ttl_minutes, expected_value):
    """The oracle's TTL keeps a value exactly ``ttl`` old and drops an older one."""
    ttl = None if ttl_minutes is None else dt.timedelta(minutes=ttl_minutes)
    group = FakeGroup(["k"], "ft", ttl)
    group.insert([{"k": 1, "ft": at(0), "v": 1.0}])
    match = oracle_lookup(group, (1,), at(3))
    assert (None if match is None else match["v"]) == expected_value
