"""Feature groups: commits and upserts, time travel, UTC, refusing bad input, atomicity,
expectation suites and the online copy.

Every test runs on its own empty store (see conftest.py). Tests that must survive a
crash run a second Python process and kill it with SIGKILL at a chosen point.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fti
from fti.store.feature_group import FeatureGroup
from fti.store.feature_group_engine import FeatureGroupEngine
from fti.store.storage import Store

UTC = dt.UTC


# --------------------------------------------------------------------------- helpers


def frame(rows: list[tuple]) -> pd.DataFrame:
    """Rows of (id, ts, amount, count, city, flag) as a DataFrame with naive event times."""
    return pd.DataFrame(
        {
            "id": pd.array([r[0] for r in rows], dtype="int64"),
            "ts": pd.to_datetime([r[1] for r in rows], format="ISO8601"),
            "amount": pd.array([r[2] for r in rows], dtype="float64"),
            "count": pd.array([r[3] for r in rows], dtype="Int64"),
            "city": pd.array([r[4] for r in rows], dtype="str"),
            "flag": pd.array([r[5] for r in rows], dtype="boolean"),
        }
    )


FIRST = [
    (1, "2024-01-01 10:00", 1.5, 10, "Oslo", True),
    (2, "2024-01-01 11:00", 2.5, 20, "Rome", False),
    (3, "2024-01-02 09:00", 3.5, 30, "Lima", True),
]


def make_group(fs, name: str = "payments", **kwargs) -> FeatureGroup:
    options = {"primary_key": ["id"], "event_time": "ts"}
    options.update(kwargs)
    return fs.get_or_create_feature_group(name, version=1, **options)


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def raw_rows(fs, fg) -> int:
    """Every stored row version, superseded ones included."""
    with Store(fs.path).connect() as con:
        return con.execute(f'SELECT count(*) FROM "{fg.table}"').fetchone()[0]


def all_commits(fs) -> int:
    with Store(fs.path).connect() as con:
        return con.execute("SELECT count(*) FROM fti_commits").fetchone()[0]


def snapshot(fs, fg) -> tuple[pd.DataFrame, pd.DataFrame, int, int]:
    """What a failed insert must leave untouched."""
    return fg.read(), fg.commit_details(), raw_rows(fs, fg), all_commits(fs)


def assert_unchanged(fs, fg, before) -> None:
    after = snapshot(fs, fg)
    pd.testing.assert_frame_equal(after[0], before[0])
    pd.testing.assert_frame_equal(after[1], before[1])
    assert after[2:] == before[2:]


def online_rows(store_path: Path, table: str) -> dict:
    """{id: (ts, amount)} as stored in online.sqlite, read with a fresh connection."""
    con = sqlite3.connect(store_path / "online.sqlite")
    try:
        rows = con.execute(f'SELECT id, ts, amount FROM "{table}"').fetchall()
    finally:
        con.close()
    return {key: (pd.Timestamp(ts), amount) for key, ts, amount in rows}


def online_state(store_path: Path, table: str) -> int | None:
    con = sqlite3.connect(store_path / "online.sqlite")
    try:
        row = con.execute("SELECT applied_commit FROM fti_online_state WHERE table_name = ?", (table,)).fetchone()
    finally:
        con.close()
    return None if row is None else row[0]


def latest_per_key(fg) -> dict:
    """The newest row per key according to the offline store."""
    offline = fg.read().sort_values("ts").groupby("id").tail(1)
    return {int(r.id): (r.ts, float(r.amount)) for r in offline.itertuples()}


# --------------------------------------------------------------------------- commits and upserts


def test_insert_is_one_commit_counting_inserted_updated_unchanged(fs):
    fg = make_group(fs)
    first = fg.insert(frame(FIRST))
    assert (first.rows_inserted, first.rows_updated, first.rows_unchanged) == (3, 0, 0)

    second = fg.insert(
        frame(
            [
                (1, "2024-01-01 10:00", 1.5, 10, "Oslo", True),    # identical: unchanged
                (2, "2024-01-01 11:00", 9.0, 20, "Rome", False),   # same key and time, new amount: updated
                (3, "2024-01-05 09:00", 3.5, 31, "Lima", True),    # same key, later time: a new row
                (4, "2024-01-03 08:00", 4.5, 40, None, None),      # new key
            ]
        )
    )
    assert (second.rows_inserted, second.rows_updated, second.rows_unchanged) == (2, 1, 1)
    assert second.commit_id > first.commit_id
    assert second.validation is None

    details = fg.commit_details()
    assert details["commit_id"].tolist() == [first.commit_id, second.commit_id]
    assert details["rows_inserted"].tolist() == [3, 2]
    assert details["rows_updated"].tolist() == [0, 1]
    assert details["rows_unchanged"].tolist() == [0, 1]
    assert details["committed_at"].tolist() == [first.committed_at, second.committed_at]
    assert details["validation"].isna().all()

    current = fg.read()
    assert list(current.columns) == ["id", "ts", "amount", "count", "city", "flag"]
    assert list(zip(current["id"], current["ts"], strict=True)) == [
        (1, utc("2024-01-01 10:00")),
        (2, utc("2024-01-01 11:00")),
        (3, utc("2024-01-02 09:00")),
        (3, utc("2024-01-05 09:00")),
        (4, utc("2024-01-03 08:00")),
    ]
    assert current.loc[current["id"] == 2, "amount"].item() == 9.0
    assert current.loc[current["id"] == 4, "city"].isna().all()
    # The replaced version is kept for time travel, not overwritten.
    assert raw_rows(fs, fg) == 6


def test_without_event_time_the_upsert_key_is_the_primary_key(fs):
    fg = fs.get_or_create_feature_group("profiles", primary_key=["user", "region"])
    base = pd.DataFrame({"user": ["a", "a", "b"], "region": [1, 2, 1], "score": [1.0, 2.0, 3.0]})
    fg.insert(base)
    commit = fg.insert(pd.DataFrame({"user": ["a", "c"], "region": [2, 1], "score": [20.0, 5.0]}))
    assert (commit.rows_inserted, commit.rows_updated, commit.rows_unchanged) == (1, 1, 0)
    current = fg.read()
    assert list(zip(current["user"], current["region"], current["score"], strict=True)) == [
        ("a", 1, 1.0), ("a", 2, 20.0), ("b", 1, 3.0), ("c", 1, 5.0),
    ]


def test_inserting_the_same_frame_again_changes_nothing(fs):
    fg = make_group(fs)
    rows = FIRST + [(4, "2024-01-03 08:00", float("nan"), None, None, None)]  # missing values too
    first = fg.insert(frame(rows))
    state = fg.read()
    again = fg.insert(frame(rows))
    assert (again.rows_inserted, again.rows_updated, again.rows_unchanged) == (0, 0, len(rows))
    pd.testing.assert_frame_equal(fg.read(), state)
    # A re-run may be shuffled, indexed and ordered differently: still the same state.
    shuffled = frame(rows).sample(frac=1, random_state=1).set_index(pd.Index([10, 20, 30, 40]))
    shuffled = shuffled[list(reversed(shuffled.columns))]
    third = fg.insert(shuffled)
    assert (third.rows_inserted, third.rows_updated, third.rows_unchanged) == (0, 0, len(rows))
    pd.testing.assert_frame_equal(fg.read(), state)
    assert raw_rows(fs, fg) == len(rows)
    assert fg.commit_details()["rows_updated"].tolist() == [0, 0, 0]
    assert first.commit_id < again.commit_id < third.commit_id


# --------------------------------------------------------------------------- time travel


def test_read_as_of_a_commit_id(fs):
    fg = make_group(fs)
    other = make_group(fs, "other")
    c1 = fg.insert(frame(FIRST))
    state1 = fg.read()
    c_other = other.insert(frame([(9, "2024-01-01", 0.0, 0, "x", True)]))
    c2 = fg.insert(frame([(1, "2024-01-01 10:00", 100.0, 10, "Oslo", True), (5, "2024-02-01", 5.0, 5, "Kyiv", False)]))
    state2 = fg.read()
    c3 = fg.insert(frame([(1, "2024-01-01 10:00", 1000.0, 10, "Oslo", True)]))

    pd.testing.assert_frame_equal(fg.read(as_of=c1.commit_id), state1)
    pd.testing.assert_frame_equal(fg.read(as_of=c2.commit_id), state2)
    # A commit of another feature group in between: this one is as it was after c1.
    pd.testing.assert_frame_equal(fg.read(as_of=c_other.commit_id), state1)
    assert fg.read(as_of=c3.commit_id).loc[0, "amount"] == 1000.0
    assert fg.read(as_of=c2.commit_id).loc[0, "amount"] == 100.0
    assert fg.read(as_of=c1.commit_id).loc[0, "amount"] == 1.5
    pd.testing.assert_frame_equal(fg.read(as_of=np.int64(c1.commit_id)), state1)


def test_read_as_of_a_datetime(fs, monkeypatch):
    fg = make_group(fs)
    monkeypatch.setenv("FTI_NOW", "2024-03-01T12:00:00")
    fg.insert(frame(FIRST))
    state1 = fg.read()
    monkeypatch.setenv("FTI_NOW", "2024-03-02T12:00:00+00:00")
    fg.insert(frame([(1, "2024-01-01 10:00", 100.0, 10, "Oslo", True)]))
    state2 = fg.read()
    monkeypatch.setenv("FTI_NOW", "2024-03-03T12:00:00Z")
    fg.insert(frame([(1, "2024-01-01 10:00", 1000.0, 10, "Oslo", True)]))

    # Naive datetimes are UTC; aware ones in any zone are converted.
    pd.testing.assert_frame_equal(fg.read(as_of=dt.datetime(2024, 3, 1, 12, 0)), state1)  # exactly at commit 1
    pd.testing.assert_frame_equal(fg.read(as_of=dt.datetime(2024, 3, 2, 11, 59)), state1)
    pd.testing.assert_frame_equal(fg.read(as_of=dt.datetime(2024, 3, 2, 12, 0)), state2)
    berlin = dt.timezone(dt.timedelta(hours=1))
    pd.testing.assert_frame_equal(fg.read(as_of=dt.datetime(2024, 3, 2, 12, 30, tzinfo=berlin)), state1)
    pd.testing.assert_frame_equal(fg.read(as_of=dt.datetime(2024, 3, 2, 13, 30, tzinfo=berlin)), state2)
    pd.testing.assert_frame_equal(fg.read(as_of="2024-03-02 18:00"), state2)
    pd.testing.assert_frame_equal(fg.read(as_of=pd.Timestamp("2024-03-02 18:00", tz="US/Eastern")), state2)  # 23:00 UTC
    pd.testing.assert_frame_equal(fg.read(as_of=pd.Timestamp("2024-03-03 07:00", tz="US/Eastern")), fg.read())
    pd.testing.assert_frame_equal(fg.read(as_of=dt.date(2030, 1, 1)), fg.read())


def test_as_of_before_the_first_commit_raises_time_travel_error(fs, monkeypatch):
    fg = make_group(fs)
    other = make_group(fs, "other")
    with pytest.raises(fti.SchemaError, match="no data"):
        fg.read(as_of=1)  # nothing inserted yet

    monkeypatch.setenv("FTI_NOW", "2024-03-01T00:00:00")
    c_other = other.insert(frame(FIRST))
    monkeypatch.setenv("FTI_NOW", "2024-03-05T00:00:00")
    c1 = fg.insert(frame(FIRST))
    state = fg.read()

    with pytest.raises(fti.TimeTravelError, match="payments"):
        fg.read(as_of=dt.datetime(2024, 3, 4))
    with pytest.raises(fti.TimeTravelError, match="payments"):
        fg.read(as_of=dt.datetime(2024, 3, 2))  # after another group's commit, still before ours
    with pytest.raises(fti.TimeTravelError):
        fg.read(as_of=c_other.commit_id)
    with pytest.raises(fti.TimeTravelError):
        fg.read(as_of=c1.commit_id + 1)  # a commit that does not exist yet
    with pytest.raises(fti.TimeTravelError):
        fg.read(as_of="1999-01-01")
    assert issubclass(fti.TimeTravelError, fti.FTIError)
    pd.testing.assert_frame_equal(fg.read(), state)


# --------------------------------------------------------------------------- time zones and the clock


def test_naive_datetimes_are_utc_and_everything_comes_back_utc(fs, monkeypatch):
    fg = fs.get_or_create_feature_group("visits", primary_key=["id"], event_time="ts")
    df = pd.DataFrame(
        {
            "id": [1, 2],
            "ts": pd.to_datetime(["2024-06-01 10:00", "2024-06-01 10:00"]),  # naive: taken as UTC
            # aware, in Berlin summer time: 12:00+02:00 is 10:00 UTC
            "seen": pd.to_datetime(["2024-06-01 10:00", "2024-06-01 10:00"]).tz_localize("UTC").tz_convert(
                "Europe/Berlin"
            ),
        }
    )
    assert df["seen"].dt.hour.tolist() == [12, 12]
    commit = fg.insert(df)
    out = fg.read()
    for column in ("ts", "seen"):
        assert isinstance(out[column].dtype, pd.DatetimeTZDtype)
        assert str(out[column].dt.tz) == "UTC"
    assert out["ts"].tolist() == [utc("2024-06-01 10:00")] * 2
    assert out["seen"].tolist() == [utc("2024-06-01 10:00")] * 2
    assert commit.committed_at.tzinfo is not None and commit.committed_at.utcoffset() == dt.timedelta(0)
    details = fg.commit_details()
    assert str(details["committed_at"].dt.tz) == "UTC"

    # A re-insert of the same instants in another zone is the same row: unchanged.
    same = pd.DataFrame({"id": [1, 2], "ts": df["ts"].dt.tz_localize("UTC").dt.tz_convert("Asia/Tokyo"),
                         "seen": df["seen"]})
    again = fg.insert(same)
    assert (again.rows_inserted, again.rows_updated, again.rows_unchanged) == (0, 0, 2)


def test_results_do_not_depend_on_the_laptops_time_zone(fs, monkeypatch):
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is Unix only")
    fg = make_group(fs)
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        monkeypatch.setenv("FTI_NOW", "2024-07-01T08:00:00")
        commit = fg.insert(frame(FIRST))
        out = fg.read()
        details = fg.commit_details()
        state_by_naive_time = fg.read(as_of=dt.datetime(2024, 7, 1, 8, 0))
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert commit.committed_at == utc("2024-07-01 08:00")
    assert details["committed_at"].tolist() == [utc("2024-07-01 08:00")]
    assert out["ts"].tolist() == [utc("2024-01-01 10:00"), utc("2024-01-01 11:00"), utc("2024-01-02 09:00")]
    pd.testing.assert_frame_equal(state_by_naive_time, out)


def test_now_honours_fti_now_and_commits_are_stamped_with_it(fs, monkeypatch):
    fg = make_group(fs)
    monkeypatch.delenv("FTI_NOW", raising=False)
    before = pd.Timestamp.now(tz="UTC")
    wall = fti.now()
    assert before - pd.Timedelta(seconds=1) <= wall <= pd.Timestamp.now(tz="UTC") + pd.Timedelta(seconds=1)
    assert str(wall.tz) == "UTC"

    monkeypatch.setenv("FTI_NOW", "2024-05-06T07:08:09")
    assert fti.now() == utc("2024-05-06 07:08:09")
    assert str(fti.now().tz) == "UTC"
    c1 = fg.insert(frame(FIRST))
    assert c1.committed_at == utc("2024-05-06 07:08:09")

    monkeypatch.setenv("FTI_NOW", "2024-05-07T09:00:00+02:00")
    assert fti.now() == utc("2024-05-07 07:00:00")
    c2 = fg.insert(frame([(1, "2024-01-01 10:00", 7.0, 10, "Oslo", True)]))
    assert c2.committed_at == utc("2024-05-07 07:00:00")
    assert fg.commit_details()["committed_at"].tolist() == [utc("2024-05-06 07:08:09"), utc("2024-05-07 07:00:00")]

    monkeypatch.setenv("FTI_NOW", "not a time")
    with pytest.raises(ValueError, match="FTI_NOW"):
        fti.now()


# --------------------------------------------------------------------------- bad input


BAD_FRAMES = {
    "missing column": (lambda df: df.drop(columns=["amount"]), fti.SchemaError, ["amount", "missing"]),
    "extra column": (lambda df: df.assign(bonus=1.0), fti.SchemaError, ["bonus"]),
    "text into a real number column": (lambda df: df.assign(amount=["1.5", "2", "x"]), fti.SchemaError, ["amount"]),
    "text into a whole number column": (lambda df: df.assign(count=["1", "2", "3"]), fti.SchemaError, ["count"]),
    "fractions into a whole number column": (
        lambda df: df.assign(count=[1.0, 2.5, 3.0]), fti.SchemaError, ["count", "2.5"],
    ),
    "numbers into a text column": (lambda df: df.assign(city=[1, 2, 3]), fti.SchemaError, ["city"]),
    "text into a boolean column": (lambda df: df.assign(flag=["yes", "no", "yes"]), fti.SchemaError, ["flag"]),
    "text into the event time": (lambda df: df.assign(ts=["2024-01-01", "x", "y"]), fti.SchemaError, ["ts"]),
    "null primary key": (
        lambda df: df.assign(id=pd.array([1, None, 3], dtype="Int64")), fti.SchemaError, ["id", "null"],
    ),
    "null event time": (
        lambda df: df.assign(ts=pd.to_datetime(["2024-01-01", None, "2024-01-03"])), fti.SchemaError, ["ts", "null"],
    ),
    "repeated key and event time": (
        lambda df: df.assign(id=[7, 7, 8], ts=pd.to_datetime(["2024-01-01"] * 3)), fti.SchemaError, ["id", "ts"],
    ),
    "not a data frame": (lambda df: df.to_dict(orient="list"), fti.SchemaError, ["DataFrame"]),
}


@pytest.mark.parametrize("case", list(BAD_FRAMES))
def test_bad_input_is_refused_naming_the_group_and_column_and_writes_nothing(fs, store_path, case):
    change, error, words = BAD_FRAMES[case]
    fg = make_group(fs, online_enabled=True)
    fg.insert(frame(FIRST))
    fg.insert(frame([(1, "2024-01-01 10:00", 5.0, 10, "Oslo", True)]))
    before = snapshot(fs, fg)
    online_before = online_rows(store_path, fg.table)

    bad = change(frame([(11, "2024-02-01", 1.0, 1, "A", True), (12, "2024-02-02", 2.0, 2, "B", False),
                        (13, "2024-02-03", 3.0, 3, "C", True)]))
    with pytest.raises(error) as info:
        fg.insert(bad)
    message = str(info.value)
    assert "'payments'" in message
    for word in words:
        assert word in message, f"{word!r} missing from: {message}"
    assert_unchanged(fs, fg, before)
    assert online_rows(store_path, fg.table) == online_before
    # A fresh handle (another notebook) sees the same.
    fresh = fs.get_feature_group("payments", 1)
    pd.testing.assert_frame_equal(fresh.read(), before[0])


def test_bad_first_insert_defines_no_schema(fs):
    fg = make_group(fs)
    # Nothing to compare against yet, so only key and event time problems can be caught.
    for bad, word in [
        (frame(FIRST).drop(columns=["ts"]), "ts"),
        (frame(FIRST).drop(columns=["id"]), "id"),
        (frame(FIRST).assign(id=[1.5, 2.5, 3.5]), "id"),  # keys must be whole numbers or text
        (frame(FIRST).assign(ts=["2024-01-01", "2024-01-02", "2024-01-03"]), "ts"),
        (frame(FIRST).assign(tags=[[1], [2], [3]]), "tags"),  # lists have no column type
        (frame(FIRST).assign(id=[1, 1, 1], ts=pd.to_datetime(["2024-01-01"] * 3)), "id"),
    ]:
        with pytest.raises(fti.SchemaError, match="payments") as info:
            fg.insert(bad)
        assert word in str(info.value)
        assert fs.get_feature_group("payments", 1).columns == []
        assert all_commits(fs) == 0
    with pytest.raises(fti.SchemaError, match="no data"):
        fg.read()
    # After all that, a good insert defines the schema.
    assert fg.insert(frame(FIRST)).rows_inserted == 3


@pytest.mark.parametrize("name", ["a;drop table x", "1abc", "_fti_commits", "_FTI", "with space", "", "é", "a" * 64,
                                  'x"; DROP TABLE fti_commits; --'])
def test_invalid_feature_group_names_are_refused(fs, name):
    with pytest.raises(fti.InvalidNameError) as info:
        fs.get_or_create_feature_group(name, primary_key=["id"])
    assert repr(name) in str(info.value)
    assert "feature group" in str(info.value)
    with pytest.raises(fti.InvalidNameError):
        fs.get_feature_group(name)
    assert fs.get_feature_groups().empty


@pytest.mark.parametrize("column", ["a;drop table x", "1abc", "_fti_commit", "_fti_superseded", "two words"])
def test_invalid_column_names_are_refused(fs, column):
    fg = make_group(fs)
    bad = frame(FIRST).rename(columns={"amount": column})
    with pytest.raises(fti.InvalidNameError) as info:
        fg.insert(bad)
    assert column in str(info.value) and "payments" in str(info.value)
    assert fs.get_feature_group("payments", 1).columns == []
    assert all_commits(fs) == 0
    fg.insert(frame(FIRST))
    before = snapshot(fs, fg)
    with pytest.raises(fti.SchemaError) as info:  # the schema is set: an unexpected column
        fg.insert(frame(FIRST).rename(columns={"amount": column}))
    assert column in str(info.value)
    assert_unchanged(fs, fg, before)


@pytest.mark.parametrize("key", [["a;drop"], ["1abc"], ["_fti_x"]])
def test_invalid_primary_key_and_event_time_names_are_refused(fs, key):
    with pytest.raises(fti.InvalidNameError, match="primary key"):
        fs.get_or_create_feature_group("payments", primary_key=key)
    with pytest.raises(fti.InvalidNameError, match="event time"):
        fs.get_or_create_feature_group("payments", primary_key=["id"], event_time=key[0])
    assert fs.get_feature_groups().empty


def test_a_different_definition_of_an_existing_version_is_refused(fs):
    fg = make_group(fs)
    fg.insert(frame(FIRST))
    before = snapshot(fs, fg)
    with pytest.raises(fti.SchemaError, match="payments") as info:
        fs.get_or_create_feature_group("payments", version=1, primary_key=["city"], event_time="ts")
    assert "city" in str(info.value) or "'id'" in str(info.value)
    with pytest.raises(fti.SchemaError, match="payments"):
        fs.get_or_create_feature_group("payments", version=1, primary_key=["id"], event_time=None)
    with pytest.raises(fti.SchemaError, match="payments"):
        fs.get_or_create_feature_group("payments", version=1, primary_key=["id", "city"], event_time="ts")
    assert_unchanged(fs, fg, before)
    stored = fs.get_feature_group("payments", 1)
    assert stored.primary_key == ["id"] and stored.event_time == "ts"
    # The same definition returns the existing group; a new version is separate.
    assert make_group(fs).read().equals(before[0])
    v2 = fs.get_or_create_feature_group("payments", version=2, primary_key=["city"], event_time="ts")
    assert v2.columns == [] and fs.get_feature_group("payments").version == 2


def test_unknown_feature_group_raises_not_found_naming_it(fs):
    with pytest.raises(fti.FeatureGroupNotFoundError, match="nowhere"):
        fs.get_feature_group("nowhere")
    make_group(fs).insert(frame(FIRST))
    with pytest.raises(fti.FeatureGroupNotFoundError, match="payments") as info:
        fs.get_feature_group("payments", 3)
    assert "3" in str(info.value)
    assert isinstance(info.value, fti.NotFoundError) and isinstance(info.value, LookupError)


# --------------------------------------------------------------------------- atomicity


class _ConnectionProxy:
    """Wraps a DuckDB connection to run ``hook(sql, con)`` before each statement."""

    def __init__(self, con, hook):
        self._con = con
        self._hook = hook

    def execute(self, sql, *args, **kwargs):
        self._hook(sql, self._con)
        # write_commit's SQL reads its frame by the local name _fti_incoming (a DuckDB replacement
        # scan looks in the frame that calls execute): make it visible in this frame too.
        _fti_incoming = sys._getframe(1).f_locals.get("_fti_incoming")  # noqa: F841
        return self._con.execute(sql, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._con, name)


def _fail_before_commit_row(monkeypatch, fg_table: str, seen: dict):
    """Make inserts fail after their data rows are written, before the commit row; return the undo."""
    original = FeatureGroupEngine.write_commit

    def hook(sql, con):
        if sql.lstrip().startswith("INSERT INTO fti_commits"):
            # The data rows of this commit are in the table (inside the transaction).
            seen["data_rows"] = con.execute(
                f'SELECT count(*) FROM "{fg_table}" WHERE _fti_commit = (SELECT coalesce(max(commit_id), 0) + 1 '
                "FROM fti_commits)"
            ).fetchone()[0]
            seen["superseded"] = con.execute(
                f'SELECT count(*) FROM "{fg_table}" WHERE _fti_superseded IS NOT NULL'
            ).fetchone()[0]
            raise OSError("disk full (simulated)")

    def patched(self, con, meta, frame_, outcome, **known):
        return original(self, _ConnectionProxy(con, hook), meta, frame_, outcome, **known)

    monkeypatch.setattr(FeatureGroupEngine, "write_commit", patched)
    return lambda: monkeypatch.setattr(FeatureGroupEngine, "write_commit", original)


def test_a_failure_in_the_middle_of_an_insert_leaves_no_partial_commit(fs, store_path, monkeypatch):
    fg = make_group(fs, online_enabled=True)
    fg.insert(frame(FIRST))
    before = snapshot(fs, fg)
    online_before = online_rows(store_path, fg.table)

    seen: dict = {}
    restore = _fail_before_commit_row(monkeypatch, fg.table, seen)
    change = frame([(1, "2024-01-01 10:00", 99.0, 10, "Oslo", True), (8, "2024-03-01", 8.0, 8, "Pisa", False)])
    with pytest.raises(OSError, match="simulated"):
        fg.insert(change)
    assert seen == {"data_rows": 2, "superseded": 1}, "the failure must come after the data rows were written"
    assert_unchanged(fs, fg, before)
    assert online_rows(store_path, fg.table) == online_before

    restore()
    commit = fg.insert(change)
    assert (commit.rows_inserted, commit.rows_updated, commit.rows_unchanged) == (1, 1, 0)
    assert commit.commit_id == before[1]["commit_id"].max() + 1
    assert raw_rows(fs, fg) == 5
    assert online_rows(store_path, fg.table)[1][1] == 99.0


def test_a_failure_in_the_first_insert_leaves_no_table_and_no_schema(fs, store_path, monkeypatch):
    fg = make_group(fs)
    seen: dict = {}
    restore = _fail_before_commit_row(monkeypatch, fg.table, seen)
    with pytest.raises(OSError, match="simulated"):
        fg.insert(frame(FIRST))
    assert seen["data_rows"] == 3
    restore()
    assert fs.get_feature_group("payments", 1).columns == []
    with Store(fs.path).connect() as con:
        tables = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert fg.table not in tables
    assert fg.insert(frame(FIRST)).rows_inserted == 3
    assert len(fg.read()) == 3


_KILL_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    import numpy as np
    import pandas as pd
    import fti
    from fti.store.feature_group_engine import FeatureGroupEngine

    hook = os.environ["KILL_HOOK"]
    n = int(os.environ["ROWS"])

    def pause(where):
        print("PAUSED " + where, flush=True)
        time.sleep(600)

    class Proxy:
        def __init__(self, con):
            self._con = con
        def execute(self, sql, *args, **kwargs):
            if hook == "before_commit_row" and sql.lstrip().startswith("INSERT INTO fti_commits"):
                pause(hook)
            _fti_incoming = sys._getframe(1).f_locals.get("_fti_incoming")  # read by name in the SQL
            result = self._con.execute(sql, *args, **kwargs)
            if hook == "after_data_rows" and sql.lstrip().startswith("INSERT INTO") and "_fti_incoming" in sql:
                pause(hook)
            return result
        def __getattr__(self, name):
            return getattr(self._con, name)

    original = FeatureGroupEngine.write_commit
    FeatureGroupEngine.write_commit = lambda self, con, meta, frame, outcome, **known: original(
        self, Proxy(con), meta, frame, outcome, **known)
    if hook == "before_online_sync":
        FeatureGroupEngine.sync_online = lambda self, meta, *args, **kwargs: pause(hook)

    fs = fti.get_feature_store()
    fg = fs.get_feature_group("payments", 1)
    ids = np.arange(1000, 1000 + n)
    big = pd.DataFrame({
        "id": ids,
        "ts": pd.Timestamp("2024-06-01") + pd.to_timedelta(ids, unit="s"),
        "amount": ids * 0.5,
        "count": pd.array(ids, dtype="Int64"),
        "city": pd.array(["Oslo"] * n, dtype="str"),
        "flag": pd.array([True] * n, dtype="boolean"),
    })
    # Also change an existing row, so a partial commit would show as a lost old version.
    big.loc[0, ["id", "ts", "amount"]] = [1, pd.Timestamp("2024-01-01 10:00"), -1.0]
    print("STARTING", flush=True)
    if hook != "loop":
        fg.insert(big)
        print("DONE", flush=True)
    else:
        # Commit after commit until killed: each batch has new keys and updates key 1.
        for batch in range(1, 10_000):
            big["id"] = ids + batch * n
            big.loc[0, ["id", "amount"]] = [1, float(-batch)]
            commit = fg.insert(big)
            print(f"COMMITTED {commit.commit_id}", flush=True)
    """
)


