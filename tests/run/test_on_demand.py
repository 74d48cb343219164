"""Runs on request (`fti.request_run`, ``requested_by``/``on_request`` in pipelines.yml) and ``fti run -p``.

The rules are checked with a scripted executor that stands in for papermill: a
"notebook" it runs may call `fti.request_run` with the environment the runner
gave its kernel, as a real one would. One slow test runs real kernels on the
mini system (tests/run/notebooks/mini) through the ``fti`` command.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import nbformat
import pytest

import fti
from fti.exceptions import ParameterTypeError, ScheduleError
from fti.run import on_demand, runlog, runner
from fti.run.execute import ExecutionRequest, ExecutionResult
from fti.run.executors import Executor
from fti.run.schedule import declared_parameters, load_schedule, parameter_overrides
from fti.store.storage import Store

MONDAY = dt.date(2026, 1, 5)
MINI = Path(__file__).resolve().parent / "notebooks" / "mini"

# A batch system whose training runs once, then only when monitoring asks for it.
SHOP = """
system: shop
start: 2026-01-05
pipelines:
  - notebook: 01_backfill
    schedule: once
  - notebook: 02_training
    schedule: once
    after: [01_backfill]
    requested_by: [05_monitoring]
    on_request: {when}
  - notebook: 03_features
    schedule: daily
    after: [01_backfill]
  - notebook: 04_predictions
    schedule: daily
    after: [03_features, 02_training]
  - notebook: 05_monitoring
    schedule: daily
    after: [04_predictions]
"""
NOTEBOOKS = ["01_backfill", "02_training", "03_features", "04_predictions", "05_monitoring"]
DAILY = ["03_features", "04_predictions", "05_monitoring"]


def write_notebook(path: Path, parameters: str = "") -> None:
    """A notebook whose only cell is tagged ``parameters`` (the scripted executor never runs it)."""
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    notebook.cells = [cell]
    nbformat.write(notebook, path)


def make_shop(folder: Path, when: str = "next day", parameters: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in NOTEBOOKS:
        write_notebook(folder / f"{name}.ipynb", (parameters or {}).get(name, 'run_date = ""'))
    (folder / "pipelines.yml").write_text(SHOP.format(when=when))
    return folder / "pipelines.yml"


class AskingExecutor(Executor):
    """Pretends to execute; the (notebook, run date) pairs in ``asks`` call `fti.request_run` as they run.

    The call sees exactly the environment the runner gave the kernel (store, clock,
    run context), as it would inside a real kernel.
    """

    def __init__(self, asks: dict[tuple[str, str], tuple[str, str]] | None = None,
                 failing: Iterable[tuple[str, str]] = ()):
        self.asks = asks or {}
        self.failing = set(failing)
        self.calls: list[tuple[str, str, str | None]] = []
        self.requests: list[ExecutionRequest] = []

    def map_unordered(self, requests: Iterable[ExecutionRequest]) -> Iterator[ExecutionResult]:
        for request in requests:
            day, name = request.parameters["run_date"], request.notebook.stem
            self.calls.append((day, name, request.env.get("FTI_NOW")))
            self.requests.append(request)
            if (name, day) in self.asks:
                notebook, reason = self.asks[(name, day)]
                with kernel_environment(request.env):
                    on_demand.request_run(notebook, reason=reason)
            failed = (name, day) in self.failing
            yield ExecutionResult(request=request, status="failed" if failed else "ok",
                                  started_at=dt.datetime.now(dt.UTC), duration=0.01,
                                  error="cell [2] ValueError: broken" if failed else None)

    def days_of(self, name: str) -> list[str]:
        return [day for day, called, _ in self.calls if called == name]


@contextlib.contextmanager
def kernel_environment(env: dict[str, str | None]) -> Iterator[None]:
    """This process's environment as the kernel would see it (None removes a variable), restored afterwards."""
    saved = dict(os.environ)
    try:
        for name, value in env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def simulate(schedule, days, store_path, executor, **options):
    return runner.simulate(schedule, days, start=MONDAY, store=Store(store_path), runs_dir=store_path / "runs",
                           executor=executor, progress=False, echo=lambda message: None, **options)


def reasons(store_path: Path, notebook: str) -> list[tuple[str, str]]:
    log = runlog.get_runs("shop", store=store_path)
    rows = log[log["notebook"] == notebook]
    return list(zip(rows["run_date"].astype(str).str[:10], rows["reason"], strict=True))


# --- the schedule file ------------------------------------------------------------------------------------

