"""The ``fti`` command's bad input: one line ``fti COMMAND: error: ...`` on stderr and exit code 2.

Run in this process (`fti.cli.main`), without kernels: each case fails before a notebook would run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fti.cli import EXIT_USAGE, main

MINI = Path(__file__).resolve().parent / "notebooks" / "mini"


@pytest.fixture
def mini(tmp_path) -> Path:
    folder = tmp_path / "mini"
    shutil.copytree(MINI, folder)
    return folder


def one_line_error(capsys, command: str) -> str:
    """The error line the command printed (and nothing else on stderr)."""
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"fti {command}: error: "), err
    return err


@pytest.mark.parametrize("args, message", [
    (["--date", "2026-13-01"], "--date: '2026-13-01' is not a date; write it as YYYY-MM-DD"),
    (["--start", "tomorrow", "--days", "2"], "--start: 'tomorrow' is not a date"),
])
def test_run_with_a_bad_date(capsys, mini, tmp_path, args, message):
    assert main(["run", str(mini), *args, "--store", str(tmp_path / "store")]) == EXIT_USAGE
    assert message in one_line_error(capsys, "run")


def test_run_of_an_unknown_system(capsys, tmp_path):
    assert main(["run", "no_such_system", "--days", "1", "--store", str(tmp_path / "store")]) == EXIT_USAGE
    assert "unknown system 'no_such_system'" in one_line_error(capsys, "run")


def test_run_of_a_malformed_schedule(capsys, mini, tmp_path):
    (mini / "pipelines.yml").write_text("pipelines: [oops")
    assert main(["run", str(mini), "--days", "1", "--store", str(tmp_path / "store")]) == EXIT_USAGE
    assert "pipelines.yml: not valid YAML: line 1, column 17" in one_line_error(capsys, "run")


def test_resume_with_nothing_to_resume(capsys, mini, tmp_path):
    assert main(["run", str(mini), "--resume", "--store", str(tmp_path / "store")]) == EXIT_USAGE
    assert "nothing to resume" in one_line_error(capsys, "run")


def test_runs_of_an_unknown_system(capsys, tmp_path):
    assert main(["runs", "titanc", "--store", str(tmp_path / "store")]) == EXIT_USAGE
    assert "unknown system 'titanc'" in one_line_error(capsys, "runs")


@pytest.mark.parametrize("args, message", [
    (["--grid", "alpha"], "'alpha': expected NAME=VALUES, e.g. alpha=0.1,1,10"),
    (["--grid", "x=1,2", "--grid", "x=3"], "x is given twice with --grid"),
    (["-p", "=3"], "expected NAME=VALUE"),
])
def test_batch_with_a_bad_assignment(capsys, tmp_path, args, message):
    notebook = MINI / "01_backfill.ipynb"
    assert main(["batch", str(notebook), *args, "--out", str(tmp_path / "out"), "--no-progress"]) == EXIT_USAGE
    assert message in one_line_error(capsys, "batch")
    assert not (tmp_path / "out").exists(), "nothing ran"


def test_batch_of_a_missing_notebook(capsys, tmp_path):
    assert main(["batch", str(tmp_path / "nowhere.ipynb"), "--out", str(tmp_path / "out")]) == EXIT_USAGE
    assert "no such notebook or folder" in one_line_error(capsys, "batch")


def test_grade_of_a_missing_folder(capsys, tmp_path):
    assert main(["grade", str(tmp_path / "missing"), "--out", str(tmp_path / "out")]) == EXIT_USAGE
    assert "the submissions folder" in one_line_error(capsys, "grade")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, message", [
    (["-p", "drift_strat=2026-01-10"], "-p drift_strat: no notebook of mini declares a parameter 'drift_strat' in "
                                       "its cell tagged parameters; they declare: fail_on"),
    (["-p", "run_date=2026-01-10"], "-p run_date: set by the runner for each day"),
    (["-p", "fail_on"], "'fail_on': expected NAME=VALUE"),
])
def test_run_with_a_bad_parameter(capsys, mini, tmp_path, args, message):
    assert main(["run", str(mini), "--days", "1", *args, "--store", str(tmp_path / "store")]) == EXIT_USAGE
    assert message in one_line_error(capsys, "run")
    assert main(["runs", "--store", str(tmp_path / "store")]) == 0
    assert "no runs recorded" in capsys.readouterr().out, "nothing ran"


def test_resume_does_not_take_parameters(capsys, mini, tmp_path):
    with pytest.raises(SystemExit) as exited:
        main(["run", str(mini), "--resume", "-p", "fail_on=x", "--store", str(tmp_path / "store")])
    assert exited.value.code == EXIT_USAGE
    assert "--resume continues with the -p values of the run it resumes" in capsys.readouterr().err


def test_store_of_a_folder_without_a_store(capsys, tmp_path):
    assert main(["store", "--store", str(tmp_path / "empty")]) == EXIT_USAGE
    assert "there is no store at" in one_line_error(capsys, "store")
    assert not (tmp_path / "empty").exists(), "browsing creates nothing"


def test_store_lists_groups_views_models_and_recent_runs(capsys, tmp_path, monkeypatch):
    import datetime as dt

    import pandas as pd

    import fti
    from fti.run import runlog
    from fti.store.storage import Store

    folder = tmp_path / "store"
    monkeypatch.setenv("FTI_NOW", "2026-01-05T23:00:00Z")
    fs, mr = fti.get_feature_store(folder), fti.get_model_registry(folder)
    group = fs.get_or_create_feature_group("passengers", primary_key=["pid"], event_time="boarded")
    group.insert(pd.DataFrame({"pid": range(8), "boarded": pd.Timestamp("2026-01-05", tz="UTC"),
                               "age": [20.0, 30.0] * 4, "survived": [0, 1] * 4}))
    view = fs.get_or_create_feature_view("survival", query=group.select(["age", "survived"]), labels=["survived"])
    view.train_test_split(test_size=0.25, seed=1)
    mr.create_model("titanic", metrics={"roc_auc": 0.87654}, feature_view=view).save({"weights": [1]})
    mr.set_alias("titanic", "production", 1)
    runlog.record_runs(Store(folder), [runlog.RunRecord(
        system="titanic", notebook="03_training_pipeline", run_date=dt.date(2026, 1, 6), status="ok",
        started_at=dt.datetime.now(dt.UTC), duration_s=4.2, parameters={"run_date": "2026-01-06"},
        reason="requested by 05_monitoring: drift in age")])

    assert main(["store", "--store", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"Store {folder.resolve()}" in out and "timeline: simulated" in out
    group_line = next(line for line in out.splitlines() if line.strip().startswith("passengers"))
    assert group_line.split()[:4] == ["passengers", "1", "1", "8"], "name, version, commits, rows"
    assert "survival v1: labels survived; 1 training dataset(s)" in out
    assert "training dataset v1: created 2026-01-05 23:00, reads commit 1" in out
    model_line = next(line for line in out.splitlines() if line.strip().startswith("titanic"))
    assert "production" in model_line and "roc_auc=0.8765" in model_line and "survival v1" in model_line
    assert "requested by 05_monitoring: drift in age" in out
    assert main(["ls", "--store", str(folder), "--runs", "0"]) == 0
    listed = capsys.readouterr().out
    assert "Recent runs" not in listed and listed.strip() == out.split("\n\nRecent runs")[0].strip()