def _run_and_kill(store_path: Path, tmp_path: Path, hook: str, rows: int, delay: float | None = None) -> str:
    script = tmp_path / "insert_and_die.py"
    script.write_text(_KILL_SCRIPT)
    env = {**os.environ, "FTI_STORE": str(store_path), "KILL_HOOK": hook, "ROWS": str(rows)}
    env.pop("FTI_NOW", None)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line.strip())
            if line.startswith("PAUSED") or (delay is not None and line.startswith("STARTING")):
                if delay:
                    time.sleep(delay)
                break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    rest = proc.stdout.read()
    assert proc.returncode == -signal.SIGKILL, (seen, proc.stderr.read())
    return " ".join(seen) + " " + " ".join(rest.split())


def _prepare_for_kill(fs) -> FeatureGroup:
    fg = make_group(fs, online_enabled=True)
    fg.insert(frame(FIRST))
    return fg


@pytest.mark.parametrize("hook", ["after_data_rows", "before_commit_row"])
def test_a_killed_insert_leaves_nothing(fs, store_path, tmp_path, hook):
    fg = _prepare_for_kill(fs)
    before = snapshot(fs, fg)
    online_before = online_rows(store_path, fg.table)
    said = _run_and_kill(store_path, tmp_path, hook, rows=20_000)
    assert f"PAUSED {hook}" in said

    reopened = fti.get_feature_store(store_path).get_feature_group("payments", 1)
    assert_unchanged(fs, reopened, before)
    assert online_rows(store_path, fg.table) == online_before
    # The store still takes writes, with the next commit id.
    commit = reopened.insert(frame([(2, "2024-01-01 11:00", 42.0, 20, "Rome", False)]))
    assert commit.commit_id == before[1]["commit_id"].max() + 1 and commit.rows_updated == 1


