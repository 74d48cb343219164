"""Tests for feature views: training data, transformations, batch and online serving, lineage.

A feature view is the one definition of a model's inputs. These tests check the
promises that definition makes:

* training data splits are deterministic, disjoint and complete, and reproducible
  later from the training dataset version;
* model-dependent transformations are fitted on the training rows only, and the
  fitted state is applied identically by training, batch and online paths;
* on-demand features compute the same values in training and at serving time;
* online lookups, their errors, and the feature view's definition and lineage.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

import fti
from fti.exceptions import QueryError, ServingError

BASE = pd.Timestamp("2024-01-01", tz="UTC")


def day(n: float) -> pd.Timestamp:
    """``n`` days after 1 January 2024, UTC."""
    return BASE + pd.Timedelta(days=n)


# ------------------------------------------------------------------ on-demand feature functions
# Defined at module level so the feature view can store "test_feature_view:name" and a
# fresh FeatureStore object can import them again.


def amount_ratio(amount: float, avg_amount: float) -> float:
    """How unusual a transaction is for its card: amount / the card's average amount."""
    return amount / avg_amount


def hour_of_day(tx_time: pd.Timestamp) -> int:
    """The hour of a transaction, known only at request time when serving."""
    return pd.Timestamp(tx_time).hour


# ------------------------------------------------------------------ helpers


def close(a: Any, b: Any) -> bool:
    """Equal values, floats within 1e-9, and missing equal to missing."""
    a_missing = a is None or a is pd.NA or (isinstance(a, float) and math.isnan(a))
    b_missing = b is None or b is pd.NA or (isinstance(b, float) and math.isnan(b))
    if a_missing or b_missing:
        return a_missing and b_missing
    if isinstance(a, (int, float, np.number)) and isinstance(b, (int, float, np.number)):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def rows_by(frame: pd.DataFrame, key: str) -> dict[Any, dict[str, Any]]:
    """``{key value: {column: value}}`` for every row, the key column left out."""
    return {
        row[key]: {name: value for name, value in row.items() if name != key}
        for row in frame.to_dict(orient="records")
    }


def assert_rows_close(actual: dict[str, Any], expected: dict[str, Any], where: str) -> None:
    assert list(actual) == list(expected), where
    for name in expected:
        assert close(actual[name], expected[name]), f"{where}: {name} is {actual[name]!r}, expected {expected[name]!r}"


# A small, hand-made passenger table split by time: the six rows before day 6 train,
# the four from day 6 on test. Training and test rows are deliberately different
# (older passengers, unseen categories in the test rows), so a statistic fitted on
# all rows is easy to tell from one fitted on the training rows.
PASSENGERS = pd.DataFrame({
    "pid": list(range(1, 11)),
    "boarded_at": [day(i) for i in range(10)],
    "age": [10.0, 20.0, 30.0, None, 40.0, 50.0, None, 80.0, 90.0, 100.0],
    "siblings": pd.array([0, 1, None, 1, 3, 2, None, 5, 5, 5], dtype="Int64"),
    "fare": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 100.0, 200.0, 300.0, 400.0],
    "embarked": pd.array(["S", "C", "S", "S", "C", "S", "Q", "S", "C", None], dtype="str"),
    "survived": [0, 1, 0, 1, 1, 0, 1, 0, 1, 0],
})
TEST_START = day(6)
TRAIN = PASSENGERS[PASSENGERS["boarded_at"] < TEST_START]
TEST = PASSENGERS[PASSENGERS["boarded_at"] >= TEST_START]


@pytest.fixture
def passengers(fs):
    """The PASSENGERS table in an online-enabled feature group."""
    fg = fs.get_or_create_feature_group(
        "passengers", primary_key=["pid"], event_time="boarded_at", online_enabled=True
    )
    fg.insert(PASSENGERS)
    return fg


def time_split(fv, **kwargs):
    """The PASSENGERS split: rows before day 6 train, the rest test (with the primary key)."""
    return fv.train_test_split(test_start=TEST_START, primary_key=True, **kwargs)


# =====================================================================================
# Splitting
# =====================================================================================


def make_people(fs, n: int = 40):
    """A feature group of ``n`` people with a few numeric features and a label."""
    rng = np.random.default_rng(0)
    fg = fs.get_or_create_feature_group("people", primary_key=["person"], event_time="seen_at")
    fg.insert(pd.DataFrame({
        "person": np.arange(100, 100 + n),
        "seen_at": [day(i / 4) for i in range(n)],
        "height": rng.normal(170, 10, n).round(1),
        "weight": rng.normal(70, 8, n).round(1),
        "label": rng.integers(0, 2, n),
    }))
    return fg


def test_random_split_is_deterministic_for_a_seed(fs):
    """The same seed gives the same split; another seed gives another one."""
    fv = fs.get_or_create_feature_view("people_fv", query=make_people(fs).select_all(), labels=["label"])

    first = fv.train_test_split(test_size=0.25, seed=7, primary_key=True)
    again = fv.train_test_split(test_size=0.25, seed=7, primary_key=True)
    other = fv.train_test_split(test_size=0.25, seed=8, primary_key=True)

    assert_same_split(first, again)
    assert set(first[1]["person"]) != set(other[1]["person"])


