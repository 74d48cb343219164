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

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from sklearn.metrics import confusion_matrix

# Resolution of the PNGs shown in notebooks: sharp on a laptop screen, small in git.
NOTEBOOK_DPI = 100
# One colour per feature in drift figures (matplotlib's default cycle, named so the order is fixed).
_COLORS = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan",
           "tab:gray"]


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


def _calendar_days(values: pd.Series) -> pd.DatetimeIndex:
    """Dates (text, dates or times) as midnight timestamps."""
    return pd.DatetimeIndex(pd.to_datetime(values)).normalize()


def _daily(table: pd.DataFrame, x: str, columns: list[str]) -> pd.DataFrame:
    """``columns`` per calendar day from the first day to the last, empty (NaN) on days without a row.

    A line drawn through this breaks on the empty days, so a week without data shows as a
    gap instead of a straight line from the day before to the day after.
    """
    frame = table[columns].set_axis(_calendar_days(table[x]), axis=0)
    frame = frame[~frame.index.duplicated(keep="last")].sort_index()
    return frame.reindex(pd.date_range(frame.index.min(), frame.index.max(), freq="D"))


def _date_axis(axes: Axes, days: pd.DatetimeIndex) -> None:
    """Short date labels, and half a day of room on both sides so single days are visible."""
    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    if len(days):
        axes.set_xlim(days.min() - pd.Timedelta(hours=12), days.max() + pd.Timedelta(hours=12))


def _no_data(axes: Axes, text: str) -> None:
    axes.text(0.5, 0.5, text, transform=axes.transAxes, ha="center", va="center", color="gray")


def metric_over_time_figure(table: pd.DataFrame, x: str, y: str, title: str,
                            threshold: float | None = None) -> Figure:
    """A metric per day, with an optional threshold line; days without a value are gaps in the line.

    Args:
        table: One row per day (e.g. `fti.teach.monitoring.hindcast`).
        x: The day column (dates, times or ``YYYY-MM-DD`` text).
        y: The metric column, between 0 and 1.
        title: The figure's title.
        threshold: Draw this value as a dashed red line.
    """
    figure = NotebookFigure(figsize=(6, 3), layout="constrained")
    axes = figure.subplots()
    if len(table):
        daily = _daily(table, x, [y])
        axes.plot(daily.index, daily[y], marker="o")
        _date_axis(axes, daily.index)
    else:
        _no_data(axes, "no data yet")
    if threshold is not None:
        axes.axhline(threshold, color="tab:red", linestyle="--", label=f"threshold {threshold:g}")
        axes.legend(loc="lower left")
    axes.set_ylim(0, 1.05)
    axes.set_ylabel(y)
    axes.set_title(title)
    return figure


def drift_over_time_figure(history: pd.DataFrame, features: Sequence[str], threshold: float, title: str,
                           x: str = "run_date") -> Figure:
    """PSI per feature per day, as monitoring judged it each day, with the threshold.

    Days on which monitoring had too few rows to judge (``rows`` below ``min_rows``)
    are shaded, their PSI drawn as hollow, faint markers: a small sample's PSI is
    mostly chance. Days monitoring did not run are gaps. When ``model_version``
    changes, a dotted line marks the day the new production model was first judged.

    Args:
        history: One row per day as `fti.teach.monitoring.Verdict.to_frame` writes it:
            ``x``, ``psi_<feature>`` for each feature, and optionally ``rows`` with
            ``min_rows``, and ``model_version``.
        features: The features to draw, one line each.
        threshold: PSI above which a feature counts as drifted (a dashed red line).
        title: The figure's title.
        x: The day column.
    """
    figure = NotebookFigure(figsize=(7.5, 3.2), layout="constrained")
    axes = figure.subplots()
    axes.set_title(title)
    axes.set_ylabel("PSI")
    axes.axhline(threshold, color="tab:red", linestyle="--", label=f"threshold {threshold:g}")
    if not len(history):
        _no_data(axes, "monitoring has not run yet")
        axes.set_ylim(0, 2 * threshold)
        axes.legend(loc="upper left")
        return figure
    extra = [c for c in ("rows", "min_rows", "model_version") if c in history.columns]
    daily = _daily(history, x, [f"psi_{name}" for name in features] + extra)
    ran = daily[f"psi_{features[0]}"].notna() if features else pd.Series(False, index=daily.index)
    judged = daily["rows"] >= daily["min_rows"] if {"rows", "min_rows"} <= set(daily.columns) else ran
    too_few = ran & ~judged
    for day in daily.index[too_few]:
        axes.axvspan(day - pd.Timedelta(hours=12), day + pd.Timedelta(hours=12), color="0.9", linewidth=0)
    for name, color in zip(features, _COLORS, strict=False):
        psi = daily[f"psi_{name}"]
        axes.plot(daily.index, psi.where(judged), marker="o", color=color, label=name)
        if too_few.any():
            axes.plot(daily.index[too_few], psi[too_few], linestyle="none", marker="o", markerfacecolor="none",
                      color=color, alpha=0.5)
    if too_few.any():
        fewest = int(daily.loc[too_few, "min_rows"].max())
        axes.add_patch(Rectangle((0, 0), 0, 0, color="0.9", label=f"not enough data yet (< {fewest} rows)"))
    if "model_version" in daily.columns:
        versions = daily["model_version"].dropna()
        changes = versions[versions.ne(versions.shift()) & versions.shift().notna()]
        for position, (day, version) in enumerate(changes.items()):
            axes.axvline(day, color="0.3", linestyle=":", linewidth=1,
                         label="new model in production" if position == 0 else None)
            # Upright, beside its line: promotions on consecutive days stay readable.
            axes.annotate(f"v{int(version)}", (day, 1), xycoords=("data", "axes fraction"), xytext=(2, -3),
                          textcoords="offset points", fontsize=8, color="0.3", rotation=90, va="top")
    axes.set_ylim(0, max(2 * threshold, 1.1 * float(np.nanmax(daily[[f"psi_{n}" for n in features]].to_numpy()))))
    _date_axis(axes, daily.index)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
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