def test_a_process_killed_after_its_offline_commit_is_complete_and_online_catches_up(fs, store_path, tmp_path):
    fg = _prepare_for_kill(fs)
    n = 5_000
    said = _run_and_kill(store_path, tmp_path, "before_online_sync", rows=n)
    assert "PAUSED before_online_sync" in said

    fresh = fti.get_feature_store(store_path)
    reopened = fresh.get_feature_group("payments", 1)
    details = reopened.commit_details()
    assert len(details) == 2
    assert (details.loc[1, "rows_inserted"], details.loc[1, "rows_updated"]) == (n - 1, 1)
    current = reopened.read()
    assert len(current) == 3 + n - 1
    assert current.loc[current["id"] == 1, "amount"].item() == -1.0
    # The online copy missed that commit...
    assert online_state(store_path, fg.table) == details.loc[0, "commit_id"]
    assert online_rows(store_path, fg.table)[1][1] == 1.5
    # ...until the next serving initialisation brings it up to date.
    fv = fresh.get_or_create_feature_view("payments_view", query=reopened.select(["amount", "city"]))
    fv.init_serving()
    assert online_state(store_path, fg.table) == details.loc[1, "commit_id"]
    assert online_rows(store_path, fg.table) == latest_per_key(reopened)
    assert fv.get_feature_vector({"id": 1}) == [-1.0, "Oslo"]