@pytest.mark.parametrize("test_size, n, n_test", [(0.25, 40, 10), (0.2, 40, 8), (0.1, 40, 4), (0.33, 9, 3)])
def test_random_split_sizes_are_right_and_rows_disjoint_and_covering(fs, test_size, n, n_test):
    """``test_size`` of the rows test, the rest train; every row exactly once, labels aligned.

    The sizes avoid exact halves (``0.25 * 10 = 2.5``), where rounding conventions differ.
    """
    fg = make_people(fs, n)
    fv = fs.get_or_create_feature_view("people_fv", query=fg.select_all(), labels=["label"])

    X_train, X_test, y_train, y_test = fv.train_test_split(test_size=test_size, seed=1, primary_key=True)

    assert len(X_test) == len(y_test) == n_test
    assert len(X_train) == len(y_train) == n - n_test
    train_ids, test_ids = set(X_train["person"]), set(X_test["person"])
    assert not train_ids & test_ids
    assert train_ids | test_ids == set(range(100, 100 + n))
    assert len(train_ids) == len(X_train)  # no row twice
    # Each label belongs to the row next to it.
    truth = fg.read().set_index("person")
    assert y_train.tolist() == truth.loc[X_train["person"], "label"].tolist()
    assert y_test.tolist() == truth.loc[X_test["person"], "label"].tolist()
    assert X_train["height"].tolist() == truth.loc[X_train["person"], "height"].tolist()
    assert list(X_train.columns) == ["person", "height", "weight"]  # no label, no event time


def test_time_split_test_start_is_inclusive_on_the_test_side(fs, passengers):
    """Rows before ``test_start`` train; a row exactly at ``test_start`` is a test row."""
    fv = fs.get_or_create_feature_view("titanic", query=passengers.select_all(), labels=["survived"])

    X_train, X_test, y_train, y_test = fv.train_test_split(test_start=day(6), primary_key=True, event_time=True)

    assert X_train["pid"].tolist() == [1, 2, 3, 4, 5, 6]
    assert X_test["pid"].tolist() == [7, 8, 9, 10]
    assert X_test["boarded_at"].min() == day(6)  # the boundary row
    assert y_test.tolist() == [1, 0, 1, 0]


def test_time_split_windows_train_start_and_test_end(fs, passengers):
    """``train_start`` is inclusive, ``test_end`` exclusive; rows outside both windows are left out."""
    fv = fs.get_or_create_feature_view("titanic", query=passengers.select_all(), labels=["survived"])

    X_train, X_test, _, _ = fv.train_test_split(
        train_start=day(2), test_start=day(6), test_end=day(9), primary_key=True
    )

    assert X_train["pid"].tolist() == [3, 4, 5, 6]
    assert X_test["pid"].tolist() == [7, 8, 9]


# =====================================================================================
# Transformations: fitted on the training rows only
# =====================================================================================


def transformed_split(fs, passengers, transformations: dict[str, Any]):
    fv = fs.get_or_create_feature_view(
        "titanic", query=passengers.select_all(), labels=["survived"], transformation_functions=transformations
    )
    return fv, *time_split(fv)


def test_standard_scaler_uses_the_training_mean_and_std(fs, passengers):
    """``(x - mean) / std`` with the mean and population std of the training rows, not of all rows."""
    _, X_train, X_test, _, _ = transformed_split(fs, passengers, {"fare": "standard_scaler"})
    train_fares = TRAIN["fare"].to_numpy()
    mean, std = train_fares.mean(), train_fares.std(ddof=0)
    assert mean != PASSENGERS["fare"].mean()  # the data makes the two distinguishable

    assert X_train["fare"].mean() == pytest.approx(0.0, abs=1e-12)
    assert X_train["fare"].std(ddof=0) == pytest.approx(1.0)
    assert X_test["fare"].tolist() == pytest.approx(((TEST["fare"] - mean) / std).tolist())


def test_standard_scaler_ignores_missing_values_and_keeps_them_missing(fs, passengers):
    """Missing ages do not count in the fitted mean, and stay missing after scaling."""
    _, X_train, X_test, _, _ = transformed_split(fs, passengers, {"age": "standard_scaler"})
    present = TRAIN["age"].dropna()

    expected = (TEST["age"] - present.mean()) / present.std(ddof=0)
    assert X_test["age"].tolist() == pytest.approx(expected.tolist(), nan_ok=True)
    assert X_train["age"].isna().tolist() == TRAIN["age"].isna().tolist()


def test_min_max_scaler_uses_the_training_range(fs, passengers):
    """Training fares map onto [0, 1]; test fares beyond the training maximum go above 1."""
    _, X_train, X_test, _, _ = transformed_split(fs, passengers, {"fare": "min_max_scaler"})

    assert X_train["fare"].tolist() == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert X_test["fare"].tolist() == pytest.approx([(f - 1.0) / 5.0 for f in TEST["fare"]])


