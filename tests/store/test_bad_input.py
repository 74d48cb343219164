"""Bad input to the store's public objects raises a specific `FTIError` that names the thing and the problem.

A student who writes ``primary_key="id"`` or ``as_of="yesterday"`` should read which
feature group (view, model) refused what, not a ``TypeError`` from inside pandas.
Each case below is one call with bad input, the `FTIError` subclass it must raise,
and words the message must contain: the thing (feature group, view, model, column)
and the argument or value at fault. One parametrized test per public object.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

import fti
from fti.exceptions import (
    FTIError,
    InvalidNameError,
    InvalidTimeError,
    ModelNotFoundError,
    ModelSaveError,
    NotASuiteError,
    ParameterError,
    ParameterTypeError,
    QueryError,
    SchemaError,
    StoreConfigError,
    TimeTravelError,
    TrainingDatasetNotFoundError,
    TransformationError,
)
from fti.store.query import Query
from fti.store.registry import ModelRegistry
from fti.store.validation import validate

Case = tuple[str, Callable[[SimpleNamespace], Any], type[FTIError], list[str]]


def check(world: SimpleNamespace, call: Callable[[SimpleNamespace], Any], error: type[FTIError],
          words: list[str]) -> None:
    """``call`` raises exactly-or-a-subclass-of ``error``, and its message has every word."""
    with pytest.raises(error) as info:
        call(world)
    assert isinstance(info.value, FTIError)
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} missing from: {message}"


def payments_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "id": [1, 2, 3],
        "ts": pd.to_datetime(["2024-01-01 10:00", "2024-01-02 10:00", "2024-01-03 10:00"], utc=True),
        "amount": [10.0, 20.0, 30.0],
        "fraud": [False, True, False],
    })


@pytest.fixture
def world(fs, mr):
    """A feature group with data, a query, a view with a training dataset, a saved and an unsaved model."""
    fg = fs.get_or_create_feature_group("payments", primary_key=["id"], event_time="ts", online_enabled=True)
    fg.insert(payments_frame())
    query = fg.select(["amount", "fraud"])
    fv = fs.get_or_create_feature_view("screening", query=query, labels=["fraud"],
                                       transformation_functions={"amount": "standard_scaler"})
    fv.train_test_split(test_size=0.34, seed=1)
    saved = mr.create_model("screener", metrics={"accuracy": 0.9}).save({"weights": [1]})
    draft = mr.create_model("screener", metrics={"accuracy": 0.8})
    return SimpleNamespace(fs=fs, mr=mr, fg=fg, query=query, fv=fv, saved=saved, draft=draft)


# --------------------------------------------------------------------- fti and FeatureStore

STORE_CASES: list[Case] = [
    ("primary key as a string", lambda w: w.fs.get_or_create_feature_group("g", primary_key="id"),
     SchemaError, ["feature group 'g' v1", "primary_key", "['id']"]),
    ("primary key as a number", lambda w: w.fs.get_or_create_feature_group("g", primary_key=5),
     SchemaError, ["feature group 'g' v1", "primary_key", "int"]),
    ("primary key twice", lambda w: w.fs.get_or_create_feature_group("g", primary_key=["id", "id"]),
     SchemaError, ["feature group 'g' v1", "twice"]),
    ("version as text", lambda w: w.fs.get_or_create_feature_group("g", version="1", primary_key=["id"]),
     InvalidNameError, ["feature group 'g'", "version", "'1'"]),
    ("version as a float", lambda w: w.fs.get_or_create_feature_group("g", version=1.5, primary_key=["id"]),
     InvalidNameError, ["feature group 'g'", "1.5"]),
    ("suite as a string", lambda w: w.fs.get_or_create_feature_group("g", primary_key=["id"],
                                                                      expectation_suite="not a suite"),
     NotASuiteError, ["feature group 'g' v1", "expectation_suite", "str"]),
    ("suite as a number", lambda w: w.fs.get_or_create_feature_group("g", primary_key=["id"], expectation_suite=42),
     NotASuiteError, ["feature group 'g' v1", "expectation_suite", "int"]),
    ("unknown policy", lambda w: w.fs.get_or_create_feature_group("g", primary_key=["id"],
                                                                   validation_ingestion_policy="sometimes"),
     ParameterError, ["feature group 'g' v1", "validation_ingestion_policy", "'sometimes'"]),
    ("ttl as text", lambda w: w.fs.get_or_create_feature_group("g", primary_key=["id"], ttl="1 day"),
     ParameterTypeError, ["feature group 'g' v1", "ttl", "str"]),
    ("negative ttl", lambda w: w.fs.get_or_create_feature_group("g", primary_key=["id"], ttl=-5),
     SchemaError, ["feature group 'g' v1", "ttl", "-5"]),
    ("online flag as text", lambda w: w.fs.get_or_create_feature_group("g", primary_key=["id"], online_enabled="yes"),
     ParameterTypeError, ["feature group 'g' v1", "online_enabled", "'yes'"]),
    ("description as a number", lambda w: w.fs.get_or_create_feature_group("g", primary_key=["id"], description=3),
     ParameterTypeError, ["feature group 'g' v1", "description", "int"]),
    ("feature group version as text", lambda w: w.fs.get_feature_group("payments", version="latest"),
     InvalidNameError, ["feature group 'payments'", "'latest'"]),
    ("labels as a string", lambda w: w.fs.get_or_create_feature_view("v", query=w.query, labels="fraud"),
     QueryError, ["feature view 'v' v1", "labels", "['fraud']"]),
    ("transformations as a list", lambda w: w.fs.get_or_create_feature_view(
        "v", query=w.query, transformation_functions=["standard_scaler"]),
     ParameterTypeError, ["feature view 'v' v1", "transformation_functions", "list"]),
    ("on-demand features as a list", lambda w: w.fs.get_or_create_feature_view(
        "v", query=w.query, on_demand_features=[len]),
     ParameterTypeError, ["feature view 'v' v1", "on_demand_features", "list"]),
    ("query as SQL text", lambda w: w.fs.get_or_create_feature_view("v", query="SELECT * FROM payments"),
     QueryError, ["feature view 'v' v1", "query", "str"]),
    ("unknown transformation in a view", lambda w: w.fs.get_or_create_feature_view(
        "v", query=w.query, transformation_functions={"amount": "no_such_scaler"}),
     TransformationError, ["feature view 'v' v1", "'amount'", "'no_such_scaler'"]),
    ("transformation step of the wrong type", lambda w: w.fs.get_or_create_feature_view(
        "v", query=w.query, transformation_functions={"amount": 42}),
     TransformationError, ["feature view 'v' v1", "'amount'", "42"]),
    ("unknown transformation", lambda w: w.fs.get_transformation_function("no_such_scaler"),
     TransformationError, ["'no_such_scaler'", "standard_scaler"]),
    ("unknown transformation parameter", lambda w: w.fs.get_transformation_function("standard_scaler", factor=2),
     TransformationError, ["'standard_scaler'", "factor"]),
    ("categories as a string", lambda w: w.fs.get_transformation_function("ordinal_encoder", categories="abc"),
     TransformationError, ["'ordinal_encoder'", "categories", "'abc'"]),
    ("a parameter that cannot be stored", lambda w: w.fs.get_transformation_function("impute_constant", value={1}),
     TransformationError, ["'impute_constant'", "{1}", "stored"]),
    ("feature view version as a bool", lambda w: w.fs.get_feature_view("screening", version=True),
     InvalidNameError, ["feature view 'screening'", "True"]),
    ("store path as a number", lambda w: fti.get_feature_store(42), ParameterTypeError, ["store path", "42", "int"]),
    ("registry path as a number", lambda w: fti.get_model_registry(3.5), ParameterTypeError, ["store path", "3.5"]),
    ("login path as a number", lambda w: fti.login(7), ParameterTypeError, ["store path", "7"]),
    ("store path is a file", lambda w: fti.get_feature_store(w.fs.path / "offline.duckdb"),
     StoreConfigError, ["offline.duckdb", "not a folder"]),
    ("validate a list", lambda w: validate([1, 2, 3], {"name": "s", "expectations": []}, name="x"),
     ParameterTypeError, ["validate()", "DataFrame", "list"]),
]


@pytest.mark.parametrize("case", STORE_CASES, ids=[case[0] for case in STORE_CASES])
def test_feature_store_refuses_bad_input(world, case):
    _, call, error, words = case
    check(world, call, error, words)


def test_a_malformed_lock_timeout_is_a_store_config_error(store_path, monkeypatch):
    monkeypatch.setenv("FTI_LOCK_TIMEOUT", "soon")
    with pytest.raises(StoreConfigError, match="FTI_LOCK_TIMEOUT='soon'.*number of seconds"):
        fti.get_feature_store().get_feature_groups()
    monkeypatch.setenv("FTI_LOCK_TIMEOUT", "nan")
    with pytest.raises(StoreConfigError, match="FTI_LOCK_TIMEOUT"):
        fti.get_feature_store().get_feature_groups()
    monkeypatch.setenv("FTI_LOCK_TIMEOUT", "2.5")
    assert fti.get_feature_store().get_feature_groups().empty


def test_a_malformed_fti_now_is_an_invalid_time_error_and_writes_nothing(world, monkeypatch):
    before = world.fg.commit_details()
    monkeypatch.setenv("FTI_NOW", "teatime")
    with pytest.raises(InvalidTimeError, match="FTI_NOW='teatime'"):
        world.fg.insert(payments_frame().assign(amount=[1.0, 2.0, 3.0]))
    monkeypatch.delenv("FTI_NOW")
    pd.testing.assert_frame_equal(world.fg.commit_details(), before)


# --------------------------------------------------------------------- FeatureGroup

GROUP = "feature group 'payments' v1"

FEATURE_GROUP_CASES: list[Case] = [
    ("as_of a word", lambda w: w.fg.read(as_of="yesterday"), TimeTravelError, [GROUP, "as_of", "'yesterday'"]),
    ("as_of a float", lambda w: w.fg.read(as_of=2.5), TimeTravelError, [GROUP, "as_of", "float"]),
    ("as_of a bool", lambda w: w.fg.read(as_of=True), TimeTravelError, [GROUP, "as_of", "bool"]),
    ("as_of a list", lambda w: w.fg.read(as_of=[1]), TimeTravelError, [GROUP, "as_of", "[1]"]),
    ("as_of before the first commit", lambda w: w.fg.read(as_of="1999-01-01"),
     TimeTravelError, [GROUP, "before the first commit"]),
    ("insert a list", lambda w: w.fg.insert([1, 2, 3]), SchemaError, ["'payments' v1", "DataFrame", "list"]),
    ("suite as a string", lambda w: w.fg.save_expectation_suite("strict"), NotASuiteError, [GROUP, "str"]),
    ("suite as a number", lambda w: w.fg.save_expectation_suite(42), NotASuiteError, [GROUP, "int"]),
    ("unknown policy", lambda w: w.fg.save_expectation_suite({"name": "s", "expectations": []}, "never"),
     ParameterError, [GROUP, "'never'"]),
    ("select a string", lambda w: w.fg.select("amount"), QueryError, [GROUP, "features", "['amount']"]),
    ("select an unknown column", lambda w: w.fg.select(["cabin"]), QueryError, [GROUP, "cabin"]),
    ("select an invalid name", lambda w: w.fg.select(["a b"]), InvalidNameError, [GROUP, "'a b'"]),
    ("select_except a string", lambda w: w.fg.select_except("amount"), QueryError, [GROUP, "features"]),
    ("state_sql of text", lambda w: w.fg.state_sql("3"), TimeTravelError, [GROUP, "as_of_commit", "'3'"]),
]


@pytest.mark.parametrize("case", FEATURE_GROUP_CASES, ids=[case[0] for case in FEATURE_GROUP_CASES])
def test_feature_group_refuses_bad_input(world, case):
    _, call, error, words = case
    check(world, call, error, words)


def test_an_empty_feature_group_cannot_be_selected_or_read(fs):
    empty = fs.get_or_create_feature_group("empty", primary_key=["id"])
    for call in (empty.read, empty.select_all, lambda: empty.select(["id"])):
        with pytest.raises(SchemaError, match="feature group 'empty' v1 has no data yet"):
            call()


# --------------------------------------------------------------------- Query

QUERY = "Query(payments v1"

QUERY_CASES: list[Case] = [
    ("join a string", lambda w: w.query.join("refunds"), QueryError, ["join", "str"]),
    ("join on a string", lambda w: w.query.join(w.fg.select(["amount"]), on="id", prefix="p_"),
     QueryError, ["joining feature group 'payments' v1", "on", "['id']"]),
    ("join left_on a string", lambda w: w.query.join(w.fg.select(["amount"]), left_on="id", right_on=["id"]),
     QueryError, ["joining feature group 'payments' v1", "left_on"]),
    ("inner join", lambda w: w.query.join(w.fg.select(["amount"]), join_type="inner", prefix="p_"),
     QueryError, ["join_type", "'inner'"]),
    ("invalid prefix", lambda w: w.query.join(w.fg.select(["amount"]), prefix="a b"),
     InvalidNameError, ["joining feature group 'payments' v1", "prefix", "'a b'"]),
    ("as_of a word", lambda w: w.query.read(as_of="yesterday"), TimeTravelError, [GROUP, "as_of", "'yesterday'"]),
    ("start_time a word", lambda w: w.query.read(start_time="someday"),
     InvalidTimeError, [QUERY, "start_time", "'someday'"]),
    ("end_time a number", lambda w: w.query.read(end_time=20240101),
     InvalidTimeError, [QUERY, "end_time", "int"]),
    ("start after end", lambda w: w.query.read(start_time="2024-02-01", end_time="2024-01-01"),
     QueryError, [QUERY, "start_time", "end_time"]),
    ("sql as_of_commit text", lambda w: w.query.sql(as_of_commit="1"), TimeTravelError, [QUERY, "as_of_commit"]),
    ("from_dict of nonsense", lambda w: Query.from_dict({"nope": 1}, w.fs), QueryError, ["query description", "nope"]),
]


@pytest.mark.parametrize("case", QUERY_CASES, ids=[case[0] for case in QUERY_CASES])
def test_query_refuses_bad_input(world, case):
    _, call, error, words = case
    check(world, call, error, words)


# --------------------------------------------------------------------- FeatureView

VIEW = "feature view 'screening' v1"

FEATURE_VIEW_CASES: list[Case] = [
    ("entry a number", lambda w: w.fv.get_feature_vector(5), ParameterTypeError, [VIEW, "entry", "int"]),
    ("entry a list of pairs", lambda w: w.fv.get_feature_vector([("id", 1)]), ParameterTypeError, [VIEW, "entry"]),
    ("request parameters a list", lambda w: w.fv.get_feature_vector({"id": 1}, request_parameters=[1]),
     ParameterTypeError, [VIEW, "request_parameters", "list"]),
    ("passed features a string", lambda w: w.fv.get_feature_vector({"id": 1}, passed_features="amount"),
     ParameterTypeError, [VIEW, "passed_features", "str"]),
    ("unknown return type", lambda w: w.fv.get_feature_vector({"id": 1}, return_type="numpy"),
     ParameterError, [VIEW, "return_type", "'numpy'"]),
    ("return type a DataFrame", lambda w: w.fv.get_feature_vector({"id": 1}, return_type=pd.DataFrame({"a": [1]})),
     ParameterTypeError, [VIEW, "return_type"]),
    ("vectors of one dict", lambda w: w.fv.get_feature_vectors({"id": 1}), ParameterTypeError, [VIEW, "entry", "dict"]),
    ("vectors of nothing", lambda w: w.fv.get_feature_vectors(None), ParameterTypeError, [VIEW, "entry", "NoneType"]),
    ("vectors of unknown return type", lambda w: w.fv.get_feature_vectors([{"id": 1}], return_type="numpy"),
     ParameterError, [VIEW, "'numpy'"]),
    ("test_size 2", lambda w: w.fv.train_test_split(test_size=2), QueryError, [VIEW, "test_size", "2"]),
    ("test_size a word", lambda w: w.fv.train_test_split(test_size="half"),
     ParameterTypeError, [VIEW, "test_size", "'half'"]),
    ("seed a word", lambda w: w.fv.train_test_split(test_size=0.5, seed="x"), ParameterTypeError, [VIEW, "seed"]),
    ("negative seed", lambda w: w.fv.train_test_split(test_size=0.5, seed=-1), ParameterError, [VIEW, "seed", "-1"]),
    ("test_start a word", lambda w: w.fv.train_test_split(test_start="soon"),
     InvalidTimeError, [VIEW, "test_start", "'soon'"]),
    ("split as_of a word", lambda w: w.fv.train_test_split(test_size=0.5, as_of="yesterday"),
     TimeTravelError, [GROUP, "as_of", "'yesterday'"]),
    ("primary_key flag a word", lambda w: w.fv.train_test_split(test_size=0.5, primary_key="yes"),
     ParameterTypeError, [VIEW, "primary_key"]),
    ("description a number", lambda w: w.fv.training_data(description=1), ParameterTypeError, [VIEW, "description"]),
    ("training dataset version text", lambda w: w.fv.get_train_test_split("1"),
     InvalidNameError, [VIEW, "training dataset", "'1'"]),
    ("unknown training dataset", lambda w: w.fv.get_train_test_split(99),
     TrainingDatasetNotFoundError, [VIEW, "99"]),
    ("batch start a word", lambda w: w.fv.get_batch_data(start_time="someday"),
     InvalidTimeError, [VIEW, "start_time", "'someday'"]),
    ("batch as_of a float", lambda w: w.fv.get_batch_data(as_of=1.5), TimeTravelError, [GROUP, "as_of", "float"]),
    ("serving version a word", lambda w: w.fv.init_serving("latest"), InvalidNameError, [VIEW, "'latest'"]),
    ("scoring version 0", lambda w: w.fv.init_batch_scoring(0), InvalidNameError, [VIEW, "0"]),
    ("transform a list", lambda w: w.fv.transform([1, 2]), ParameterTypeError, [VIEW, "transform", "list"]),
    ("transform without features", lambda w: w.fv.transform(pd.DataFrame({"x": [1]})),
     QueryError, [VIEW, "'amount'"]),
]


@pytest.mark.parametrize("case", FEATURE_VIEW_CASES, ids=[case[0] for case in FEATURE_VIEW_CASES])
def test_feature_view_refuses_bad_input(world, case):
    _, call, error, words = case
    check(world, call, error, words)


def test_refused_serving_input_leaves_the_view_serving(world):
    with pytest.raises(ParameterTypeError):
        world.fv.get_feature_vector(5)
    assert len(world.fv.get_feature_vector({"id": 2})) == 1


# --------------------------------------------------------------------- ModelRegistry

REGISTRY_CASES: list[Case] = [
    ("version and alias", lambda w: w.mr.get_model("screener", version=1, alias="production"),
     ParameterError, ["model 'screener'", "version", "alias"]),
    ("version as text", lambda w: w.mr.get_model("screener", version="1"),
     InvalidNameError, ["model 'screener'", "'1'"]),
    ("metric as text", lambda w: w.mr.create_model("m", metrics={"accuracy": "high"}),
     ParameterTypeError, ["model 'm'", "'accuracy'", "str"]),
    ("metric as a bool", lambda w: w.mr.create_model("m", metrics={"converged": True}),
     ParameterTypeError, ["model 'm'", "'converged'", "bool"]),
    ("metric infinite", lambda w: w.mr.create_model("m", metrics={"loss": float("inf")}),
     ParameterError, ["model 'm'", "'loss'", "inf"]),
    ("metrics as a list", lambda w: w.mr.create_model("m", metrics=[0.9]),
     ParameterTypeError, ["model 'm'", "metrics"]),
    ("feature view by name", lambda w: w.mr.create_model("m", feature_view="screening"),
     ParameterTypeError, ["model 'm'", "feature_view", "str"]),
    ("input example a number", lambda w: w.mr.create_model("m", input_example=5),
     ParameterTypeError, ["model 'm'", "input_example"]),
    ("training dataset version text", lambda w: w.mr.create_model("m", feature_view=w.fv, training_dataset_version="1"),
     InvalidNameError, ["model 'm'", "training dataset", "'1'"]),
    ("unknown training dataset", lambda w: w.mr.create_model("m", feature_view=w.fv, training_dataset_version=9),
     TrainingDatasetNotFoundError, [VIEW, "9"]),
    ("direction up", lambda w: w.mr.get_best_model("screener", "accuracy", direction="up"),
     ParameterError, ["model 'screener'", "direction", "'up'"]),
    ("alias version as text", lambda w: w.mr.set_alias("screener", "production", "1"),
     InvalidNameError, ["model 'screener'", "'1'"]),
    ("alias to a missing version", lambda w: w.mr.set_alias("screener", "production", 7),
     ModelNotFoundError, ["model 'screener'", "7"]),
    ("alias name invalid", lambda w: w.mr.delete_alias("screener", "a b"), InvalidNameError, ["'screener'", "'a b'"]),
    ("aliases of an invalid name", lambda w: w.mr.get_aliases("a b"), InvalidNameError, ["model", "'a b'"]),
    ("registry of a path", lambda w: ModelRegistry("data/store"), ParameterTypeError, ["ModelRegistry", "str"]),
]


@pytest.mark.parametrize("case", REGISTRY_CASES, ids=[case[0] for case in REGISTRY_CASES])
def test_model_registry_refuses_bad_input(world, case):
    _, call, error, words = case
    check(world, call, error, words)


# --------------------------------------------------------------------- Model


def _save_with_bad_metric(w: SimpleNamespace) -> Any:
    w.draft.metrics["loss"] = "low"
    return w.draft.save({"weights": [2]})


MODEL_CASES: list[Case] = [
    ("save a lambda", lambda w: w.draft.save(lambda x: x), ModelSaveError, ["model 'screener'", "pickled"]),
    ("save a missing path", lambda w: w.draft.save(Path("/nonexistent/model.onnx")),
     ModelSaveError, ["model 'screener'", "/nonexistent/model.onnx"]),
    ("save after a bad metric", _save_with_bad_metric, ParameterTypeError, ["model 'screener'", "'loss'", "str"]),
    ("load unsaved", lambda w: w.draft.load(), ModelNotFoundError, ["model 'screener'", "not saved"]),
    ("download unsaved", lambda w: w.draft.download(), ModelNotFoundError, ["model 'screener'", "not saved"]),
]


@pytest.mark.parametrize("case", MODEL_CASES, ids=[case[0] for case in MODEL_CASES])
def test_model_refuses_bad_input(world, case):
    _, call, error, words = case
    check(world, call, error, words)
    # Nothing was saved by a refused call: the registry still has only the first version.
    assert [model.version for model in world.mr.get_models("screener")] == [1]