def test_requested_by_and_on_request_are_read(tmp_path):
    schedule = load_schedule(make_shop(tmp_path / "shop", when="Same_Day"))
    training = schedule.pipeline("02_training")
    assert training.requested_by == ("05_monitoring",) and training.on_request == "same day"
    assert schedule.pipeline("03_features").requested_by == () and schedule.pipeline("03_features").on_request is None
    text = (tmp_path / "shop" / "pipelines.yml").read_text()
    (tmp_path / "shop" / "pipelines.yml").write_text(text.replace("    on_request: Same_Day\n", ""))
    assert load_schedule(tmp_path / "shop").pipeline("02_training").on_request == "next day", "the default"


@pytest.mark.parametrize("entry, message", [
    ("{notebook: b, schedule: daily, requested_by: [c]}", r"\(b\).requested_by: 'c' is not a notebook of this"),
    ("{notebook: b, schedule: daily, requested_by: [b]}", "cannot ask for a run of itself"),
    ("{notebook: b, schedule: daily, requested_by: [a], on_request: tomorrow}", "'tomorrow' is not 'next day'"),
    ("{notebook: b, schedule: daily, on_request: next day}", "on_request: needs requested_by"),
    ("{notebook: b, schedule: on request}", "'on request' needs requested_by"),
    ("{notebook: b, schedule: daily, requested_by: {a: 1}}", "requested_by: expected a list of notebook names"),
])
def test_malformed_requests_in_a_schedule_are_named(tmp_path, entry, message):
    folder = tmp_path / "sys"
    folder.mkdir()
    for name in ("a", "b"):
        write_notebook(folder / f"{name}.ipynb")
    (folder / "pipelines.yml").write_text(f"pipelines:\n  - {{notebook: a, schedule: daily}}\n  - {entry}\n")
    with pytest.raises(ScheduleError, match=message):
        load_schedule(folder)


# --- next day, same day ----------------------------------------------------------------------------------

def test_a_request_runs_the_notebook_the_next_day_at_its_place(tmp_path):
    schedule = load_schedule(make_shop(tmp_path / "shop"))
    store = tmp_path / "store"
    executor = AskingExecutor(asks={("05_monitoring", "2026-01-07"): ("02_training", "drift in age, parch")})
    summary = simulate(schedule, 5, store, executor)
    assert summary.ok
    assert executor.days_of("02_training") == ["2026-01-05", "2026-01-08"], "once, then only when asked"
    assert [name for day, name, _ in executor.calls if day == "2026-01-08"] == [
        "02_training", "03_features", "04_predictions", "05_monitoring"]
    training_clock = [now for day, name, now in executor.calls if (day, name) == ("2026-01-08", "02_training")]
    assert training_clock == ["2026-01-08T23:01:00+00:00"], "its own place in the day: position 1"
    assert reasons(store, "02_training") == [
        ("2026-01-05", "scheduled"), ("2026-01-08", "requested by 05_monitoring: drift in age, parch")]
    assert set(runlog.get_runs("shop", store=store)["reason"]) == {
        "scheduled", "requested by 05_monitoring: drift in age, parch"}
    assert "2026-01-08 02_training: ok (requested by 05_monitoring: drift in age, parch)" in summary.table()
    # Answered: running the same days again does nothing, and later days do not train again.
    again = AskingExecutor()
    assert simulate(schedule, 7, store, again).ok
    assert again.days_of("02_training") == [] and len(again.calls) == 2 * len(DAILY)


def test_a_same_day_request_runs_at_the_end_of_the_day(tmp_path):
    schedule = load_schedule(make_shop(tmp_path / "shop", when="same day"))
    store = tmp_path / "store"
    executor = AskingExecutor(asks={("05_monitoring", "2026-01-06"): ("02_training", "accuracy 0.61")})
    assert simulate(schedule, 3, store, executor).ok
    assert [name for day, name, _ in executor.calls if day == "2026-01-06"] == DAILY + ["02_training"]
    late = [now for day, name, now in executor.calls if (day, name) == ("2026-01-06", "02_training")]
    assert late == ["2026-01-06T23:05:00+00:00"], "after the last notebook of the day, at the next minute"
    assert executor.days_of("02_training") == ["2026-01-05", "2026-01-06"]
    assert reasons(store, "02_training")[-1] == ("2026-01-06", "requested by 05_monitoring: accuracy 0.61")