def test_label_encoder_learns_categories_from_training_rows(fs, passengers):
    """Codes follow the sorted training categories; a category first seen in test is -1, missing stays missing."""
    _, X_train, X_test, _, _ = transformed_split(fs, passengers, {"embarked": "label_encoder"})

    # Training has C and S: C -> 0, S -> 1. Q appears only in test.
    assert X_train["embarked"].tolist() == [1.0, 0.0, 1.0, 1.0, 0.0, 1.0]
    assert X_test["embarked"].tolist()[:3] == [-1.0, 1.0, 0.0]
    assert math.isnan(X_test["embarked"].tolist()[3])


def test_one_hot_encoder_learns_categories_from_training_rows(fs, passengers):
    """One column per training category, in place of the source column; unseen or missing: all zeros."""
    _, X_train, X_test, _, _ = transformed_split(fs, passengers, {"embarked": "one_hot_encoder"})

    assert list(X_train.columns) == ["pid", "age", "siblings", "fare", "embarked_C", "embarked_S"]
    assert list(X_test.columns) == list(X_train.columns)  # no embarked_Q: Q was not in training
    assert X_train[["embarked_C", "embarked_S"]].values.tolist() == [[0, 1], [1, 0], [0, 1], [0, 1], [1, 0], [0, 1]]
    assert X_test[["embarked_C", "embarked_S"]].values.tolist() == [[0, 0], [0, 1], [1, 0], [0, 0]]


@pytest.mark.parametrize("column, transformation, train_fill, all_rows_fill", [
    # age: training ages 10..50 -> mean 30, median 30; over all rows the mean is 52.5, the median 45.
    ("age", "impute_mean", 30.0, 52.5),
    ("age", "impute_median", 30.0, 45.0),
    # siblings (whole numbers): training mode 1; over all rows 5 is the most frequent.
    ("siblings", "impute_most_frequent", 1, 5),
    # siblings: a mean of whole numbers is a real number: (0 + 1 + 1 + 3 + 2) / 5.
    ("siblings", "impute_mean", 1.4, 22 / 8),
    ("embarked", "impute_most_frequent", "S", "S"),
])
def test_imputers_fill_with_training_statistics(fs, passengers, column, transformation, train_fill, all_rows_fill):
    """Missing values, in training and in test rows, become the statistic of the training rows."""
    assert train_fill != all_rows_fill or column == "embarked"
    _, X_train, X_test, _, _ = transformed_split(fs, passengers, {column: transformation})

    def expected(part: pd.DataFrame) -> list[Any]:
        return [train_fill if pd.isna(value) else value for value in part[column]]

    for actual, part in ((X_train, TRAIN), (X_test, TEST)):
        values = actual[column].tolist()
        want = expected(part)
        assert all(close(a, b) for a, b in zip(values, want, strict=True)), f"{values} != {want}"


def test_impute_constant_fills_the_given_value(fs, passengers):
    """``impute_constant`` ignores the data and fills its fixed value."""
    constant = fs.get_transformation_function("impute_constant", value=-1.0)
    _, X_train, X_test, _, _ = transformed_split(fs, passengers, {"age": constant})

    assert X_train["age"].tolist() == [10.0, 20.0, 30.0, -1.0, 40.0, 50.0]
    assert X_test["age"].tolist() == [-1.0, 80.0, 90.0, 100.0]


def test_chained_steps_impute_then_scale(fs, passengers):
    """``[impute_mean, standard_scaler]``: the scaler is fitted on the imputed training column."""
    _, X_train, X_test, _, _ = transformed_split(fs, passengers, {"age": ["impute_mean", "standard_scaler"]})
    imputed = TRAIN["age"].fillna(30.0)
    mean, std = imputed.mean(), imputed.std(ddof=0)

    assert X_train["age"].tolist() == pytest.approx(((imputed - mean) / std).tolist())
    assert X_test["age"].tolist() == pytest.approx(((TEST["age"].fillna(30.0) - mean) / std).tolist())


# =====================================================================================
# One fitted state, three paths: training, batch, online
# =====================================================================================


@pytest.fixture
def titanic_view(fs, passengers):
    """Passengers joined with an online ticket group, with several transformations."""
    tickets = fs.get_or_create_feature_group(
        "tickets", primary_key=["pid"], event_time="issued_at", online_enabled=True
    )
    tickets.insert(pd.DataFrame({
        "pid": list(range(1, 11)),
        "issued_at": [day(i - 0.5) for i in range(10)],  # each ticket half a day before boarding
        "cabin_class": [1, 2, 3, 3, 2, 1, 3, 2, 1, 3],
        "deck": ["A", "B", "C", "C", "B", "A", "E", "B", "A", "C"],
    }))
    query = passengers.select(["age", "siblings", "fare", "embarked", "survived"]).join(
        tickets.select(["cabin_class", "deck"])
    )
    return fs.get_or_create_feature_view(
        "titanic", query=query, labels=["survived"],
        transformation_functions={
            "age": ["impute_mean", "standard_scaler"],
            "siblings": "impute_most_frequent",
            "fare": "min_max_scaler",
            "embarked": "label_encoder",
            "cabin_class": "standard_scaler",
            "deck": "one_hot_encoder",
        },
    )