@pytest.mark.parametrize("delay", [0.8, 1.5])
def test_a_process_killed_at_any_moment_leaves_only_complete_commits(fs, store_path, tmp_path, delay):
    """Kill a process that commits batch after batch: every commit in the store is whole,
    and every commit the process was told about is there."""
    fg = _prepare_for_kill(fs)
    n = 20_000
    said = _run_and_kill(store_path, tmp_path, "loop", rows=n, delay=delay)
    words = said.split()
    reported = [int(word) for previous, word in zip(words, words[1:], strict=False) if previous == "COMMITTED"]

    reopened = fti.get_feature_store(store_path).get_feature_group("payments", 1)
    details = reopened.commit_details()
    ids = details["commit_id"].tolist()
    assert ids[: 1 + len(reported)] == [ids[0], *reported], "a commit the process reported is missing"
    assert len(ids) in (1 + len(reported), 2 + len(reported))  # at most the one in flight got through
    with Store(fs.path).connect() as con:
        per_commit = dict(con.execute(f'SELECT _fti_commit, count(*) FROM "{fg.table}" GROUP BY ALL').fetchall())
        replaced = dict(con.execute(
            f'SELECT _fti_superseded, count(*) FROM "{fg.table}" WHERE _fti_superseded IS NOT NULL GROUP BY ALL'
        ).fetchall())
    assert set(per_commit) == set(ids), "rows of a commit that has no commit record"
    for row in details.iloc[1:].itertuples():
        assert (row.rows_inserted, row.rows_updated, row.rows_unchanged) == (n - 1, 1, 0)
        assert per_commit[row.commit_id] == n
        assert replaced.get(row.commit_id) == 1
    current = reopened.read()
    assert len(current) == 3 + (n - 1) * (len(ids) - 1)
    assert current.loc[current["id"] == 1, "amount"].item() == (1.5 if len(ids) == 1 else -(len(ids) - 1))
    # The store takes writes, and the online copy catches up with whatever got through.
    reopened.insert(frame([(2, "2024-01-01 11:00", 42.0, 20, "Rome", False)]))
    assert online_rows(store_path, fg.table) == latest_per_key(reopened)


