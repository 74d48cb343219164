"""Tests for how `QueryEngine` runs a query with several joins: one joined group per statement.

A query with two or more joins is read in stages (each stage joins one feature
group into a temporary table) to keep DuckDB from holding every join's sorted
feature rows at once. The answer must be exactly that of the single statement
`Query.sql()` shows, and no temporary table may outlive the read, even a failed one.
The point-in-time rules themselves are checked against an oracle in
``test_point_in_time.py``.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from fti.store import query_engine
from fti.store.storage import Store, fetch_frame, fetch_rows

BASE = pd.Timestamp("2024-01-01", tz="UTC")


def at(minute: int) -> pd.Timestamp:
    return BASE + pd.Timedelta(minutes=minute)


@pytest.fixture
def stored(fs):
    """Observations joined with users (giving a city), then cities on that city (with a TTL), then scores.

    Returns the query and the commit id of the cities insert (the one before the scores).
    """
    obs = fs.get_or_create_feature_group("obs", primary_key=["obs_id"], event_time="t")
    users = fs.get_or_create_feature_group("users", primary_key=["user"], event_time="t")
    cities = fs.get_or_create_feature_group("cities", primary_key=["city"], event_time="t",
                                            ttl=dt.timedelta(minutes=30))
    scores = fs.get_or_create_feature_group("scores", primary_key=["user"], event_time="t")
    obs.insert(pd.DataFrame({"obs_id": [3, 1, 2, 4, 5], "t": [at(50), at(10), at(40), at(5), at(100)],
                             "user": [1, 1, 2, 2, None], "y": [1, 0, 1, 0, 1]}).astype({"user": "Int64"}))
    users.insert(pd.DataFrame({"user": [1, 1, 2], "t": [at(0), at(45), at(20)],
                               "city": ["oslo", "rome", "oslo"]}))
    cities_commit = cities.insert(pd.DataFrame({"city": ["oslo", "rome", "oslo"], "t": [at(0), at(20), at(35)],
                                "pop": [0.7, 2.8, 0.71]}))
    scores.insert(pd.DataFrame({"user": [1, 2, 2], "t": [at(10), at(0), at(41)], "score": [5.0, None, 7.5]}))
    query = (obs.select_all()
             .join(users.select(["city"]))
             .join(cities.select(["pop"]), on=["city"])
             .join(scores.select(["score"])))
    return query, cities_commit.commit_id


@pytest.fixture
def query(stored):
    return stored[0]


def temporary_tables(con) -> list[str]:
    return [name for (name,) in fetch_rows(con, "SELECT table_name FROM duckdb_tables() WHERE temporary")]


def test_a_query_with_three_joins_is_read_in_three_statements(query):
    stages = query.plan.stages(None, None, None, "_fti_query_test_")

    assert len(stages) == 3
    assert [sql.startswith("CREATE TEMP TABLE") for sql, _ in stages] == [True, True, False]


def test_the_staged_read_equals_the_single_statement(fs, query):
    with Store(fs.path).connect() as con:
        single = fetch_frame(con, *query.sql())
    staged = query.read()

    assert len(staged) == 5
    pd.testing.assert_frame_equal(staged, single)
    # The values the stages carried: user 1 moved to rome at minute 45; oslo's row of minute 0
    # is over the 30-minute TTL at minute 40; user 2's score at minute 40 is the null of minute 0.
    by_id = staged.set_index("obs_id")
    assert by_id.loc[3, "city"] == "rome" and by_id.loc[3, "pop"] == 2.8
    assert by_id.loc[2, "city"] == "oslo" and by_id.loc[2, "pop"] == 0.71
    assert by_id.loc[1, "pop"] == 0.7
    assert pd.isna(by_id.loc[2, "score"]) and by_id.loc[3, "score"] == 5.0
    assert pd.isna(by_id.loc[5, "city"])  # a missing key matches nothing


def test_a_time_window_and_time_travel_read_in_stages_like_the_single_statement(fs, stored):
    query, commit = stored
    start, end = at(8), at(60)
    staged = query.read(as_of=commit, start_time=start, end_time=end)
    with Store(fs.path).connect() as con:
        single = fetch_frame(con, *query.sql(as_of_commit=commit, start_time=start, end_time=end))

    pd.testing.assert_frame_equal(staged, single)
    assert sorted(staged["obs_id"]) == [1, 2, 3]
    assert staged["score"].isna().all()  # the scores came after that commit
    assert staged.set_index("obs_id").loc[3, "pop"] == 2.8


def test_a_read_leaves_no_temporary_table_on_a_shared_connection(fs, query):
    with Store(fs.path).connect() as con:
        query.read()
        query.read()
        assert temporary_tables(con) == []


def test_a_failed_read_drops_its_temporary_tables_and_raises_the_error(fs, query, monkeypatch):
    class Boom(Exception):
        pass

    def failing_fetch(con, sql, params=None):
        assert temporary_tables(con)  # the stages before the last did run
        raise Boom("the last statement failed")

    monkeypatch.setattr(query_engine, "fetch_frame", failing_fetch)
    with Store(fs.path).connect() as con:
        with pytest.raises(Boom):
            query.read()
        assert temporary_tables(con) == []