def test_training_batch_and_online_paths_agree_for_every_passenger(titanic_view):
    """The same passenger gets the same transformed features from all three paths."""
    fv = titanic_view
    X_train, X_test, _, _ = fv.train_test_split(test_size=0.3, seed=3, primary_key=True)
    training = rows_by(pd.concat([X_train, X_test]), "pid")
    batch = rows_by(fv.get_batch_data(primary_key=True), "pid")

    assert set(training) == set(batch) == set(range(1, 11))
    for pid in range(1, 11):
        assert_rows_close(batch[pid], training[pid], f"batch pid={pid}")
        online = fv.get_feature_vector({"pid": pid}, return_type="dict")
        assert_rows_close(online, training[pid], f"online pid={pid}")


def test_a_fresh_handle_serves_with_the_saved_state(fs, titanic_view):
    """A feature view fetched again (e.g. by the inference pipeline) applies the saved fitted state."""
    X_train, X_test, _, _ = titanic_view.train_test_split(test_size=0.3, seed=3, primary_key=True)
    training = rows_by(pd.concat([X_train, X_test]), "pid")

    fresh = fti.get_feature_store().get_feature_view("titanic", 1)
    for pid in (1, 7):
        assert_rows_close(fresh.get_feature_vector({"pid": pid}, return_type="dict"), training[pid], f"pid={pid}")
    assert_rows_close(rows_by(fresh.get_batch_data(primary_key=True), "pid")[4], training[4], "batch pid=4")


# =====================================================================================
# Reproducible training data
# =====================================================================================


def assert_same_split(a: tuple, b: tuple) -> None:
    for left, right in zip(a, b, strict=True):
        if isinstance(left, pd.DataFrame):
            pd.testing.assert_frame_equal(left, right)
        else:
            pd.testing.assert_series_equal(left, right)


@pytest.mark.parametrize("split", [{"test_size": 0.3, "seed": 5}, {"test_start": day(6)}])
def test_get_train_test_split_reproduces_a_version_after_inserts_and_upserts(fs, passengers, split):
    """A training dataset version reads the commit it recorded: later writes do not change it."""
    fv = fs.get_or_create_feature_view(
        "titanic", query=passengers.select_all(), labels=["survived"],
        transformation_functions={"age": ["impute_mean", "standard_scaler"], "embarked": "one_hot_encoder"},
    )
    original = fv.train_test_split(primary_key=True, **split)
    version = fv.training_dataset_version

    # New passengers, and corrections to existing rows (same pid and boarded_at: upserts).
    corrected = PASSENGERS.iloc[[0, 6, 8]].copy()
    corrected["age"] = [99.0, 1.0, 2.0]
    corrected["embarked"] = ["Q", "Q", "Q"]
    passengers.insert(corrected)
    newcomers = PASSENGERS.iloc[:5].copy()
    newcomers["pid"] = newcomers["pid"] + 100
    newcomers["boarded_at"] = [day(i + 0.5) for i in range(5)]
    passengers.insert(newcomers)

    assert_same_split(fv.get_train_test_split(version, primary_key=True), original)
    assert_same_split(
        fti.get_feature_store().get_feature_view("titanic", 1).get_train_test_split(version, primary_key=True),
        original,
    )
    # A new version does see the new data, so the comparison above could have failed.
    fresh = fv.train_test_split(primary_key=True, **split)
    assert len(fresh[0]) + len(fresh[1]) == 15


def test_random_split_without_a_seed_is_still_reproducible(fs, passengers):
    """No seed given: the split is random, but its version must still re-create the same rows."""
    fv = fs.get_or_create_feature_view("titanic", query=passengers.select_all(), labels=["survived"])
    splits = [fv.train_test_split(test_size=0.5, primary_key=True) for _ in range(3)]
    versions = fv.get_training_datasets()["td_version"].tolist()

    for version, original in zip(versions, splits, strict=True):
        assert_same_split(fv.get_train_test_split(version, primary_key=True), original)


def test_train_test_split_as_of_an_earlier_commit(fs, passengers):
    """``as_of`` reads the feature groups as they were then, and the version records that commit."""
    first_commit = int(passengers.commit_details()["commit_id"].iloc[0])
    corrected = PASSENGERS.copy()
    corrected["fare"] = corrected["fare"] * 10
    passengers.insert(corrected)
    fv = fs.get_or_create_feature_view("titanic", query=passengers.select_all(), labels=["survived"])

    X_train, X_test, _, _ = fv.train_test_split(test_start=TEST_START, as_of=first_commit, primary_key=True)
    now_train, _, _, _ = fv.train_test_split(test_start=TEST_START, primary_key=True)

    assert X_train["fare"].tolist() == TRAIN["fare"].tolist()
    assert X_test["fare"].tolist() == TEST["fare"].tolist()
    assert now_train["fare"].tolist() == (TRAIN["fare"] * 10).tolist()
    recorded = fv.get_training_datasets()
    assert recorded["as_of_commit"].tolist() == [first_commit, first_commit + 1]


