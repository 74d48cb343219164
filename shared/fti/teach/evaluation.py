"""Scoring classifiers, and the promotion gate of a training pipeline.

A training pipeline should not put every model it trains into production. It
registers each one (so nothing is lost), then promotes it only if it beats the
current production model on rows **neither model trained on**.

Why not simply on the candidate's test rows? Each training run splits the data
afresh, so most of the candidate's test rows were *training* rows of the
production model, trained weeks ago on a split of its own. Scored on rows it
learnt from, the production model looks better than it is, and a better
candidate can rarely win. The registry records each model's lineage (feature
view, training dataset version, commit), so the gate can re-create both models'
training rows and leave out every row either of them learnt from. What is left,
the candidate's test rows that production never saw either, is a fair exam for
both. Each model is scored with its own feature view transformations, because
those were fitted with its own training data.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, average_precision_score, f1_score, roc_auc_score

from fti.clock import now
from fti.exceptions import ModelNotFoundError, ParameterError, PromotionError

if TYPE_CHECKING:
    from fti.store.feature_view import FeatureView
    from fti.store.registry import Model, ModelRegistry

METRICS = ("accuracy", "f1", "roc_auc", "pr_auc")
# Fewer shared unseen rows than this and a difference in scores is mostly luck: the gate keeps
# the production model and says so. ROC AUC on 30 rows still moves by about 0.1 from chance alone.
MIN_GATE_ROWS = 30


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


def score_on_rows(model: Model, X_raw: pd.DataFrame, y: pd.Series, metric: str) -> float:
    """Score a registered model on untransformed rows, using its own feature view transformations.

    Raises:
        ModelNotFoundError: The model has no feature view, so its inputs cannot be prepared.
    """
    view = model.feature_view
    if view is None:
        raise ModelNotFoundError(f"{model.label} has no feature view, so its inputs cannot be prepared")
    X = view.transform(X_raw[view.feature_names])
    scores = predict_scores(model.load(), X)
    if metric == "pr_auc":
        # Area under the precision-recall curve of the probabilities (average precision): the
        # measure for a rare class, where ROC AUC flatters.
        if len(np.unique(np.asarray(y))) < 2:
            return float("nan")
        return round(float(average_precision_score(np.asarray(y), scores)), 4)
    return classification_metrics(y, scores)[metric]


@dataclass(frozen=True)
class GateRows:
    """The rows the gate scores both models on: the candidate's test rows that neither model trained on.

    Attributes:
        X: Untransformed features, with the entity key column(s) in front.
        y: The labels of the same rows.
        keys: The entity key column(s) of ``X``.
        candidate_test_rows: How many test rows the candidate's training dataset has.
        excluded: How many of them are left out because a model trained on a row with that key.
    """

    X: pd.DataFrame = field(repr=False)
    y: pd.Series = field(repr=False)
    keys: list[str]
    candidate_test_rows: int
    excluded: int

    @property
    def row_keys(self) -> tuple:
        """The key of each row: a value for one key column, a tuple for several."""
        if len(self.keys) == 1:
            return tuple(self.X[self.keys[0]].tolist())
        return tuple(self.X[self.keys].itertuples(index=False, name=None))


def _lineage(model: Model, role: str) -> tuple[FeatureView, int]:
    view = model.feature_view
    if view is None or model.training_dataset_version is None:
        raise ModelNotFoundError(
            f"{role} {model.label} has no training dataset recorded, so the gate cannot tell which rows it "
            "trained on; register models with feature_view= after train_test_split"
        )
    return view, model.training_dataset_version


def _key_columns(view: FeatureView, X: pd.DataFrame) -> list[str]:
    """The entity key columns ``primary_key=True`` put in front of the features."""
    return list(X.columns[: len(X.columns) - len(view.feature_names)])


def _keys(frame: pd.DataFrame, keys: list[str]) -> pd.Index:
    return pd.MultiIndex.from_frame(frame[keys]) if len(keys) > 1 else pd.Index(frame[keys[0]])


def _training_keys(model: Model, role: str, keys: list[str]) -> pd.Index:
    """The entity keys of every row ``model`` trained on, re-created from its training dataset version."""
    view, version = _lineage(model, role)
    split = view.get_train_test_split(version, primary_key=True, transformed=False)
    X_train = split[0]  # a training dataset without a split (training_data) is all training rows
    own_keys = _key_columns(view, X_train)
    if own_keys != keys:
        raise PromotionError(
            f"{model.label} identifies rows by {own_keys} but the candidate by {keys}: the gate cannot tell "
            "which rows both models saw"
        )
    return _keys(X_train, keys)


def gate_rows(candidate: Model, production: Model | None = None) -> GateRows:
    """The candidate's test rows that neither ``candidate`` nor ``production`` trained on.

    Both training sets are re-created from the registry's lineage (feature view and
    training dataset version), so rows are compared by their entity key: a row is
    left out if either model trained on any row with the same key.

    Args:
        candidate: The model just trained; its training dataset must have test rows.
        production: The model it would replace, or None (then only the candidate's own
            training rows are left out).

    Raises:
        ModelNotFoundError: A model has no feature view or training dataset recorded.
        PromotionError: The candidate's training dataset has no test rows, or the two
            models' views identify rows by different keys.
    """
    view, version = _lineage(candidate, "candidate")
    split = view.get_train_test_split(version, primary_key=True, transformed=False)
    if len(split) != 4:
        raise PromotionError(
            f"candidate {candidate.label}: training dataset v{version} has no test rows (it was made with "
            "training_data()); make it with train_test_split so the gate has rows to score on"
        )
    X_train, X_test, _, y_test = split
    keys = _key_columns(view, X_test)
    seen = _keys(X_train, keys)
    if production is not None:
        seen = seen.append(_training_keys(production, "production", keys))
    unseen = ~_keys(X_test, keys).isin(seen)
    return GateRows(X=X_test[unseen].reset_index(drop=True), y=y_test[unseen].reset_index(drop=True), keys=keys,
                    candidate_test_rows=len(X_test), excluded=int((~unseen).sum()))


@dataclass(frozen=True)
class PromotionDecision:
    """What the promotion gate decided, on which rows, and on which figures.

    Attributes:
        promoted: Whether the alias now points at the candidate.
        metric: The metric compared (higher is better).
        candidate_version: The model version just trained.
        candidate_score: Its score on the gate's rows.
        production_version: The version the alias pointed to before (None: there was none).
        production_score: Its score on the same rows (None when there was no production model).
        rows: How many rows both were scored on: the candidate's test rows neither model trained on.
        candidate_test_rows: How many test rows the candidate's training dataset has.
        excluded: How many of those were left out because a model trained on them.
        candidate_training_dataset: The candidate's training dataset version (its test rows).
        production_training_dataset: Production's training dataset version (the rows left out).
        min_rows: The fewest rows the gate compares on; fewer keep the production model.
        row_keys: The entity key of each row scored, so the exam can be inspected.
        model: The model's name.
        decided_at: When the gate decided (`fti.now()`).
    """

    promoted: bool
    metric: str
    candidate_version: int
    candidate_score: float
    production_version: int | None
    production_score: float | None
    rows: int
    candidate_test_rows: int
    excluded: int
    candidate_training_dataset: int
    production_training_dataset: int | None
    min_rows: int = MIN_GATE_ROWS
    row_keys: tuple = field(default=(), repr=False)
    model: str = ""
    decided_at: pd.Timestamp | None = None

    @property
    def comparable(self) -> bool:
        """Whether there were enough rows and both scores are numbers (a metric needs both classes)."""
        scores = (self.candidate_score, self.production_score)
        return self.rows >= self.min_rows and not any(s is not None and math.isnan(s) for s in scores)

    def __str__(self) -> str:
        candidate = f"v{self.candidate_version}"
        if self.production_version is None:
            return (f"promoted {candidate} to production: there was no production model "
                    f"({self.metric} {self.candidate_score:.4f} on its {self.rows} test rows)")
        production = f"v{self.production_version}"
        exam = (f"on {self.rows} rows neither model trained on (the candidate's {self.candidate_test_rows} test "
                f"rows, less {self.excluded} that either model trained on)")
        if self.rows < self.min_rows:
            return (f"kept {production} in production: only {self.rows} rows neither model trained on, at least "
                    f"{self.min_rows} needed for a fair comparison (the candidate's {self.candidate_test_rows} test "
                    f"rows, less {self.excluded} that either model trained on)")
        if not self.comparable:
            return f"kept {production} in production: {self.metric} cannot be computed {exam} (one class only)"
        verb, winner = ("promoted", candidate) if self.promoted else ("kept", production)
        return (f"{verb} {winner} in production: candidate {candidate} {self.metric} {self.candidate_score:.4f} "
                f"vs production {production} {self.production_score:.4f} {exam}")

    def to_frame(self) -> pd.DataFrame:
        """The decision as one row, to keep in a feature group (``fg.insert(decision.to_frame())``).

        The rows scored are named by lineage: the test rows of training dataset
        ``candidate_training_dataset`` whose keys are in neither model's training rows.
        """
        def whole(value: int | None) -> pd.Series:
            return pd.Series([value], dtype="Int64")  # nullable: there may be no production model

        return pd.DataFrame({
            "model": [self.model],
            "candidate_version": whole(self.candidate_version),
            "decided_at": [self.decided_at],
            "promoted": [self.promoted],
            "metric": [self.metric],
            "candidate_score": [float(self.candidate_score)],
            "production_version": whole(self.production_version),
            "production_score": [np.nan if self.production_score is None else float(self.production_score)],
            "rows": whole(self.rows),
            "candidate_test_rows": whole(self.candidate_test_rows),
            "excluded": whole(self.excluded),
            "candidate_training_dataset": whole(self.candidate_training_dataset),
            "production_training_dataset": whole(self.production_training_dataset),
            "summary": [str(self)],
        })


def promote_if_better(registry: ModelRegistry, candidate: Model, metric: str = "roc_auc",
                      alias: str = "production", min_rows: int = MIN_GATE_ROWS) -> PromotionDecision:
    """Point ``alias`` at ``candidate`` only if it scores higher than the current model on rows neither saw.

    Both models are scored on the candidate's test rows, less every row either of
    them trained on (`gate_rows`), each with its own transformations. The
    candidate is promoted only when there are at least ``min_rows`` such rows and
    it scores strictly higher: ties, too few rows and a metric that cannot be
    computed keep the current model, because a new version has to earn its place.
    Without a production model the candidate is promoted on its own test rows.

    Args:
        registry: The model registry.
        candidate: A saved model version with a feature view (the one just trained).
        metric: One of ``accuracy``, ``f1``, ``roc_auc``, ``pr_auc`` (higher is better).
        alias: The alias to move.
        min_rows: The fewest rows neither model trained on that the gate compares on.

    Raises:
        ParameterError: An unknown metric or a ``min_rows`` below 1.
        ModelNotFoundError: The candidate or the production model has no training dataset recorded.
        PromotionError: The candidate's training dataset has no test rows, or the two models
            identify rows by different keys.
    """
    if metric not in METRICS:
        raise ParameterError(f"promotion gate: metric {metric!r} is not one of {METRICS}")
    if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 1:
        raise ParameterError(f"promotion gate: min_rows must be a whole number of at least 1, got {min_rows!r}")
    _lineage(candidate, "candidate")
    try:
        production = registry.get_model(candidate.name, alias=alias)
    except ModelNotFoundError:
        production = None
    exam = gate_rows(candidate, production)
    candidate_score = score_on_rows(candidate, exam.X, exam.y, metric) if len(exam.X) else float("nan")
    common = {
        "metric": metric, "candidate_version": candidate.version, "candidate_score": candidate_score,
        "rows": len(exam.X), "candidate_test_rows": exam.candidate_test_rows, "excluded": exam.excluded,
        "candidate_training_dataset": candidate.training_dataset_version, "min_rows": min_rows,
        "row_keys": exam.row_keys, "model": candidate.name, "decided_at": now(),
    }
    if production is None:
        registry.set_alias(candidate.name, alias, candidate.version)
        return PromotionDecision(promoted=True, production_version=None, production_score=None,
                                 production_training_dataset=None, **common)
    production_score = score_on_rows(production, exam.X, exam.y, metric) if len(exam.X) else float("nan")
    decision = PromotionDecision(promoted=False, production_version=production.version,
                                 production_score=production_score,
                                 production_training_dataset=production.training_dataset_version, **common)
    if decision.comparable and candidate_score > production_score:
        registry.set_alias(candidate.name, alias, candidate.version)
        decision = dataclasses.replace(decision, promoted=True)
    return decision