# --------------------------------------------------------------------------- expectation suites


@pytest.fixture(scope="module")
def gx():
    import great_expectations

    return great_expectations


def _suite(gx):
    return gx.ExpectationSuite(
        name="payments_rules",
        expectations=[
            gx.expectations.ExpectColumnValuesToBeBetween(column="amount", min_value=0, max_value=100),
            gx.expectations.ExpectColumnValuesToNotBeNull(column="city"),
            gx.expectations.ExpectColumnValuesToBeInSet(column="city", value_set=["Oslo", "Rome", "Lima", "Kyiv"]),
        ],
    )


BAD_FOR_SUITE = [
    (5, "2024-02-01", 250.0, 5, "Oslo", True),
    (6, "2024-02-02", -4.0, 6, None, False),
    (7, "2024-02-03", 7.0, 7, "Paris", True),
]


def test_strict_expectations_reject_the_whole_frame(fs, gx):
    fg = make_group(fs, expectation_suite=_suite(gx), validation_ingestion_policy="strict")
    good = fg.insert(frame(FIRST))
    assert good.validation == "success"
    before = snapshot(fs, fg)

    with pytest.raises(fti.ExpectationsFailedError) as info:
        fg.insert(frame(FIRST[:1] + BAD_FOR_SUITE))
    error = info.value
    assert_unchanged(fs, fg, before)
    by_type = {(f["expectation"], f["column"]): f for f in error.failures}
    assert set(by_type) == {
        ("expect_column_values_to_be_between", "amount"),
        ("expect_column_values_to_not_be_null", "city"),
        ("expect_column_values_to_be_in_set", "city"),
    }
    assert sorted(by_type[("expect_column_values_to_be_between", "amount")]["examples"]) == [-4.0, 250.0]
    assert by_type[("expect_column_values_to_be_in_set", "city")]["examples"] == ["Paris"]
    message = str(error)
    assert "payments" in message and "nothing was written" in message
    for expectation, column in by_type:
        assert expectation in message and f"'{column}'" in message
    assert "250" in message and "Paris" in message

    reports = fg.get_validation_reports()
    assert isinstance(reports, pd.DataFrame)
    assert reports["report_id"].tolist() == [before[1].loc[0, "report_id"], error.report_id]
    assert reports["success"].tolist() == [True, False]
    assert reports["outcome"].tolist() == ["ingested", "rejected"]
    assert reports["ingestion_policy"].tolist() == ["strict", "strict"]
    assert reports["failed"].tolist() == [0, 3]
    assert str(reports["validated_at"].dt.tz) == "UTC"
    import json

    stored = json.loads(reports.loc[1, "report"])
    assert stored["success"] is False
    assert stored["statistics"]["unsuccessful_expectations"] == 3