def test_a_same_day_request_for_a_notebook_that_already_ran_comes_the_next_day(tmp_path):
    schedule = load_schedule(make_shop(tmp_path / "shop", when="same day"))
    store = tmp_path / "store"
    notes: list[str] = []
    executor = AskingExecutor(asks={("05_monitoring", "2026-01-05"): ("02_training", "drift in fare")})
    summary = runner.simulate(schedule, 2, start=MONDAY, store=Store(store), runs_dir=store / "runs",
                              executor=executor, progress=False, echo=notes.append)
    assert summary.ok
    assert executor.days_of("02_training") == ["2026-01-05", "2026-01-06"], "at most once a day"
    assert [name for day, name, _ in executor.calls if day == "2026-01-06"][0] == "02_training"
    assert any("02_training already ran today" in note for note in notes)


def test_a_request_on_the_last_day_waits_for_the_next_run(tmp_path):
    schedule = load_schedule(make_shop(tmp_path / "shop"))
    store = tmp_path / "store"
    executor = AskingExecutor(asks={("05_monitoring", "2026-01-06"): ("02_training", "drift in age")})
    summary = simulate(schedule, 2, store, executor)
    assert summary.ok and executor.days_of("02_training") == ["2026-01-05"]
    assert [(r.run_on, r.notebook) for r in summary.waiting] == [(dt.date(2026, 1, 7), "02_training")]
    assert "2026-01-07 02_training (requested by 05_monitoring: drift in age)" in summary.table()
    # The plan of that day has it (and only because of the request); the next run that reaches the day runs it.
    history = runlog.latest_statuses(Store(store), "shop")
    pending = runlog.pending_requests(Store(store), "shop", dt.date(2026, 1, 7))
    (planned,) = runner.plan_days(schedule, [dt.date(2026, 1, 7)], history, requests=pending)
    assert [run.pipeline.name for run in planned.to_run] == ["02_training"] + DAILY
    (unasked,) = runner.plan_days(schedule, [dt.date(2026, 1, 7)], history)
    assert [run.pipeline.name for run in unasked.to_run] == DAILY
    later = AskingExecutor()
    runner.run_date(schedule, dt.date(2026, 1, 7), store=Store(store), runs_dir=store / "runs", executor=later,
                    progress=False, echo=lambda message: None)
    assert later.days_of("02_training") == ["2026-01-07"]


def test_a_forced_replay_asks_and_answers_again(tmp_path):
    schedule = load_schedule(make_shop(tmp_path / "shop"))
    store = tmp_path / "store"
    asks = {("05_monitoring", "2026-01-05"): ("02_training", "drift")}
    simulate(schedule, 2, store, AskingExecutor(asks=asks))
    replay = AskingExecutor(asks=asks)
    assert simulate(schedule, 2, store, replay, force=True).ok
    assert replay.days_of("02_training") == ["2026-01-05", "2026-01-06"], "the same days, the same runs"
    assert runlog.pending_requests(Store(store), "shop", dt.date(2026, 2, 1)) == [], "every request answered"


def test_a_failed_requested_run_is_retried_by_resume(tmp_path):
    schedule = load_schedule(make_shop(tmp_path / "shop"))
    store = tmp_path / "store"
    executor = AskingExecutor(asks={("05_monitoring", "2026-01-05"): ("02_training", "drift")},
                              failing=[("02_training", "2026-01-06")])
    summary = simulate(schedule, 3, store, executor)
    assert summary.stopped_on == dt.date(2026, 1, 6)
    fixed = AskingExecutor()
    resumed = runner.resume(schedule, store=Store(store), runs_dir=store / "runs", executor=fixed, progress=False,
                            echo=lambda message: None)
    assert resumed.ok
    assert fixed.days_of("02_training") == ["2026-01-06"], "still requested: it runs again, once"
    assert reasons(store, "02_training")[-1] == ("2026-01-06", "requested by 05_monitoring: drift")


def test_the_kernel_is_told_its_run():
    schedule = load_schedule(MINI)
    env = on_demand.run_environment(schedule, "02_features", dt.date(2026, 1, 6))
    assert env == {"FTI_RUN_SYSTEM": "mini", "FTI_RUN_NOTEBOOK": "02_features", "FTI_RUN_DATE": "2026-01-06",
                   "FTI_RUN_SCHEDULE": str(schedule.path)}


# --- fti.request_run itself ------------------------------------------------------------------------------

def test_outside_the_scheduler_request_run_only_says_so(capsys, monkeypatch):
    for variable in on_demand.CONTEXT_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    assert fti.request_run("03_training_pipeline", reason="drift in age") is None
    out = capsys.readouterr().out
    assert "Not running under the scheduler (fti run): nothing is scheduled" in out
    assert "03_training_pipeline (drift in age)" in out
    with pytest.raises(ParameterTypeError, match="reason must be text"):
        fti.request_run("03_training_pipeline", reason=3)  # type: ignore[arg-type]
    with pytest.raises(ParameterTypeError, match="notebook's name"):
        fti.request_run("")


