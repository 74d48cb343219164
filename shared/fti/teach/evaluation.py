"""Scoring classifiers, and the promotion gate of a training pipeline.

A training pipeline should not put every model it trains into production. It
registers each one (so nothing is lost), then promotes it only if it beats the
current production model *on the same test rows*. Each model is scored with its
own feature view transformations, because those were fitted with its own
training data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from fti.exceptions import ModelNotFoundError

if TYPE_CHECKING:
    from fti.store.registry import Model, ModelRegistry

METRICS = ("accuracy", "f1", "roc_auc")


def classification_metrics(y_true: Any, y_score: Any, threshold: float = 0.5) -> dict[str, float]:
    """Accuracy, F1 and ROC AUC of predicted probabilities, rounded to 4 places.

    Args:
        y_true: The true 0/1 labels.
        y_score: Predicted probabilities of class 1.
        threshold: Probability from which a prediction counts as 1.
    """
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score, dtype=float)
    y_pred = (y_score >= threshold).astype(int)
    auc = roc_auc_score(y_true, y_score) if len(np.unique(y_true)) == 2 else float("nan")
    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "f1": round(float(f1_score(y_true, y_pred, zero_division=0)), 4),
        "roc_auc": round(float(auc), 4),
    }


def predict_scores(model: Any, X: pd.DataFrame) -> np.ndarray:
    """Probabilities of class 1 from any scikit-learn-style classifier."""
    return np.asarray(model.predict_proba(X))[:, 1]


@dataclass(frozen=True)
class PromotionDecision:
    """What the promotion gate decided, and on which figures."""

    promoted: bool
    metric: str
    candidate_version: int
    candidate_score: float
    production_version: int | None
    production_score: float | None

    def __str__(self) -> str:
        if self.production_version is None:
            return (f"promoted v{self.candidate_version} to production: there was no production model "
                    f"({self.metric} {self.candidate_score:.4f})")
        verb = "promoted" if self.promoted else "kept"
        winner = self.candidate_version if self.promoted else self.production_version
        return (f"{verb} v{winner} in production: candidate v{self.candidate_version} {self.metric} "
                f"{self.candidate_score:.4f} vs production v{self.production_version} "
                f"{self.production_score:.4f} on the same test rows")


def score_on_test_rows(model: Model, X_raw: pd.DataFrame, y: pd.Series, metric: str) -> float:
    """Score a registered model on untransformed test rows, using its own feature view transformations."""
    view = model.feature_view
    if view is None:
        raise ModelNotFoundError(f"{model.label} has no feature view, so its inputs cannot be prepared")
    X = view.transform(X_raw[view.feature_names])
    return classification_metrics(y, predict_scores(model.load(), X))[metric]


def promote_if_better(registry: ModelRegistry, candidate: Model, metric: str = "roc_auc",
                      alias: str = "production") -> PromotionDecision:
    """Point ``alias`` at ``candidate`` only if it scores higher than the model the alias points to now.

    Both models are scored on the test rows of the candidate's training dataset.
    Ties keep the current model: a new version has to earn its place.

    Args:
        registry: The model registry.
        candidate: A saved model version with a feature view (the one just trained).
        metric: One of ``accuracy``, ``f1``, ``roc_auc`` (higher is better).
        alias: The alias to move.
    """
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r} is not one of {METRICS}")
    view = candidate.feature_view
    if view is None or candidate.training_dataset_version is None:
        raise ModelNotFoundError(f"{candidate.label} has no training dataset, so it has no test rows")
    _, X_test, _, y_test = view.get_train_test_split(candidate.training_dataset_version, transformed=False)
    candidate_score = score_on_test_rows(candidate, X_test, y_test, metric)
    try:
        production = registry.get_model(candidate.name, alias=alias)
    except ModelNotFoundError:
        production = None
    if production is None:
        registry.set_alias(candidate.name, alias, candidate.version)
        return PromotionDecision(True, metric, candidate.version, candidate_score, None, None)
    production_score = score_on_test_rows(production, X_test, y_test, metric)
    promoted = candidate_score > production_score
    if promoted:
        registry.set_alias(candidate.name, alias, candidate.version)
    return PromotionDecision(promoted, metric, candidate.version, candidate_score,
                             production.version, production_score)
