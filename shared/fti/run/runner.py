"""Operate a system day by day: run the notebooks its schedule says are due, record every run.

`run_days` is the loop behind ``fti run``. For each day, in date order, it runs
the due notebooks in the schedule's order with ``run_date`` injected and the
clock (``FTI_NOW``) set to that day at 23:00 UTC plus one minute per position in
the schedule, so the store, the executed notebooks and anything built from them
are the same every time the same days are simulated.

Rules:

* A notebook that already succeeded for a day is not run again for it (so a
  re-run of completed days does nothing) unless ``force`` is set.
* A notebook whose ``after`` notebooks failed that day is not run; it is
  recorded as ``skipped``. The other notebooks of the day still run, and then
  the loop stops: later days would build on a broken one. Running the same
  days again (or ``fti run SYSTEM --resume``) picks up from there.
* Executed notebooks go to ``runs/SYSTEM/DATE/NAME.ipynb``. An earlier attempt
  at the same path is kept, renamed ``NAME.attempt-K.ipynb`` (and the run log
  follows it).

Every function here takes the `Store` its caller opened (the ``fti`` command
opens it from ``--store``), and each notebook is told that store through its
kernel's environment (``FTI_STORE``), with its clock (``FTI_NOW``).
"""

from __future__ import annotations

import datetime as dt
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fti.clock import NOW_VARIABLE
from fti.exceptions import PipelineFailedError, ScheduleError
from fti.paths import RUNS_DIR
from fti.run import runlog
from fti.run.execute import STATUS_OK, STATUS_SKIPPED, ExecutionRequest, ExecutionResult
from fti.run.executors import Executor, InProcessExecutor
from fti.run.schedule import RUN_DATE_PARAMETER, Pipeline, Schedule
from fti.store.storage import STORE_VARIABLE, Store

# Pipelines of a day run "in the evening", after the day's data is in.
DAY_RUN_TIME = dt.time(23, 0)
DEFAULT_CATCH_UP_DAYS = 7


@dataclass(frozen=True)
class PlannedRun:
    """One notebook to run for one day.

    Attributes:
        day: The run date.
        pipeline: The notebook and its settings.
        clock: The instant the notebook's clock shows (``FTI_NOW``), or ``None`` for the real clock.
    """

    day: dt.date
    pipeline: Pipeline
    clock: dt.datetime | None


@dataclass(frozen=True)
class DayPlan:
    """A day's due notebooks, and which of them still have to run."""

    day: dt.date
    due: tuple[Pipeline, ...]
    to_run: tuple[PlannedRun, ...]


@dataclass(frozen=True)
class RunOutcome:
    """What happened to one planned run: an execution result, or skipped because a dependency failed."""

    planned: PlannedRun
    status: str
    duration: float = 0.0
    result: ExecutionResult | None = None
    error: str | None = None


@dataclass
class RunSummary:
    """The outcome of `run_days`.

    Attributes:
        system: The system.
        days: Every day that was asked for.
        plans: The plan of each day that was considered (days after a failure are not).
        outcomes: What happened to each notebook that ran or was skipped, in order.
        stopped_on: The day the loop stopped on because of a failure, or ``None``.
        runs_dir: Where executed notebooks went.
    """

    system: str
    days: list[dt.date]
    plans: list[DayPlan] = field(default_factory=list)
    outcomes: list[RunOutcome] = field(default_factory=list)
    stopped_on: dt.date | None = None
    runs_dir: Path | None = None

    @property
    def ok(self) -> bool:
        """Whether every day asked for completed and every notebook run succeeded."""
        return self.stopped_on is None and all(outcome.status == STATUS_OK for outcome in self.outcomes)

    @property
    def failures(self) -> list[RunOutcome]:
        """The runs that failed or timed out (skipped ones are not failures of their own)."""
        return [outcome for outcome in self.outcomes if outcome.status not in (STATUS_OK, STATUS_SKIPPED)]

    def raise_for_failures(self) -> None:
        """Raise `PipelineFailedError` if a notebook failed or timed out."""
        if self.ok:
            return
        lines = [f"{self.system}: {len(self.failures)} notebook run(s) failed; stopped on {self.stopped_on}"]
        lines += [f"  {o.planned.day} {o.planned.pipeline.name}: {o.error}" for o in self.failures]
        raise PipelineFailedError("\n".join(lines), [o.result for o in self.failures if o.result is not None])

    def table(self) -> str:
        """A plain-text summary: one line per notebook, then the days."""
        per_notebook: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for outcome in self.outcomes:
            counts = per_notebook[outcome.planned.pipeline.name]
            counts[outcome.status] += 1
            counts["seconds"] += outcome.duration
        header = f"{'notebook':<28} {'runs':>5} {'ok':>5} {'failed':>7} {'skipped':>8} {'time':>9} {'mean':>7}"
        lines = [header, "-" * len(header)]
        for name, counts in per_notebook.items():
            runs = sum(value for key, value in counts.items() if key != "seconds")
            failed = runs - counts[STATUS_OK] - counts[STATUS_SKIPPED]
            executed = runs - counts[STATUS_SKIPPED]
            mean = counts["seconds"] / executed if executed else 0.0
            lines.append(f"{name:<28} {runs:>5.0f} {counts[STATUS_OK]:>5.0f} {failed:>7.0f} "
                         f"{counts[STATUS_SKIPPED]:>8.0f} {counts['seconds']:>8.1f}s {mean:>6.1f}s")
        if not self.outcomes:
            lines.append("(nothing to run: every due notebook of these days already succeeded; "
                         "--force runs them again)")
        done = sum(1 for plan in self.plans if plan.day != self.stopped_on)
        already = sum(1 for plan in self.plans if not plan.to_run)
        first, last = (self.days[0], self.days[-1]) if self.days else (None, None)
        lines.append("")
        lines.append(f"days {first} to {last}: {done} of {len(self.days)} completed "
                     f"({already} already were); executed notebooks in {self.runs_dir}")
        if self.stopped_on is not None:
            lines.append(f"stopped on {self.stopped_on} because of the failure(s) above; "
                         f"fix and run the same days again, or `fti run {self.system} --resume`")
        return "\n".join(lines)