def test_under_the_scheduler_a_wrong_request_is_an_error(tmp_path, monkeypatch, capsys):
    schedule = load_schedule(make_shop(tmp_path / "shop"))
    for name, value in on_demand.run_environment(schedule, "04_predictions", MONDAY).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ScheduleError, match="04_predictions asks for a run of 02_training, which does not take "
                                            r"requests from it; add `requested_by: \[04_predictions\]`"):
        fti.request_run("02_training")
    with pytest.raises(ScheduleError, match="no notebook named 'training'"):
        fti.request_run("training")
    monkeypatch.setenv("FTI_RUN_NOTEBOOK", "05_monitoring")
    made = fti.request_run("02_training.ipynb", reason="  drift   in age ")
    assert made is not None and (made.notebook, made.run_on, made.reason) == ("02_training", dt.date(2026, 1, 6),
                                                                               "drift in age")
    assert "Asked the scheduler for a run of 02_training tomorrow (2026-01-06): drift in age." in (
        capsys.readouterr().out)
    assert [r.request_id for r in runlog.pending_requests(Store(), "shop", dt.date(2026, 1, 6))] == [made.request_id]


# --- fti run -p ------------------------------------------------------------------------------------------

def test_declared_parameters_are_read_from_the_parameters_cell(tmp_path):
    path = tmp_path / "nb.ipynb"
    write_notebook(path, 'run_date: str = "x"  # the day\nseed = 1\na = b = 2\nprint(seed)\nif seed:\n    hidden = 3')
    assert declared_parameters(path) == ("run_date", "seed", "a", "b")
    write_notebook(path, "seed = (")
    with pytest.raises(ScheduleError, match="not valid Python"):
        declared_parameters(path)
    path.write_text('{"cells": []}')
    assert declared_parameters(path) == ()


def test_overrides_go_only_to_notebooks_that_declare_them_and_are_logged(tmp_path):
    parameters = {"03_features": 'run_date = ""\ndrift_start = ""\nshift = 0.0',
                  "05_monitoring": 'run_date = ""\nshift = 0.0'}
    schedule = load_schedule(make_shop(tmp_path / "shop", parameters=parameters))
    assert parameter_overrides(schedule, {"drift_start": "2026-01-06", "shift": 15})["04_predictions"] == {}
    store = tmp_path / "store"
    executor = AskingExecutor()
    summary = simulate(schedule, 2, store, executor, overrides={"drift_start": "2026-01-06", "shift": 15})
    assert summary.ok
    given = {(r.parameters["run_date"], r.notebook.stem): dict(r.parameters) for r in executor.requests}
    assert given[("2026-01-06", "03_features")] == {"drift_start": "2026-01-06", "shift": 15, "run_date": "2026-01-06"}
    assert given[("2026-01-06", "05_monitoring")] == {"shift": 15, "run_date": "2026-01-06"}
    assert given[("2026-01-06", "04_predictions")] == {"run_date": "2026-01-06"}, "not declared: not given"
    log = runlog.get_runs("shop", store=store)
    logged = {(str(day)[:10], name): json.loads(value)
              for day, name, value in zip(log["run_date"], log["notebook"], log["overrides"], strict=True)}
    assert logged[("2026-01-05", "03_features")] == {"drift_start": "2026-01-06", "shift": 15}
    assert logged[("2026-01-05", "04_predictions")] == {}
    assert json.loads(log["parameters"].iloc[-1]) == {"run_date": "2026-01-06", "shift": 15}

    # --resume goes on with the overrides of the run it resumes.
    failing = AskingExecutor(failing=[("03_features", "2026-01-08")])
    simulate(schedule, 5, store, failing, overrides={"shift": 3})
    resumed = AskingExecutor()
    runner.resume(schedule, store=Store(store), runs_dir=store / "runs", executor=resumed, progress=False,
                  echo=lambda message: None)
    assert [dict(r.parameters) for r in resumed.requests if r.notebook.stem == "05_monitoring"] == [
        {"shift": 3, "run_date": "2026-01-08"}, {"shift": 3, "run_date": "2026-01-09"}]


