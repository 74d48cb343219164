"""End-to-end tests of the card-fraud system's pipelines on a short history, in a store of their own.

The decisive ones:

* **training/serving skew**: every transaction the online service scored during a streamed
  day gets, from the feature view's batch read (the training path), exactly the feature
  vector the service computed for it: online lookups versus the strict point-in-time
  join, on-demand features row by row versus per request, the same transformations;
* **stream versus batch**: the ``card_windows`` rows the streaming pipeline wrote for a
  day equal the batch recomputation (`fti.stream.batch_windows`) over the same events;
* **idempotency**: replaying the day again changes no row.
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

import fti
from fti.stream import WindowEngine, batch_windows
from systems import fraud
from systems.fraud.backfill import backfill, create_feature_view

pytestmark = pytest.mark.slow

HISTORY_END = fraud.FIRST_DAY + dt.timedelta(days=12)
DAY = HISTORY_END  # the streamed day: the first after the history


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A backfilled store, a model in production, and one streamed day with every answer kept."""
    store = tmp_path_factory.mktemp("fraud") / "store"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FTI_STORE", str(store))
        patch.setenv("FTI_NOW", f"{HISTORY_END}T00:30:00Z")
        fs = fti.get_feature_store()
        history = backfill(fs, fraud.FIRST_DAY, HISTORY_END, labelled_at=fti.now(), true_labels=True)
        view = create_feature_view(fs)
        X_train, X_test, y_train, y_test = view.train_test_split(
            test_start=pd.Timestamp(HISTORY_END - dt.timedelta(days=3), tz="UTC"))
        model = fraud.train(X_train, y_train, fraud.ModelParams(n_estimators=40))
        model.threshold = fraud.alert_threshold(model.predict_proba(X_test)[:, 1])
        mr = fti.get_model_registry()
        registered = mr.python.create_model(fraud.MODEL, metrics={"pr_auc": fraud.pr_auc(y_test, [0.5] * len(y_test))},
                                            feature_view=view)
        registered.save(model)
        mr.set_alias(fraud.MODEL, "production", registered.version)

        patch.setenv("FTI_NOW", f"{DAY}T23:00:00Z")
        service = fraud.FraudService()
        answers: dict[tuple[int, pd.Timestamp], dict] = {}

        def score(request: dict) -> None:
            answers[(request["card_id"], pd.Timestamp(request["ts"]))] = service.predict(request)

        day = fraud.transactions(DAY)
        engine = WindowEngine(fraud.WINDOWS)
        report = fraud.stream_day(fs, day, DAY, score=score, engine=engine)
        logged = service.flush()
        truth = day[["card_id", "merchant_id", "tx_id", "ts", "is_fraud"]].assign(labelled_at=fti.now())
        fs.get_feature_group("transaction_labels", version=1).insert(truth)
        yield {"fs": fs, "view": view, "service": service, "answers": answers, "day": day, "engine": engine,
               "report": report, "logged": logged, "history": history}


def same(served: object, trained: object) -> bool:
    """Equal as a model sees them: missing alike (None, NaN, NaT, pd.NA), numbers to 1e-9, booleans as 0/1."""
    if served is None or (isinstance(served, float) and math.isnan(served)):
        return pd.isna(trained)
    if pd.isna(trained):
        return False
    if isinstance(trained, pd.Timestamp) or isinstance(served, str):
        return pd.Timestamp(served) == pd.Timestamp(trained)
    return math.isclose(float(served), float(trained), rel_tol=1e-9, abs_tol=1e-9)


