"""Tests for feature view logging: ``fv.log`` keeps what a model was served, ``fv.read_log`` gives it back.

The promises checked here: a logged batch comes back exactly (features, predictions,
serving keys, event time, request id, model name and version) in log order, stamped
with the store's clock; a refused call writes nothing; logging must be switched on;
two processes logging at once lose nothing; the log goes with its view.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

import duckdb
import numpy as np
import pandas as pd
import pytest

import fti
from fti.exceptions import (
    FeatureViewNotFoundError,
    LoggingDisabledError,
    ParameterError,
    ParameterTypeError,
    SchemaError,
)

T0 = "2024-03-01T12:00:00+00:00"


def amount_per_card(amount: float, cc_num: int) -> float:
    """An on-demand feature (module level, so a view can import it again)."""
    return amount / (cc_num % 7 + 1)


@pytest.fixture
def clock(monkeypatch):
    """Fix the simulated clock (``FTI_NOW``) before the store's first commit; returns a setter."""
    def set_now(value: str) -> pd.Timestamp:
        monkeypatch.setenv("FTI_NOW", value)
        return pd.Timestamp(value)

    set_now(T0)
    return set_now


@pytest.fixture
def transactions(fs, clock):
    """A transactions feature group: key ``tx_id``, event time ``ts``, a card, an amount and the fraud label."""
    fg = fs.get_or_create_feature_group("transactions", 1, primary_key=["tx_id"], event_time="ts")
    fg.insert(pd.DataFrame({
        "tx_id": [1, 2, 3, 4],
        "ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"], utc=True),
        "cc_num": [4242, 1111, 4242, 2222],
        "amount": [12.5, 300.0, 8.0, 55.0],
        "category": ["food", "travel", "food", "shop"],
        "is_fraud": [False, True, False, False],
    }))
    return fg


def make_view(fs, fg, logging_enabled: bool = True, version: int = 1):
    query = fg.select(["cc_num", "amount", "category", "is_fraud"])
    return fs.get_or_create_feature_view("fraud", version, query=query, labels=["is_fraud"],
                                         logging_enabled=logging_enabled)


def served(rows: int, start: int = 0) -> dict:
    """What an inference service has after serving ``rows`` requests: features, keys, times, ids, predictions."""
    index = np.arange(start, start + rows)
    return {
        "untransformed_features": pd.DataFrame({"cc_num": 4000 + index, "amount": index * 1.5,
                                                "category": [f"c{i % 3}" for i in index]}),
        "serving_keys": [{"tx_id": int(100 + i)} for i in index],
        "event_time": pd.Series(pd.Timestamp("2024-02-29T08:00", tz="UTC") + pd.to_timedelta(index, unit="s")),
        "request_id": [f"req-{i}" for i in index],
        "predictions": [bool(i % 2) for i in index],
    }


def table_names(store_path) -> list[str]:
    with duckdb.connect(str(store_path / "offline.duckdb"), read_only=True) as con:
        return [name for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]


# ------------------------------------------------------------------ round trip


def test_round_trip_keeps_every_part_of_the_request(fs, mr, transactions):
    fv = make_view(fs, transactions)
    model = mr.create_model("fraud_model", metrics={"auc": 0.9}).save({"w": 1})
    batch = served(5)

    assert fv.log(**batch, model=model) == 5
    log = fv.read_log()

    assert list(log.columns) == ["log_time", "request_id", "model_name", "model_version",
                                 "training_dataset_version", "tx_id", "ts", "cc_num", "amount", "category",
                                 "predicted_is_fraud"]
    assert log["request_id"].tolist() == batch["request_id"]
    assert log["tx_id"].tolist() == [key["tx_id"] for key in batch["serving_keys"]]
    assert log["ts"].tolist() == batch["event_time"].tolist()
    pd.testing.assert_frame_equal(log[["cc_num", "amount", "category"]], batch["untransformed_features"],
                                  check_dtype=False)
    assert log["predicted_is_fraud"].tolist() == batch["predictions"]
    assert set(log["model_name"]) == {"fraud_model"} and set(log["model_version"]) == {model.version}
    assert str(log["log_time"].dt.tz) == "UTC" and str(log["ts"].dt.tz) == "UTC"


