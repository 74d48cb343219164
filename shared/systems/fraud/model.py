"""The card-fraud model: XGBoost on the feature view's columns, a threshold for an alert budget, a rule baseline.

Fraud is rare (about 1 transaction in 200), so accuracy says nothing and ROC AUC
flatters: a model that ranks well among millions of legitimate transactions can still
raise ten false alerts for each fraud it catches. The training pipeline therefore judges
by the **precision-recall curve** of the predicted probabilities and its area (PR-AUC,
average precision), and by **recall at an alert budget**: the fraud team can review only
so many alerts a day, so the threshold is set on a validation split to raise at most
that share of alerts, and the model is judged by how much fraud it catches there.

`FraudModel` is what the registry stores: the booster, the columns it reads (the feature
view also returns raw times and places, which on-demand features need but a model should
not learn from), and the threshold chosen on the validation split, so that the online
service applies the same threshold the training pipeline measured. One request's row is
scored by walking the trees with NumPy (`FraudModel.score_vector`): XGBoost's own call
costs about 0.15 ms whatever the row count, several times the rest of a prediction.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import average_precision_score, precision_recall_curve

from fti.exceptions import SchemaError

from .features import MODEL_INPUTS

__all__ = [
    "ALERT_BUDGET", "FraudModel", "ModelParams", "alert_threshold", "pr_auc", "precision_recall_table",
    "recall_at_budget", "rule_scores", "train",
]

ALERT_BUDGET = 0.005
"""The share of transactions the fraud team can review: 1 in 200 raises an alert."""


@dataclass(frozen=True)
class ModelParams:
    """XGBoost's settings. Fixed seed and one thread: the same model bytes every run."""

    n_estimators: int = 200
    max_depth: int = 4
    learning_rate: float = 0.08
    subsample: float = 0.9
    colsample_bytree: float = 0.9
    seed: int = 42


def _matrix(X: pd.DataFrame, inputs: Sequence[str]) -> np.ndarray:
    """The model's input columns as a float matrix: booleans as 0/1, missing values as NaN."""
    missing = [name for name in inputs if name not in X.columns]
    if missing:
        raise SchemaError(f"the fraud model reads {missing}, which are not among the columns {list(X.columns)}: "
                          "give it the feature view's columns (X from train_test_split or get_batch_data)")
    return X[list(inputs)].astype("float64").to_numpy()


class _Trees:
    """The booster's trees as flat NumPy arrays, to score one row without XGBoost's per-call overhead.

    XGBoost spends about 0.15 ms on any call, even for one row of 200 shallow trees; walking
    all trees at once with NumPy takes a fraction of that. Splits follow XGBoost's rules: a
    value goes to ``yes`` when it is below the threshold (both as float32), to ``missing`` when
    it is NaN. A leaf points to itself, so every tree can take the same number of steps. The
    sum of the leaves plus the booster's base margin, through the logistic function, is the
    probability; `tests/systems/fraud` checks it against XGBoost's own.
    """

    def __init__(self, booster: xgb.Booster, example: np.ndarray):
        dumps = [json.loads(tree) for tree in booster.get_dump(dump_format="json")]
        width = 1 + max(_largest_node_id(tree) for tree in dumps)
        size = len(dumps) * width
        self.feature = np.zeros(size, dtype=np.int64)
        self.threshold = np.zeros(size, dtype=np.float32)
        self.yes, self.no, self.missing = (np.arange(size, dtype=np.int64) for _ in range(3))
        self.value = np.zeros(size, dtype=np.float64)
        self.depth = 0
        for index, tree in enumerate(dumps):
            self._fill(index * width, tree, 0)
        self.roots = np.arange(len(dumps), dtype=np.int64) * width
        # The base margin, as XGBoost applies it: its margin for a row less the row's leaves.
        row = np.asarray(example, dtype="float64")
        margin = float(booster.inplace_predict(row.reshape(1, -1), predict_type="margin")[0])
        self.base_margin = margin - float(self.value[self._leaves(row)].sum())

    def _fill(self, base: int, node: dict, depth: int) -> None:
        at = base + node["nodeid"]
        self.depth = max(self.depth, depth)
        if "leaf" in node:
            self.value[at] = node["leaf"]
            return
        self.feature[at] = int(node["split"].lstrip("f"))
        self.threshold[at] = np.float32(node["split_condition"])
        self.yes[at], self.no[at], self.missing[at] = base + node["yes"], base + node["no"], base + node["missing"]
        for child in node["children"]:
            self._fill(base, child, depth + 1)

    def _leaves(self, row: np.ndarray) -> np.ndarray:
        values = row.astype(np.float32)
        node = self.roots
        for _ in range(self.depth):
            x = values[self.feature[node]]
            step = np.where(x < self.threshold[node], self.yes[node], self.no[node])
            missing = np.isnan(x)  # NaN compares false, so it went to `no`; send it where XGBoost does
            if missing.any():
                step = np.where(missing, self.missing[node], step)
            node = step
        return node

    def probability(self, row: np.ndarray) -> float:
        margin = self.base_margin + float(self.value[self._leaves(row)].sum())
        return 1.0 / (1.0 + math.exp(-margin))


def _largest_node_id(node: dict) -> int:
    return max([node["nodeid"], *(_largest_node_id(child) for child in node.get("children", []))])


