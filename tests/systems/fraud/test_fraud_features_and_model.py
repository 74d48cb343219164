"""Tests for the fraud system's on-demand features, its metrics and its request checks.

The on-demand features run in two places, row by row over training data (where a missing
value is NaN or NaT) and once per request (where it is None); they must give the same
answer from both.
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from fti.exceptions import ParameterError
from systems.fraud.features import (
    amount_to_day_mean,
    distance_from_home_km,
    haversine_km,
    seconds_since_previous,
    travel_speed_kmh,
)
from systems.fraud.model import ModelParams, alert_threshold, pr_auc, recall_at_budget, train
from systems.fraud.serving import parse_request

T0 = pd.Timestamp("2026-02-01T12:00:00Z")


def test_haversine_matches_a_known_distance():
    # Stockholm to Oslo, city centres: about 416 km along the great circle.
    assert haversine_km(59.3293, 18.0686, 59.9139, 10.7522) == pytest.approx(416, abs=3)
    assert haversine_km(48.0, 2.0, 48.0, 2.0) == 0.0


def test_seconds_since_previous_and_its_missing_values():
    assert seconds_since_previous(T0, T0 - pd.Timedelta(minutes=3)) == 180.0
    assert seconds_since_previous("2026-02-01T12:00:00Z", "2026-02-01T11:59:30Z") == 30.0
    for missing in (None, pd.NaT, float("nan")):
        assert math.isnan(seconds_since_previous(T0, missing))


def test_travel_speed_uses_at_least_a_minute_and_is_missing_without_a_previous_place():
    # 111.2 km (one degree of latitude) in one hour.
    assert travel_speed_kmh(T0, 49.0, 2.0, T0 - pd.Timedelta(hours=1), 48.0, 2.0) == pytest.approx(111.2, rel=0.01)
    same_second = travel_speed_kmh(T0, 49.0, 2.0, T0, 48.0, 2.0)
    assert same_second == pytest.approx(111.2 * 60, rel=0.01)  # over the 60 s minimum, not infinite
    assert math.isnan(travel_speed_kmh(T0, 49.0, 2.0, None, None, None))
    assert math.isnan(travel_speed_kmh(T0, 49.0, 2.0, pd.NaT, np.nan, np.nan))


def test_amount_to_day_mean_and_distance_from_home():
    assert amount_to_day_mean(100.0, 150.0, 3) == pytest.approx(2.0)
    assert math.isnan(amount_to_day_mean(100.0, 0.0, 0))
    assert math.isnan(amount_to_day_mean(100.0, None, None))
    assert distance_from_home_km(48.0, 2.0, 48.0, 2.0) == 0.0
    assert math.isnan(distance_from_home_km(48.0, 2.0, np.nan, np.nan))


def test_pr_auc_is_computed_from_scores_not_decisions():
    y = np.array([0, 0, 0, 0, 1, 0, 1, 0, 0, 1])
    scores = np.array([0.1, 0.2, 0.15, 0.3, 0.9, 0.4, 0.35, 0.05, 0.6, 0.8])
    ranked = pr_auc(y, scores)
    hard = pr_auc(y, (scores >= 0.5).astype(float))
    assert ranked != hard
    assert ranked == pytest.approx(0.8667, abs=1e-3)  # precisions 1, 1 and 3/5 at the recalls 1/3, 2/3 and 1
    assert math.isnan(pr_auc(np.zeros(4), np.ones(4)))


def test_alert_threshold_keeps_within_the_budget_even_with_ties():
    scores = np.array([0.9, 0.8, 0.8, 0.8, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    for budget in (0.1, 0.2, 0.3, 0.5):
        threshold = alert_threshold(scores, budget)
        assert (scores >= threshold).mean() <= budget + 1e-12
    assert (scores >= alert_threshold(scores, 0.1)).sum() == 1
    # Two alerts would split the tie at 0.8: only the one above it is raised.
    assert (scores >= alert_threshold(scores, 0.2)).sum() == 1
    result = recall_at_budget(np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0]), scores, alert_threshold(scores, 0.4))
    assert result == {"alert_rate": 0.4, "alerts": 4, "precision": 0.5, "recall": 1.0}


def request(**changes):
    base = {"card_id": 500017, "merchant_id": 70003, "amount": 42.5, "latitude": 59.33, "longitude": 18.07,
            "ts": "2026-02-01T12:00:00Z", "card_present": True}
    return base | changes


def test_a_request_is_checked_and_typed():
    parsed = parse_request(request())
    assert parsed["ts"] == T0 and parsed["card_present"] is True and parsed["amount"] == 42.5


@pytest.mark.parametrize("changes, words", [
    ({"amount": -3.0}, "amount must be above 0"),
    ({"amount": "12"}, "amount must be a number"),
    ({"latitude": 123.0}, "latitude 123.0 is outside"),
    ({"ts": "2026-02-01 12:00"}, "has no time zone"),
    ({"ts": "yesterday"}, "is not a time"),
    ({"card_present": "yes"}, "card_present must be true or false"),
    ({"card_id": 1.5}, "card_id must be a whole number"),
    ({"colour": "red"}, "unknown field(s) ['colour']"),
])
def test_a_bad_request_is_refused_naming_the_field(changes, words):
    with pytest.raises(ParameterError) as error:
        parse_request(request(**changes))
    assert words in str(error.value)


def test_a_request_without_a_field_is_refused():
    incomplete = request()
    del incomplete["amount"]
    with pytest.raises(ParameterError, match=r"missing \['amount'\]"):
        parse_request(incomplete)


def test_the_serving_score_equals_xgboost_s_own_for_rows_with_missing_values():
    """`FraudModel.score_vector` walks the trees with NumPy; it must give XGBoost's probability."""
    rng = np.random.default_rng(3)
    names = [f"x{i}" for i in range(6)]
    X = pd.DataFrame(rng.normal(size=(4000, 6)), columns=names).mask(rng.random((4000, 6)) < 0.15)
    y = pd.Series(((X["x0"].fillna(0) + X["x1"].fillna(2) * X["x2"].fillna(-1)) > 0.8).astype(int))
    model = train(X, y, ModelParams(n_estimators=60, max_depth=4), inputs=names)
    rows = pd.DataFrame(rng.normal(size=(1500, 6)), columns=names).mask(rng.random((1500, 6)) < 0.2)
    expected = model.predict_proba(rows)[:, 1]
    served = np.array([model.score_vector(row) for row in rows.to_numpy()])
    assert np.abs(served - expected).max() < 1e-6
    assert 0.05 < (expected > 0.5).mean() < 0.95  # both sides of the threshold are exercised
    # Values exactly at a split's threshold go the way XGBoost sends them (to `no`: it splits on <).
    trees = model._trees
    splits = np.flatnonzero(trees.yes != np.arange(len(trees.yes)))[:300]
    at_split = np.repeat(rows.fillna(0.0).to_numpy()[:1], len(splits), axis=0)
    at_split[np.arange(len(splits)), trees.feature[splits]] = trees.threshold[splits].astype("float64")
    on_edge = model.predict_proba(pd.DataFrame(at_split, columns=names))[:, 1]
    assert np.abs(np.array([model.score_vector(row) for row in at_split]) - on_edge).max() < 1e-6
    # The registry keeps the booster only; the NumPy copy of the trees is made again after loading.
    loaded = pickle.loads(pickle.dumps(model))
    assert "_trees" not in loaded.__dict__ and isinstance(loaded.booster, xgb.Booster)
    assert loaded.score_vector(rows.to_numpy()[0]) == pytest.approx(served[0], abs=1e-12)
