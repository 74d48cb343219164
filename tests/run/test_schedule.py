"""Schedule files and the day-by-day runner's rules, without starting kernels.

A scripted executor stands in for papermill: it records what it was asked to
run and answers ok or failed, so cadences, order within a day, catch-up, resume,
idempotent re-runs and --force are checked in milliseconds. Real executions are
in test_runner.py. The schedules are written here (a generic five-notebook
system, "shop"); the Titanic's own file is checked in tests/systems/titanic.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from fti.exceptions import FTIError, PipelineFailedError, ScheduleError, UnknownSystemError
from fti.run import runlog, runner
from fti.run.execute import ExecutionRequest, ExecutionResult
from fti.run.executors import Executor
from fti.run.schedule import Cadence, load_schedule, parse_date, parse_schedule
from fti.store.storage import Store

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
                                  started_at=dt.datetime.now(dt.UTC), duration=0.01,
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


# A batch system in five notebooks, with the shape of a real one: a one-off backfill, weekly
# training, then the daily chain features -> predictions -> monitoring. Training comes
# before the features in the day, so predictions on day one find a model.
SHOP_SCHEDULE = """
system: shop
start: 2026-01-05
pipelines:
  - notebook: 01_backfill
    schedule: once
  - notebook: 02_training
    schedule: weekly
    after: [01_backfill]
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
SHOP_NOTEBOOKS = ["01_backfill", "02_training", "03_features", "04_predictions", "05_monitoring"]
DAY_ONE = ["01_backfill", "02_training", "03_features", "04_predictions", "05_monitoring"]
DAILY = ["03_features", "04_predictions", "05_monitoring"]


@pytest.fixture
def shop(tmp_path):
    """The shop system's schedule, with stand-in notebooks."""
    return load_schedule(make_system(tmp_path / "shop", SHOP_SCHEDULE, SHOP_NOTEBOOKS))