def test_warn_policy_writes_and_records_the_failure(fs, gx):
    fg = make_group(fs, expectation_suite=_suite(gx), validation_ingestion_policy="warn")
    commit = fg.insert(frame(FIRST + BAD_FOR_SUITE))
    assert commit.validation == "failed" and commit.rows_inserted == 6
    assert len(fg.read()) == 6
    details = fg.commit_details()
    assert details["validation"].tolist() == ["failed"]
    reports = fg.get_validation_reports()
    assert reports["report_id"].tolist() == details["report_id"].tolist()
    assert reports[["success", "outcome", "ingestion_policy", "failed"]].values.tolist() == [
        [False, "ingested", "warn", 3]
    ]
    # Switching to strict on the same group: the next bad frame is refused, the report kept.
    fg.save_expectation_suite(_suite(gx), validation_ingestion_policy="strict")
    with pytest.raises(fti.ExpectationsFailedError):
        fg.insert(frame([(9, "2024-03-01", 1000.0, 9, "Oslo", True)]))
    assert len(fg.read()) == 6
    later = fg.insert(frame([(9, "2024-03-01", 10.0, 9, "Oslo", True)]))
    assert later.validation == "success"
    assert fg.get_validation_reports()["outcome"].tolist() == ["ingested", "rejected", "ingested"]
    assert fg.commit_details()["validation"].tolist() == ["failed", "success"]