def clock_for(day: dt.date, pipeline: Pipeline) -> dt.datetime:
    """The deterministic instant a notebook's clock shows on a day: 23:00 UTC plus one minute per position."""
    start = dt.datetime.combine(day, DAY_RUN_TIME, tzinfo=dt.UTC)
    return start + dt.timedelta(minutes=pipeline.position)


def day_range(first: dt.date, count: int) -> list[dt.date]:
    """``count`` consecutive days from ``first``."""
    if count < 1:
        raise ScheduleError(f"days: expected at least 1 day, got {count}")
    return [first + dt.timedelta(days=offset) for offset in range(count)]


def plan_days(schedule: Schedule, days: Sequence[dt.date], history: dict[tuple[str, dt.date], str],
              force: bool = False, real_clock_days: Iterable[dt.date] = ()) -> list[DayPlan]:
    """Decide, day by day, which notebooks are due and which of them still have to run.

    Args:
        schedule: The system's schedule.
        days: The days, in any order (they are planned in date order).
        history: Latest status of each (notebook, run date) so far, from the run log.
        force: Run due notebooks even if they already succeeded for that day.
        real_clock_days: Days whose notebooks run on the real clock (no ``FTI_NOW``).

    Returns:
        One plan per day. Cadences count the runs planned for earlier days as
        successes (if one fails, the loop stops before the later days anyway).
    """
    successes: dict[str, set[dt.date]] = defaultdict(set)
    for (name, day), status in history.items():
        if status == STATUS_OK:
            successes[name].add(day)
    real_clock = set(real_clock_days)
    plans = []
    for day in sorted(set(days)):
        last_before = {name: max((d for d in done if d < day), default=None) for name, done in successes.items()}
        due = schedule.due_on(day, last_before)
        to_run = tuple(
            PlannedRun(day=day, pipeline=pipeline, clock=None if day in real_clock else clock_for(day, pipeline))
            for pipeline in due
            if force or history.get((pipeline.name, day)) != STATUS_OK
        )
        for pipeline in due:
            successes[pipeline.name].add(day)
        plans.append(DayPlan(day=day, due=tuple(due), to_run=to_run))
    return plans


def first_incomplete_day(schedule: Schedule, days: Sequence[dt.date],
                         history: dict[tuple[str, dt.date], str]) -> dt.date | None:
    """The first of ``days`` on which a due notebook has not succeeded, or ``None`` if all are complete."""
    for plan in plan_days(schedule, days, history):
        if plan.to_run:
            return plan.day
    return None