# =====================================================================================
# On-demand features
# =====================================================================================


@pytest.fixture
def fraud_view(fs):
    """Transactions joined with card profiles, plus two on-demand features."""
    transactions = fs.get_or_create_feature_group(
        "transactions", primary_key=["tx_id"], event_time="tx_time", online_enabled=True
    )
    transactions.insert(pd.DataFrame({
        "tx_id": [1, 2, 3, 4],
        "tx_time": [day(1) + pd.Timedelta(hours=h) for h in (3, 9, 14, 23)],
        "card": [10, 10, 20, 20],
        "amount": [50.0, 300.0, 20.0, 5.0],
        "is_fraud": [False, True, False, False],
    }))
    cards = fs.get_or_create_feature_group("cards", primary_key=["card"], event_time="updated_at", online_enabled=True)
    cards.insert(pd.DataFrame({"card": [10, 20], "updated_at": [day(0), day(0)], "avg_amount": [100.0, 10.0]}))
    query = transactions.select(["card", "amount", "is_fraud"]).join(cards.select(["avg_amount"]))
    return fs.get_or_create_feature_view(
        "fraud", query=query, labels=["is_fraud"],
        on_demand_features={"amount_ratio": amount_ratio, "hour": hour_of_day},
    )


def test_on_demand_features_are_computed_from_query_columns_in_training(fraud_view):
    X, _, y, _ = fraud_view.train_test_split(test_start=day(2), primary_key=True)

    assert list(X.columns) == ["tx_id", "card", "amount", "avg_amount", "amount_ratio", "hour"]
    assert X["amount_ratio"].tolist() == pytest.approx([0.5, 3.0, 2.0, 0.5])
    assert X["hour"].tolist() == [3, 9, 14, 23]
    assert y.tolist() == [False, True, False, False]


def test_on_demand_features_have_the_same_values_at_serving(fraud_view):
    """Serving computes them from request parameters (and looked-up features) with the same function."""
    X, _, _, _ = fraud_view.train_test_split(test_start=day(2), primary_key=True, event_time=True)

    for row in X.to_dict(orient="records"):
        vector = fraud_view.get_feature_vector(
            {"card": row["card"]},
            request_parameters={"tx_time": row["tx_time"]},
            passed_features={"amount": row["amount"]},
            return_type="dict",
        )
        expected = {name: row[name] for name in ["card", "amount", "avg_amount", "amount_ratio", "hour"]}
        assert_rows_close(vector, expected, f"tx {row['tx_id']}")


def test_on_demand_feature_needs_its_request_parameter_at_serving(fraud_view):
    fraud_view.train_test_split(test_start=day(2))
    with pytest.raises(ServingError, match="tx_time"):
        fraud_view.get_feature_vector({"card": 10}, passed_features={"amount": 1.0})


def test_on_demand_function_parameters_must_be_query_columns(fs, passengers):
    with pytest.raises(QueryError, match="takes .amount."):
        fs.get_or_create_feature_view(
            "bad", query=passengers.select_all(), labels=["survived"], on_demand_features={"ratio": amount_ratio}
        )


def test_on_demand_features_survive_a_fresh_feature_store_object(fraud_view):
    """The function is stored as module:name and imported again by another handle."""
    X, _, _, _ = fraud_view.train_test_split(test_start=day(2))
    fresh = fti.get_feature_store().get_feature_view("fraud", 1)

    batch = fresh.get_batch_data()
    assert batch["amount_ratio"].tolist() == pytest.approx(X["amount_ratio"].tolist())
    assert batch["hour"].tolist() == X["hour"].tolist()


# =====================================================================================
# Online serving
# =====================================================================================


def test_feature_vector_return_types(titanic_view):
    """``list`` (training column order), ``dict`` and ``pandas`` hold the same values."""
    X_train, X_test, _, _ = titanic_view.train_test_split(test_start=TEST_START, primary_key=True)
    expected = rows_by(pd.concat([X_train, X_test]), "pid")[8]
    columns = list(expected)

    as_list = titanic_view.get_feature_vector({"pid": 8})
    as_dict = titanic_view.get_feature_vector({"pid": 8}, return_type="dict")
    as_frame = titanic_view.get_feature_vector({"pid": 8}, return_type="pandas")

    assert isinstance(as_list, list) and len(as_list) == len(columns)
    assert_rows_close(dict(zip(columns, as_list, strict=True)), expected, "list")
    assert_rows_close(as_dict, expected, "dict")
    assert isinstance(as_frame, pd.DataFrame) and list(as_frame.columns) == columns and len(as_frame) == 1
    assert_rows_close(as_frame.iloc[0].to_dict(), expected, "pandas")


