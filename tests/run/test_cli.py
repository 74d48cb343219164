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