# -- forecasting figures (electricity demand and any other forecast) ---------------------------------


def forecast_figure(actual: pd.DataFrame, forecast: pd.DataFrame, title: str, *, time: str = "target_time",
                    value: str = "actual", predicted: str = "predicted", lower: str = "lower", upper: str = "upper",
                    past: pd.DataFrame | None = None, ylabel: str = "", coverage: float | None = None) -> Figure:
    """What happened, what was forecast for it, and the new forecast with its interval.

    Args:
        actual: Observed values: columns ``time`` and ``value``.
        forecast: The new forecast: ``time``, ``predicted``, ``lower`` and ``upper``.
        title: The figure's title.
        time: The time column of every frame.
        value: The observed column of ``actual``.
        predicted: The forecast column of ``forecast`` (and of ``past``).
        lower: Lower bound of the interval.
        upper: Upper bound of the interval.
        past: Earlier forecasts of the observed period (``time``, ``predicted``), dashed.
        ylabel: Label of the value axis (units).
        coverage: The interval's nominal coverage, for the legend (0.8: "80% interval").
    """
    figure = NotebookFigure(figsize=(8, 3.2), layout="constrained")
    axes = figure.subplots()
    axes.plot(pd.to_datetime(actual[time]), actual[value], color="black", linewidth=1.2, label="actual")
    if past is not None and len(past):
        # One line per issued forecast, broken between days, so each day's forecast reads on its own.
        past = past.sort_values(time)
        axes.plot(pd.to_datetime(past[time]), past[predicted], color="tab:blue", linestyle="--", linewidth=1,
                  label="forecast (day ahead)")
    times = pd.to_datetime(forecast[time])
    band = "interval" if coverage is None else f"{coverage:.0%} interval"
    axes.fill_between(times, forecast[lower], forecast[upper], color="tab:orange", alpha=0.25, linewidth=0,
                      label=band)
    axes.plot(times, forecast[predicted], color="tab:orange", linewidth=1.6, label="new forecast")
    if len(times):
        axes.axvline(times.min(), color="0.5", linestyle=":", linewidth=1)
    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend(loc="upper left", fontsize=8, ncols=4)
    return figure


def lines_figure(table: pd.DataFrame, x: str, columns: Sequence[str], title: str, *, xlabel: str = "",
                 ylabel: str = "", threshold: float | None = None, threshold_label: str = "") -> Figure:
    """One line per column against ``x`` (a lead time, a day): errors of several forecasts side by side.

    Args:
        table: One row per ``x``.
        x: The horizontal axis column (numbers or times).
        columns: The columns to draw, one line each, labelled by name.
        title: The figure's title.
        xlabel: Label of the horizontal axis.
        ylabel: Label of the vertical axis.
        threshold: Draw this value as a dashed red line.
        threshold_label: Its legend entry.
    """
    figure = NotebookFigure(figsize=(6, 3), layout="constrained")
    axes = figure.subplots()
    if len(table):
        xs = table[x]
        if pd.api.types.is_datetime64_any_dtype(xs) or pd.api.types.is_string_dtype(xs):
            xs = pd.to_datetime(xs)
            locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
            axes.xaxis.set_major_locator(locator)
            axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        for name, color in zip(columns, _COLORS, strict=False):
            axes.plot(xs, table[name], marker="o", markersize=3, color=color, label=name)
    else:
        _no_data(axes, "no data yet")
    if threshold is not None:
        axes.axhline(threshold, color="tab:red", linestyle="--", label=threshold_label or f"{threshold:g}")
    axes.set_ylim(bottom=0)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend(fontsize=8)
    return figure