def test_feature_vectors_for_several_entries(titanic_view):
    X_train, X_test, _, _ = titanic_view.train_test_split(test_start=TEST_START, primary_key=True)
    expected = rows_by(pd.concat([X_train, X_test]), "pid")
    entries = [{"pid": 9}, {"pid": 2}, {"pid": 5}]

    as_lists = titanic_view.get_feature_vectors(entries)
    as_dicts = titanic_view.get_feature_vectors(entries, return_type="dict")
    as_frame = titanic_view.get_feature_vectors(entries, return_type="pandas")

    assert len(as_lists) == len(as_dicts) == len(as_frame) == 3
    for i, entry in enumerate(entries):
        want = expected[entry["pid"]]
        assert_rows_close(dict(zip(want, as_lists[i], strict=True)), want, f"list {entry}")
        assert_rows_close(as_dicts[i], want, f"dict {entry}")
        assert_rows_close(as_frame.iloc[i].to_dict(), want, f"pandas {entry}")


def test_feature_vector_sees_the_latest_insert(fs, passengers):
    """Online lookups follow new commits (the newest row per key)."""
    fv = fs.get_or_create_feature_view("titanic", query=passengers.select(["fare", "survived"]), labels=["survived"])
    assert fv.get_feature_vector({"pid": 3}) == [3.0]
    later = PASSENGERS.iloc[[2]].copy()
    later["boarded_at"] = [day(20)]
    later["fare"] = [33.0]
    passengers.insert(later)

    assert fv.get_feature_vector({"pid": 3}) == [33.0]


def test_unknown_entity_gets_missing_values(fs, passengers):
    fv = fs.get_or_create_feature_view("titanic", query=passengers.select(["fare", "survived"]), labels=["survived"])
    assert fv.get_feature_vector({"pid": 999}, return_type="dict") == {"fare": None}


@pytest.mark.parametrize("entry", [{}, {"passenger": 1}])
def test_feature_vector_without_the_serving_key_raises(titanic_view, entry):
    titanic_view.train_test_split(test_start=TEST_START)
    with pytest.raises(ServingError, match="pid"):
        titanic_view.get_feature_vector(entry)


def test_feature_vector_from_a_group_that_is_not_online_raises(fs, passengers):
    offline_only = fs.get_or_create_feature_group("tickets", primary_key=["pid"], event_time="issued_at")
    offline_only.insert(pd.DataFrame({"pid": [1], "issued_at": [day(0)], "cabin_class": [1]}))
    fv = fs.get_or_create_feature_view(
        "titanic", query=passengers.select(["fare", "survived"]).join(offline_only.select(["cabin_class"])),
        labels=["survived"],
    )
    with pytest.raises(ServingError, match="online"):
        fv.get_feature_vector({"pid": 1})
    # Passing its features instead of looking them up is the documented way around.
    assert fv.get_feature_vector({"pid": 1}, passed_features={"cabin_class": 2}) == [1.0, 2]


def test_feature_vector_respects_ttl(fs, passengers, monkeypatch):
    """Online, a value older than the group's TTL (measured from now, ``FTI_NOW`` here) is missing."""
    monkeypatch.setenv("FTI_NOW", "2024-01-10T00:00:00")
    scores = fs.get_or_create_feature_group(
        "scores", primary_key=["pid"], event_time="scored_at", online_enabled=True, ttl=dt.timedelta(days=2),
    )
    scores.insert(pd.DataFrame({"pid": [1, 2], "scored_at": [day(8.5), day(5)], "score": [0.9, 0.1]}))
    fv = fs.get_or_create_feature_view(
        "titanic", query=passengers.select(["survived"]).join(scores.select(["score"])), labels=["survived"]
    )
    assert fv.get_feature_vector({"pid": 1}) == [0.9]  # 1.5 days old
    assert fv.get_feature_vector({"pid": 2}) == [None]  # 5 days old


def test_batch_data_before_any_training_dataset_raises(fs, passengers):
    """Transformations need a fitted state, which only a training dataset version provides."""
    fv = fs.get_or_create_feature_view(
        "titanic", query=passengers.select_all(), labels=["survived"],
        transformation_functions={"fare": "standard_scaler"},
    )
    with pytest.raises(fti.TrainingDatasetNotFoundError):
        fv.get_batch_data()


def test_feature_vector_unknown_return_type_raises(fs, passengers):
    fv = fs.get_or_create_feature_view("titanic", query=passengers.select(["fare", "survived"]), labels=["survived"])
    with pytest.raises(ValueError, match="return_type"):
        fv.get_feature_vector({"pid": 1}, return_type="numpy_array")


# =====================================================================================
# Definitions and errors
# =====================================================================================


def test_get_or_create_feature_view_returns_the_existing_view(fs, passengers):
    kwargs = {"query": passengers.select_all(), "labels": ["survived"],
              "transformation_functions": {"fare": "min_max_scaler"}}
    first = fs.get_or_create_feature_view("titanic", **kwargs)
    again = fs.get_or_create_feature_view("titanic", **kwargs)

    assert again.query == first.query and again.labels == first.labels
    assert again.transformation_functions == first.transformation_functions