def test_lists_and_a_dataframe_holding_keys_and_event_time_log_alike(fs, transactions):
    fv = make_view(fs, transactions)
    frame = pd.DataFrame({"tx_id": [7, 8], "ts": pd.to_datetime(["2024-03-01", "2024-03-02"], utc=True),
                          "cc_num": [1, 2], "amount": [3.0, 4.0], "category": ["a", "b"]})
    fv.log(frame, predictions=pd.Series([True, False]))
    fv.log([[5, 6.0, "c"]], predictions=[[True]], serving_keys=[[9]], event_time="2024-03-03", request_id="r9")

    log = fv.read_log()
    assert log["tx_id"].tolist() == [7, 8, 9]
    assert log["ts"].tolist() == [pd.Timestamp(day, tz="UTC") for day in ("2024-03-01", "2024-03-02", "2024-03-03")]
    assert log["cc_num"].tolist() == [1, 2, 5]
    assert log["request_id"].isna().tolist() == [True, True, False]


def test_prediction_dataframe_keeps_its_column_names(fs, transactions):
    fv = make_view(fs, transactions)
    fv.log(served(2)["untransformed_features"], predictions=pd.DataFrame({"fraud_probability": [0.25, 0.75]}))
    assert fv.read_log()["predicted_fraud_probability"].tolist() == [0.25, 0.75]


def test_transformed_features_come_back_with_transformed_true(fs, transactions, clock):
    fv = fs.get_or_create_feature_view("scaled", 1, query=transactions.select(["cc_num", "amount", "is_fraud"]),
                                       labels=["is_fraud"], transformation_functions={"amount": "standard_scaler"},
                                       logging_enabled=True)
    fv.training_data()
    raw = pd.DataFrame({"cc_num": [1, 2], "amount": [10.0, 20.0]})
    fv.log(raw, predictions=[False, True], transformed_features=fv.transform(raw))

    log = fv.read_log(transformed=True)
    np.testing.assert_allclose(log["amount"], fv.transform(raw)["amount"])
    assert fv.read_log()["amount"].tolist() == [10.0, 20.0]
    assert set(log["training_dataset_version"]) == {1}


# ------------------------------------------------------------------ clock, order and filters


def test_log_time_is_the_simulated_clock_and_windows_filter_by_it(fs, transactions, clock):
    fv = make_view(fs, transactions)
    first = clock("2024-03-01T12:00:00Z")
    fv.log(**served(2))
    second = clock("2024-03-01T12:05:00Z")
    fv.log(**served(3, start=2))

    log = fv.read_log()
    assert log["log_time"].tolist() == [first] * 2 + [second] * 3
    assert log["request_id"].tolist() == [f"req-{i}" for i in range(5)]  # log order, also within one log time
    assert fv.read_log(end_time=second)["request_id"].tolist() == ["req-0", "req-1"]
    assert fv.read_log(start_time=second)["request_id"].tolist() == ["req-2", "req-3", "req-4"]
    assert fv.read_log(start_time="2024-03-02").empty


def test_read_log_filters_by_model_version(fs, mr, transactions):
    fv = make_view(fs, transactions)
    v1 = mr.create_model("fraud_model").save({"w": 1})
    v2 = mr.create_model("fraud_model").save({"w": 2})
    fv.log(**served(2), model=v1)
    fv.log(**served(3, start=2), model=v2)
    fv.log(**served(1, start=5), model_name="challenger", model_version=1)

    assert fv.read_log(model=v2)["request_id"].tolist() == ["req-2", "req-3", "req-4"]
    assert fv.read_log(model=v1)["model_version"].tolist() == [1, 1]
    assert fv.read_log(model_name="challenger")["request_id"].tolist() == ["req-5"]
    assert len(fv.read_log(model_version=1)) == 3


