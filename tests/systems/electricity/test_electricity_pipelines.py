"""The electricity system end to end: its notebooks run through the run layer over simulated days.

Backfill on 1 September 2014, then for three days the feature pipeline, training
(the first day), batch inference and monitoring, then the leak lesson. The store
must then hold exactly what those runs wrote, point-in-time correct. Each
notebook is executed the way the kit executes every notebook
(`fti.run.execute.execute`), its store and clock given to its kernel. A second
test runs two days of the schedule twice with the runner and compares the stores.
Every test here is slow: the run takes minutes.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

import fti
from fti.clock import NOW_VARIABLE
from fti.paths import NOTEBOOKS_DIR
from fti.run import runner
from fti.run.execute import ExecutionRequest, execute
from fti.run.schedule import load_schedule
from fti.store.storage import STORE_VARIABLE, Store
from systems import electricity

pytestmark = pytest.mark.slow

FOLDER = NOTEBOOKS_DIR / "electricity"
DAYS = ["2014-09-01", "2014-09-02", "2014-09-03"]
FEATURE_GROUPS = ["demand", "weather", "weather_forecasts", "targets", "demand_features", "demand_predictions"]


def run(name: str, out_dir: Path, store: Path, now: str, **parameters: object) -> nbformat.NotebookNode:
    """Execute one notebook with the store and clock given to its kernel; return the executed notebook."""
    target = out_dir / f"{len(list(out_dir.iterdir())):02d}_{name}.ipynb"
    result = execute(ExecutionRequest(
        notebook=FOLDER / f"{name}.ipynb", output=target, parameters=parameters,
        env={STORE_VARIABLE: str(store), NOW_VARIABLE: now}, timeout=900,
    ))
    assert result.ok, f"{name}: {result.error}\n{result.traceback or ''}"
    return nbformat.read(target, as_version=4)


def printed(notebook: nbformat.NotebookNode) -> str:
    """Everything a notebook's code cells printed or showed as text."""
    return "".join(output.get("text", "") + output.get("data", {}).get("text/plain", "")
                   for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs)


@pytest.fixture(scope="module")
def simulation(tmp_path_factory):
    root = tmp_path_factory.mktemp("electricity")
    store, runs, dashboards = root / "store", root / "runs", root / "dashboards"
    runs.mkdir()
    run("01_feature_backfill", runs, store, f"{DAYS[0]}T23:00:00Z", run_date=DAYS[0])
    for day in DAYS:
        run("02_feature_pipeline", runs, store, f"{day}T23:01:00Z", run_date=day)
        if day == DAYS[0]:
            run("03_training_pipeline", runs, store, f"{day}T23:02:00Z", run_date=day)
        run("04_batch_inference", runs, store, f"{day}T23:03:00Z", run_date=day, dashboard_dir=str(dashboards))
        monitoring = run("05_monitoring", runs, store, f"{day}T23:04:00Z", run_date=day,
                         dashboard_dir=str(dashboards))
    # The same night again: a re-run of inference rewrites the same 48 forecasts.
    rerun = run("04_batch_inference", runs, store, f"{DAYS[-1]}T23:03:00Z", run_date=DAYS[-1],
                dashboard_dir=str(dashboards))
    lesson = run("06_leak_lesson", runs, store, f"{DAYS[-1]}T23:05:00Z", run_date=DAYS[-1], folds=2)
    return {"store": store, "dashboards": dashboards, "monitoring": monitoring, "rerun": rerun, "lesson": lesson}


def group(simulation, name: str) -> pd.DataFrame:
    return fti.get_feature_store(simulation["store"]).get_feature_group(name, 1).read()


def test_each_day_arrives_once(simulation):
    demand = group(simulation, "demand")
    history = electricity.history(electricity.load_demand(), until=DAYS[0])
    assert len(demand) == len(history) + 48 * len(DAYS)
    assert demand["timestamp"].max() == pd.Timestamp(DAYS[-1], tz="UTC") + pd.Timedelta(hours=23.5)
    assert demand["timestamp"].is_unique


def test_one_forecast_issue_per_cutoff_with_both_times(simulation):
    forecasts = group(simulation, "weather_forecasts")
    issues = forecasts.groupby("issue_time").size()
    assert issues.index.max() == electricity.cutoff(DAYS[-1])
    assert (issues == 96).all()
    # A half-hour is forecast by two issues, a day apart: both are kept.
    valid = electricity.cutoff(DAYS[-1]) + pd.Timedelta(hours=12)
    assert len(forecasts[forecasts["valid_time"] == valid]) == 2


