"""Tests for ``Query.join(..., strictly_before=True)``: the other group's newest row *before* the observation.

A stream pipeline writes a card's state right after each of its transactions, one row
per transaction at the transaction's time. A transaction's training row must see the
state *before* it (what the online store held when it arrived), so the join must skip
the row written at its own time; the default join (at or before) takes it and leaks.
"""

from __future__ import annotations

import pandas as pd
import pytest

from fti.exceptions import QueryError

BASE = pd.Timestamp("2026-01-01", tz="UTC")


def at(second: int) -> pd.Timestamp:
    return BASE + pd.Timedelta(seconds=second)


@pytest.fixture
def groups(fs):
    tx = fs.get_or_create_feature_group("tx", primary_key=["tx_id"], event_time="ts")
    state = fs.get_or_create_feature_group("card_state", primary_key=["card"], event_time="ts")
    times = [0, 30, 30, 90, 200]
    cards = [1, 1, 2, 1, 2]
    tx.insert(pd.DataFrame({"tx_id": [10, 11, 12, 13, 14], "card": cards, "ts": [at(s) for s in times],
                            "amount": [5.0, 7.0, 1.0, 9.0, 3.0]}))
    # The state after each transaction: how many the card has made so far (this one included).
    state.insert(pd.DataFrame({"card": cards, "ts": [at(s) for s in times], "count_so_far": [1, 2, 1, 3, 2]}))
    return tx, state


def test_strictly_before_takes_the_state_before_each_observation(groups):
    tx, state = groups
    frame = tx.select_all().join(state.select(["count_so_far"]), on=["card"], strictly_before=True).read()
    got = dict(zip(frame["tx_id"], frame["count_so_far"], strict=True))
    # The first transaction of each card has no earlier state: missing, not its own row.
    assert pd.isna(got[10]) and pd.isna(got[12])
    assert (got[11], got[13], got[14]) == (1, 2, 1)


def test_the_default_join_takes_the_row_at_the_observation_time(groups):
    tx, state = groups
    frame = tx.select_all().join(state.select(["count_so_far"]), on=["card"]).read()
    assert dict(zip(frame["tx_id"], frame["count_so_far"], strict=True)) == {10: 1, 11: 2, 12: 1, 13: 3, 14: 2}


def test_strictly_before_survives_the_feature_view_round_trip(fs, groups):
    tx, state = groups
    query = tx.select_all().join(state.select(["count_so_far"]), on=["card"], strictly_before=True)
    fs.get_or_create_feature_view("strict_view", query=query, labels=["amount"])
    view = fs.get_feature_view("strict_view", 1)
    frame = view.query.read()
    assert frame.set_index("tx_id")["count_so_far"].isna().tolist() == [True, False, True, False, False]


def test_strictly_before_is_refused_for_a_group_without_event_time(fs, groups):
    tx, _ = groups
    cards = fs.get_or_create_feature_group("cards", primary_key=["card"])
    cards.insert(pd.DataFrame({"card": [1, 2], "limit": [100.0, 200.0]}))
    with pytest.raises(QueryError, match="strictly_before=True needs an event time"):
        tx.select_all().join(cards.select(["limit"]), on=["card"], strictly_before=True)
    with pytest.raises(QueryError, match="strictly_before must be True or False"):
        tx.select_all().join(cards.select(["limit"]), on=["card"], strictly_before="yes")
