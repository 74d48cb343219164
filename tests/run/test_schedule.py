"""Schedule files and the day-by-day runner's rules, without starting kernels.

A scripted executor stands in for papermill: it records what it was asked to
run and answers ok or failed, so cadences, order within a day, catch-up, resume,
idempotent re-runs and --force are checked in milliseconds. Real executions are
in test_runner.py.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
import yaml

from fti.run import runlog, runner
from fti.exceptions import PipelineFailedError, ScheduleError
from fti.run.execute import ExecutionRequest, ExecutionResult
from fti.run.executors import Executor
from fti.run.schedule import Cadence, load_schedule, parse_date

REPO = Path(__file__).resolve().parents[2]
TITANIC_SCHEDULE = REPO / "notebooks" / "titanic" / "pipelines.yml"
MONDAY = dt.date(2026, 1, 5)


class ScriptedExecutor(Executor):
    """Pretends to execute: records (run_date, notebook, FTI_NOW) and fails the listed (notebook, date) pairs."""

    def __init__(self, failing: Iterable[tuple[str, str]] = ()):
        self.failing = set(failing)
        self.calls: list[tuple[str, str, str | None]] = []

    def map_unordered(self, requests: Iterable[ExecutionRequest]) -> Iterator[ExecutionResult]:
        for request in requests:
            day, name = request.parameters["run_date"], request.notebook.stem
            self.calls.append((day, name, request.env.get("FTI_NOW")))
            failed = (name, day) in self.failing
            yield ExecutionResult(request=request, status="failed" if failed else "ok",
                                  started_at=dt.datetime.now(dt.timezone.utc), duration=0.01,
                                  error=f"cell [3] ValueError: no data for {day}" if failed else None)

    def names_on(self, day: str) -> list[str]:
        return [name for run_day, name, _ in self.calls if run_day == day]


def make_system(folder: Path, text: str, notebooks: Iterable[str]) -> Path:
    """A schedule file with empty notebook files next to it (the scripted executor never opens them)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in notebooks:
        (folder / f"{name}.ipynb").write_text("{}")
    path = folder / "pipelines.yml"
    path.write_text(text)
    return path


TITANIC_NOTEBOOKS = ["01_feature_backfill", "02_feature_pipeline", "03_training_pipeline",
                     "04_batch_inference", "05_monitoring"]


@pytest.fixture
def titanic(tmp_path):
    """The real Titanic schedule file, with stand-in notebooks."""
    folder = tmp_path / "titanic"
    make_system(folder, TITANIC_SCHEDULE.read_text(), TITANIC_NOTEBOOKS)
    return load_schedule(folder)


def simulate(schedule, days, store, start=MONDAY, **options):
    executor = options.pop("executor", None) or ScriptedExecutor()
    summary = runner.simulate(schedule, days, start=start, store=store, runs_dir=store / "runs",
                              executor=executor, progress=False, echo=lambda message: None, **options)
    return summary, executor


# --- cadences ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, every, once", [
    ("daily", 1, False), ("weekly", 7, False), ("every 3 days", 3, False), ("Every 1 day", 1, False),
    ("once", None, True),
])
def test_cadence_words(text, every, once):
    cadence = Cadence.parse(text)
    assert (cadence.every_days, cadence.once, cadence.cron) == (every, once, None)


def test_every_n_days_counts_from_the_last_success():
    weekly = Cadence.parse("weekly")
    assert weekly.is_due(MONDAY, None), "a notebook that never succeeded is due at once"
    assert not weekly.is_due(MONDAY + dt.timedelta(days=6), MONDAY)
    assert weekly.is_due(MONDAY + dt.timedelta(days=7), MONDAY)
    # Catch-up: the run missed on day 7 happens on day 9, and the next week counts from there.
    assert weekly.is_due(MONDAY + dt.timedelta(days=9), MONDAY)


def test_once_runs_until_it_succeeded():
    once = Cadence.parse("once")
    assert once.is_due(MONDAY, None)
    assert not once.is_due(MONDAY + dt.timedelta(days=1), MONDAY)