def test_serving_and_training_give_the_same_feature_vector(system):
    view, answers, day = system["view"], system["answers"], system["day"]
    start = pd.Timestamp(DAY, tz="UTC")
    rows = view.get_batch_data(start_time=start, end_time=start + pd.Timedelta(days=1), primary_key=True,
                               event_time=True)
    assert len(answers) > 2000, "too few transactions scored to judge"
    # Transactions scored before a late event of their card arrived saw windows without it; the
    # stored rows were corrected afterwards. Those are the only ones allowed to differ.
    late_cards = set(day.loc[day["arrived_at"] - day["ts"] > fraud.OFFLINE_AFTER, "card_id"])
    compared, differing = 0, []
    for row in rows.to_dict("records"):
        answer = answers.get((row["card_id"], row["ts"]))
        if answer is None:
            continue  # an offline terminal's transaction: never scored
        compared += 1
        features = answer["features"]
        wrong = [name for name in features if not same(features[name], row[name])]
        if wrong:
            differing.append((row["tx_id"], row["card_id"], wrong))
    assert compared == len(answers)
    unexplained = [item for item in differing if item[1] not in late_cards]
    assert not unexplained, f"served and training features differ for {len(unexplained)} transactions, e.g. " \
                            f"{unexplained[:3]}"
    assert len(differing) <= len(late_cards)


def test_the_training_rows_on_demand_features_equal_what_predict_computes(system):
    view, answers = system["view"], system["answers"]
    start = pd.Timestamp(DAY, tz="UTC")
    rows = view.get_batch_data(start_time=start, end_time=start + pd.Timedelta(days=1), primary_key=True,
                               event_time=True, as_of=None)
    late_cards = set(system["day"].loc[system["day"]["arrived_at"] - system["day"]["ts"] > fraud.OFFLINE_AFTER,
                                       "card_id"])
    checked = 0
    for row in rows.to_dict("records"):
        answer = answers.get((row["card_id"], row["ts"]))
        if answer is None or row["card_id"] in late_cards:
            continue
        for name in fraud.ON_DEMAND_FEATURES:
            assert same(answer["features"][name], row[name]), (name, row["tx_id"], answer["features"][name], row[name])
        checked += 1
    # Most transactions have a previous one (finite time since), and some are far from home.
    assert checked > 2000
    assert rows["seconds_since_previous"].notna().mean() > 0.9


def test_the_streamed_rows_equal_the_batch_recomputation(system):
    fs, day, engine = system["fs"], system["day"], system["engine"]
    stored = fs.get_feature_group("card_windows", version=1).read()
    start = pd.Timestamp(DAY, tz="UTC")
    streamed = stored[stored["ts"] >= start].sort_values(["card_id", "ts"]).reset_index(drop=True)
    accepted = day.drop(index=engine.dropped.index)
    week = system["history"][system["history"]["ts"] >= start - pd.Timedelta(days=8)]
    expected = batch_windows(pd.concat([week, accepted]), fraud.WINDOWS)
    expected = expected[expected["ts"] >= start].sort_values(["card_id", "ts"]).reset_index(drop=True)
    assert len(streamed) == len(accepted) > 2000
    pd.testing.assert_frame_equal(streamed[expected.columns], expected, check_dtype=False)


def test_every_answer_is_in_the_feature_view_log(system):
    log = system["view"].read_log(transformed=True)
    assert system["logged"] == len(system["answers"]) == len(log)
    scores = {(row.card_id, row.ts): row.predicted_score for row in log.itertuples()}
    for key, answer in list(system["answers"].items())[:200]:
        assert math.isclose(scores[key], answer["score"], abs_tol=1e-6)  # answers are rounded to 6 places


def test_replaying_the_day_again_changes_no_row(system, monkeypatch):
    monkeypatch.setenv("FTI_NOW", f"{DAY}T23:30:00Z")  # the tests' conftest gives each test the real clock
    fs, day = system["fs"], system["day"]
    card_windows = fs.get_feature_group("card_windows", version=1)
    before = card_windows.read().sort_values(["card_id", "ts"]).reset_index(drop=True)
    fraud.stream_day(fs, day, DAY)
    after = card_windows.read().sort_values(["card_id", "ts"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(before, after)
