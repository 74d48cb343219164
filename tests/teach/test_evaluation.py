"""fti.teach.evaluation: classification metrics and the promotion gate of a training pipeline."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

import fti
from fti.teach.evaluation import PromotionDecision, classification_metrics, promote_if_better

# --------------------------------------------------------------------------- classification_metrics


def test_classification_metrics_hand_made_example():
    y_true = [0, 0, 1, 1, 1]
    y_score = [0.1, 0.6, 0.4, 0.8, 0.9]
    # Predictions at 0.5: 0 1 0 1 1 -> 3 of 5 right; TP 2, FP 1, FN 1 -> F1 = 2/3.
    # AUC: of the 6 (positive, negative) pairs, only (0.4, 0.6) is ordered wrongly -> 5/6.
    assert classification_metrics(y_true, y_score) == {"accuracy": 0.6, "f1": 0.6667, "roc_auc": 0.8333}


def test_classification_metrics_threshold_is_inclusive_and_movable():
    y_true = np.array([0, 1, 1, 0])
    y_score = np.array([0.2, 0.5, 0.7, 0.3])
    # A score equal to the threshold counts as 1: all four right.
    assert classification_metrics(y_true, y_score) == {"accuracy": 1.0, "f1": 1.0, "roc_auc": 1.0}
    # At 0.75 everything is predicted 0: half right, no true positive. AUC does not depend on the threshold.
    assert classification_metrics(y_true, y_score, threshold=0.75) == {"accuracy": 0.5, "f1": 0.0, "roc_auc": 1.0}


def test_classification_metrics_one_class_has_no_auc():
    metrics = classification_metrics([1, 1, 1], [0.9, 0.4, 0.7])
    assert metrics["accuracy"] == round(2 / 3, 4)
    assert metrics["f1"] == 0.8
    assert math.isnan(metrics["roc_auc"])


# --------------------------------------------------------------------------- promotion gate

FEATURES = ["x1", "x2"]


def synthetic_rows(first_id: int, n: int, seed: int, x1_mean: float, x1_sd: float) -> pd.DataFrame:
    """y depends mostly on x1 and a little on x2 (the same rule in every batch); x1's spread varies by batch."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(x1_mean, x1_sd, n)
    x2 = rng.normal(5.0, 2.0, n)
    logit = 2.0 * x1 + 0.4 * (x2 - 5.0) + rng.normal(0, 0.5, n)
    return pd.DataFrame({
        "id": np.arange(first_id, first_id + n, dtype="int64"),
        "ts": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(first_id, first_id + n), unit="h"),
        "x1": x1,
        "x2": x2,
        "y": (logit > 0).astype("int64"),
    })