def simulate(schedule, days, store_path, start=MONDAY, **options):
    executor = options.pop("executor", None) or ScriptedExecutor()
    summary = runner.simulate(schedule, days, start=start, store=Store(store_path), runs_dir=store_path / "runs",
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

def test_schedule_order_and_first_weeks(shop, tmp_path):
    assert shop.system == "shop" and shop.start == MONDAY
    summary, executor = simulate(shop, 15, tmp_path / "store")
    assert summary.ok
    # Day 1: backfill, then training (so predictions have a model), then the daily chain.
    assert executor.names_on("2026-01-05") == DAY_ONE
    assert executor.names_on("2026-01-06") == DAILY
    training_days = [day for day, name, _ in executor.calls if name == "02_training"]
    assert training_days == ["2026-01-05", "2026-01-12", "2026-01-19"]
    assert [name for day, name, _ in executor.calls].count("01_backfill") == 1


def test_clock_is_the_day_at_23h_plus_a_minute_per_position(shop, tmp_path):
    _, executor = simulate(shop, 1, tmp_path / "store")
    clocks = {name: now for _, name, now in executor.calls}
    assert clocks["01_backfill"] == "2026-01-05T23:00:00+00:00"
    assert clocks["02_training"] == "2026-01-05T23:01:00+00:00"
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
    ("pipelines:\n  - {notebook: missing, schedule: daily}",
     r"pipelines\[0\].notebook: notebook .*missing.ipynb does not exist"),
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
    assert "\n" not in str(caught.value), "one line, for the `fti` command's one-line errors"


@pytest.mark.parametrize("document, message", [
    (None, "expected a mapping with a 'pipelines' list at the top, found NoneType"),
    (["a"], "found list"),
    ({"system": 3, "pipelines": []}, "system: expected a name, found 3"),
    ({"pipelines": ["a"]}, r"pipelines\[0\]: expected a mapping"),
    ({"pipelines": [{"notebook": 5, "schedule": "daily"}]}, r"pipelines\[0\].notebook: expected the notebook's file"),
    ({"pipelines": [{"notebook": "a", "schedule": "daily", "after": {"b": 1}}]}, "expected a list of notebook names"),
    ({"pipelines": [{"notebook": "a", "schedule": "daily", "parameters": [1]}]}, "expected a mapping of parameter"),
    ({"pipelines": [{"notebook": "a", "schedule": "daily", "timeout": True}]}, "expected a positive number"),
    ({"pipelines": [{"notebook": "a", "schedule": "daily"}, {"notebook": "a.ipynb", "schedule": "daily"}]},
     "listed twice"),
])
def test_malformed_documents_raise_schedule_errors_only(tmp_path, document, message):
    path = make_system(tmp_path / "sys", "", ["a"])
    # A str path is accepted as well as a Path; nothing but a ScheduleError comes out.
    with pytest.raises(ScheduleError, match=message):
        parse_schedule(document, str(path))


def test_unknown_system_lists_the_known_ones(tmp_path):
    make_system(tmp_path / "notebooks" / "shop", "pipelines:\n  - {notebook: a, schedule: daily}", ["a"])
    with pytest.raises(UnknownSystemError, match="unknown system 'nope'.*systems with a schedule: shop"):
        load_schedule("nope", notebooks_dir=tmp_path / "notebooks")
    assert load_schedule("shop", notebooks_dir=tmp_path / "notebooks").system == "shop"
    with pytest.raises(ScheduleError, match="expected a system's name"):
        load_schedule(None)  # type: ignore[arg-type]


def test_unknown_notebook_name(shop):
    with pytest.raises(ScheduleError, match="no notebook named '06_nothing'"):
        shop.pipeline("06_nothing")


def test_bad_date():
    with pytest.raises(ScheduleError, match="--start: '2026-13-01' is not a date"):
        parse_date("2026-13-01", "--start")


def test_get_runs_refuses_a_system_it_has_never_heard_of(tmp_path, shop):
    store = Store(tmp_path / "store")
    with pytest.raises(UnknownSystemError, match="unknown system 'shpo'.*systems with runs here: none"):
        runlog.get_runs("shpo", store=store)
    simulate(shop, 1, tmp_path / "store")
    # Known from its runs (its schedule is not in notebooks/): the log, from a path or a Store.
    assert len(runlog.get_runs("shop", store=tmp_path / "store")) == len(DAY_ONE)
    assert len(runlog.get_runs(store=store)) == len(DAY_ONE)
    with pytest.raises(UnknownSystemError, match="systems with runs here: shop"):
        runlog.get_runs("shpo", store=store)
    with pytest.raises(FTIError, match="expected a system's name"):
        runlog.get_runs(42, store=store)  # type: ignore[arg-type]


# --- re-runs, failures, resume, catch-up -----------------------------------------------------------------

def test_rerunning_completed_days_is_a_no_op_unless_forced(shop, tmp_path):
    store = tmp_path / "store"
    simulate(shop, 8, store)
    summary, executor = simulate(shop, 8, store)
    assert executor.calls == [] and summary.ok and summary.outcomes == []
    assert "nothing to run" in summary.table()
    # --force runs every notebook that was due on those days, and only those.
    _, forced = simulate(shop, 2, store, force=True)
    assert [name for _, name, _ in forced.calls] == DAY_ONE + DAILY
    # Extending the simulation runs only the new days, with the weekly cadence continuing.
    _, extended = simulate(shop, 10, store)
    assert [(day, name) for day, name, _ in extended.calls][:1] == [("2026-01-13", "03_features")]
    assert all(name != "02_training" for _, name, _ in extended.calls)


def test_a_failure_stops_its_chain_and_the_simulation(shop, tmp_path):
    store = tmp_path / "store"
    failing = ScriptedExecutor(failing=[("03_features", "2026-01-07")])
    summary, _ = simulate(shop, 5, store, executor=failing)
    assert not summary.ok and summary.stopped_on == dt.date(2026, 1, 7)
    assert failing.names_on("2026-01-07") == ["03_features"], "predictions and monitoring must not run"
    assert failing.names_on("2026-01-08") == [], "no day after a failed one"
    with pytest.raises(PipelineFailedError, match="2026-01-07 03_features: cell \\[3\\] ValueError"):
        summary.raise_for_failures()

    log = runlog.get_runs("shop", store=store)
    day3 = log[log["run_date"].astype(str).str.startswith("2026-01-07")]
    assert list(zip(day3["notebook"], day3["status"], strict=True)) == [
        ("03_features", "failed"), ("04_predictions", "skipped"), ("05_monitoring", "skipped")]
    assert day3["error"].iloc[1] == "not run: 03_features failed on 2026-01-07"

    # --resume: the last request's days, from the first one not completed.
    resumed = runner.resume(shop, store=Store(store), runs_dir=store / "runs",
                            executor=(fixed := ScriptedExecutor()), progress=False, echo=lambda message: None)
    assert resumed.ok
    assert fixed.calls[0][:2] == ("2026-01-07", "03_features")
    assert sorted({day for day, _, _ in fixed.calls}) == ["2026-01-07", "2026-01-08", "2026-01-09"]
    assert runner.first_incomplete_day(shop, runner.day_range(MONDAY, 5),
                                       runlog.latest_statuses(Store(store), "shop")) is None


def test_independent_notebooks_still_run_on_a_failed_day(shop, tmp_path):
    # Training fails: features still run (they do not depend on it), predictions do not.
    failing = ScriptedExecutor(failing=[("02_training", "2026-01-05")])
    summary, _ = simulate(shop, 3, tmp_path / "store", executor=failing)
    assert failing.names_on("2026-01-05") == ["01_backfill", "02_training", "03_features"]
    assert summary.stopped_on == MONDAY


def test_resume_with_nothing_recorded(shop, tmp_path):
    with pytest.raises(ScheduleError, match="nothing to resume"):
        runner.resume(shop, store=Store(tmp_path / "store"), progress=False)


def test_date_catches_up_missed_days(shop, tmp_path):
    store = tmp_path / "store"
    simulate(shop, 3, store)  # 5, 6, 7 January
    executor = ScriptedExecutor()
    summary = runner.run_date(shop, dt.date(2026, 1, 12), catch_up=7, store=Store(store), runs_dir=store / "runs",
                              executor=executor, progress=False, echo=lambda message: None)
    assert summary.ok
    assert sorted({day for day, _, _ in executor.calls}) == [f"2026-01-{d:02d}" for d in range(8, 13)]
    # Training last succeeded on the 5th: due again on the 12th.
    assert [day for day, name, _ in executor.calls if name == "02_training"] == ["2026-01-12"]

    # Without catch-up only the date runs; with a short window, only that many days back.
    only = ScriptedExecutor()
    runner.run_date(shop, dt.date(2026, 1, 20), catch_up=0, store=Store(store), runs_dir=store / "runs",
                    executor=only, progress=False)
    assert {day for day, _, _ in only.calls} == {"2026-01-20"}
    window = ScriptedExecutor()
    runner.run_date(shop, dt.date(2026, 1, 25), catch_up=2, store=Store(store), runs_dir=store / "runs",
                    executor=window, progress=False)
    assert sorted({day for day, _, _ in window.calls}) == ["2026-01-23", "2026-01-24", "2026-01-25"]
    with pytest.raises(ScheduleError, match="catch-up: expected 0 or more days"):
        runner.run_date(shop, dt.date(2026, 1, 25), catch_up=-1, store=Store(store))


def test_date_on_a_new_store_runs_just_that_day(shop, tmp_path):
    executor = ScriptedExecutor()
    runner.run_date(shop, dt.date(2026, 3, 2), store=Store(tmp_path / "store"), runs_dir=tmp_path / "runs",
                    executor=executor, progress=False)
    assert {day for day, _, _ in executor.calls} == {"2026-03-02"}
    assert executor.names_on("2026-03-02")[0] == "01_backfill"


def test_now_uses_the_real_clock_for_today(shop, tmp_path):
    executor = ScriptedExecutor()
    runner.run_date(shop, None, store=Store(tmp_path / "store"), runs_dir=tmp_path / "runs", executor=executor,
                    progress=False)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert {day for day, _, _ in executor.calls} == {today}
    assert all(now is None for _, _, now in executor.calls), "FTI_NOW is removed, not fixed"
    log = runlog.get_runs("shop", store=tmp_path / "store")
    assert log["scheduled_at"].isna().all()


def test_schedule_file_may_be_given_by_path(tmp_path):
    folder = tmp_path / "elsewhere"
    make_system(folder, "system: demo\npipelines:\n  - {notebook: a, schedule: '0 6 * * MON'}", ["a"])
    shutil.copy(folder / "pipelines.yml", folder / "other.yml")
    assert load_schedule(folder / "other.yml").system == "demo"
