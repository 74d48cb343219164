"""`fti run` with real kernels on the three-notebook system in tests/run/notebooks/mini.

Kernels take a second or two to start, so these tests run few executions:
the rules themselves (cadences, catch-up, --force...) are in test_schedule.py.
Both tests are marked slow (``pytest -m "not slow"`` leaves them out).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import nbformat
import pytest

from fti.run import runlog, runner
from fti.run.schedule import load_schedule
from fti.store.storage import Store

MINI = Path(__file__).resolve().parent / "notebooks" / "mini"
# The run log's wall-clock columns, and papermill's timing and path metadata, are the only
# things allowed to differ between two simulations of the same days.
WALL_CLOCK_COLUMNS = {"started_at", "duration_s", "output_path"}
PAPERMILL_VOLATILE = {"start_time", "end_time", "duration", "input_path", "output_path"}


def log_rows(log) -> list[tuple[str, str, str]]:
    """(notebook, run date, status) of each run in a run log frame."""
    return list(zip(log["notebook"], log["run_date"].astype(str).str[:10], log["status"], strict=True))


def copy_mini(folder: Path, fail_on: str | None = None) -> Path:
    """The mini system in ``folder``, its features notebook failing on ``fail_on`` if given."""
    shutil.copytree(MINI, folder)
    if fail_on:
        path = folder / "pipelines.yml"
        text = path.read_text().replace("  - notebook: 02_features\n",
                                        f"  - notebook: 02_features\n    parameters: {{fail_on: '{fail_on}'}}\n")
        path.write_text(text)
    return folder


def fti(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fti", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def store_tables(store: Path) -> dict[str, list[tuple]]:
    """Every table of the store's DuckDB file, rows sorted, without the run log's wall-clock columns."""
    con = duckdb.connect(str(store / "offline.duckdb"), read_only=True)
    try:
        tables = {}
        for (name,) in con.execute("SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall():
            columns = [c for (c,) in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
                [name]).fetchall() if not (name == runlog.RUNS_TABLE and c in WALL_CLOCK_COLUMNS)]
            rows = con.execute(f"SELECT {', '.join(columns)} FROM {name}").fetchall()
            tables[name] = sorted(rows, key=repr)
        return tables
    finally:
        con.close()


def comparable_notebook(path: Path) -> dict:
    notebook = nbformat.read(path, as_version=4)
    for key in PAPERMILL_VOLATILE:
        notebook.metadata.papermill.pop(key, None)
    for cell in notebook.cells:
        for key in ("start_time", "end_time", "duration"):
            cell.metadata.get("papermill", {}).pop(key, None)
    return notebook


@pytest.mark.slow
def test_failure_stops_the_chain_then_resume_finishes(tmp_path):
    system = copy_mini(tmp_path / "mini", fail_on="2026-01-06")
    store, runs = tmp_path / "store", tmp_path / "runs"
    common = ["--store", str(store), "--runs-dir", str(runs), "--no-progress"]

    failed = fti("run", str(system), "--start", "2026-01-05", "--days", "3", *common)
    assert failed.returncode == 1, failed.stderr
    executed = runs / "mini" / "2026-01-06" / "02_features.ipynb"
    # The failing cell's error and the executed notebook's path are printed.
    assert "FAILED: 2026-01-06 02_features: cell [" in failed.stderr
    assert "ValueError: no data for 2026-01-06" in failed.stderr
    assert f"executed notebook: {executed}" in failed.stderr
    assert "stopped on 2026-01-06" in failed.stdout
    assert executed.exists() and not (runs / "mini" / "2026-01-06" / "03_predict.ipynb").exists()
    assert not (runs / "mini" / "2026-01-07").exists(), "no day after the failed one"
    source = nbformat.read(system / "02_features.ipynb", as_version=4)
    assert all(not cell.get("outputs") for cell in source.cells), "the source notebook is never written"

    log = runlog.get_runs("mini", store=store)
    assert log_rows(log) == [
        ("01_backfill", "2026-01-05", "ok"), ("02_features", "2026-01-05", "ok"), ("03_predict", "2026-01-05", "ok"),
        ("02_features", "2026-01-06", "failed"), ("03_predict", "2026-01-06", "skipped")]
    failure = log.iloc[3]
    assert failure["error"].endswith("ValueError: no data for 2026-01-06")
    assert failure["output_path"] == str(executed)
    assert json.loads(failure["parameters"]) == {"fail_on": "2026-01-06", "run_date": "2026-01-06"}
    assert str(failure["scheduled_at"]).startswith("2026-01-06 23:01:00")
    assert (log["duration_s"] > 0).iloc[:4].all()

    # Fix the schedule and resume: the failed day and the one after it run, nothing else.
    (system / "pipelines.yml").write_text((MINI / "pipelines.yml").read_text())
    resumed = fti("run", str(system), "--resume", *common)
    assert resumed.returncode == 0, resumed.stderr
    log = runlog.get_runs("mini", store=store)
    assert log_rows(log)[5:] == [
        ("02_features", "2026-01-06", "ok"), ("03_predict", "2026-01-06", "ok"),
        ("02_features", "2026-01-07", "ok"), ("03_predict", "2026-01-07", "ok")]
    # The failed attempt is kept beside the new one, and the log follows it.
    attempt = executed.with_name("02_features.attempt-1.ipynb")
    assert attempt.exists() and log.iloc[3]["output_path"] == str(attempt)
    assert "ValueError" in attempt.read_text()

    listing = fti("runs", "mini", "--store", str(store), "--status", "failed")
    assert listing.returncode == 0 and "02_features" in listing.stdout and "03_predict" not in listing.stdout


@pytest.mark.slow
def test_two_simulations_of_the_same_days_are_identical(tmp_path):
    schedule = load_schedule(MINI)
    summaries = []
    for attempt in ("a", "b"):
        summary = runner.simulate(schedule, 2, store=Store(tmp_path / attempt / "store"),
                                  runs_dir=tmp_path / attempt / "runs", progress=False)
        assert summary.ok, summary.table()
        summaries.append(summary)
    first, second = (store_tables(tmp_path / attempt / "store") for attempt in ("a", "b"))
    assert len(first["fti_commits"]) == 3 and len(first[runlog.RUNS_TABLE]) == 5, "the notebooks wrote to the store"
    assert first == second

    outputs = sorted(p.relative_to(tmp_path / "a" / "runs") for p in (tmp_path / "a" / "runs").rglob("*.ipynb"))
    assert [str(p) for p in outputs] == [
        "mini/2026-01-05/01_backfill.ipynb", "mini/2026-01-05/02_features.ipynb", "mini/2026-01-05/03_predict.ipynb",
        "mini/2026-01-06/02_features.ipynb", "mini/2026-01-06/03_predict.ipynb"]
    for relative in outputs:
        assert comparable_notebook(tmp_path / "a" / "runs" / relative) == comparable_notebook(
            tmp_path / "b" / "runs" / relative), relative
    # The notebooks saw the fixed clock: the commit of 2026-01-06's features is stamped 23:01 that day.
    features = nbformat.read(tmp_path / "a" / "runs" / "mini" / "2026-01-06" / "02_features.ipynb", as_version=4)
    assert "clock 2026-01-06 23:01:00+00:00" in json.dumps(features.cells[-1].outputs)

    # The run log has the same rows too, apart from wall-clock times and paths.
    log = runlog.get_runs("mini", store=tmp_path / "a" / "store")
    assert list(log.columns) == runlog.RUN_COLUMNS
    assert (log["status"] == "ok").all() and (log["system"] == "mini").all()