# ------------------------------------------------------------------ refusals write nothing


def test_refused_when_logging_is_not_enabled(fs, transactions):
    fv = make_view(fs, transactions, logging_enabled=False)
    assert fv.logging_enabled is False
    with pytest.raises(LoggingDisabledError, match=r"enable_logging\(\)"):
        fv.log(**served(2))
    assert fv.read_log().empty
    fv.enable_logging()
    assert fs.get_feature_view("fraud", 1).logging_enabled is True
    assert fv.log(**served(2)) == 2


@pytest.mark.parametrize(("change", "error"), [
    ({"untransformed_features": pd.DataFrame({"cc_num": [1, 2], "amount": [1.0, 2.0]})}, SchemaError),
    ({"untransformed_features": [[1, 2.0], [3, 4.0]]}, SchemaError),
    ({"predictions": [True, False, True]}, ParameterError),
    ({"request_id": ["a"]}, ParameterError),
    ({"model": "fraud_model"}, ParameterTypeError),
    ({"untransformed_features": pd.DataFrame({"cc_num": [1, 2], "amount": ["x", "y"], "category": ["a", "b"]})},
     SchemaError),
])
def test_a_refused_call_writes_nothing(fs, transactions, change, error):
    fv = make_view(fs, transactions)
    fv.log(**served(2))
    with pytest.raises(error):
        fv.log(**{**served(2, start=2), **change})
    assert fv.read_log()["request_id"].tolist() == ["req-0", "req-1"]


def test_a_refused_first_call_leaves_no_half_made_log(fs, transactions, store_path):
    fv = make_view(fs, transactions)
    bad = served(2)
    bad["untransformed_features"]["amount"] = ["x", "y"]  # text for a real-number feature
    with pytest.raises(SchemaError, match="amount"):
        fv.log(**bad)
    assert "fvlog_fraud_1" not in table_names(store_path)
    fv.log(**served(2))
    assert fv.read_log()["amount"].dtype == np.float64


# ------------------------------------------------------------------ processes, old stores, delete

WORKER = textwrap.dedent(
    """
    import sys
    import pandas as pd
    import fti

    worker, batches, rows = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    fv = fti.get_feature_store().get_feature_view("fraud", 1)
    for b in range(batches):
        ids = [f"w{worker}-{b}-{r}" for r in range(rows)]
        fv.log(pd.DataFrame({"cc_num": [worker] * rows, "amount": [float(b)] * rows, "category": ["x"] * rows}),
               predictions=[False] * rows, request_id=ids)
    print("DONE", flush=True)
    """
)