def test_cron_picks_days_and_ignores_the_time():
    mondays = Cadence.parse("30 6 * * MON")
    week = [MONDAY + dt.timedelta(days=offset) for offset in range(14)]
    assert [day for day in week if mondays.is_due(day, None)] == [MONDAY, MONDAY + dt.timedelta(days=7)]
    first_of_month = Cadence.parse("0 0 1 * *")
    assert first_of_month.is_due(dt.date(2026, 2, 1), dt.date(2026, 1, 31))
    assert not first_of_month.is_due(dt.date(2026, 2, 2), None)


@pytest.mark.parametrize("text", ["hourly", "every two days", "every 0 days", "61 * * * *", "* * * * * *", "", 5])
def test_bad_cadences_are_named(text):
    with pytest.raises(ScheduleError, match="pipelines\\[0\\].schedule"):
        Cadence.parse(text, "pipelines[0].schedule")


# --- schedule files ---------------------------------------------------------------------------------------

def test_titanic_schedule_order_and_first_weeks(titanic, tmp_path):
    assert titanic.system == "titanic" and titanic.start == MONDAY
    summary, executor = simulate(titanic, 15, tmp_path / "store")
    assert summary.ok
    # Day 1: backfill, then training (so inference has a model), then the daily chain.
    assert executor.names_on("2026-01-05") == ["01_feature_backfill", "03_training_pipeline", "02_feature_pipeline",
                                              "04_batch_inference", "05_monitoring"]
    assert executor.names_on("2026-01-06") == ["02_feature_pipeline", "04_batch_inference", "05_monitoring"]
    training_days = [day for day, name, _ in executor.calls if name == "03_training_pipeline"]
    assert training_days == ["2026-01-05", "2026-01-12", "2026-01-19"]
    assert [name for day, name, _ in executor.calls].count("01_feature_backfill") == 1


def test_clock_is_the_day_at_23h_plus_a_minute_per_position(titanic, tmp_path):
    _, executor = simulate(titanic, 1, tmp_path / "store")
    clocks = {name: now for _, name, now in executor.calls}
    assert clocks["01_feature_backfill"] == "2026-01-05T23:00:00+00:00"
    assert clocks["03_training_pipeline"] == "2026-01-05T23:01:00+00:00"
    assert clocks["05_monitoring"] == "2026-01-05T23:04:00+00:00"


def test_parameters_are_merged_and_run_date_added(tmp_path):
    path = make_system(tmp_path / "sys", """
parameters: {seed: 1, day: 2026-02-01}
pipelines:
  - {notebook: a, schedule: daily, parameters: {seed: 2}}
  - {notebook: b.ipynb, schedule: daily}
""", ["a", "b"])
    schedule = load_schedule(path)
    assert schedule.system == "sys", "the folder's name when the file gives none"
    assert dict(schedule.pipeline("a").parameters) == {"seed": 2, "day": "2026-02-01"}
    assert dict(schedule.pipeline("b.ipynb").parameters) == {"seed": 1, "day": "2026-02-01"}


@pytest.mark.parametrize("body, message", [
    ("pipelines: []", "pipelines: expected a non-empty list"),
    ("pipelines:\n  - {notebook: a, schedule: daily, shedule: x}", r"pipelines\[0\]: unknown field\(s\) shedule"),
    ("pipelines:\n  - {notebook: a}", r"pipelines\[0\] \(a\): schedule is missing"),
    ("pipelines:\n  - {notebook: missing, schedule: daily}", r"pipelines\[0\].notebook: notebook .*missing.ipynb does not exist"),
    ("pipelines:\n  - {notebook: a, schedule: daily, after: [b]}\n  - {notebook: b, schedule: daily}",
     r"pipelines\[0\] \(a\).after: 'b' is not a notebook listed before this one"),
    ("pipelines:\n  - {notebook: a, schedule: daily, parameters: {run_date: x}}", "run_date is set by the runner"),
    ("pipelines:\n  - {notebook: a, schedule: daily, timeout: -1}", r"timeout: expected a positive number"),
    ("start: tomorrow\npipelines:\n  - {notebook: a, schedule: daily}", "start: 'tomorrow' is not a date"),
    ("pipelines: [oops", "not valid YAML"),
    ("frequency: daily", r"unknown field\(s\) frequency"),
])
def test_malformed_schedules_name_the_file_and_field(tmp_path, body, message):
    path = make_system(tmp_path / "sys", body, ["a", "b"])
    with pytest.raises(ScheduleError, match=message) as caught:
        load_schedule(path)
    assert str(path) in str(caught.value)