class OwnScaler:
    """The standard scaler computed here, independently of fti, from a model's own training rows."""

    def __init__(self, train: pd.DataFrame):
        self.mean = {c: float(np.mean(train[c].to_numpy())) for c in FEATURES}
        self.std = {c: float(np.std(train[c].to_numpy())) for c in FEATURES}

    def __call__(self, raw: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({c: (raw[c].to_numpy() - self.mean[c]) / self.std[c] for c in FEATURES})


def split(fv, truth: pd.DataFrame, seed: int):
    """A new training dataset; returns its version, the truth rows of its train and test ids, and its scaler."""
    X_train, X_test, _, y_test = fv.train_test_split(test_size=0.3, seed=seed, primary_key=True)
    by_id = truth.set_index("id")
    train = by_id.loc[X_train["id"].to_numpy()].reset_index()
    test = by_id.loc[X_test["id"].to_numpy()].reset_index()
    assert (test["y"].to_numpy() == y_test.to_numpy()).all()
    scaler = OwnScaler(train)
    # The view's own transformation agrees with the independent one on the training rows.
    np.testing.assert_allclose(X_train[FEATURES].to_numpy(), scaler(train).to_numpy(), rtol=1e-9, atol=1e-12)
    return fv.training_dataset_version, train, test, scaler


def independent_auc(model, scaler: OwnScaler, test: pd.DataFrame) -> float:
    return round(float(roc_auc_score(test["y"], model.predict_proba(scaler(test))[:, 1])), 4)


@pytest.fixture
def store(fs, mr):
    fg = fs.get_or_create_feature_group("points", primary_key=["id"], event_time="ts")
    first = synthetic_rows(0, 300, seed=11, x1_mean=0.0, x1_sd=1.0)
    fg.insert(first)
    fv = fs.get_or_create_feature_view("clf", version=1, query=fg.select(FEATURES + ["y"]), labels=["y"],
                                       transformation_functions={c: "standard_scaler" for c in FEATURES})
    return fs, mr, fg, fv, first


def register(mr, fv, model) -> fti.store.registry.Model:
    return mr.create_model("clf", metrics={}, feature_view=fv).save(model)


def test_promotion_gate_first_worse_then_better(store):
    fs, mr, fg, fv, truth = store

    # v1: weak, with hand-set weights that lean on x2, the minor feature. No production yet: promoted.
    td1, train1, test1, scaler1 = split(fv, truth, seed=1)
    weak = LogisticRegression().fit(scaler1(train1), train1["y"])
    weak.coef_ = np.array([[0.3, 1.0]])
    v1 = register(mr, fv, weak)
    assert (v1.version, v1.training_dataset_version) == (1, td1)
    first = promote_if_better(mr, v1)
    assert isinstance(first, PromotionDecision)
    assert first.promoted is True and first.metric == "roc_auc"
    assert (first.candidate_version, first.production_version, first.production_score) == (1, None, None)
    assert first.candidate_score == independent_auc(weak, scaler1, test1)
    assert 0.55 < first.candidate_score < 0.9
    assert mr.get_aliases("clf") == {"production": 1}
    assert "no production model" in str(first)

    # v2: a constant-probability model (AUC 0.5) is clearly worse: not promoted, the alias stays.
    td2, train2, test2, scaler2 = split(fv, truth, seed=2)
    dummy = DummyClassifier(strategy="prior").fit(scaler2(train2), train2["y"])
    v2 = register(mr, fv, dummy)
    second = promote_if_better(mr, v2)
    assert second.promoted is False
    assert (second.candidate_version, second.production_version) == (2, 1)
    assert second.candidate_score == 0.5 == independent_auc(dummy, scaler2, test2)
    # Production is scored on the candidate's test rows, with its own (td1) transformations.
    assert second.production_score == independent_auc(weak, scaler1, test2)
    assert mr.get_aliases("clf") == {"production": 1}
    assert mr.get_model("clf", alias="production").version == 1
    assert str(second).startswith("kept v1 in production")

    # New data with a different x1 scale, then v3: a full model on a fresh training dataset. Promoted.
    more = synthetic_rows(300, 300, seed=12, x1_mean=1.0, x1_sd=3.0)
    fg.insert(more)
    truth = pd.concat([truth, more], ignore_index=True)
    td3, train3, test3, scaler3 = split(fv, truth, seed=3)
    assert scaler3.std["x1"] > 1.5 * scaler1.std["x1"]  # the two models' transformations differ
    strong = LogisticRegression().fit(scaler3(train3), train3["y"])
    v3 = register(mr, fv, strong)
    assert v3.training_dataset_version == td3 != td1
    third = promote_if_better(mr, v3)
    assert third.promoted is True
    assert (third.candidate_version, third.production_version) == (3, 1)
    assert third.candidate_score == independent_auc(strong, scaler3, test3)
    assert third.production_score == independent_auc(weak, scaler1, test3)
    assert third.candidate_score > third.production_score
    assert mr.get_aliases("clf") == {"production": 3}
    assert str(third).startswith("promoted v3 in production")

    # Each model was scored with its own transformations: with the other's, both scores would differ.
    assert independent_auc(weak, scaler3, test3) != third.production_score
    assert independent_auc(strong, scaler1, test3) != third.candidate_score


def test_promotion_gate_with_a_shuffled_label_model_and_ties(store):
    fs, mr, fg, fv, truth = store
    td1, train1, test1, scaler1 = split(fv, truth, seed=5)
    good = LogisticRegression().fit(scaler1(train1), train1["y"])
    assert promote_if_better(mr, register(mr, fv, good), metric="accuracy").promoted is True

    # Trained on shuffled labels, on the same training dataset: no better than chance.
    shuffled = train1["y"].sample(frac=1, random_state=0).to_numpy()
    noise = LogisticRegression().fit(scaler1(train1), shuffled)
    decision = promote_if_better(mr, register(mr, fv, noise), metric="accuracy")
    assert decision.promoted is False and decision.metric == "accuracy"
    predicted = (noise.predict_proba(scaler1(test1))[:, 1] >= 0.5).astype(int)
    assert decision.candidate_score == round(float((predicted == test1["y"].to_numpy()).mean()), 4)
    assert decision.production_score > decision.candidate_score
    assert mr.get_aliases("clf") == {"production": 1}

    # A tie keeps the current model: the same estimator registered again is not promoted.
    tie = promote_if_better(mr, register(mr, fv, good), metric="accuracy")
    assert tie.candidate_score == tie.production_score
    assert tie.promoted is False
    assert mr.get_aliases("clf") == {"production": 1}


def test_promotion_gate_rejects_unknown_metric_and_models_without_a_training_dataset(store):
    fs, mr, fg, fv, truth = store
    split(fv, truth, seed=1)
    with pytest.raises(ValueError, match="precision"):
        promote_if_better(mr, register(mr, fv, DummyClassifier().fit([[0, 0], [1, 1]], [0, 1])), metric="precision")
    plain = mr.create_model("clf").save(DummyClassifier().fit([[0, 0], [1, 1]], [0, 1]))
    with pytest.raises(fti.ModelNotFoundError):
        promote_if_better(mr, plain)
    assert mr.get_aliases("clf") == {}
