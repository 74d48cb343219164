"""fti.teach.evaluation: classification metrics and the promotion gate of a training pipeline."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import KNeighborsClassifier

import fti
from fti.exceptions import ParameterError, PromotionError
from fti.teach.evaluation import MIN_GATE_ROWS, PromotionDecision, classification_metrics, gate_rows, promote_if_better

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


def synthetic_rows(first_id: int, n: int, seed: int, x1_mean: float = 0.0, x1_sd: float = 1.0,
                   noise: float = 0.5) -> pd.DataFrame:
    """y depends mostly on x1 and a little on x2 (the same rule in every batch), plus logistic noise."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(x1_mean, x1_sd, n)
    x2 = rng.normal(5.0, 2.0, n)
    logit = 2.0 * x1 + 0.4 * (x2 - 5.0) + rng.logistic(0, noise, n)
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


def unseen(test: pd.DataFrame, *trains: pd.DataFrame) -> pd.DataFrame:
    """The test rows whose id is in none of the training sets, computed here from the splits themselves."""
    seen = set().union(*(set(train["id"]) for train in trains))
    return test[~test["id"].isin(seen)].reset_index(drop=True)


def independent_auc(model, scaler: OwnScaler, rows: pd.DataFrame) -> float:
    return round(float(roc_auc_score(rows["y"], model.predict_proba(scaler(rows))[:, 1])), 4)


@pytest.fixture
def store(fs, mr):
    fg = fs.get_or_create_feature_group("points", primary_key=["id"], event_time="ts")
    first = synthetic_rows(0, 600, seed=11)
    fg.insert(first)
    fv = fs.get_or_create_feature_view("clf", version=1, query=fg.select(FEATURES + ["y"]), labels=["y"],
                                       transformation_functions={c: "standard_scaler" for c in FEATURES})
    return fs, mr, fg, fv, first


def register(mr, fv, model) -> fti.store.registry.Model:
    return mr.create_model("clf", metrics={}, feature_view=fv).save(model)


def test_promotion_gate_first_worse_then_better(store):
    fs, mr, fg, fv, truth = store

    # v1: weak, with hand-set weights that lean on x2, the minor feature. No production yet: promoted,
    # scored on its own test rows.
    td1, train1, test1, scaler1 = split(fv, truth, seed=1)
    weak = LogisticRegression().fit(scaler1(train1), train1["y"])
    weak.coef_ = np.array([[0.3, 1.0]])
    v1 = register(mr, fv, weak)
    assert (v1.version, v1.training_dataset_version) == (1, td1)
    first = promote_if_better(mr, v1)
    assert isinstance(first, PromotionDecision)
    assert first.promoted is True and first.metric == "roc_auc"
    assert (first.candidate_version, first.production_version, first.production_score) == (1, None, None)
    assert first.rows == first.candidate_test_rows == len(test1) == 180 and first.excluded == 0
    assert first.candidate_score == independent_auc(weak, scaler1, test1)
    assert 0.55 < first.candidate_score < 0.9
    assert mr.get_aliases("clf") == {"production": 1}
    assert "no production model" in str(first)

    # v2: a constant-probability model (AUC 0.5) is clearly worse: not promoted, the alias stays.
    td2, train2, test2, scaler2 = split(fv, truth, seed=2)
    dummy = DummyClassifier(strategy="prior").fit(scaler2(train2), train2["y"])
    v2 = register(mr, fv, dummy)
    second = promote_if_better(mr, v2)
    fair2 = unseen(test2, train1, train2)
    assert second.promoted is False
    assert (second.candidate_version, second.production_version) == (2, 1)
    # Both are scored only on v2's test rows that v1 did not train on, each with its own (td) scaler.
    assert second.rows == len(fair2) >= MIN_GATE_ROWS
    assert second.excluded == len(test2) - len(fair2) > 0
    assert sorted(second.row_keys) == sorted(fair2["id"])
    assert second.candidate_score == 0.5 == independent_auc(dummy, scaler2, fair2)
    assert second.production_score == independent_auc(weak, scaler1, fair2)
    assert (second.candidate_training_dataset, second.production_training_dataset) == (td2, td1)
    assert mr.get_aliases("clf") == {"production": 1}
    assert mr.get_model("clf", alias="production").version == 1
    assert str(second).startswith("kept v1 in production")
    assert f"on {len(fair2)} rows neither model trained on" in str(second)

    # New data with a different x1 scale, then v3: a full model on a fresh training dataset. Promoted.
    more = synthetic_rows(600, 300, seed=12, x1_mean=1.0, x1_sd=3.0)
    fg.insert(more)
    truth = pd.concat([truth, more], ignore_index=True)
    td3, train3, test3, scaler3 = split(fv, truth, seed=3)
    assert scaler3.std["x1"] > 1.5 * scaler1.std["x1"]  # the two models' transformations differ
    strong = LogisticRegression().fit(scaler3(train3), train3["y"])
    v3 = register(mr, fv, strong)
    third = promote_if_better(mr, v3)
    fair3 = unseen(test3, train1, train3)
    assert third.promoted is True
    assert (third.candidate_version, third.production_version, third.rows) == (3, 1, len(fair3))
    assert third.candidate_score == independent_auc(strong, scaler3, fair3)
    assert third.production_score == independent_auc(weak, scaler1, fair3)
    assert third.candidate_score > third.production_score
    assert mr.get_aliases("clf") == {"production": 3}
    assert str(third).startswith("promoted v3 in production")

    # Each model was scored with its own transformations: with the other's, both scores would differ.
    assert independent_auc(weak, scaler3, fair3) != third.production_score
    assert independent_auc(strong, scaler1, fair3) != third.candidate_score