@pytest.mark.parametrize("change", [
    {"labels": ["survived", "siblings"]},
    {"transformation_functions": {"fare": "standard_scaler"}},
    {"transformation_functions": {}},
    {"query": "fewer features"},
])
def test_get_or_create_feature_view_with_another_definition_raises(fs, passengers, change):
    """Same name and version, different definition: an error, never a silently different view."""
    original = {"query": passengers.select_all(), "labels": ["survived"],
                "transformation_functions": {"fare": "min_max_scaler"}}
    fs.get_or_create_feature_view("titanic", **original)
    if change.get("query") == "fewer features":
        change = {"query": passengers.select(["fare", "survived"])}

    with pytest.raises(QueryError, match="different definition"):
        fs.get_or_create_feature_view("titanic", **{**original, **change})
    # A new version with the new definition is fine.
    assert fs.get_or_create_feature_view("titanic", version=2, **{**original, **change}).version == 2


@pytest.fixture
def groups(fs, passengers):
    """Feature groups for the query error cases."""
    tickets = fs.get_or_create_feature_group("tickets", primary_key=["pid"], event_time="issued_at")
    tickets.insert(pd.DataFrame({"pid": [1], "issued_at": [day(0)], "fare": [9.0], "deck": ["A"]}))
    ports = fs.get_or_create_feature_group("ports", primary_key=["port"], event_time="since")
    ports.insert(pd.DataFrame({"port": ["S"], "since": [day(0)], "country": ["UK"]}))
    text_ids = fs.get_or_create_feature_group("text_ids", primary_key=["pid"], event_time="at")
    text_ids.insert(pd.DataFrame({"pid": ["1"], "at": [day(0)], "nickname": ["Bob"]}))
    return {"passengers": passengers, "tickets": tickets, "ports": ports, "text_ids": text_ids}


def test_unknown_label_raises(fs, groups):
    with pytest.raises(QueryError, match="label 'alive'"):
        fs.get_or_create_feature_view("titanic", query=groups["passengers"].select_all(), labels=["alive"])


def test_unknown_feature_in_select_raises(groups):
    with pytest.raises(QueryError, match="cabin"):
        groups["passengers"].select(["fare", "cabin"])


def test_join_with_no_common_key_raises(groups):
    with pytest.raises(QueryError, match="no common key"):
        groups["passengers"].select_all().join(groups["ports"].select(["country"]))


def test_join_with_explicit_keys_when_names_differ(groups):
    """``left_on``/``right_on`` join columns with different names (embarked -> port)."""
    query = groups["passengers"].select_all().join(
        groups["ports"].select(["country"]), left_on=["embarked"], right_on=["port"]
    )
    result = query.read()
    assert result.loc[result["embarked"] == "S", "country"].tolist() == ["UK"] * 5
    assert result.loc[result["embarked"] != "S", "country"].isna().all()


def test_clashing_column_names_raise_and_a_prefix_fixes_them(groups):
    """Both groups have 'fare': without a prefix the query refuses; with one, both are kept."""
    with pytest.raises(QueryError, match="'fare'"):
        groups["passengers"].select_all().join(groups["tickets"].select(["fare"]))

    query = groups["passengers"].select_all().join(groups["tickets"].select(["fare", "deck"]), prefix="ticket_")
    result = query.read()
    assert "fare" in result.columns and "ticket_fare" in result.columns and "ticket_deck" in result.columns
    assert result.loc[result["pid"] == 1, "ticket_fare"].tolist() == [9.0]
    assert result.loc[result["pid"] == 1, "fare"].tolist() == [1.0]


def test_join_key_type_mismatch_raises(groups):
    with pytest.raises(QueryError, match="BIGINT"):
        groups["passengers"].select_all().join(groups["text_ids"].select(["nickname"]))


@pytest.mark.parametrize("column", ["survived", "pid", "boarded_at", "cabin"])
def test_transforming_a_column_that_is_not_a_model_input_raises(fs, passengers, column):
    """Labels, the label side's key and event time, and unknown columns cannot be transformed.

    Caught when the view is defined, not later as a KeyError inside train_test_split.
    """
    with pytest.raises(QueryError, match=f"cannot transform '{column}'"):
        fs.get_or_create_feature_view("a", query=passengers.select_all(), labels=["survived"],
                                      transformation_functions={column: "standard_scaler"})


def test_unknown_transformation_name_raises(fs, passengers):
    with pytest.raises(QueryError, match="no transformation function"):
        fs.get_or_create_feature_view("b", query=passengers.select_all(), labels=["survived"],
                                      transformation_functions={"fare": "log_scaler"})