def run_days(schedule: Schedule, days: Sequence[dt.date], *, store: Store, runs_dir: Path = RUNS_DIR,
             force: bool = False, executor: Executor | None = None, real_clock_days: Iterable[dt.date] = (),
             progress: bool | None = None, echo: Callable[[str], None] | None = None) -> RunSummary:
    """Run a system's due notebooks for each day and record every run in the store's run log.

    Args:
        schedule: The system's schedule (`fti.run.schedule.load_schedule`).
        days: The days to run.
        store: The store the notebooks use and the run log goes to; each kernel
            gets its path as ``FTI_STORE``.
        runs_dir: Executed notebooks go to ``runs_dir/SYSTEM/DATE/``.
        force: Run due notebooks again even if they already succeeded that day.
        executor: What executes notebooks (default: one after another in this process).
        real_clock_days: Days run on the real clock instead of a fixed ``FTI_NOW``.
        progress: Show progress bars: True, False, or None for "when stderr is a terminal".
        echo: Where messages about failures go (default: printed above the progress bars on stderr).

    Returns:
        What ran, what failed, and where it stopped; `RunSummary.table` formats it.
    """
    from tqdm import tqdm

    runs_root = Path(runs_dir).expanduser().resolve()
    executor = executor or InProcessExecutor()
    history = runlog.latest_statuses(store, schedule.system)
    plans = plan_days(schedule, days, history, force=force, real_clock_days=real_clock_days)
    summary = RunSummary(system=schedule.system, days=sorted(set(days)), runs_dir=runs_root / schedule.system)
    disable = None if progress is None else not progress
    day_bar = tqdm(total=len(plans), desc="days", unit="day", disable=disable, position=0, leave=True)
    notebook_bar = tqdm(total=sum(len(plan.to_run) for plan in plans), desc="notebooks", unit="nb",
                        disable=disable, position=1, leave=True)
    say = echo or (lambda message: tqdm.write(message, file=sys.stderr))
    try:
        for plan in plans:
            summary.plans.append(plan)
            day_bar.set_postfix_str(plan.day.isoformat())
            failed_today: set[str] = set()
            for planned in plan.to_run:
                name = planned.pipeline.name
                notebook_bar.set_postfix_str(f"{plan.day} {name}")
                blockers = [dependency for dependency in planned.pipeline.after if dependency in failed_today]
                if blockers:
                    outcome = _skip(planned, blockers)
                else:
                    outcome = _execute(planned, schedule, store, runs_root, executor)
                _record(store, schedule.system, outcome)
                summary.outcomes.append(outcome)
                if outcome.status != STATUS_OK:
                    failed_today.add(name)
                    say(_describe(outcome))
                elif outcome.result is not None:
                    for warning in outcome.result.warnings:
                        say(f"note: {plan.day} {name}: {warning}")
                notebook_bar.update(1)
            day_bar.update(1)
            if failed_today:
                summary.stopped_on = plan.day
                break
    finally:
        notebook_bar.close()
        day_bar.close()
    return summary


def _execute(planned: PlannedRun, schedule: Schedule, store: Store, runs_root: Path,
             executor: Executor) -> RunOutcome:
    pipeline = planned.pipeline
    output = runs_root / schedule.system / planned.day.isoformat() / f"{pipeline.name}.ipynb"
    _keep_earlier_attempt(store, output)
    parameters = {**pipeline.parameters, RUN_DATE_PARAMETER: planned.day.isoformat()}
    env: dict[str, str | None] = {
        STORE_VARIABLE: str(store.path),
        NOW_VARIABLE: planned.clock.isoformat() if planned.clock is not None else None,
    }
    request = ExecutionRequest(notebook=pipeline.notebook, output=output, parameters=parameters, env=env,
                               timeout=pipeline.timeout, label=f"{planned.day} {pipeline.name}")
    result = executor.run_one(request)
    return RunOutcome(planned=planned, status=result.status, duration=result.duration, result=result,
                      error=result.error)


def _skip(planned: PlannedRun, blockers: list[str]) -> RunOutcome:
    return RunOutcome(planned=planned, status=STATUS_SKIPPED,
                      error=f"not run: {', '.join(blockers)} failed on {planned.day}")


def _record(store: Store, system: str, outcome: RunOutcome) -> None:
    planned = outcome.planned
    result = outcome.result
    parameters = dict(result.request.parameters) if result is not None else {
        **planned.pipeline.parameters, RUN_DATE_PARAMETER: planned.day.isoformat()}
    runlog.record_runs(store, [runlog.RunRecord(
        system=system, notebook=planned.pipeline.name, run_date=planned.day, status=outcome.status,
        started_at=result.started_at if result is not None else dt.datetime.now(dt.UTC),
        duration_s=outcome.duration, parameters=parameters, scheduled_at=planned.clock,
        output_path=str(result.output) if result is not None else None, error=outcome.error,
    )])


def _keep_earlier_attempt(store: Store, output: Path) -> None:
    """Move an earlier executed notebook out of the way (``NAME.attempt-K.ipynb``) so every run stays inspectable."""
    if not output.exists():
        return
    attempt = 1
    while (moved := output.with_name(f"{output.stem}.attempt-{attempt}.ipynb")).exists():
        attempt += 1
    output.rename(moved)
    runlog.move_output(store, output, moved)


