"""Hopsworks-style features and filters on queries: ``query.filter(fg.amount > 100)``.

The filtered reads are checked against pandas, computed independently on the same
random frames: the point-in-time join with ``pandas.merge_asof`` (not DuckDB), the
filter with pandas comparisons. The rules (from the Hopsworks query constructor):

1. A filter on label-side columns only keeps the observations that pass it.
2. A filter that reads a joined group's columns keeps the rows whose joined values
   (as of each observation's time) pass it; a null never passes a comparison.
3. A filtered query joined as the right side lends only its passing rows to the
   join, and an observation that finds no passing row is dropped.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import fti
from fti.exceptions import ParameterError, QueryError
from fti.hsfs.feature import Feature
from fti.store.query import Query

BASE = pd.Timestamp("2024-01-01", tz="UTC")
CATEGORIES = ["food", "fuel", "travel", "games"]
COUNTRIES = ["SE", "NO", "DK"]


def transactions(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """The label side: one row per transaction, with every column type."""
    return pd.DataFrame({
        "tx_id": np.arange(n, dtype="int64"),
        "cc": rng.integers(0, 6, n),
        "datetime": BASE + pd.to_timedelta(rng.integers(0, 10_000, n), unit="min"),
        "amount": rng.uniform(0, 500, n).round(2),
        "category": rng.choice(CATEGORIES, n),
        "online": rng.integers(0, 2, n).astype(bool),
        "items": rng.integers(1, 10, n),
    })


def cards(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """A joined group: each card's limit and country, changing over time."""
    frame = pd.DataFrame({
        "cc": rng.integers(0, 8, n),
        "datetime": BASE + pd.to_timedelta(rng.integers(0, 10_000, n), unit="min"),
        "credit_limit": rng.uniform(100, 5000, n).round(0),
        "country": rng.choice(COUNTRIES, n),
    })
    return frame.drop_duplicates(["cc", "datetime"]).reset_index(drop=True)