def test_two_processes_logging_at_once_lose_nothing(fs, transactions, store_path, tmp_path):
    make_view(fs, transactions)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    batches, rows = 15, 40
    env = {**os.environ, "FTI_STORE": str(store_path)}
    workers = [subprocess.Popen([sys.executable, str(script), str(w), str(batches), str(rows)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for w in (1, 2)]
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err
        assert "DONE" in out

    log = fs.get_feature_view("fraud", 1).read_log()
    expected = {f"w{w}-{b}-{r}" for w in (1, 2) for b in range(batches) for r in range(rows)}
    assert len(log) == len(expected) and set(log["request_id"]) == expected
    for w in (1, 2):  # each process's rows keep the order it logged them in
        own = log.loc[log["cc_num"] == w, "request_id"].tolist()
        assert own == [f"w{w}-{b}-{r}" for b in range(batches) for r in range(rows)]


def test_a_view_from_a_store_without_logging_opens_and_can_start_logging(fs, transactions, store_path):
    make_view(fs, transactions, logging_enabled=False)
    # A store written before logging existed has no logging table at all.
    with duckdb.connect(str(store_path / "offline.duckdb")) as con:
        con.execute("DROP TABLE IF EXISTS fti_feature_view_logging")
    assert "fti_feature_view_logging" not in table_names(store_path)

    fv = fti.get_feature_store().get_feature_view("fraud", 1)
    assert fv.logging_enabled is False
    assert len(fv.get_batch_data()) == 4
    assert fv.read_log().empty
    fv.enable_logging()
    fv.log(**served(1))
    assert fv.read_log()["request_id"].tolist() == ["req-0"]


def test_delete_removes_the_log_and_delete_log_only_the_rows(fs, transactions, store_path):
    fv = make_view(fs, transactions)
    fv.log(**served(2))
    fv.delete_log()
    assert fv.read_log().empty and fv.logging_enabled
    fv.log(**served(1))
    assert len(fv.read_log()) == 1

    fv.delete()
    assert "fvlog_fraud_1" not in table_names(store_path)
    with pytest.raises(FeatureViewNotFoundError):
        fv.log(**served(1))  # a handle kept after delete() logs nowhere
    again = make_view(fs, transactions, logging_enabled=False)
    assert again.logging_enabled is False and again.read_log().empty


def test_no_ops_and_filter_refusal(fs, transactions):
    fv = make_view(fs, transactions)
    fv.log(**served(2))
    fv.pause_logging()
    fv.log(**served(1, start=2))  # still logged: there is no materialization job to pause here
    fv.resume_logging()
    assert fv.materialize_log() == []
    assert len(fv.read_log()) == 3
    with pytest.raises(ParameterError, match="filter"):
        fv.read_log(filter="amount > 1")


def test_a_joined_view_takes_some_of_its_serving_keys(fs, transactions):
    cards = fs.get_or_create_feature_group("cards", 1, primary_key=["cc_num"])
    cards.insert(pd.DataFrame({"cc_num": [4242, 1111, 2222], "credit_limit": [1000.0, 500.0, 2000.0]}))
    query = transactions.select(["cc_num", "amount", "is_fraud"]).join(cards.select(["credit_limit"]))
    fv = fs.get_or_create_feature_view("joined", 1, query=query, labels=["is_fraud"], logging_enabled=True)
    # A service knows the card, not the id of a transaction that is not stored yet.
    fv.log([[4242, 10.0, 1000.0]], predictions=[False], serving_keys=[{"cc_num": 4242}])
    with pytest.raises(SchemaError, match="merchant"):
        fv.log([[4242, 10.0, 1000.0]], predictions=[False], serving_keys=[{"merchant": 1}])

    log = fv.read_log()
    assert log[["tx_id", "cc_num", "credit_limit"]].iloc[0].tolist()[1:] == [4242, 1000.0]
    assert pd.isna(log["tx_id"].iloc[0])


def test_on_demand_features_are_logged_with_the_type_of_the_first_batch(fs, transactions):
    query = transactions.select(["cc_num", "amount", "is_fraud"])
    fv = fs.get_or_create_feature_view("odf", 1, query=query, labels=["is_fraud"], logging_enabled=True,
                                       on_demand_features={"amount_per_card": amount_per_card})
    assert fv.feature_names == ["cc_num", "amount", "amount_per_card"]
    fv.log([[7, 14.0, 14.0], [8, 4.0, 2.0]], predictions=[False, True])
    with pytest.raises(SchemaError, match="amount_per_card"):
        fv.log([[7, 14.0, "high"]], predictions=[False])
    assert fv.read_log()["amount_per_card"].tolist() == [14.0, 2.0]


def test_threads_of_one_process_logging_at_once_lose_nothing(fs, transactions):
    fv = make_view(fs, transactions)
    errors: list[BaseException] = []

    def service(worker: int) -> None:
        try:
            for b in range(10):
                fv.log(**{**served(20, start=1000 * worker + 20 * b)})
        except BaseException as exc:  # reported below: a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=service, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    ids = fv.read_log()["request_id"]
    assert len(ids) == 800 and ids.is_unique