def bars_figure(table: pd.DataFrame, title: str, *, ylabel: str = "", reference: float | None = None,
                reference_label: str = "", decimals: int = 3) -> Figure:
    """Grouped bars with their values written on them: rows are groups (e.g. folds), columns the bars of each.

    A table of one row gives one bar per column, named on the axis: a comparison of a few numbers.

    Args:
        table: Groups as the index, one column per bar of a group.
        title: The figure's title.
        ylabel: Label of the value axis.
        reference: Draw this value as a dashed line (e.g. MASE 1, the seasonal naive scale).
        reference_label: Its legend entry.
        decimals: Decimals of the numbers written on the bars.
    """
    groups, series = list(table.index), list(table.columns)
    if len(groups) == 1:
        figure = NotebookFigure(figsize=(max(5.0, 1.3 * len(series) + 1), 3.2), layout="constrained")
        axes = figure.subplots()
        values = table.iloc[0].to_numpy(dtype=float)
        bars = axes.bar(np.arange(len(series)), values, color=_COLORS[: len(series)], width=0.6)
        axes.bar_label(bars, labels=[f"{v:.{decimals}f}" for v in values], fontsize=8, padding=1)
        axes.set_xticks(np.arange(len(series)), [str(name) for name in series], fontsize=8)
        if reference is not None:
            axes.axhline(reference, color="tab:red", linestyle="--", linewidth=1, label=reference_label or None)
            if reference_label:
                axes.legend(fontsize=8)
        axes.set_ylabel(ylabel)
        axes.set_xlabel(str(groups[0]))
        axes.set_title(title)
        axes.margins(y=0.15)
        return figure
    figure = NotebookFigure(figsize=(max(5.0, 1.2 * len(groups) * max(1, len(series)) ** 0.5 + 2), 3.2),
                            layout="constrained")
    axes = figure.subplots()
    width = 0.8 / max(1, len(series))
    positions = np.arange(len(groups))
    for i, (name, color) in enumerate(zip(series, _COLORS, strict=False)):
        values = table[name].to_numpy(dtype=float)
        bars = axes.bar(positions + (i - (len(series) - 1) / 2) * width, values, width=width * 0.95, color=color,
                        label=str(name))
        axes.bar_label(bars, labels=[f"{v:.{decimals}f}" for v in values], fontsize=7, padding=1)
    if reference is not None:
        axes.axhline(reference, color="tab:red", linestyle="--", linewidth=1, label=reference_label or None)
    axes.set_xticks(positions, [str(g) for g in groups])
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.margins(y=0.15)
    if len(series) > 1 or reference_label:
        axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return figure


def panels_figure(table: pd.DataFrame, x: str, columns: Sequence[str], title: str,
                  ylabels: Sequence[str] | None = None) -> Figure:
    """One panel per column, sharing the time axis: several series of the same days, one above the other."""
    figure = NotebookFigure(figsize=(8, 1.6 * len(columns) + 0.6), layout="constrained")
    axes = figure.subplots(len(columns), 1, sharex=True, squeeze=False)[:, 0]
    times = pd.to_datetime(table[x])
    for i, (ax, name, color) in enumerate(zip(axes, columns, _COLORS, strict=False)):
        ax.plot(times, table[name], color=color, linewidth=1)
        ax.set_ylabel(ylabels[i] if ylabels else name)
    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    axes[-1].xaxis.set_major_locator(locator)
    axes[-1].xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    axes[0].set_title(title)
    return figure


def precision_recall_figure(curves: dict[str, tuple[Sequence[float], Sequence[float]]],
                            points: dict[str, tuple[float, float]] | None = None, title: str = "",
                            base_rate: float | None = None) -> Figure:
    """Precision against recall: a line per scored model, a marker per fixed decision.

    A classifier that gives probabilities has a curve (one point per threshold); a rule
    or a chosen threshold is a single point on it. For a rare class the curve, not the ROC
    curve, shows what an alert costs: how many of the alerts raised are right.

    Args:
        curves: ``{name: (recall, precision)}``, e.g. from ``sklearn.metrics.precision_recall_curve``.
        points: ``{name: (recall, precision)}`` of decisions: a rule, the threshold in use.
        title: The figure's title.
        base_rate: The positive share, drawn as the precision of guessing.
    """
    figure = NotebookFigure(figsize=(5.5, 4), layout="constrained")
    axes = figure.subplots()
    for index, (name, (recall, precision)) in enumerate(curves.items()):
        axes.plot(recall, precision, color=_COLORS[index % len(_COLORS)], label=name, drawstyle="steps-post")
    markers = ["o", "s", "D", "^"]
    for index, (name, (recall, precision)) in enumerate((points or {}).items()):
        axes.plot([recall], [precision], linestyle="none", marker=markers[index % len(markers)], markersize=8,
                  color=_COLORS[(index + len(curves)) % len(_COLORS)], label=name)
    if base_rate is not None:
        axes.axhline(base_rate, color="0.6", linestyle=":", label=f"guessing ({base_rate:.2%})")
    axes.set_xlim(0, 1.02)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("recall (share of fraud caught)")
    axes.set_ylabel("precision (share of alerts that are fraud)")
    axes.set_title(title)
    # Lower left: a useful curve stays high until far to the right.
    axes.legend(loc="lower left", fontsize="small")
    return figure