def make_store(fs: Any, seed: int, n: int = 300, online: bool = False) -> tuple[Any, Any, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    tx, card = transactions(rng, n), cards(rng, n // 2)
    tx_fg = fs.get_or_create_feature_group("tx", 1, primary_key=["tx_id"], event_time="datetime",
                                           online_enabled=online)
    tx_fg.insert(tx)
    card_fg = fs.get_or_create_feature_group("card", 1, primary_key=["cc"], event_time="datetime",
                                             online_enabled=True)
    card_fg.insert(card)
    return tx_fg, card_fg, tx, card


def point_in_time(tx: pd.DataFrame, card: pd.DataFrame) -> pd.DataFrame:
    """Each transaction with its card's newest row at or before it (pandas, not the store)."""
    right = card.rename(columns={"datetime": "card_time"}).sort_values("card_time")
    joined = pd.merge_asof(tx.sort_values("datetime"), right, left_on="datetime", right_on="card_time",
                           by="cc", direction="backward", allow_exact_matches=True)
    return joined.sort_values("tx_id").reset_index(drop=True)


# -- random filters: each as a Filter for the store and a predicate for pandas --------------------

OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
}

Predicate = Callable[[pd.DataFrame], pd.Series]


def leaf(rng: np.random.Generator, feature: Feature, column: str, frame: pd.DataFrame) -> tuple[Any, Predicate]:
    """A random condition on one column, with a value drawn from its data."""
    values = frame[column].dropna()
    value = values.iloc[int(rng.integers(0, len(values)))]
    if isinstance(value, (bool, np.bool_)):
        value = bool(value)
        symbol = str(rng.choice(["==", "!="]))
    elif isinstance(value, str):
        kind = rng.integers(0, 3)
        if kind == 0:
            chosen = [str(item) for item in rng.choice(sorted(values.unique()), 2)]
            return feature.isin(chosen), lambda df: df[column].isin(chosen) & df[column].notna()
        if kind == 1:
            pattern = value[0] + "%"
            return feature.like(pattern), lambda df: df[column].str.startswith(value[0]).fillna(False).astype(bool)
        symbol = str(rng.choice(["==", "!="]))
    else:
        symbol = str(rng.choice(list(OPERATORS)))
        if isinstance(value, pd.Timestamp):
            value = value.to_pydatetime().replace(tzinfo=None)  # naive: taken as UTC
        elif isinstance(value, np.integer):
            value = int(value)
        elif isinstance(value, np.floating):
            value = float(value)
    compare = OPERATORS[symbol]
    condition = compare(feature, value)
    expected = pd.Timestamp(value, tz="UTC") if isinstance(value, dt.datetime) else value
    return condition, lambda df: compare(df[column], expected).fillna(False).astype(bool) & df[column].notna()


def random_filter(rng: np.random.Generator, columns: list[tuple[Feature, str]], frame: pd.DataFrame,
                  depth: int = 2) -> tuple[Any, Predicate]:
    """``leaf``, or two random filters joined with & or |."""
    if depth == 0 or rng.random() < 0.35:
        feature, column = columns[int(rng.integers(0, len(columns)))]
        return leaf(rng, feature, column, frame)
    left, left_rows = random_filter(rng, columns, frame, depth - 1)
    right, right_rows = random_filter(rng, columns, frame, depth - 1)
    if rng.random() < 0.5:
        return left & right, lambda df: left_rows(df) & right_rows(df)
    return left | right, lambda df: left_rows(df) | right_rows(df)


def same_rows(actual: pd.DataFrame, expected: pd.DataFrame, columns: list[str]) -> None:
    assert list(actual["tx_id"]) == list(expected["tx_id"])
    for column in columns:
        left, right = actual[column].tolist(), expected[column].tolist()
        assert [None if pd.isna(x) else x for x in left] == [None if pd.isna(x) else x for x in right], column


LABEL_COLUMNS = ["amount", "category", "online", "items", "datetime", "cc"]


@pytest.mark.parametrize("seed", range(6))
def test_label_side_filters_match_pandas(fs, seed):
    tx_fg, _, tx, _ = make_store(fs, seed)
    query = tx_fg.select_all()
    rng = np.random.default_rng(100 + seed)
    columns = [(query.get_feature(name), name) for name in LABEL_COLUMNS]
    for _ in range(8):
        condition, rows = random_filter(rng, columns, tx)
        expected = tx[rows(tx)].sort_values("tx_id")
        same_rows(query.filter(condition).read(), expected, ["amount", "category"])


@pytest.mark.parametrize("seed", range(6))
def test_joined_filters_apply_after_the_point_in_time_join(fs, seed):
    tx_fg, card_fg, tx, card = make_store(fs, seed)
    query = tx_fg.select_all().join(card_fg.select(["credit_limit", "country"]), on=["cc"])
    joined = point_in_time(tx, card)
    same_rows(query.read(), joined, ["credit_limit", "country"])  # the oracle itself agrees unfiltered
    rng = np.random.default_rng(200 + seed)
    columns = [(query.get_feature(name), name) for name in ["amount", "category", "credit_limit", "country"]]
    for _ in range(8):
        condition, rows = random_filter(rng, columns, joined)
        same_rows(query.filter(condition).read(), joined[rows(joined)], ["credit_limit", "country"])


@pytest.mark.parametrize("seed", range(4))
def test_filter_on_a_joined_query_selects_its_rows_before_the_join(fs, seed):
    tx_fg, card_fg, tx, card = make_store(fs, seed)
    rng = np.random.default_rng(300 + seed)
    card_query = card_fg.select(["credit_limit", "country"])
    columns = [(Feature(name, feature_group=card_fg), name) for name in ["credit_limit", "country"]]
    for _ in range(6):
        condition, rows = random_filter(rng, columns, card)
        query = tx_fg.select_all().join(card_query.filter(condition), on=["cc"])
        expected = point_in_time(tx, card[rows(card)])
        expected = expected[expected["card_time"].notna()]  # no passing row: the observation is dropped
        same_rows(query.read(), expected, ["credit_limit", "country"])


def test_filters_on_columns_the_query_does_not_select(fs):
    tx_fg, card_fg, tx, card = make_store(fs, 7)
    query = tx_fg.select(["amount", "cc"]).join(card_fg.select(["credit_limit"]), on=["cc"])
    joined = point_in_time(tx, card)
    filtered = query.filter((Feature("country", feature_group=card_fg) == "SE")
                            & (Feature("category", feature_group=tx_fg) != "fuel"))
    # Three joins run one statement per group: the unselected columns travel through them too.
    staged = filtered.join(card_fg.select(["country"]), on=["cc"], prefix="again_")
    expected = joined[(joined["country"] == "SE") & (joined["category"] != "fuel")]
    same_rows(filtered.read(), expected, ["amount", "credit_limit"])
    same_rows(staged.read().rename(columns={"again_country": "country"}), expected, ["amount", "country"])
    assert filtered.columns == ["tx_id", "datetime", "amount", "cc", "credit_limit"]


def test_times_compare_in_utc_and_epoch_milliseconds_only_through_login(tmp_path):
    hops = fti.login(tmp_path / "store", project="lab").get_feature_store()
    tx_fg, _, tx, _ = make_store(hops, 3)
    query = tx_fg.select_all()
    cut = tx["datetime"].sort_values().iloc[100]
    naive = cut.tz_convert(None).to_pydatetime()
    in_oslo = cut.tz_convert("Europe/Oslo")
    epoch_ms = int(cut.value // 1_000_000)
    expected = list(tx[tx["datetime"] >= cut].sort_values("tx_id")["tx_id"])
    for value in (cut, naive, in_oslo, cut.isoformat(), epoch_ms):
        assert list(query.filter(query.get_feature("datetime") >= value).read()["tx_id"]) == expected, value
    kit = fti.get_feature_store(tmp_path / "store")
    kit_query = kit.get_feature_group("tx", 1).select_all()
    with pytest.raises(QueryError, match="datetime.*epoch"):
        kit_query.filter(kit_query.get_feature("datetime") >= epoch_ms)


# -- errors ---------------------------------------------------------------------------------------


def test_bad_filters_raise_query_errors_naming_the_column(fs):
    tx_fg, card_fg, _, card = make_store(fs, 1)
    query = tx_fg.select(["amount", "category"])
    cases = [
        (Feature("no_such") > 1, "no_such"),
        (Feature("amount", feature_group=tx_fg) == "cheap", "amount"),
        (Feature("category", feature_group=tx_fg) > 3, "category"),
        (Feature("amount", feature_group=tx_fg).like("1%"), "amount"),
        (Feature("online", feature_group=tx_fg) == 1, "online"),
        (Feature("items", feature_group=tx_fg).isin([]), "items"),
        (Feature("amount", feature_group=tx_fg) == None, "amount"),  # noqa: E711 (a filter, not a test)
        (Feature("amount", feature_group=tx_fg) < np.float32("nan"), "amount"),
        (Feature("datetime", feature_group=tx_fg) > "yesterday", "datetime"),
        (Feature("country", feature_group=card_fg) == "SE", "country"),  # its group is not in the query
        (Feature("amount", feature_group=tx_fg) > Feature("items", feature_group=tx_fg), "amount"),
    ]
    for condition, column in cases:
        with pytest.raises(QueryError, match=f"'{column}'"):
            query.filter(condition)
    with pytest.raises(QueryError, match="filter"):
        query.filter("amount > 1")
    copy = fs.get_or_create_feature_group("card_copy", 1, primary_key=["cc"], event_time="datetime")
    copy.insert(card)
    joined = (tx_fg.select(["amount", "cc"]).join(card_fg.select(["credit_limit"]), on=["cc"])
              .join(copy.select(["credit_limit"]), on=["cc"], prefix="copy_"))
    with pytest.raises(QueryError, match="'country'.*more than one"):
        joined.filter(Feature("country") == "SE")
    assert len(joined.filter(Feature("country", feature_group=copy) == "SE").read()) > 0
    with pytest.raises(QueryError, match="&"):
        bool((Feature("amount") > 1) and (Feature("items") < 2))


def test_features_compare_into_filters_yet_stay_usable_as_keys():
    amount, again, other = Feature("amount", feature_group=("tx", 1)), Feature("amount", feature_group=("tx", 1)), \
        Feature("amount", feature_group=("card", 1))
    assert isinstance(amount == 3, fti.store.filters.Filter)
    assert {amount: 1}[again] == 1
    assert again in [other, amount]
    assert other not in [amount]
    assert hash(amount) == hash(again)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        contained = amount.contains([1, 2])
    assert contained.condition == "IN" and any(w.category is DeprecationWarning for w in caught)
    assert (5 < amount).condition == "GREATER_THAN"


# -- persistence and feature views ----------------------------------------------------------------


def test_filters_survive_a_json_round_trip(fs):
    tx_fg, card_fg, _, _ = make_store(fs, 2)
    card_query = card_fg.select(["credit_limit", "country"]).filter(Feature("country", feature_group=card_fg)
                                                                   .isin(["SE", "NO"]))
    query = (tx_fg.select_all().join(card_query, on=["cc"])
             .filter((Feature("amount", feature_group=tx_fg) > 100.5)
                     | (Feature("datetime", feature_group=tx_fg) < dt_text())))
    data = json.loads(json.dumps(query.to_dict()))
    rebuilt = Query.from_dict(data, fti.get_feature_store())
    assert rebuilt.to_dict() == query.to_dict()
    pd.testing.assert_frame_equal(rebuilt.read(), query.read())
    logic = query.filters  # the query's own filter AND the one its joined query brought
    assert logic.type == "AND" and logic.get_left_filter_or_logic().type == "OR"
    joined_filter = logic.get_right_filter_or_logic().get_left_filter_or_logic()
    assert (joined_filter.feature.name, joined_filter.feature.feature_group) == ("country", ("card", 1))
    assert joined_filter.condition == "IN" and joined_filter.value == ["SE", "NO"]
    assert query.amount.same_as(query.get_feature("amount")) and not hasattr(query, "no_such_column")
    # However a notebook spells a number, the stored definition is the same.
    amount = Feature("amount", feature_group=tx_fg)
    assert tx_fg.select_all().filter(amount > 100).to_dict() == tx_fg.select_all().filter(amount > 100.0).to_dict()


def dt_text() -> str:
    return (BASE + pd.Timedelta(days=2)).isoformat()


def test_descriptions_stored_before_filters_still_load(fs):
    tx_fg, card_fg, _, _ = make_store(fs, 2)
    old = {"parts": [
        {"feature_group": "tx", "version": 1, "features": ["amount", "cc"], "on": [], "prefix": ""},
        {"feature_group": "card", "version": 1, "features": ["country"], "on": [["cc", "cc"]], "prefix": "c_"},
    ]}
    query = Query.from_dict(old, fs)
    assert query.columns == ["tx_id", "datetime", "amount", "cc", "c_country"]
    assert query.to_dict() == old  # nothing new is written for an unfiltered query


def test_a_feature_view_keeps_its_filter_for_training_and_batch_data_not_for_vectors(fs):
    tx_fg, card_fg, tx, card = make_store(fs, 4, online=True)
    query = (tx_fg.select(["amount", "category", "cc", "online"]).join(card_fg.select(["credit_limit"]), on=["cc"])
             .filter(Feature("category", feature_group=tx_fg) == "food"))
    fs.get_or_create_feature_view("fraud", 1, query=query, labels=["online"])
    fv = fti.get_feature_store().get_feature_view("fraud", 1)  # from the stored JSON
    assert fv.query.to_dict() == query.to_dict()
    food = tx[tx["category"] == "food"].sort_values("tx_id")
    X, y = fv.training_data()
    assert sorted(X["amount"]) == sorted(food["amount"])
    batch = fv.get_batch_data(primary_key=True)
    assert sorted(batch["tx_id"]) == sorted(food["tx_id"])
    # A vector is looked up for one entity: the filter does not apply (as in Hopsworks).
    fuel = tx[tx["category"] == "fuel"].iloc[0]
    vector = fv.get_feature_vector({"tx_id": int(fuel["tx_id"])}, return_type="dict")
    assert vector["category"] == "fuel" and vector["amount"] == fuel["amount"]


# -- name clashes in joins ------------------------------------------------------------------------


def test_clashing_names_are_refused_by_the_kit_and_resolved_as_hopsworks_does_through_login(tmp_path):
    hops = fti.login(tmp_path / "store", project="lab").get_feature_store()
    tx_fg, card_fg, tx, card = make_store(hops, 5)
    extra = card.assign(amount=card["credit_limit"] / 10)
    other = hops.get_or_create_feature_group("card_amounts", 1, primary_key=["cc"], event_time="datetime")
    other.insert(extra)
    joined = tx_fg.select_all().join(other.select_all(), on=["cc"])
    assert joined.columns == ["tx_id", "datetime", "cc", "amount", "category", "online", "items",
                              "credit_limit", "country", "card_amounts_1_amount"]
    expected = point_in_time(tx, extra)
    pd.testing.assert_series_equal(joined.read()["card_amounts_1_amount"], expected["amount_y"],
                                   check_names=False, check_dtype=False)
    rebuilt = Query.from_dict(json.loads(json.dumps(joined.to_dict())), fti.get_feature_store(tmp_path / "store"))
    assert rebuilt.columns == joined.columns  # the stored plan keeps Hopsworks' names in any mode

    kit_fs = fti.get_feature_store(tmp_path / "store")
    kit_tx, kit_other = kit_fs.get_feature_group("tx", 1), kit_fs.get_feature_group("card_amounts", 1)
    with pytest.raises(QueryError, match=r"'datetime'.*Hopsworks would leave it out.*prefix='card_amounts_'"):
        kit_tx.select_all().join(kit_other.select_all(), on=["cc"])
    with pytest.raises(QueryError, match=r"'amount'.*card_amounts_1_amount.*prefix="):
        kit_tx.select_all().join(kit_other.select(["amount"]), on=["cc"])


# -- to_string and show ---------------------------------------------------------------------------


def test_to_string_shows_the_values_and_show_returns_the_first_rows(fs):
    tx_fg, card_fg, _, _ = make_store(fs, 6)
    query = (tx_fg.select(["amount", "category", "cc"]).join(card_fg.select(["country"]), on=["cc"])
             .filter((Feature("category", feature_group=tx_fg) == "it's") | (Feature("country") == "SE")))
    text = query.to_string()
    assert "'it''s'" in text and "'SE'" in text and "?" not in text
    assert "'SE'" in str(query)
    frame = query.read()
    pd.testing.assert_frame_equal(query.show(5), frame.head(5))
    with pytest.raises(ParameterError, match="online"):
        query.show(5, online=True)