def test_unknown_system_lists_the_known_ones(tmp_path):
    make_system(tmp_path / "notebooks" / "titanic", "pipelines:\n  - {notebook: a, schedule: daily}", ["a"])
    with pytest.raises(ScheduleError, match="unknown system 'nope'.*systems with a schedule: titanic"):
        load_schedule("nope", notebooks_dir=tmp_path / "notebooks")
    assert load_schedule("titanic", notebooks_dir=tmp_path / "notebooks").system == "titanic"


def test_unknown_notebook_name(titanic):
    with pytest.raises(ScheduleError, match="no notebook named '06_nothing'"):
        titanic.pipeline("06_nothing")


def test_bad_date():
    with pytest.raises(ScheduleError, match="--start: '2026-13-01' is not a date"):
        parse_date("2026-13-01", "--start")


# --- re-runs, failures, resume, catch-up -----------------------------------------------------------------

def test_rerunning_completed_days_is_a_no_op_unless_forced(titanic, tmp_path):
    store = tmp_path / "store"
    simulate(titanic, 8, store)
    summary, executor = simulate(titanic, 8, store)
    assert executor.calls == [] and summary.ok and summary.outcomes == []
    assert "nothing to run" in summary.table()
    # --force runs every notebook that was due on those days, and only those.
    _, forced = simulate(titanic, 2, store, force=True)
    assert [name for _, name, _ in forced.calls] == ["01_feature_backfill", "03_training_pipeline",
                                                     "02_feature_pipeline", "04_batch_inference", "05_monitoring",
                                                     "02_feature_pipeline", "04_batch_inference", "05_monitoring"]
    # Extending the simulation runs only the new days, with the weekly cadence continuing.
    _, extended = simulate(titanic, 10, store)
    assert [(day, name) for day, name, _ in extended.calls][:1] == [("2026-01-13", "02_feature_pipeline")]
    assert all(name != "03_training_pipeline" for _, name, _ in extended.calls)


def test_a_failure_stops_its_chain_and_the_simulation(titanic, tmp_path):
    store = tmp_path / "store"
    failing = ScriptedExecutor(failing=[("02_feature_pipeline", "2026-01-07")])
    summary, _ = simulate(titanic, 5, store, executor=failing)
    assert not summary.ok and summary.stopped_on == dt.date(2026, 1, 7)
    assert failing.names_on("2026-01-07") == ["02_feature_pipeline"], "inference and monitoring must not run"
    assert failing.names_on("2026-01-08") == [], "no day after a failed one"
    with pytest.raises(PipelineFailedError, match="2026-01-07 02_feature_pipeline: cell \\[3\\] ValueError"):
        summary.raise_for_failures()

    log = runlog.get_runs("titanic", store=store)
    day3 = log[log["run_date"].astype(str).str.startswith("2026-01-07")]
    assert list(zip(day3["notebook"], day3["status"])) == [
        ("02_feature_pipeline", "failed"), ("04_batch_inference", "skipped"), ("05_monitoring", "skipped")]
    assert day3["error"].iloc[1] == "not run: 02_feature_pipeline failed on 2026-01-07"

    # --resume: the last request's days, from the first one not completed.
    resumed = runner.resume(titanic, store=store, runs_dir=store / "runs", executor=(fixed := ScriptedExecutor()),
                            progress=False, echo=lambda message: None)
    assert resumed.ok
    assert fixed.calls[0][:2] == ("2026-01-07", "02_feature_pipeline")
    assert sorted({day for day, _, _ in fixed.calls}) == ["2026-01-07", "2026-01-08", "2026-01-09"]
    assert runner.first_incomplete_day(titanic, runner.day_range(MONDAY, 5),
                                       runlog.latest_statuses(store, "titanic")) is None


