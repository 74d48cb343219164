"""Monitoring: is the production model still good, and is its input still like its training data?

Two questions, two tools:

* **Hindcast.** Predictions are made before the outcome is known. Once outcomes
  arrive, join them to the past predictions and measure accuracy per day.
* **Drift.** Compare the distribution of each feature in recent data with the
  training data. The population stability index (PSI) sums, over bins,
  ``(current% - reference%) * ln(current% / reference%)``; by a common rule of
  thumb, below 0.1 is stable, 0.1 to 0.2 a moderate shift and above 0.2 a
  significant one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

PSI_FLOOR = 1e-4  # share given to an empty bin, so the logarithm stays finite
RARE_SHARE = 0.05  # categories below this share of the reference are pooled
CATEGORICAL_LIMIT = 12  # numeric columns with this many distinct values or fewer count as categories


def _is_categorical(series: pd.Series) -> bool:
    if ptypes.is_bool_dtype(series.dtype) or not ptypes.is_numeric_dtype(series.dtype):
        return True
    # Numbers with few distinct values (counts, flags, a column that is mostly zero) have
    # quantiles that collapse into one bin; compared value by value, a shift still shows.
    return series.nunique(dropna=True) <= CATEGORICAL_LIMIT


def population_stability_index(reference: pd.Series, current: pd.Series, bins: int = 10) -> float:
    """PSI of ``current`` against ``reference``.

    Numbers are binned at the reference's quantiles; categories (text, booleans,
    numbers with few distinct values) are compared value by value, with the rare ones
    pooled (new categories land in that pool too). Missing values are a bin of
    their own, so a jump in missing values counts as drift.

    Raises:
        ValueError: Either series is empty.
    """
    if len(reference) == 0 or len(current) == 0:
        raise ValueError(f"population_stability_index of '{reference.name}': both samples need rows")
    if _is_categorical(reference):
        # Categories rarer than RARE_SHARE in the reference share one bin: a handful of
        # passengers with 8 siblings should not decide on their own that data drifted.
        shares = reference.dropna().value_counts(normalize=True)
        common = sorted(shares[shares >= RARE_SHARE].index, key=str)
        ref_bins = [int((reference == value).sum()) for value in common]
        cur_bins = [int((current == value).sum()) for value in common]
        ref_bins.append(int(reference.notna().sum()) - sum(ref_bins))
        cur_bins.append(int(current.notna().sum()) - sum(cur_bins))
    else:
        present = reference.dropna().astype("float64")
        edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1))) if len(present) else np.array([])
        inner = edges[1:-1]

        def count(values: pd.Series) -> list[int]:
            values = values.dropna().astype("float64").to_numpy()
            return np.bincount(np.searchsorted(inner, values, side="right"), minlength=len(inner) + 1).tolist()

        ref_bins, cur_bins = count(reference), count(current)
    ref_bins.append(int(reference.isna().sum()))
    cur_bins.append(int(current.isna().sum()))
    ref = np.maximum(np.asarray(ref_bins, dtype=float) / len(reference), PSI_FLOOR)
    cur = np.maximum(np.asarray(cur_bins, dtype=float) / len(current), PSI_FLOOR)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def drift_table(reference: pd.DataFrame, current: pd.DataFrame, features: list[str],
                threshold: float = 0.2) -> pd.DataFrame:
    """PSI per feature, with the means of both samples and whether it crosses ``threshold``."""
    rows = []
    for name in features:
        numeric = ptypes.is_numeric_dtype(reference[name].dtype) and not ptypes.is_bool_dtype(reference[name].dtype)
        rows.append({
            "feature": name,
            "reference_mean": round(float(reference[name].mean()), 3) if numeric else None,
            "current_mean": round(float(current[name].mean()), 3) if numeric else None,
            "psi": round(population_stability_index(reference[name], current[name]), 4),
        })
    table = pd.DataFrame(rows)
    table["drifted"] = table["psi"] > threshold
    return table


def hindcast(predictions: pd.DataFrame, outcomes: pd.DataFrame, key: str, predicted: str, actual: str,
             by: str) -> pd.DataFrame:
    """Accuracy of past predictions per ``by`` (e.g. run date), for the rows whose outcome is known.

    Args:
        predictions: One row per prediction, with ``key``, ``predicted`` and ``by``.
        outcomes: One row per known outcome, with ``key`` and ``actual``.
        key: The column joining the two.
        predicted: The predicted label column.
        actual: The true label column.
        by: The column to group by.

    Returns:
        One row per group: ``by``, predictions, correct, accuracy.
    """
    joined = predictions[[key, by, predicted]].merge(outcomes[[key, actual]], on=key, how="inner")
    joined["correct"] = (joined[predicted].astype("int64") == joined[actual].astype("int64")).astype("int64")
    table = joined.groupby(by, sort=True).agg(predictions=("correct", "size"), correct=("correct", "sum"))
    table["accuracy"] = (table["correct"] / table["predictions"]).round(4)
    return table.reset_index()


@dataclass(frozen=True)
class Verdict:
    """Retrain or not, and why."""

    retrain: bool
    reasons: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        head = "RETRAIN" if self.retrain else "NO RETRAIN NEEDED"
        return "\n".join([head] + [f"  - {reason}" for reason in self.reasons])


def verdict(accuracy: pd.DataFrame, drift: pd.DataFrame, min_accuracy: float, window: int) -> Verdict:
    """Decide on retraining from a hindcast table and a drift table.

    Retrain when the accuracy of the last ``window`` groups is below
    ``min_accuracy``, or when any feature drifted.
    """
    reasons = []
    recent = accuracy.tail(window)
    if len(recent):
        rate = recent["correct"].sum() / recent["predictions"].sum()
        status = "below" if rate < min_accuracy else "at or above"
        reasons.append(f"accuracy over the last {len(recent)} day(s) is {rate:.3f}, {status} {min_accuracy:.3f}")
        low = bool(rate < min_accuracy)
    else:
        reasons.append("no predictions with known outcomes yet")
        low = False
    drifted = drift.loc[drift["drifted"], "feature"].tolist()
    if drifted:
        reasons.append(f"drift in {', '.join(drifted)} (PSI above threshold)")
    else:
        reasons.append("no feature drifted beyond the threshold")
    return Verdict(low or bool(drifted), reasons)