def _describe(outcome: RunOutcome) -> str:
    """The message for a notebook that did not succeed: the error, the cell's traceback and the executed notebook."""
    planned = outcome.planned
    head = f"{outcome.status.upper()}: {planned.day} {planned.pipeline.name}: {outcome.error}"
    result = outcome.result
    if result is None:
        return head
    lines = [head]
    if result.traceback:
        tail = result.traceback.strip().splitlines()[-12:]
        lines += ["  " + line for line in tail]
    lines.append(f"  executed notebook: {result.output}")
    return "\n".join(lines)


def simulate(schedule: Schedule, days: int, start: dt.date | None = None, *, store: Store,
             runs_dir: Path = RUNS_DIR, force: bool = False, executor: Executor | None = None,
             progress: bool | None = None, echo: Callable[[str], None] | None = None) -> RunSummary:
    """Simulate ``days`` days of operation from ``start`` (default: the schedule's ``start``).

    Args:
        schedule: The system's schedule.
        days: How many days.
        start: The first day.
        store: The store.
        runs_dir, force, executor, progress, echo: As for `run_days`.

    Raises:
        ScheduleError: No start given and none in the schedule, or fewer than 1 day.
    """
    first = start or schedule.start
    if first is None:
        raise ScheduleError(f"{schedule.path}: no start day: give --start YYYY-MM-DD or add 'start:' to the file")
    all_days = day_range(first, days)
    runlog.record_request(store, schedule.system, all_days[0], all_days[-1])
    return run_days(schedule, all_days, store=store, runs_dir=runs_dir, force=force, executor=executor,
                    progress=progress, echo=echo)


def run_date(schedule: Schedule, day: dt.date | None = None, catch_up: int = DEFAULT_CATCH_UP_DAYS, *,
             store: Store, runs_dir: Path = RUNS_DIR, force: bool = False, executor: Executor | None = None,
             progress: bool | None = None, echo: Callable[[str], None] | None = None) -> RunSummary:
    """Run what is due on one real date, first catching up days missed since the system last ran.

    With ``day=None`` the date is today (UTC) and today's notebooks run on the
    real clock; missed days, and an explicit ``day``, get the same fixed clock as
    in a simulation.

    Args:
        schedule: The system's schedule.
        day: The date (default: today, on the real clock).
        catch_up: Also run up to this many days before ``day`` that have not
            completed, but none before the system's first recorded run (0: only ``day``).
        store: The store.
        runs_dir, force, executor, progress, echo: As for `run_days`.

    Raises:
        ScheduleError: ``catch_up`` is negative.
    """
    if catch_up < 0:
        raise ScheduleError(f"catch-up: expected 0 or more days, got {catch_up}")
    real_clock = day is None
    target = day or dt.datetime.now(dt.UTC).date()
    recorded = [run_day for (_, run_day) in runlog.latest_statuses(store, schedule.system)]
    first = target
    if recorded and catch_up:
        first = max(min(recorded), target - dt.timedelta(days=catch_up))
        first = min(first, target)
    all_days = day_range(first, (target - first).days + 1)
    runlog.record_request(store, schedule.system, all_days[0], all_days[-1])
    return run_days(schedule, all_days, store=store, runs_dir=runs_dir, force=force, executor=executor,
                    real_clock_days=[target] if real_clock else [], progress=progress, echo=echo)


def resume(schedule: Schedule, *, store: Store, runs_dir: Path = RUNS_DIR, executor: Executor | None = None,
           progress: bool | None = None, echo: Callable[[str], None] | None = None) -> RunSummary:
    """Continue the most recent `fti run` of a system from its first day not completed.

    Args:
        schedule: The system's schedule.
        store: The store.
        runs_dir, executor, progress, echo: As for `run_days`.

    Raises:
        ScheduleError: The system never ran with this store.
    """
    requested = runlog.last_request(store, schedule.system)
    if requested is None:
        raise ScheduleError(f"nothing to resume: no `fti run {schedule.system}` is recorded in the store {store.path}")
    first, last = requested
    all_days = day_range(first, (last - first).days + 1)
    history = runlog.latest_statuses(store, schedule.system)
    start = first_incomplete_day(schedule, all_days, history)
    say = echo or (lambda message: print(message, file=sys.stderr))
    if start is None:
        say(f"{schedule.system}: every day from {first} to {last} is complete; nothing to resume")
        runs_root = Path(runs_dir).expanduser().resolve()
        return RunSummary(system=schedule.system, days=all_days, runs_dir=runs_root / schedule.system)
    say(f"{schedule.system}: resuming {first}..{last} at {start}")
    return run_days(schedule, [d for d in all_days if d >= start], store=store, runs_dir=runs_dir,
                    executor=executor, progress=progress, echo=echo)