def test_independent_notebooks_still_run_on_a_failed_day(titanic, tmp_path):
    # Training fails: features still run (they do not depend on it), inference does not.
    failing = ScriptedExecutor(failing=[("03_training_pipeline", "2026-01-05")])
    summary, _ = simulate(titanic, 3, tmp_path / "store", executor=failing)
    assert failing.names_on("2026-01-05") == ["01_feature_backfill", "03_training_pipeline", "02_feature_pipeline"]
    assert summary.stopped_on == MONDAY


def test_resume_with_nothing_recorded(titanic, tmp_path):
    with pytest.raises(ScheduleError, match="nothing to resume"):
        runner.resume(titanic, store=tmp_path / "store", progress=False)


def test_date_catches_up_missed_days(titanic, tmp_path):
    store = tmp_path / "store"
    simulate(titanic, 3, store)  # 5, 6, 7 January
    executor = ScriptedExecutor()
    summary = runner.run_date(titanic, dt.date(2026, 1, 12), catch_up=7, store=store, runs_dir=store / "runs",
                              executor=executor, progress=False, echo=lambda message: None)
    assert summary.ok
    assert sorted({day for day, _, _ in executor.calls}) == [f"2026-01-{d:02d}" for d in range(8, 13)]
    # Training last succeeded on the 5th: due again on the 12th.
    assert [day for day, name, _ in executor.calls if name == "03_training_pipeline"] == ["2026-01-12"]

    # Without catch-up only the date runs; with a short window, only that many days back.
    only = ScriptedExecutor()
    runner.run_date(titanic, dt.date(2026, 1, 20), catch_up=0, store=store, runs_dir=store / "runs",
                    executor=only, progress=False)
    assert {day for day, _, _ in only.calls} == {"2026-01-20"}
    window = ScriptedExecutor()
    runner.run_date(titanic, dt.date(2026, 1, 25), catch_up=2, store=store, runs_dir=store / "runs",
                    executor=window, progress=False)
    assert sorted({day for day, _, _ in window.calls}) == ["2026-01-23", "2026-01-24", "2026-01-25"]


def test_date_on_a_new_store_runs_just_that_day(titanic, tmp_path):
    executor = ScriptedExecutor()
    runner.run_date(titanic, dt.date(2026, 3, 2), store=tmp_path / "store", runs_dir=tmp_path / "runs",
                    executor=executor, progress=False)
    assert {day for day, _, _ in executor.calls} == {"2026-03-02"}
    assert executor.names_on("2026-03-02")[0] == "01_feature_backfill"


def test_now_uses_the_real_clock_for_today(titanic, tmp_path):
    executor = ScriptedExecutor()
    runner.run_date(titanic, None, store=tmp_path / "store", runs_dir=tmp_path / "runs", executor=executor,
                    progress=False)
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    assert {day for day, _, _ in executor.calls} == {today}
    assert all(now is None for _, _, now in executor.calls), "FTI_NOW is removed, not fixed"
    log = runlog.get_runs("titanic", store=tmp_path / "store")
    assert log["scheduled_at"].isna().all()


def test_the_titanic_schedule_file_is_valid_as_committed():
    if not all((TITANIC_SCHEDULE.parent / f"{name}.ipynb").exists() for name in TITANIC_NOTEBOOKS):
        pytest.skip("the Titanic notebooks are not all there")
    schedule = load_schedule("titanic")
    assert [p.name for p in schedule.pipelines] == ["01_feature_backfill", "03_training_pipeline",
                                                    "02_feature_pipeline", "04_batch_inference", "05_monitoring"]
    document = yaml.safe_load(TITANIC_SCHEDULE.read_text())
    assert document["start"] == MONDAY


def test_schedule_file_may_be_given_by_path(tmp_path):
    folder = tmp_path / "elsewhere"
    make_system(folder, "system: demo\npipelines:\n  - {notebook: a, schedule: '0 6 * * MON'}", ["a"])
    shutil.copy(folder / "pipelines.yml", folder / "other.yml")
    assert load_schedule(folder / "other.yml").system == "demo"
