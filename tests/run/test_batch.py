"""`fti batch` and the executors: parallel workers, time limits that really stop a notebook, reports.

The tests that start kernels are marked slow (``pytest -m "not slow"`` leaves them out).
"""

from __future__ import annotations

import csv
import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from fti.exceptions import BatchError, ExecutionRequestError
from fti.run.batch import find_notebooks, grid_points, parse_assignment, parse_assignments, plan_batch, run_batch
from fti.run.execute import ExecutionRequest
from fti.run.executors import InProcessExecutor, LocalExecutor

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"


def process_gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (a zombie waiting to be reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "\nState:\tZ" in status.read_text()


def wait_until_gone(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process_gone(pid):
            return True
        time.sleep(0.1)
    return process_gone(pid)


def test_grid_and_assignments():
    assert parse_assignment("alpha=0.1,1,ten", many=True) == ("alpha", [0.1, 1, "ten"])
    assert parse_assignment("flag=true", many=False) == ("flag", True)
    assert parse_assignment("day=2026-01-05", many=False) == ("day", "2026-01-05")
    assert grid_points({"a": [1, 2], "b": ["x", "y"]}) == [
        {"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"}, {"a": 2, "b": "y"}]
    assert grid_points({}) == [{}]
    with pytest.raises(BatchError, match="expected NAME=VALUES"):
        parse_assignment("alpha", many=True)
    with pytest.raises(BatchError, match="no such notebook or folder"):
        find_notebooks(["nowhere.ipynb"])
    assert parse_assignments(["a=1", "b=x"], many=False) == {"a": 1, "b": "x"}
    with pytest.raises(BatchError, match="'x=3': x is given twice with --grid"):
        parse_assignments(["x=1,2", "x=3"], many=True)
    with pytest.raises(BatchError, match="an empty value in the list"):
        parse_assignment("x=1,,2", many=True)
    with pytest.raises(BatchError, match="expected NAME=VALUE, e.g. alpha=0.1"):
        parse_assignment("2x=1", many=False)


def test_plan_gives_each_execution_its_own_output_and_store(tmp_path):
    requests = plan_batch([NOTEBOOKS / "square.ipynb"], tmp_path, grid={"x": [2, 3]}, parameters={"y": 1})
    assert [r.output.name for r in requests] == ["001_square_x-2.ipynb", "002_square_x-3.ipynb"]
    assert [dict(r.parameters) for r in requests] == [{"y": 1, "x": 2}, {"y": 1, "x": 3}]
    shared = plan_batch([NOTEBOOKS / "square.ipynb"], tmp_path, store=tmp_path / "shared")
    assert shared[0].env["FTI_STORE"] == str((tmp_path / "shared").resolve())
    with pytest.raises(ExecutionRequestError, match="square.ipynb: the output path is the source notebook"):
        ExecutionRequest(NOTEBOOKS / "square.ipynb", NOTEBOOKS / "square.ipynb")
    with pytest.raises(ExecutionRequestError, match="timeout must be a positive number of seconds, not 0"):
        ExecutionRequest(NOTEBOOKS / "square.ipynb", tmp_path / "out.ipynb", timeout=0)
    with pytest.raises(ExecutionRequestError, match="two requests write this output notebook"):
        InProcessExecutor().run([requests[0], requests[0]])
    with pytest.raises(ExecutionRequestError, match="workers: expected a whole number of at least 1, not 0"):
        LocalExecutor(workers=0)


@pytest.mark.slow
def test_parallel_workers_timeout_failure_and_loud_output(tmp_path):
    pid_file = tmp_path / "forever.pid"
    out = tmp_path / "out"
    forever = plan_batch([NOTEBOOKS / "forever.ipynb"], out, parameters={"pid_file": str(pid_file)}, timeout=4)
    others = plan_batch([NOTEBOOKS / "square.ipynb", NOTEBOOKS / "raises.ipynb", NOTEBOOKS / "loud.ipynb"], out,
                        parameters={"x": 7}, timeout=120)
    # Distinct output names: plan_batch numbers from 1 in each call.
    others = [dataclasses.replace(r, output=r.output.with_name("b" + r.output.name)) for r in others]
    with LocalExecutor(workers=2) as executor:
        report = run_batch(forever + others, executor, out, progress=False)
    by_name = {result.request.notebook.stem: result for result in report.results}

    stuck = by_name["forever"]
    assert stuck.status == "timeout" and "stopped after 4 s" in stuck.error
    assert 4 <= stuck.duration < 60  # stopped, not left running (the bound only rules out "forever")
    assert wait_until_gone(int(pid_file.read_text())), "the looping kernel must be killed, not left running"
    assert by_name["square"].ok
    assert nbformat.read(by_name["square"].output, as_version=4).cells[-1].outputs[0].text == "49\n"
    failed = by_name["raises"]
    assert failed.status == "failed" and failed.error == "cell [3] ValueError: broken on purpose"
    assert "ValueError" in failed.traceback and failed.output.exists()
    loud = by_name["loud"]
    assert loud.ok and loud.output.stat().st_size > 4_000_000

    # The looping notebook held one worker while the other ran the rest: another execution started
    # while it was stuck. (Not "wall time < sum of durations": on a loaded machine that is timing, not logic.)
    first, last = stuck.started_at.timestamp(), stuck.started_at.timestamp() + stuck.duration
    assert any(first < r.started_at.timestamp() < last for r in report.results if r is not stuck)

    with report.csv_path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["status"] for row in rows] == ["timeout", "ok", "failed", "ok"]
    assert rows[2]["error"] == "cell [3] ValueError: broken on purpose" and rows[1]["output"] == "b001_square.ipynb"
    page = report.html_path.read_text()
    assert '<a href="b002_raises.ipynb">' in page and "broken on purpose" in page


@pytest.mark.slow
def test_each_execution_gets_a_fresh_store_and_its_own_working_directory(tmp_path):
    out, cwd = tmp_path / "out", tmp_path / "cwd"
    cwd.mkdir()
    probe = tmp_path / "probe.ipynb"
    # Prints its store and working directory, and fails if the store is not empty.
    probe.write_text((NOTEBOOKS / "square.ipynb").read_text().replace(
        "print(x * x)", "import os, pathlib\\nstore = pathlib.Path(os.environ['FTI_STORE'])\\n"
        "assert not any(store.iterdir())\\n(store / 'used').touch()\\nprint('store', store, 'cwd', os.getcwd())"))
    requests = plan_batch([probe, probe], out, cwd=cwd)
    report = run_batch(requests, InProcessExecutor(), out, progress=False)
    assert [r.status for r in report.results] == ["ok", "ok"], [r.error for r in report.results]
    printed = [nbformat.read(r.output, as_version=4).cells[-1].outputs[0].text.split()[1::2] for r in report.results]
    assert printed[0][0] != printed[1][0], "each execution has its own store"
    assert all(cwd_seen == str(cwd) for _, cwd_seen in printed)
    assert not any(Path(store).exists() for store, _ in printed), "temporary stores are removed afterwards"


@pytest.mark.slow
def test_fti_batch_command(tmp_path):
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "fti", "batch", str(NOTEBOOKS / "square.ipynb"), str(NOTEBOOKS / "raises.ipynb"),
         "--grid", "x=2,3", "--workers", "2", "--timeout", "60", "--out", str(out), "--no-progress"],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "FAILED: raises" in done.stderr and "4 execution(s)" in done.stdout
    with (out / "report.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["label"], row["status"]) for row in rows] == [
        ('square {"x": 2}', "ok"), ('square {"x": 3}', "ok"),
        ('raises {"x": 2}', "failed"), ('raises {"x": 3}', "failed")]
    assert (out / rows[1]["output"]).exists() and "9" in (out / rows[1]["output"]).read_text()
    assert (out / "report.html").exists()


@pytest.mark.slow
def test_outputs_past_the_budget_are_dropped_with_a_note(tmp_path):
    from fti.run.execute import execute

    request = ExecutionRequest(NOTEBOOKS / "loud.ipynb", tmp_path / "loud.ipynb", max_output_bytes=1_000_000)
    result = execute(request)
    assert result.ok, result.error
    text = result.output.read_text()
    assert 1_000_000 < len(text) < 1_300_000
    assert "[fti: more output was dropped: the notebook's outputs passed 1 MB]" in text


def test_searching_a_folder_skips_executed_copies_under_runs(tmp_path, monkeypatch):
    import fti.run.batch

    monkeypatch.setattr(fti.run.batch, "RUNS_DIR", tmp_path / "runs")
    for relative in ("notebooks/a.ipynb", "runs/titanic/2026-01-01/a.ipynb", "notebooks/.ipynb_checkpoints/a.ipynb"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("{}")
    assert find_notebooks([tmp_path]) == [(tmp_path / "notebooks" / "a.ipynb").resolve()]
    # Asked for explicitly, the executed copies are found.
    assert find_notebooks([tmp_path / "runs"]) == [(tmp_path / "runs/titanic/2026-01-01/a.ipynb").resolve()]