def test_fair_gate_promotes_the_better_model_that_the_old_gate_kept(store):
    """Production memorised its training rows; the old gate scored it on many of them and kept it."""
    fs, mr, fg, fv, truth = store
    noisy = synthetic_rows(0, 600, seed=21, noise=1.0)  # labels the features predict only in part
    fg.insert(noisy)  # same ids: replaces the fixture's rows
    truth = noisy

    # v1, production: one nearest neighbour gives every training row back exactly (AUC 1 on them).
    td1, train1, test1, scaler1 = split(fv, truth, seed=1)
    memoriser = KNeighborsClassifier(n_neighbors=1).fit(scaler1(train1), train1["y"])
    assert promote_if_better(mr, register(mr, fv, memoriser)).promoted is True

    # A week later: more rows, and v2, a logistic regression on a new split.
    more = synthetic_rows(600, 200, seed=22, noise=1.0)
    fg.insert(more)
    truth = pd.concat([truth, more], ignore_index=True)
    td2, train2, test2, scaler2 = split(fv, truth, seed=2)
    logistic = LogisticRegression().fit(scaler2(train2), train2["y"])

    # The better model, judged on plenty of rows that neither model ever saw: the logistic regression.
    fresh = synthetic_rows(10_000, 4000, seed=23, noise=1.0)
    assert independent_auc(logistic, scaler2, fresh) > independent_auc(memoriser, scaler1, fresh) + 0.1

    # The old gate: both on all of v2's test rows, most of which v1 trained on. It keeps v1.
    overlap = test2["id"].isin(train1["id"]).mean()
    assert overlap > 0.5
    assert independent_auc(memoriser, scaler1, test2) > independent_auc(logistic, scaler2, test2)

    # The fair gate leaves those rows out, and promotes v2.
    decision = promote_if_better(mr, register(mr, fv, logistic))
    fair = unseen(test2, train1, train2)
    assert decision.promoted is True
    assert mr.get_aliases("clf") == {"production": 2}
    assert (decision.rows, decision.candidate_test_rows, decision.excluded) == (len(fair), len(test2),
                                                                                len(test2) - len(fair))
    assert decision.candidate_score == independent_auc(logistic, scaler2, fair)
    assert decision.production_score == independent_auc(memoriser, scaler1, fair)
    assert set(decision.row_keys).isdisjoint(train1["id"]) and set(decision.row_keys).isdisjoint(train2["id"])


def test_gate_rows_are_the_candidate_test_rows_neither_model_trained_on(store):
    fs, mr, fg, fv, truth = store
    td1, train1, _, scaler1 = split(fv, truth, seed=7)
    v1 = register(mr, fv, LogisticRegression().fit(scaler1(train1), train1["y"]))
    td2, train2, test2, scaler2 = split(fv, truth, seed=8)
    v2 = register(mr, fv, LogisticRegression().fit(scaler2(train2), train2["y"]))
    rows = gate_rows(v2, v1)
    expected = unseen(test2, train1, train2)
    assert rows.keys == ["id"]
    assert rows.X["id"].tolist() == expected["id"].tolist()
    assert rows.X.columns.tolist() == ["id"] + FEATURES
    np.testing.assert_allclose(rows.X[FEATURES].to_numpy(), expected[FEATURES].to_numpy())  # untransformed
    assert rows.y.tolist() == expected["y"].tolist()
    assert (rows.candidate_test_rows, rows.excluded) == (len(test2), len(test2) - len(expected))
    # Without a production model only the candidate's own training rows are left out: none of its test rows.
    assert len(gate_rows(v2).X) == len(test2)