def test_48_predictions_per_night_by_the_production_model(simulation):
    predictions = group(simulation, "demand_predictions")
    per_issue = predictions.groupby("issue_time").size()
    assert per_issue.index.tolist() == [electricity.cutoff(day) for day in DAYS]
    assert (per_issue == 48).all()
    first = predictions[predictions["issue_time"] == electricity.cutoff(DAYS[0])]
    assert first["target_time"].tolist() == list(pd.date_range(electricity.cutoff(DAYS[0]), periods=48,
                                                               freq="30min"))
    production = fti.get_model_registry(simulation["store"]).get_model("electricity_demand", alias="production")
    assert set(predictions["model_version"]) == {production.version}
    assert (predictions["lower_gw"] <= predictions["predicted_gw"]).all()
    assert (predictions["predicted_gw"] <= predictions["upper_gw"]).all()
    assert "inserted=0, updated=0, unchanged=48" in printed(simulation["rerun"])


def test_stored_predictions_are_the_production_model_on_its_feature_view(simulation):
    registry = fti.get_model_registry(simulation["store"])
    production = registry.get_model("electricity_demand", alias="production")
    forecaster = electricity.Forecaster.load(production.load())
    cutoff = electricity.cutoff(DAYS[1])
    batch = production.feature_view.get_batch_data(start_time=cutoff, end_time=cutoff + pd.Timedelta(days=1),
                                                   primary_key=True, event_time=True)
    stored = group(simulation, "demand_predictions").set_index(["target_time", "issue_time"])
    expected = forecaster.predict(batch).round(4)
    got = stored.loc[list(zip(batch["target_time"], batch["issue_time"], strict=True)), "predicted_gw"]
    np.testing.assert_allclose(got.to_numpy(), expected)


def test_training_rows_see_the_forecast_issued_at_their_cutoff(simulation):
    registry = fti.get_model_registry(simulation["store"])
    production = registry.get_model("electricity_demand", alias="production")
    X, y = production.feature_view.get_training_data(production.training_dataset_version, primary_key=True,
                                                     event_time=True)
    forecasts = group(simulation, "weather_forecasts").rename(columns={"valid_time": "target_time",
                                                                        "temperature_c": "issued"})
    recent = X[X["issue_time"] >= pd.Timestamp("2014-08-20", tz="UTC")]
    joined = recent.merge(forecasts[["target_time", "issue_time", "issued", "lead_hours"]],
                          on=["target_time", "issue_time"], how="left")
    assert len(joined) == len(recent) and joined["issued"].notna().all()
    assert (joined["temperature_c"] == joined["issued"]).all()
    assert joined["lead_hours"].max() == 23.5  # never a forecast issued after the cutoff (lead < 0) or older
    # Labels: the demand that happened at each target time.
    demand = group(simulation, "demand").set_index("timestamp")["demand_gw"]
    labelled = X.assign(y=y).dropna(subset=["y"]).tail(200)
    np.testing.assert_array_equal(labelled["y"].to_numpy(), demand.loc[labelled["target_time"]].to_numpy())


def test_monitoring_judges_the_nights_with_known_outcomes(simulation):
    output = printed(simulation["monitoring"])
    # The forecasts of 2 and 3 September have outcomes by the evening of the 3rd.
    assert "96 forecasts with known outcomes, 2 day(s)" in output
    assert "MASE over the last 2 day(s) is" in output
    page = (simulation["dashboards"] / "index.html").read_text()
    assert "Day-ahead forecast" in page and "Monitoring" in page
    assert page.count("data:image/png;base64,") >= 3
    assert f"for {pd.Timestamp(DAYS[-1]) + pd.Timedelta(days=1):%A %d %B %Y}" in page


def test_the_leak_lesson_shows_the_promise_and_the_delivery(simulation):
    output = printed(simulation["lesson"])
    assert "Backtest: the oracle promises MASE" in output and "worse than promised" in output
    tables = [item["data"]["text/plain"] for cell in simulation["lesson"].cells if cell.cell_type == "code"
              for item in cell.outputs if item.get("output_type") == "execute_result" and "data" in item]
    results = next(table for table in tables if "oracle, backtest" in table)
    rows = {line.split("  ")[0].strip(): float(line.split()[-1]) for line in results.splitlines()[2:]}
    assert rows["oracle, backtest"] < rows["oracle, live"]
    assert rows["oracle, backtest"] < rows["honest"] < rows["seasonal naive, m=48"]


def test_two_simulations_write_the_same_store(tmp_path):
    schedule = load_schedule("electricity")
    contents = []
    for attempt in ("first", "second"):
        store = Store(tmp_path / attempt / "store")
        summary = runner.simulate(schedule, 2, store=store, runs_dir=tmp_path / attempt / "runs", progress=False,
                                  echo=lambda line: None,
                                  overrides={"dashboard_dir": str(tmp_path / attempt / "dashboards")})
        assert summary.ok, summary.table()
        fs = fti.get_feature_store(store.path)
        contents.append({name: fs.get_feature_group(name, 1).read() for name in FEATURE_GROUPS})
        contents[-1]["commits"] = pd.concat(fs.get_feature_group(name, 1).commit_details() for name in FEATURE_GROUPS)
    for name in contents[0]:
        pd.testing.assert_frame_equal(contents[0][name], contents[1][name], obj=name)