def test_importing_fti_does_not_import_great_expectations(store_path):
    code = textwrap.dedent(
        """
        import sys
        import pandas as pd
        import fti
        assert "great_expectations" not in sys.modules, "import fti imported great_expectations"
        fs = fti.get_feature_store()
        fg = fs.get_or_create_feature_group("plain", primary_key=["id"])
        fg.insert(pd.DataFrame({"id": [1, 2], "x": [0.5, 1.5]}))
        fg.read()
        mr = fti.get_model_registry()
        assert "great_expectations" not in sys.modules, "a store without suites imported great_expectations"
        print("OK")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "FTI_STORE": str(store_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "OK"


# --------------------------------------------------------------------------- online store


def test_online_store_keeps_the_newest_row_per_key(fs, store_path):
    fg = make_group(fs, online_enabled=True)
    fg.insert(frame(FIRST))
    assert online_rows(store_path, fg.table) == {
        1: (utc("2024-01-01 10:00"), 1.5), 2: (utc("2024-01-01 11:00"), 2.5), 3: (utc("2024-01-02 09:00"), 3.5),
    }
    fg.insert(frame([(1, "2024-01-05 10:00", 10.0, 1, "Oslo", True)]))  # newer event for key 1
    fg.insert(frame([(1, "2024-01-03 10:00", -5.0, 1, "Oslo", True)]))  # older event, inserted later
    fg.insert(frame([(2, "2024-01-01 11:00", 20.0, 2, "Rome", False)]))  # correction of key 2's only row
    fg.insert(frame([(3, "2023-12-31 00:00", 0.0, 3, "Lima", True), (4, "2024-01-04 00:00", 4.0, 4, "Kyiv", True)]))
    expected = {
        1: (utc("2024-01-05 10:00"), 10.0),
        2: (utc("2024-01-01 11:00"), 20.0),
        3: (utc("2024-01-02 09:00"), 3.5),
        4: (utc("2024-01-04 00:00"), 4.0),
    }
    assert online_rows(store_path, fg.table) == expected
    assert latest_per_key(fg) == expected
    assert online_state(store_path, fg.table) == fg.commit_details()["commit_id"].max()

    fv = fs.get_or_create_feature_view("pv", query=fg.select(["amount", "city", "flag"]))
    fv.init_serving()
    assert fv.get_feature_vector({"id": 1}) == [10.0, "Oslo", True]
    assert fv.get_feature_vector({"id": 3}, return_type="dict") == {"amount": 3.5, "city": "Lima", "flag": True}


def test_online_times_come_back_utc(fs):
    fg = fs.get_or_create_feature_group("visits", primary_key=["id"], event_time="ts", online_enabled=True)
    fg.insert(pd.DataFrame({"id": [1], "ts": pd.to_datetime(["2024-01-01 10:00"]),
                            "seen": pd.to_datetime(["2024-01-01 12:00+02:00"])}))
    fv = fs.get_or_create_feature_view("vv", query=fg.select(["seen"]))
    fv.init_serving()
    (seen,) = fv.get_feature_vector({"id": 1})
    assert seen == utc("2024-01-01 10:00") and seen.utcoffset() == dt.timedelta(0)


def _delete_online_files(store_path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        path = store_path / f"online.sqlite{suffix}"
        if path.exists():
            path.unlink()


def test_a_deleted_online_store_is_rebuilt_on_the_next_insert(fs, store_path):
    fg = make_group(fs, online_enabled=True)
    fg.insert(frame(FIRST))
    fg.insert(frame([(1, "2024-01-05 10:00", 10.0, 1, "Oslo", True)]))
    _delete_online_files(store_path)
    # The same FeatureStore object, as in a notebook that keeps running.
    fg.insert(frame([(5, "2024-02-01", 5.0, 5, "Kyiv", False)]))
    assert (store_path / "online.sqlite").exists()
    assert online_rows(store_path, fg.table) == latest_per_key(fg)
    assert len(online_rows(store_path, fg.table)) == 4
    assert online_state(store_path, fg.table) == fg.commit_details()["commit_id"].max()


def test_a_deleted_online_store_is_rebuilt_by_init_serving(fs, store_path):
    fg = make_group(fs, online_enabled=True)
    fg.insert(frame(FIRST))
    fg.insert(frame([(1, "2024-01-05 10:00", 10.0, 1, "Oslo", True)]))
    fv = fs.get_or_create_feature_view("pv", query=fg.select(["amount"]))
    fv.init_serving()
    assert fv.get_feature_vector({"id": 1}) == [10.0]
    _delete_online_files(store_path)
    fv.init_serving()
    assert online_rows(store_path, fg.table) == latest_per_key(fg)
    assert fv.get_feature_vector({"id": 1}) == [10.0]
    # A new process (new FeatureStore) after another deletion.
    _delete_online_files(store_path)
    other = fti.get_feature_store(store_path)
    other_fv = other.get_feature_view("pv", 1)
    other_fv.init_serving()
    assert other_fv.get_feature_vector({"id": 2}) == [2.5]
    assert online_rows(store_path, fg.table) == latest_per_key(fg)


@pytest.mark.parametrize("trigger", ["init_serving", "insert"])
def test_a_lagging_online_table_catches_up(fs, store_path, trigger):
    fg = make_group(fs, online_enabled=True)
    c1 = fg.insert(frame(FIRST))
    stale = online_rows(store_path, fg.table)
    fg.insert(frame([(1, "2024-01-05 10:00", 10.0, 1, "Oslo", True), (6, "2024-01-06", 6.0, 6, "Rome", True)]))
    fg.insert(frame([(2, "2024-01-01 11:00", 20.0, 2, "Rome", False)]))
    # Roll the online copy back to what it was after c1, as if the later syncs never ran.
    con = sqlite3.connect(store_path / "online.sqlite")
    with con:
        con.execute(f'DELETE FROM "{fg.table}"')
        con.executemany(f'INSERT INTO "{fg.table}" (id, ts, amount) VALUES (?, ?, ?)',
                        [(k, ts.isoformat(), amount) for k, (ts, amount) in stale.items()])
        con.execute("UPDATE fti_online_state SET applied_commit = ? WHERE table_name = ?", (c1.commit_id, fg.table))
    con.close()
    assert online_rows(store_path, fg.table) == stale

    if trigger == "init_serving":
        fv = fs.get_or_create_feature_view("pv", query=fg.select(["amount"]))
        fv.init_serving()
        assert fv.get_feature_vector({"id": 2}) == [20.0]
    else:
        fg.insert(frame([(7, "2024-01-07", 7.0, 7, "Lima", True)]))
    assert online_rows(store_path, fg.table) == latest_per_key(fg)
    assert online_state(store_path, fg.table) == fg.commit_details()["commit_id"].max()
