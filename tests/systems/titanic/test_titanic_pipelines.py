"""The Titanic system end to end: the five notebooks, run through the run layer over simulated days.

Backfill, training once, then the feature pipeline and batch inference for each
day (with drift switched on for the last days), and monitoring at the end. The
store must then hold exactly what those runs wrote. Each notebook is executed
the way the kit executes every notebook (`fti.run.execute.execute`), its store
and clock given to its kernel. Every test here is slow: the run takes a minute.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest

import fti
from fti.clock import NOW_VARIABLE
from fti.paths import NOTEBOOKS_DIR
from fti.run.execute import ExecutionRequest, execute
from fti.store.storage import STORE_VARIABLE

pytestmark = pytest.mark.slow

FOLDER = NOTEBOOKS_DIR / "titanic"
DAYS = ["2026-02-01", "2026-02-02", "2026-02-03", "2026-02-04"]
PER_DAY = 30
DRIFT_FROM = "2026-02-03"


def run(name: str, out_dir: Path, store: Path, now: str, **parameters: object) -> nbformat.NotebookNode:
    """Execute one notebook with the store and clock given to its kernel, and return the executed notebook."""
    target = out_dir / f"{len(list(out_dir.iterdir())):02d}_{name}.ipynb"
    result = execute(ExecutionRequest(
        notebook=FOLDER / f"{name}.ipynb", output=target, parameters=parameters,
        env={STORE_VARIABLE: str(store), NOW_VARIABLE: now}, timeout=600,
    ))
    assert result.ok, f"{name}: {result.error}\n{result.traceback or ''}"
    return nbformat.read(target, as_version=4)


def printed(notebook: nbformat.NotebookNode) -> str:
    return "".join(
        output.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    )


@pytest.fixture(scope="module")
def simulation(tmp_path_factory):
    """Run the system once for the whole module: it takes a minute."""
    root = tmp_path_factory.mktemp("titanic")
    store, runs, dashboards = root / "store", root / "runs", root / "dashboards"
    runs.mkdir()
    run("01_feature_backfill", runs, store, f"{DAYS[0]}T06:00:00Z", run_date=DAYS[0])
    run("03_training_pipeline", runs, store, f"{DAYS[0]}T06:30:00Z", run_date=DAYS[0])
    for day in DAYS:
        run("02_feature_pipeline", runs, store, f"{day}T23:00:00Z", run_date=day, passengers_per_day=PER_DAY,
            drift_start=DRIFT_FROM, drift_age_shift=25.0)
        run("04_batch_inference", runs, store, f"{day}T23:10:00Z", run_date=day, dashboard_dir=str(dashboards))
    # Four days of 30 passengers: 120 rows, enough for monitoring to judge (at least 100).
    monitoring = run("05_monitoring", runs, store, f"{DAYS[-1]}T23:20:00Z", run_date=DAYS[-1], window_days=4,
                     dashboard_dir=str(dashboards))
    return {"store": store, "dashboards": dashboards, "monitoring": monitoring}


def test_each_day_adds_its_passengers(simulation):
    passengers = fti.get_feature_store(simulation["store"]).get_feature_group("passengers", 1).read()
    per_day = passengers["boarded_at"].dt.strftime("%Y-%m-%d").value_counts()
    assert per_day["1912-04-10"] == 1309
    assert [int(per_day[day]) for day in DAYS] == [PER_DAY] * len(DAYS)
    assert len(passengers) == 1309 + PER_DAY * len(DAYS)


def test_one_prediction_per_new_passenger_with_the_production_version(simulation):
    fs = fti.get_feature_store(simulation["store"])
    passengers = fs.get_feature_group("passengers", 1).read()
    predictions = fs.get_feature_group("titanic_predictions", 1).read()
    new_ids = set(passengers.loc[passengers["boarded_at"].dt.year == 2026, "passenger_id"])
    assert len(predictions) == len(new_ids) == PER_DAY * len(DAYS)
    assert set(predictions["passenger_id"]) == new_ids
    production = fti.get_model_registry(simulation["store"]).get_model("titanic", alias="production")
    assert set(predictions["model_version"]) == {production.version}
    assert sorted(predictions["run_date"].unique()) == DAYS
    assert predictions["survival_probability"].between(0, 1).all()


def test_predictions_match_the_production_model_on_the_feature_view(simulation):
    fs = fti.get_feature_store(simulation["store"])
    production = fti.get_model_registry(simulation["store"]).get_model("titanic", alias="production")
    day = pd.Timestamp(DAYS[1], tz="UTC")
    batch = production.feature_view.get_batch_data(start_time=day, end_time=day + pd.Timedelta(days=1),
                                                   primary_key=True)
    expected = production.load().predict_proba(batch.drop(columns=["passenger_id"]))[:, 1].round(4)
    stored = fs.get_feature_group("titanic_predictions", 1).read().set_index("passenger_id")
    assert stored.loc[batch["passenger_id"], "survival_probability"].tolist() == pytest.approx(list(expected))


def test_the_dashboard_shows_the_last_day_with_both_panels(simulation):
    page = simulation["dashboards"] / "index.html"
    text = page.read_text()
    assert f"run date {DAYS[-1]} · model titanic v1" in text
    # Inference's panel first, then monitoring's: the verdict, and figures of both.
    assert text.index('id="04_batch_inference"') < text.index('id="05_monitoring"')
    assert '<div class="verdict retrain"><strong>RETRAIN</strong>' in text
    assert text.count("data:image/png;base64,") == 3  # predicted survival; accuracy and drift over time
    assert "promoted v1 to production: there was no production model" in text
    # Missing ages show as a dash, never as an empty cell.
    passengers = fti.get_feature_store(simulation["store"]).get_feature_group("passengers", 1).read()
    last_day = passengers[passengers["boarded_at"].dt.strftime("%Y-%m-%d") == DAYS[-1]]
    assert last_day["age"].isna().any()  # so the page has some to show
    assert "<td>—</td>" in text and "<td></td>" not in text
    assert not list(simulation["dashboards"].rglob("*.tmp"))


def test_the_decisions_are_kept_in_the_store(simulation):
    fs = fti.get_feature_store(simulation["store"])
    promotions = fs.get_feature_group("titanic_promotions", 1).read()
    assert promotions["candidate_version"].tolist() == [1] and promotions["promoted"].tolist() == [True]
    history = fs.get_feature_group("titanic_monitoring", 1).read()
    assert history["run_date"].tolist() == [DAYS[-1]]
    assert history["status"].tolist() == ["RETRAIN"] and history["rows"].tolist() == [PER_DAY * len(DAYS)]
    assert history["psi_age"].iloc[0] > 0.2 and history["model_version"].tolist() == [1]


def test_monitoring_finds_the_injected_age_drift(simulation):
    output = printed(simulation["monitoring"])
    assert "RETRAIN" in output and "drift in age" in output
    # Outside the scheduler, the request for retraining only says what it would ask for.
    assert "nothing is scheduled" in output and "03_training_pipeline" in output
    tables = [
        output_item["data"]["text/plain"]
        for cell in simulation["monitoring"].cells if cell.cell_type == "code"
        for output_item in cell.outputs if output_item.get("output_type") == "execute_result"
    ]
    hindcast = next(table for table in tables if "predictions" in table and "accuracy" in table)
    for day in DAYS:
        assert day in hindcast


def test_validation_reports_one_per_insert(simulation):
    fg = fti.get_feature_store(simulation["store"]).get_feature_group("passengers", 1)
    reports = fg.get_validation_reports()
    commits = fg.commit_details()
    # The backfill validates three frames (one refused on purpose) and each day one more.
    assert len(reports) == 3 + len(DAYS)
    assert reports["outcome"].tolist().count("rejected") == 1
    assert (commits["validation"] == "success").all()
    assert json.loads(reports["report"].iloc[-1])["success"] is True
