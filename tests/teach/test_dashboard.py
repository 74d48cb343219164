"""fti.teach.dashboard (one static HTML page per run) and the figures of fti.teach.plots."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from fti.exceptions import ParameterError
from fti.teach import plots
from fti.teach.dashboard import MISSING, figure_png, write_dashboard, write_panel
from fti.teach.monitoring import Verdict

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def sections():
    """Fresh content each call (new figure objects), the same every time."""
    table = pd.DataFrame({"passenger_id": [1000001, 1000002], "predicted_survived": [1, 0],
                          "age": [22.5, None], "note": ["<b>vip</b>", "a & b"]})
    figure = plots.confusion_matrix_figure([0, 1, 1, 0], [0, 1, 0, 0], ["died", "survived"], "Hindcast")
    return [
        ("Predictions <today>", table),
        ("Confusion matrix", figure),
        ("Notes", "accuracy < 0.7 & drift in \"age\""),
    ]


def embedded_pngs(page: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def test_write_dashboard_writes_one_page_with_title_tables_and_figures(tmp_path):
    target = tmp_path / "dashboards" / "titanic" / "index.html"  # folders are created
    returned = write_dashboard(target, "Titanic <survival>", "run 2024-05-01, model v3", sections())
    assert returned == target and target.is_file()
    assert sorted(p.name for p in target.parent.iterdir()) == ["index.html"]  # no leftover .tmp file
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>Titanic &lt;survival&gt;</title>" in page
    assert "<h1>Titanic &lt;survival&gt;</h1>" in page
    assert "run 2024-05-01, model v3" in page
    # The table: a real HTML table with headers and values; a missing age shows as a dash, never blank.
    assert page.count("<table") == 1
    for text in ("<th>passenger_id</th>", "<th>predicted_survived</th>", "<td>1000001</td>", "<td>22.5</td>",
                 "<td>—</td>"):
        assert text in page
    assert MISSING == "—" and "<td></td>" not in page
    # The figure: one embedded, decodable PNG.
    pngs = embedded_pngs(page)
    assert len(pngs) == 1 and pngs[0].startswith(PNG_SIGNATURE)
    # Headings and sections in order.
    assert re.findall(r"<h2>(.*?)</h2>", page) == ["Predictions &lt;today&gt;", "Confusion matrix", "Notes"]


def test_write_dashboard_escapes_html_in_headings_text_and_cells(tmp_path):
    page = write_dashboard(tmp_path / "index.html", "A & B", "<script>alert(1)</script>",
                           sections()).read_text(encoding="utf-8")
    assert "<script>" not in page and "<b>" not in page and "<today>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<p>accuracy &lt; 0.7 &amp; drift in &quot;age&quot;</p>" in page
    assert "&lt;b&gt;vip&lt;/b&gt;" in page and "a &amp; b" in page
    assert "<h1>A &amp; B</h1>" in page


def test_write_dashboard_is_deterministic_and_replaces_the_page(tmp_path):
    first = write_dashboard(tmp_path / "a" / "index.html", "Titanic", "run 2024-05-01", sections()).read_bytes()
    second = write_dashboard(tmp_path / "b" / "index.html", "Titanic", "run 2024-05-01", sections()).read_bytes()
    assert first == second
    # Rewriting in place gives the same bytes too; other content replaces it entirely.
    path = tmp_path / "a" / "index.html"
    write_dashboard(path, "Titanic", "run 2024-05-01", sections())
    assert path.read_bytes() == first
    write_dashboard(path, "Titanic", "run 2024-05-02", [("Only text", "nothing else")])
    page = path.read_text(encoding="utf-8")
    assert "2024-05-02" in page and "2024-05-01" not in page and "<table" not in page
    assert sorted(p.name for p in path.parent.iterdir()) == ["index.html"]


def test_figure_png_has_no_software_metadata_and_is_stable():
    figure = plots.probability_histogram_figure([0.1, 0.5, 0.9], "scores")
    png = figure_png(figure)
    assert png.startswith(PNG_SIGNATURE)
    assert b"Software" not in png and b"matplotlib" not in png.lower()
    assert figure_png(plots.probability_histogram_figure([0.1, 0.5, 0.9], "scores")) == png


# --------------------------------------------------------------------------- plots


def test_confusion_matrix_figure_annotates_the_counts():
    y_true = [0, 0, 0, 1, 1, 1, 1]
    y_pred = [0, 0, 1, 1, 1, 1, 0]
    figure = plots.confusion_matrix_figure(y_true, y_pred, ["died", "survived"], "Test set")
    assert isinstance(figure, Figure) and len(figure.axes) == 1
    axes = figure.axes[0]
    # Row = actual, column = predicted: TN 2, FP 1, FN 1, TP 3.
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in axes.texts}
    assert cells == {(0, 0): "2", (0, 1): "1", (1, 0): "1", (1, 1): "3"}
    assert [t.get_text() for t in axes.get_xticklabels()] == ["died", "survived"]
    assert axes.get_title() == "Test set"
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("predicted", "actual")


def test_confusion_matrix_figure_three_classes():
    figure = plots.confusion_matrix_figure([0, 1, 2, 2], [0, 2, 2, 2], ["1st", "2nd", "3rd"], "class")
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert len(texts) == 9
    assert sorted(int(t) for t in texts) == [0, 0, 0, 0, 0, 0, 1, 1, 2]


def test_feature_importance_figure_puts_the_most_important_on_top():
    figure = plots.feature_importance_figure(["age", "sex", "pclass"], [0.2, 0.5, 0.3], "importance")
    assert isinstance(figure, Figure) and len(figure.axes) == 1
    bars = figure.axes[0].patches
    assert len(bars) == 3
    by_height = sorted(bars, key=lambda bar: bar.get_y())
    assert [round(bar.get_width(), 6) for bar in by_height] == [0.2, 0.3, 0.5]  # bottom to top
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels == ["age", "pclass", "sex"]


def test_metric_over_time_figure_with_and_without_threshold():
    table = pd.DataFrame({"run_date": ["2024-05-01", "2024-05-02", "2024-05-03"], "accuracy": [0.8, 0.75, 0.6]})
    plain = plots.metric_over_time_figure(table, "run_date", "accuracy", "Hindcast")
    assert isinstance(plain, Figure) and len(plain.axes) == 1
    assert len(plain.axes[0].lines) == 1 and plain.axes[0].get_legend() is None
    np.testing.assert_allclose(plain.axes[0].lines[0].get_ydata(), [0.8, 0.75, 0.6])
    marked = plots.metric_over_time_figure(table, "run_date", "accuracy", "Hindcast", threshold=0.7)
    lines = marked.axes[0].lines
    assert len(lines) == 2
    np.testing.assert_allclose(lines[1].get_ydata(), [0.7, 0.7])
    assert [t.get_text() for t in marked.axes[0].get_legend().get_texts()] == ["threshold 0.7"]
    assert marked.axes[0].get_ylim() == pytest.approx((0, 1.05))


def test_metric_over_time_figure_leaves_gaps_for_days_without_values():
    # Two days, then a week with no predictions, then one day: the line must not bridge the week.
    table = pd.DataFrame({"run_date": ["2024-05-01", "2024-05-02", "2024-05-10"], "accuracy": [0.8, 0.7, 0.6]})
    line = plots.metric_over_time_figure(table, "run_date", "accuracy", "Hindcast").axes[0].lines[0]
    x = pd.to_datetime(line.get_xdata())
    y = np.asarray(line.get_ydata(), dtype=float)
    assert list(x) == list(pd.date_range("2024-05-01", "2024-05-10"))  # every calendar day...
    assert np.isnan(y[2:9]).all()  # ...empty from 3 to 9 May, so matplotlib breaks the line there
    np.testing.assert_allclose(y[[0, 1, 9]], [0.8, 0.7, 0.6])
    # Unsorted input is drawn in date order; an empty table draws an empty axes that says so.
    shuffled = plots.metric_over_time_figure(table.iloc[::-1], "run_date", "accuracy", "Hindcast").axes[0].lines[0]
    np.testing.assert_allclose(np.asarray(shuffled.get_ydata(), dtype=float)[[0, 1, 9]], [0.8, 0.7, 0.6])
    empty = plots.metric_over_time_figure(table.iloc[:0], "run_date", "accuracy", "Hindcast")
    assert [t.get_text() for t in empty.axes[0].texts] == ["no data yet"]


def monitoring_history() -> pd.DataFrame:
    """Five monitored days (4 May missing): two with too few rows, a new model on the 6th."""
    return pd.DataFrame({
        "run_date": ["2024-05-01", "2024-05-02", "2024-05-03", "2024-05-05", "2024-05-06"],
        "rows": [20, 40, 100, 140, 140],
        "min_rows": [100] * 5,
        "psi_age": [1.5, 0.6, 0.05, 0.9, 0.04],
        "psi_sex": [0.3, 0.1, 0.02, 0.03, 0.01],
        "model_version": pd.array([1, 1, 1, 1, 2], dtype="Int64"),
    })


def test_drift_over_time_figure_draws_judged_days_and_shades_the_rest():
    figure = plots.drift_over_time_figure(monitoring_history(), ["age", "sex"], threshold=0.2, title="Drift")
    axes = figure.axes[0]
    lines = {line.get_label(): line for line in axes.lines}
    assert axes.get_title() == "Drift" and axes.get_ylabel() == "PSI"
    # One line per feature over every calendar day: judged values only, gaps elsewhere.
    age = np.asarray(lines["age"].get_ydata(), dtype=float)
    assert len(age) == 6
    np.testing.assert_allclose(age[[2, 4, 5]], [0.05, 0.9, 0.04])
    assert np.isnan(age[[0, 1, 3]]).all()  # two days with too few rows, and 4 May when monitoring did not run
    # The threshold, the shaded days with too few rows and their legend entry.
    threshold = next(line for line in axes.lines if line.get_label() == "threshold 0.2")
    np.testing.assert_allclose(threshold.get_ydata(), [0.2, 0.2])
    legend = [t.get_text() for t in axes.get_legend().get_texts()]
    assert legend == ["threshold 0.2", "age", "sex", "not enough data yet (< 100 rows)", "new model in production"]
    shaded = [patch for patch in axes.patches if patch.get_label() != "not enough data yet (< 100 rows)"]
    assert len(shaded) == 2
    # The unjudged PSIs are still there, faint and hollow: chance on a small sample.
    faint = [line for line in axes.lines if line.get_label().startswith("_") and line.get_alpha() == 0.5]
    assert sorted(np.round(np.concatenate([line.get_ydata() for line in faint]), 2).tolist()) == [0.1, 0.3, 0.6, 1.5]
    # The day the production model changed is marked with its version.
    assert [t.get_text() for t in axes.texts] == ["v2"]
    assert figure.to_png().startswith(b"\x89PNG")


def test_drift_over_time_figure_before_monitoring_ever_ran():
    figure = plots.drift_over_time_figure(monitoring_history().iloc[:0], ["age"], threshold=0.2, title="Drift")
    assert [t.get_text() for t in figure.axes[0].texts] == ["monitoring has not run yet"]


def test_distribution_figure_numbers_and_categories():
    rng = np.random.default_rng(0)
    numbers = plots.distribution_figure(pd.Series(rng.normal(30, 10, 200)), pd.Series(rng.normal(40, 10, 50)), "age")
    assert isinstance(numbers, Figure) and len(numbers.axes) == 1
    assert len(numbers.axes[0].patches) == 40  # two histograms of 20 bins
    categories = plots.distribution_figure(pd.Series([1, 2, 3, 3]), pd.Series([3, 3, 3, 1]), "pclass")
    bars = categories.axes[0].patches
    assert len(bars) == 6  # three classes, two samples
    assert [round(bar.get_height(), 6) for bar in bars] == [0.25, 0.25, 0.5, 0.25, 0.0, 0.75]
    assert [t.get_text() for t in categories.axes[0].get_legend().get_texts()] == ["training", "recent"]


def test_probability_histogram_figure_has_ten_bins_counting_every_score():
    scores = [0.05, 0.15, 0.15, 0.55, 0.95, 1.0]
    figure = plots.probability_histogram_figure(scores, "Predicted survival")
    assert isinstance(figure, Figure) and len(figure.axes) == 1
    heights = [bar.get_height() for bar in figure.axes[0].patches]
    assert len(heights) == 10
    assert heights == [1, 2, 0, 0, 0, 1, 0, 0, 0, 2]


# --------------------------------------------------------------------------- panels and verdicts


def test_a_verdict_shows_as_a_coloured_box_with_its_reasons(tmp_path):
    calm = Verdict(retrain=False, reasons=["drift: not enough data yet: 20 recent rows, at least 100 needed"],
                   enough_data=False)
    alarm = Verdict(retrain=True, reasons=["accuracy <low>", "drift in age"])
    page = write_dashboard(tmp_path / "index.html", "T", "s", [("Today", calm), ("Later", alarm)]).read_text()
    assert ('<div class="verdict waiting"><strong>NOT ENOUGH DATA YET</strong><ul><li>drift: not enough data yet: '
            "20 recent rows, at least 100 needed</li></ul></div>") in page
    assert ('<div class="verdict retrain"><strong>RETRAIN</strong><ul><li>accuracy &lt;low&gt;</li>'
            "<li>drift in age</li></ul></div>") in page


def test_panels_of_two_pipelines_make_one_page_in_name_order(tmp_path):
    folder = tmp_path / "dashboards" / "titanic"
    # Monitoring writes first (yesterday's page is gone); inference second: the page still follows the names.
    write_panel(folder, "05_monitoring", "Titanic", "Monitoring", "run date 2024-05-01",
                [("Verdict", Verdict(retrain=False, reasons=["fine"]))])
    page_path = write_panel(folder, "04_batch_inference", "Titanic", "Predictions", "run date 2024-05-02",
                            sections())
    assert page_path == folder / "index.html"
    page = page_path.read_text(encoding="utf-8")
    assert page.index('id="04_batch_inference"') < page.index('id="05_monitoring"')
    assert re.findall(r"<h2>(.*?)</h2>", page) == ["Predictions", "Monitoring"]
    assert '<a href="#04_batch_inference">Predictions</a>' in page and '<a href="#05_monitoring">Monitoring</a>' in page
    # Each panel keeps its own date line: the monitoring panel is a day older.
    assert "run date 2024-05-02" in page and "run date 2024-05-01" in page
    assert "2 panels, each written by its own pipeline" in page
    assert re.findall(r"<h3>(.*?)</h3>", page) == ["Predictions &lt;today&gt;", "Confusion matrix", "Notes",
                                                   "Verdict"]
    assert len(embedded_pngs(page)) == 1
    # A panel written again replaces itself only.
    write_panel(folder, "05_monitoring", "Titanic", "Monitoring", "run date 2024-05-02",
                [("Verdict", Verdict(retrain=True, reasons=["drift in age"]))])
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert "run date 2024-05-01" not in page and page.count('id="05_monitoring"') == 1
    assert "RETRAIN" in page and "<td>—</td>" in page
    assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == [
        "04_batch_inference.html", "05_monitoring.html", "index.html"]  # no leftover .tmp files


@pytest.mark.parametrize("bad", ["", "../evil", "a b", "_hidden", 5])
def test_a_panel_name_must_be_a_plain_file_name(tmp_path, bad):
    with pytest.raises(ParameterError, match="panel name"):
        write_panel(tmp_path, bad, "T", "H", "s", [("x", "y")])
    assert not (tmp_path / "index.html").exists()
