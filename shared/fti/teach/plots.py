"""The figures the example notebooks and dashboards show.

Figures are built without pyplot, so a notebook displays each one exactly once
(as the cell's value) and a pipeline running without a screen needs no backend
settings. Jupyter shows a plain matplotlib ``Figure`` only as the text
``<Figure size ...>`` unless pyplot's inline backend is active, so every figure
here is a `NotebookFigure`: a ``Figure`` that gives Jupyter its own PNG. The PNG
carries no timestamp or version metadata, so the same data gives the same bytes
and committed notebooks stay stable.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix

# Resolution of the PNGs shown in notebooks: sharp on a laptop screen, small in git.
NOTEBOOK_DPI = 100


class NotebookFigure(Figure):
    """A matplotlib ``Figure`` that Jupyter displays as an image (PNG) without pyplot."""

    def to_png(self, dpi: int = NOTEBOOK_DPI) -> bytes:
        """The figure as PNG bytes, the same bytes for the same figure (no metadata)."""
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
        return buffer.getvalue()

    def _repr_png_(self) -> bytes:
        return self.to_png()


def confusion_matrix_figure(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str],
                            title: str) -> Figure:
    """A 2x2 (or k x k) confusion matrix with counts in the cells."""
    matrix = confusion_matrix(y_true, y_pred, labels=list(range(len(labels))))
    figure = NotebookFigure(figsize=(4, 3.5), layout="constrained")
    axes = figure.subplots()
    axes.imshow(matrix, cmap="Blues")
    for (row, column), count in np.ndenumerate(matrix):
        color = "white" if count > matrix.max() / 2 else "black"
        axes.text(column, row, str(count), ha="center", va="center", color=color)
    axes.set_xticks(range(len(labels)), labels)
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("actual")
    axes.set_title(title)
    return figure


def feature_importance_figure(names: Sequence[str], importances: Sequence[float], title: str) -> Figure:
    """Horizontal bars, most important feature on top."""
    order = np.argsort(importances)
    figure = NotebookFigure(figsize=(5, 0.4 * len(names) + 1), layout="constrained")
    axes = figure.subplots()
    axes.barh(np.asarray(names)[order], np.asarray(importances)[order], color="tab:blue")
    axes.set_xlabel("importance")
    axes.set_title(title)
    return figure


def metric_over_time_figure(table: pd.DataFrame, x: str, y: str, title: str,
                            threshold: float | None = None) -> Figure:
    """A metric per day, with an optional threshold line."""
    figure = NotebookFigure(figsize=(6, 3), layout="constrained")
    axes = figure.subplots()
    axes.plot(pd.to_datetime(table[x]), table[y], marker="o")
    if threshold is not None:
        axes.axhline(threshold, color="tab:red", linestyle="--", label=f"threshold {threshold:g}")
        axes.legend(loc="lower left")
    axes.set_ylim(0, 1.05)
    axes.set_ylabel(y)
    axes.set_title(title)
    figure.autofmt_xdate()
    return figure


def distribution_figure(reference: pd.Series, current: pd.Series, title: str,
                        labels: tuple[str, str] = ("training", "recent")) -> Figure:
    """Two overlaid normalised histograms (numbers) or bar pairs (categories)."""
    figure = NotebookFigure(figsize=(5, 3), layout="constrained")
    axes = figure.subplots()
    if pd.api.types.is_numeric_dtype(reference.dtype) and reference.nunique() > 12:
        edges = np.histogram_bin_edges(pd.concat([reference, current]).dropna(), bins=20)
        axes.hist(reference.dropna(), bins=edges, density=True, alpha=0.5, label=labels[0])
        axes.hist(current.dropna(), bins=edges, density=True, alpha=0.5, label=labels[1])
    else:
        categories = sorted(set(reference.dropna()) | set(current.dropna()), key=str)
        positions = np.arange(len(categories))
        shares = [[(series == c).mean() for c in categories] for series in (reference, current)]
        axes.bar(positions - 0.2, shares[0], width=0.4, label=labels[0])
        axes.bar(positions + 0.2, shares[1], width=0.4, label=labels[1])
        axes.set_xticks(positions, [str(c) for c in categories])
    axes.legend()
    axes.set_title(title)
    return figure


def probability_histogram_figure(scores: Sequence[float], title: str) -> Figure:
    """Histogram of predicted probabilities."""
    figure = NotebookFigure(figsize=(5, 3), layout="constrained")
    axes = figure.subplots()
    axes.hist(np.asarray(scores, dtype=float), bins=np.linspace(0, 1, 11), color="tab:green", edgecolor="white")
    axes.set_xlabel("predicted probability")
    axes.set_ylabel("passengers")
    axes.set_title(title)
    return figure