@pytest.mark.parametrize("overrides, message", [
    ({"drift_strat": "2026-01-10"}, "-p drift_strat: no notebook of shop declares a parameter 'drift_strat'.*"
                                    "they declare: drift_start"),
    ({"run_date": "2026-01-10"}, "-p run_date: set by the runner for each day"),
])
def test_bad_overrides_are_refused_before_anything_runs(tmp_path, overrides, message):
    declared = {"03_features": 'run_date = ""\ndrift_start = ""'}
    schedule = load_schedule(make_shop(tmp_path / "shop", parameters=declared))
    executor = AskingExecutor()
    with pytest.raises(ScheduleError, match=message):
        simulate(schedule, 2, tmp_path / "store", executor, overrides=overrides)
    assert executor.calls == []
    assert runlog.last_request(Store(tmp_path / "store"), "shop") is None, "nothing recorded"


# --- what it prints when nobody watches a terminal -------------------------------------------------------

def test_without_a_terminal_one_line_per_notebook_run(tmp_path, monkeypatch):
    schedule = load_schedule(make_shop(tmp_path / "shop"))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    lines: list[str] = []
    runner.simulate(schedule, 2, start=MONDAY, store=Store(tmp_path / "store"), runs_dir=tmp_path / "runs",
                    executor=AskingExecutor(), progress=None, echo=lines.append)
    assert len(lines) == len(NOTEBOOKS) + len(DAILY)
    assert lines[0].startswith("2026-01-05 01_backfill: ok in 0.0 s (scheduled)")
    assert lines[-1].startswith("2026-01-06 05_monitoring: ok in")
    quiet: list[str] = []
    runner.simulate(schedule, 3, start=MONDAY, store=Store(tmp_path / "store"), runs_dir=tmp_path / "runs",
                    executor=AskingExecutor(), progress=False, echo=quiet.append)
    assert quiet == [], "--no-progress: nothing"


# --- with real kernels -----------------------------------------------------------------------------------

MINI_WITH_MONITOR = """
system: mini
pipelines:
  - notebook: 01_backfill
    schedule: once
  - notebook: 05_retrain
    schedule: on request
    requested_by: [04_monitor]
    on_request: next day
  - notebook: 02_features
    schedule: daily
    after: [01_backfill]
  - notebook: 03_predict
    schedule: daily
    after: [02_features]
  - notebook: 04_monitor
    schedule: daily
    after: [03_predict]
"""


@pytest.mark.slow
def test_a_notebook_asks_for_a_run_through_fti_run_with_a_parameter(tmp_path):
    system = tmp_path / "mini"
    shutil.copytree(MINI, system)
    (system / "pipelines.yml").write_text(MINI_WITH_MONITOR)
    store, runs = tmp_path / "store", tmp_path / "runs"
    done = subprocess.run(
        [sys.executable, "-m", "fti", "run", str(system), "--start", "2026-01-05", "--days", "3",
         "-p", "alarm_on=2026-01-06", "--store", str(store), "--runs-dir", str(runs)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "FTI_NOW": ""})
    assert done.returncode == 0, done.stderr
    # Not a terminal: one line per notebook run, with its reason.
    assert "2026-01-07 05_retrain: ok in" in done.stderr
    assert "(requested by 04_monitor: alarm on 2026-01-06)" in done.stderr
    assert "runs on request:\n  2026-01-07 05_retrain: ok (requested by 04_monitor: alarm on 2026-01-06)" in (
        done.stdout)

    log = runlog.get_runs("mini", store=store)
    retrain = log[log["notebook"] == "05_retrain"]
    assert list(retrain["run_date"].astype(str).str[:10]) == ["2026-01-07"]
    assert retrain["reason"].iloc[0] == "requested by 04_monitor: alarm on 2026-01-06"
    assert str(retrain["scheduled_at"].iloc[0]).startswith("2026-01-07 23:01:00"), "its own place in the day"
    monitor = log[log["notebook"] == "04_monitor"]
    assert {json.dumps(json.loads(value)) for value in monitor["overrides"]} == {'{"alarm_on": "2026-01-06"}'}
    assert set(log[log["notebook"] != "04_monitor"]["overrides"]) == {"{}"}, "only the notebook that declares it"

    def last_outputs(day: str, name: str) -> str:
        return json.dumps(nbformat.read(runs / "mini" / day / f"{name}.ipynb", as_version=4).cells[-1].outputs)

    asked = last_outputs("2026-01-06", "04_monitor")
    assert "Asked the scheduler for a run of 05_retrain tomorrow (2026-01-07): alarm on 2026-01-06." in asked
    retrained = last_outputs("2026-01-07", "05_retrain")
    assert "retrained on 2026-01-07 at 2026-01-07 23:01:00+00:00" in retrained

    listing = subprocess.run([sys.executable, "-m", "fti", "runs", "mini", "--store", str(store)],
                             capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr
    assert "requested by 04_monitor: alarm on 2026-01-06" in listing.stdout
    assert "alarm_on=2026-01-06" in listing.stdout