def test_get_feature_view_in_a_fresh_feature_store_object(fs, groups):
    """Another process (another FeatureStore) gets the same definition back, joins and all."""
    query = groups["passengers"].select(["age", "fare", "embarked", "survived"]).join(
        groups["ports"].select(["country"]), left_on=["embarked"], right_on=["port"], prefix="port_"
    )
    fv = fs.get_or_create_feature_view(
        "titanic", query=query, labels=["survived"],
        transformation_functions={"age": ["impute_median", "standard_scaler"], "embarked": "one_hot_encoder",
                                  "fare": fs.get_transformation_function("impute_constant", value=0.0)},
        description="who survived",
    )
    again = fti.get_feature_store().get_feature_view("titanic", 1)
    newest = fti.get_feature_store().get_feature_view("titanic")

    for other in (again, newest):
        assert (other.name, other.version, other.description) == ("titanic", 1, "who survived")
        assert other.query == fv.query
        assert other.query.columns == fv.query.columns
        assert other.labels == ["survived"]
        assert other.feature_names == fv.feature_names == ["age", "fare", "embarked", "port_country"]
        assert other.transformation_functions == fv.transformation_functions
    # And it computes the same data.
    X_train, X_test, _, _ = fv.train_test_split(test_start=TEST_START, primary_key=True)
    pd.testing.assert_frame_equal(
        again.get_batch_data(primary_key=True), pd.concat([X_train, X_test], ignore_index=True)
    )
    countries = again.get_batch_data()["port_country"]
    assert countries.fillna("-").tolist() == ["UK" if e == "S" else "-" for e in PASSENGERS["embarked"]]


# =====================================================================================
# Model lineage
# =====================================================================================


def test_model_records_training_dataset_version_and_commit(fs, mr, passengers):
    """A model version points at the view, the training dataset version and the commit it read."""
    fv = fs.get_or_create_feature_view("titanic", query=passengers.select_all(), labels=["survived"])
    fv.train_test_split(test_size=0.2, seed=0)
    mr.create_model("survival", metrics={"accuracy": 0.8}, feature_view=fv).save({"weights": [1, 2, 3]})
    passengers.insert(PASSENGERS.assign(fare=PASSENGERS["fare"] + 1))  # a later commit
    fv.train_test_split(test_start=TEST_START)
    mr.create_model("survival", metrics={"accuracy": 0.7}, feature_view=fv).save({"weights": [4]})
    # An explicit older version can be named too.
    mr.create_model("survival", feature_view=fv, training_dataset_version=1).save({"weights": [5]})
    first_commit, second_commit = passengers.commit_details()["commit_id"].tolist()

    lineage = [
        (m.version, m.feature_view_name, m.feature_view_version, m.training_dataset_version, m.trained_on_commit)
        for m in mr.get_models("survival")
    ]
    assert lineage == [
        (1, "titanic", 1, 1, first_commit),
        (2, "titanic", 1, 2, second_commit),
        (3, "titanic", 1, 1, first_commit),
    ]
    assert mr.get_model("survival", 2).feature_view.training_dataset_version == 2


def test_model_feature_view_applies_the_transformations_it_was_trained_with(fs, mr, passengers):
    """After a newer training dataset on different data, a model's view still scales like its training."""
    fv = fs.get_or_create_feature_view(
        "titanic", query=passengers.select(["fare", "survived"]), labels=["survived"],
        transformation_functions={"fare": "standard_scaler"},
    )
    X_train, _, _, _ = fv.train_test_split(test_start=TEST_START, primary_key=True)
    train_fares = TRAIN["fare"]
    scaled_train = (train_fares - train_fares.mean()) / train_fares.std(ddof=0)
    assert X_train["fare"].tolist() == pytest.approx(scaled_train.tolist())
    mr.create_model("survival", feature_view=fv).save({"weights": [1]})
    # The data drifts and the view is retrained: a second training dataset, fitted on other fares.
    passengers.insert(PASSENGERS.assign(fare=PASSENGERS["fare"] * 100))
    X_train_2, _, _, _ = fv.train_test_split(test_start=TEST_START, primary_key=True)
    assert fv.training_dataset_version == 2

    old_view = mr.get_model("survival", 1).feature_view
    batch = old_view.get_batch_data(primary_key=True)

    assert old_view.training_dataset_version == 1
    expected = (PASSENGERS["fare"] * 100 - train_fares.mean()) / train_fares.std(ddof=0)
    assert batch["fare"].tolist() == pytest.approx(expected.tolist())
    # The view's own handle, bound to version 2, scales with version 2's statistics instead.
    newest = fv.get_batch_data(primary_key=True)
    train_fares_2 = TRAIN["fare"] * 100
    expected_2 = (PASSENGERS["fare"] * 100 - train_fares_2.mean()) / train_fares_2.std(ddof=0)
    assert newest["fare"].tolist() == pytest.approx(expected_2.tolist())
    assert X_train_2["fare"].tolist() == pytest.approx(expected_2.tolist()[:6])
    assert not np.allclose(newest["fare"], batch["fare"])
    # And online serving through the old view uses version 1 as well.
    assert old_view.get_feature_vector({"pid": 2}) == pytest.approx([expected.iloc[1]])