class FraudModel:
    """A trained booster with the columns it reads and its alert threshold.

    Args:
        booster: The trained XGBoost booster.
        inputs: The feature view columns it reads, in order.
        threshold: Probability from which a transaction raises an alert.
    """

    def __init__(self, booster: xgb.Booster, inputs: Sequence[str], threshold: float):
        # One thread: a single row is scored faster without waking a thread pool, and a server's
        # requests are answered one after another anyway.
        booster.set_param({"nthread": 1})
        self.booster = booster
        self.inputs = list(inputs)
        self.threshold = float(threshold)

    def __repr__(self) -> str:
        return f"FraudModel({len(self.inputs)} inputs, threshold {self.threshold:.4f})"

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probabilities of ``[legitimate, fraud]`` for each row of the feature view's columns."""
        fraud = self.booster.inplace_predict(_matrix(X, self.inputs))
        return np.column_stack([1.0 - fraud, fraud])

    def score_vector(self, values: Sequence[float]) -> float:
        """The fraud probability of one row given as values in `inputs` order (the serving path).

        Computed from the trees with NumPy (`_Trees`, made on first use), the same number as
        `predict_proba` gives for the row, in a fraction of XGBoost's per-call time.
        """
        row = np.asarray(values, dtype="float64")
        trees = self.__dict__.get("_trees")
        if trees is None:
            trees = self._trees = _Trees(self.booster, row)
        return trees.probability(row)

    def __getstate__(self) -> dict:
        # The NumPy copy of the trees is made again on first use: the registry keeps the booster only.
        state = dict(self.__dict__)
        state.pop("_trees", None)
        return state

    def importances(self) -> pd.Series:
        """Total gain of each input, largest first (inputs never used count 0)."""
        gain = self.booster.get_score(importance_type="total_gain")
        values = [gain.get(f"f{i}", gain.get(name, 0.0)) for i, name in enumerate(self.inputs)]
        return pd.Series(values, index=self.inputs, name="total_gain").sort_values(ascending=False)


def train(X: pd.DataFrame, y: pd.Series, params: ModelParams | None = None,
          inputs: Sequence[str] = MODEL_INPUTS) -> FraudModel:
    """Train XGBoost on the rows given, weighting fraud by the class ratio (threshold set later).

    The rare class is up-weighted by (legitimate / fraud) so the trees split on it at all;
    probabilities are then no longer calibrated, which is why the threshold is chosen on a
    validation split by alert budget rather than fixed at 0.5.
    """
    params = params or ModelParams()
    labels = np.asarray(y, dtype="float64")
    positives = max(float(labels.sum()), 1.0)
    matrix = xgb.DMatrix(_matrix(X, inputs), label=labels)
    booster = xgb.train(
        {
            "objective": "binary:logistic", "eval_metric": "aucpr", "max_depth": params.max_depth,
            "eta": params.learning_rate, "subsample": params.subsample, "colsample_bytree": params.colsample_bytree,
            "scale_pos_weight": (len(labels) - positives) / positives, "seed": params.seed, "nthread": 1,
            "tree_method": "hist",
        },
        matrix, num_boost_round=params.n_estimators,
    )
    return FraudModel(booster, inputs, threshold=0.5)


def pr_auc(y_true: Any, scores: Any) -> float:
    """Area under the precision-recall curve (average precision) of *scores*, not of 0/1 decisions."""
    y_true = np.asarray(y_true)
    if len(np.unique(y_true)) < 2:
        return float("nan")
    return round(float(average_precision_score(y_true, np.asarray(scores, dtype="float64"))), 4)


def alert_threshold(scores: Any, budget: float = ALERT_BUDGET) -> float:
    """The lowest threshold that raises alerts on at most ``budget`` of these rows."""
    scores = np.sort(np.asarray(scores, dtype="float64"))[::-1]
    allowed = int(np.floor(budget * len(scores)))
    if allowed == 0:
        return float(np.nextafter(scores[0], np.inf)) if len(scores) else 1.0
    # Alerts are scores >= threshold: take the allowed-th highest score, then step above any ties below it.
    threshold = scores[allowed - 1]
    if allowed < len(scores) and scores[allowed] == threshold:
        threshold = np.nextafter(threshold, np.inf)
    return float(threshold)


def recall_at_budget(y_true: Any, scores: Any, threshold: float) -> dict[str, float]:
    """Alerts, precision and recall of the rows whose score is at least ``threshold``."""
    y_true = np.asarray(y_true, dtype="int64")
    alerts = np.asarray(scores, dtype="float64") >= threshold
    caught = int((alerts & (y_true == 1)).sum())
    return {
        "alert_rate": round(float(alerts.mean()), 4) if len(alerts) else float("nan"),
        "alerts": int(alerts.sum()),
        "precision": round(caught / alerts.sum(), 4) if alerts.sum() else float("nan"),
        "recall": round(caught / (y_true == 1).sum(), 4) if (y_true == 1).sum() else float("nan"),
    }


def precision_recall_table(y_true: Any, scores: Any) -> pd.DataFrame:
    """The precision-recall curve as a table (``precision``, ``recall``, ``threshold``)."""
    precision, recall, thresholds = precision_recall_curve(np.asarray(y_true), np.asarray(scores, dtype="float64"))
    return pd.DataFrame({"precision": precision[:-1], "recall": recall[:-1], "threshold": thresholds})


def rule_scores(X: pd.DataFrame, max_per_10m: int = 3, max_speed_kmh: float = 1000.0) -> np.ndarray:
    """The rule a fraud team starts with: 1 when the card was used at least ``max_per_10m`` times in
    the 10 minutes up to its previous transaction, or would have had to travel faster than
    ``max_speed_kmh`` since then; else 0.

    A rule gives decisions, not probabilities: its precision-recall "curve" is one point.
    """
    busy = X["tx_count_10m"].fillna(0).to_numpy() >= max_per_10m
    fast = X["travel_speed_kmh"].fillna(0).to_numpy() > max_speed_kmh
    return (busy | fast).astype("float64")