def test_too_few_rows_neither_model_saw_keep_production(store):
    fs, mr, fg, fv, truth = store
    td1, train1, test1, scaler1 = split(fv, truth, seed=5)
    weak = DummyClassifier(strategy="prior").fit(scaler1(train1), train1["y"])
    promote_if_better(mr, register(mr, fv, weak))
    td2, train2, test2, scaler2 = split(fv, truth, seed=6)
    good = register(mr, fv, LogisticRegression().fit(scaler2(train2), train2["y"]))
    fair = unseen(test2, train1, train2)
    decision = promote_if_better(mr, good, min_rows=len(fair) + 1)
    assert decision.promoted is False and decision.comparable is False
    assert decision.candidate_score > decision.production_score  # better, but on too few rows to tell
    assert mr.get_aliases("clf") == {"production": 1}
    assert str(decision).startswith(f"kept v1 in production: only {len(fair)} rows neither model trained on, "
                                    f"at least {len(fair) + 1} needed")
    # With the minimum met, the same candidate is promoted.
    assert promote_if_better(mr, good, min_rows=len(fair)).promoted is True


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
    # Same training dataset: the rows neither trained on are its whole test set.
    assert decision.rows == len(test1) and decision.excluded == 0
    predicted = (noise.predict_proba(scaler1(test1))[:, 1] >= 0.5).astype(int)
    assert decision.candidate_score == round(float((predicted == test1["y"].to_numpy()).mean()), 4)
    assert decision.production_score > decision.candidate_score
    assert mr.get_aliases("clf") == {"production": 1}

    # A tie keeps the current model: the same estimator registered again is not promoted.
    tie = promote_if_better(mr, register(mr, fv, good), metric="accuracy")
    assert tie.candidate_score == tie.production_score
    assert tie.promoted is False
    assert mr.get_aliases("clf") == {"production": 1}


def test_the_decision_is_kept_as_one_row_of_a_feature_group(store):
    fs, mr, fg, fv, truth = store
    td1, train1, test1, scaler1 = split(fv, truth, seed=1)
    first = promote_if_better(mr, register(mr, fv, LogisticRegression().fit(scaler1(train1), train1["y"])))
    td2, train2, test2, scaler2 = split(fv, truth, seed=2)
    second = promote_if_better(mr, register(mr, fv, DummyClassifier().fit(scaler2(train2), train2["y"])))
    decisions = fs.get_or_create_feature_group("promotions", primary_key=["candidate_version"])
    decisions.insert(first.to_frame())  # no production model yet: empty production columns
    decisions.insert(second.to_frame())
    kept = decisions.read().sort_values("candidate_version").reset_index(drop=True)
    assert kept["candidate_version"].tolist() == [1, 2]
    assert kept["promoted"].tolist() == [True, False]
    assert pd.isna(kept.loc[0, "production_version"]) and kept.loc[1, "production_version"] == 1
    assert kept["rows"].tolist() == [first.rows, second.rows]
    assert kept["candidate_score"].tolist() == [first.candidate_score, second.candidate_score]
    assert kept.loc[1, "production_score"] == second.production_score
    assert kept["candidate_training_dataset"].tolist() == [td1, td2]
    assert kept.loc[1, "production_training_dataset"] == td1
    assert kept["decided_at"].tolist() == [first.decided_at, second.decided_at]
    assert first.decided_at <= second.decided_at <= fti.now()
    assert kept.loc[1, "summary"] == str(second)


def test_promotion_gate_rejects_bad_arguments_and_models_without_lineage(store):
    fs, mr, fg, fv, truth = store
    _, train1, _, scaler1 = split(fv, truth, seed=1)
    model = register(mr, fv, DummyClassifier().fit(scaler1(train1), train1["y"]))
    with pytest.raises(ParameterError, match="precision"):
        promote_if_better(mr, model, metric="precision")
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ParameterError, match="min_rows"):
            promote_if_better(mr, model, min_rows=bad)
    plain = mr.create_model("clf").save(DummyClassifier().fit([[0, 0], [1, 1]], [0, 1]))
    with pytest.raises(fti.ModelNotFoundError, match="candidate .* no training dataset"):
        promote_if_better(mr, plain)
    assert mr.get_aliases("clf") == {}
    # A production model without lineage: the gate cannot know which rows it trained on.
    mr.set_alias("clf", "production", plain.version)
    with pytest.raises(fti.ModelNotFoundError, match=f"production model 'clf' v{plain.version}"):
        promote_if_better(mr, model)
    assert mr.get_aliases("clf") == {"production": plain.version}
    # A candidate whose training dataset has no test rows has nothing to be examined on.
    fv.training_data()
    whole = register(mr, fv, DummyClassifier().fit(scaler1(train1), train1["y"]))
    with pytest.raises(PromotionError, match="no test rows"):
        promote_if_better(mr, whole)
