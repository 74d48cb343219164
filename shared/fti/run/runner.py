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
* A notebook may ask for a run of another one (`fti.request_run`), if the
  schedule lists it in that one's ``requested_by``: the next day at its place,
  or the same day after the one that asked (``on_request``). Each day is
  planned just before it runs, so it includes the runs asked for the day
  before; same-day runs are added while the day runs. The run log records why
  each run ran (``scheduled`` or ``requested by NOTEBOOK: reason``).
* ``fti run -p NAME=VALUE`` (``overrides``) goes to every notebook whose
  parameters cell declares ``NAME``, and is recorded with each run.
* A simulation refuses a store that follows the real clock, and ``--now`` one
  that holds a simulation (`fti.store.storage.Store.check_timeline`).

Every function here takes the `Store` its caller opened (the ``fti`` command
opens it from ``--store``), and each notebook is told that store through its
kernel's environment (``FTI_STORE``), with its clock (``FTI_NOW``).
"""

from __future__ import annotations

import datetime as dt
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fti.clock import NOW_VARIABLE
from fti.exceptions import PipelineFailedError, ScheduleError
from fti.paths import RUNS_DIR
from fti.run import on_demand, runlog
from fti.run.execute import STATUS_OK, STATUS_SKIPPED, ExecutionRequest, ExecutionResult
from fti.run.executors import Executor, InProcessExecutor
from fti.run.schedule import RUN_DATE_PARAMETER, Pipeline, Schedule, parameter_overrides
from fti.store.storage import STORE_VARIABLE, TIMELINE_REAL, TIMELINE_SIMULATED, Store

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
        reason: Why it runs: ``scheduled``, ``requested by 05_monitoring: drift in age``, or both.
        overrides: The ``fti run -p`` parameters it gets (those its parameters cell declares).
    """

    day: dt.date
    pipeline: Pipeline
    clock: dt.datetime | None
    reason: str = runlog.REASON_SCHEDULED
    overrides: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DayPlan:
    """A day's due notebooks, and which of them still have to run (at the start of the day).

    Runs another notebook asks for during the day (``on_request: same day``) are
    added to the day as it goes; `RunSummary.outcomes` has every run.
    """

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
        waiting: Requests for runs on a day after the last one (answered by a later `fti run`).
    """

    system: str
    days: list[dt.date]
    plans: list[DayPlan] = field(default_factory=list)
    outcomes: list[RunOutcome] = field(default_factory=list)
    stopped_on: dt.date | None = None
    runs_dir: Path | None = None
    waiting: list[runlog.RunRequest] = field(default_factory=list)

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
        requested = [o for o in self.outcomes if o.planned.reason != runlog.REASON_SCHEDULED]
        if requested:
            lines.append("")
            lines.append("runs on request:")
            lines += [f"  {o.planned.day} {o.planned.pipeline.name}: {o.status} ({o.planned.reason})"
                      for o in requested]
        if self.waiting:
            lines.append("")
            lines.append("requested for a day after these (the next `fti run` that reaches it runs them):")
            lines += [f"  {r.run_on} {r.notebook} ({r.because})" for r in self.waiting]
        return "\n".join(lines)


def clock_for(day: dt.date, pipeline: Pipeline) -> dt.datetime:
    """The deterministic instant a notebook's clock shows on a day: 23:00 UTC plus one minute per position."""
    return clock_at(day, pipeline.position)


def clock_at(day: dt.date, position: int) -> dt.datetime:
    """23:00 UTC on ``day`` plus ``position`` minutes (runs added at the end of a day continue the count)."""
    return dt.datetime.combine(day, DAY_RUN_TIME, tzinfo=dt.UTC) + dt.timedelta(minutes=position)


def day_range(first: dt.date, count: int) -> list[dt.date]:
    """``count`` consecutive days from ``first``."""
    if count < 1:
        raise ScheduleError(f"days: expected at least 1 day, got {count}")
    return [first + dt.timedelta(days=offset) for offset in range(count)]


def _reason(scheduled: bool, requests: Sequence[runlog.RunRequest]) -> str:
    """``scheduled``, ``requested by A: why``, or ``scheduled; requested by A: why`` (each request once)."""
    parts = [runlog.REASON_SCHEDULED] if scheduled else []
    parts += list(dict.fromkeys(request.because for request in requests))
    return "; ".join(parts) or runlog.REASON_SCHEDULED


def _accepted(schedule: Schedule, requests: Iterable[runlog.RunRequest]) -> dict[str, list[runlog.RunRequest]]:
    """The requests the schedule (as it is now) accepts, by requested notebook."""
    by_name: dict[str, list[runlog.RunRequest]] = defaultdict(list)
    names = {pipeline.name: pipeline for pipeline in schedule.pipelines}
    for request in requests:
        pipeline = names.get(request.notebook)
        if pipeline is not None and request.requested_by in pipeline.requested_by:
            by_name[request.notebook].append(request)
    return by_name


def plan_day(schedule: Schedule, day: dt.date, history: Mapping[tuple[str, dt.date], str],
             requests: Iterable[runlog.RunRequest] = (), force: bool = False, real_clock: bool = False,
             overrides: Mapping[str, Mapping[str, Any]] | None = None) -> DayPlan:
    """Which notebooks are due on ``day``, and which of them still have to run.

    Args:
        schedule: The system's schedule.
        day: The day.
        history: Latest status of each (notebook, run date) so far.
        requests: Requests for runs not answered yet, due on or before ``day``.
        force: Run due notebooks even if they already succeeded for that day.
        real_clock: The day's notebooks run on the real clock (no ``FTI_NOW``).
        overrides: ``fti run -p`` parameters per notebook (`fti.run.schedule.parameter_overrides`).

    Returns:
        The plan. A notebook is due when its cadence says so (counting from its last
        success before the day) or when a request asks for it: at its own place in
        the day's order, except a request made the same day by a notebook that
        comes after it, which puts it at the end of the day.
    """
    last_before: dict[str, dt.date] = {}
    for (name, run_day), status in history.items():
        if status == STATUS_OK and run_day < day and (name not in last_before or run_day > last_before[name]):
            last_before[name] = run_day
    scheduled = {pipeline.name for pipeline in schedule.due_on(day, last_before)}
    requested = _accepted(schedule, (request for request in requests if request.run_on <= day))
    positions = {pipeline.name: pipeline.position for pipeline in schedule.pipelines}
    at_place: list[tuple[Pipeline, str]] = []
    at_end: list[tuple[Pipeline, str]] = []
    for pipeline in schedule.pipelines:
        asking = requested.get(pipeline.name, [])
        later_today = [r for r in asking if r.made_on == day and positions[r.requested_by] > pipeline.position]
        if pipeline.name in scheduled or len(later_today) < len(asking):
            at_place.append((pipeline, _reason(pipeline.name in scheduled, asking)))
        elif later_today:
            at_end.append((pipeline, _reason(False, asking)))
    overrides = overrides or {}
    to_run = []
    for index, (pipeline, reason) in enumerate(at_place + at_end):
        if not force and history.get((pipeline.name, day)) == STATUS_OK:
            continue
        position = pipeline.position if index < len(at_place) else len(schedule.pipelines) + index - len(at_place)
        to_run.append(PlannedRun(day=day, pipeline=pipeline, clock=None if real_clock else clock_at(day, position),
                                 reason=reason, overrides=dict(overrides.get(pipeline.name, {}))))
    return DayPlan(day=day, due=tuple(pipeline for pipeline, _ in at_place + at_end), to_run=tuple(to_run))


def plan_days(schedule: Schedule, days: Sequence[dt.date], history: dict[tuple[str, dt.date], str],
              force: bool = False, real_clock_days: Iterable[dt.date] = (),
              requests: Iterable[runlog.RunRequest] = ()) -> list[DayPlan]:
    """Plan several days ahead as far as can be known before running them.

    Args:
        schedule: The system's schedule.
        days: The days, in any order (they are planned in date order).
        history: Latest status of each (notebook, run date) so far, from the run log.
        force: Run due notebooks even if they already succeeded for that day.
        real_clock_days: Days whose notebooks run on the real clock (no ``FTI_NOW``).
        requests: Requests for runs not answered yet (`fti.run.runlog.pending_requests`).

    Returns:
        One plan per day (`plan_day`). Every run planned for an earlier day counts
        as a success, and answers the requests for it; requests that notebooks will
        make while these days run cannot be known here (`run_days` plans each day
        again just before it runs it).
    """
    assumed = dict(history)
    open_requests = list(requests)
    real_clock = set(real_clock_days)
    plans = []
    for day in sorted(set(days)):
        plan = plan_day(schedule, day, assumed, open_requests, force=force, real_clock=day in real_clock)
        for pipeline in plan.due:
            assumed[(pipeline.name, day)] = STATUS_OK
        answered = {pipeline.name for pipeline in plan.due}
        open_requests = [r for r in open_requests if not (r.notebook in answered and r.run_on <= day)]
        plans.append(plan)
    return plans


def first_incomplete_day(schedule: Schedule, days: Sequence[dt.date], history: dict[tuple[str, dt.date], str],
                         requests: Iterable[runlog.RunRequest] = ()) -> dt.date | None:
    """The first of ``days`` on which a due notebook has not succeeded, or ``None`` if all are complete."""
    for plan in plan_days(schedule, days, history, requests=requests):
        if plan.to_run:
            return plan.day
    return None


class _Progress:
    """What `run_days` shows while it works.

    ``bars``: two tqdm bars (days, notebooks) on a terminal; ``lines``: one plain
    line per notebook run, for logs and CI where a bar would print nothing useful
    until the end; ``quiet``: nothing.
    """

    def __init__(self, mode: str, days: int, notebooks: int, say: Callable[[str], None]):
        from tqdm import tqdm

        self.mode = mode
        self.say = say
        enabled = mode == "bars"
        self.day_bar = tqdm(total=days, desc="days", unit="day", disable=not enabled, position=0, leave=True)
        self.notebook_bar = tqdm(total=notebooks, desc="notebooks", unit="nb", disable=not enabled, position=1,
                                 leave=True)

    def day(self, plan: DayPlan, expected: int) -> None:
        self.day_bar.set_postfix_str(plan.day.isoformat())
        if len(plan.to_run) != expected:
            self.more(len(plan.to_run) - expected)

    def more(self, count: int) -> None:
        """Runs were added to (or removed from) what was expected."""
        if self.mode == "bars" and count:
            self.notebook_bar.total = max(0, (self.notebook_bar.total or 0) + count)
            self.notebook_bar.refresh()

    def starting(self, planned: PlannedRun) -> None:
        self.notebook_bar.set_postfix_str(f"{planned.day} {planned.pipeline.name}")

    def finished(self, outcome: RunOutcome) -> None:
        self.notebook_bar.update(1)
        if self.mode == "lines":
            planned = outcome.planned
            self.say(f"{planned.day} {planned.pipeline.name}: {outcome.status} in {outcome.duration:.1f} s "
                     f"({planned.reason})")

    def day_done(self) -> None:
        self.day_bar.update(1)

    def close(self) -> None:
        self.notebook_bar.close()
        self.day_bar.close()


# Runs of at most this many notebooks start every kernel directly (see `run_days`): the
# pool's server spends 6 to 10 s of CPU importing before it helps, and meanwhile slows
# the notebooks that start their kernels directly. Measured on 2 busy cores: 6 notebooks
# of a light system took 28 s with the pool and 22 to 26 s without; 86 Titanic ones 203 s
# with and 673 s without.
POOL_MIN_NOTEBOOKS = 8


def _progress_mode(progress: bool | None) -> str:
    if progress is None:
        return "bars" if sys.stderr.isatty() else "lines"
    return "bars" if progress else "quiet"


def run_days(schedule: Schedule, days: Sequence[dt.date], *, store: Store, runs_dir: Path = RUNS_DIR,
             force: bool = False, executor: Executor | None = None, real_clock_days: Iterable[dt.date] = (),
             progress: bool | None = None, echo: Callable[[str], None] | None = None,
             overrides: Mapping[str, Any] | None = None) -> RunSummary:
    """Run a system's due notebooks for each day and record every run in the store's run log.

    Each day is planned just before it runs (`plan_day`), so a run requested by
    a notebook the day before is part of it; a run requested for the same day is
    added to the day while it runs.

    Args:
        schedule: The system's schedule (`fti.run.schedule.load_schedule`).
        days: The days to run.
        store: The store the notebooks use and the run log goes to; each kernel
            gets its path as ``FTI_STORE``.
        runs_dir: Executed notebooks go to ``runs_dir/SYSTEM/DATE/``.
        force: Run due notebooks again even if they already succeeded that day.
        executor: What executes notebooks (default: one after another in this process,
            with kernels from a kernel pool when more than `POOL_MIN_NOTEBOOKS` notebooks
            are due, unless ``FTI_KERNEL_POOL=0``; closed at the end).
        real_clock_days: Days run on the real clock instead of a fixed ``FTI_NOW``.
        progress: True: progress bars; False: nothing; None: bars when stderr is a
            terminal, otherwise one plain line per notebook run (logs, CI).
        echo: Where messages go (default: stderr, above the progress bars).
        overrides: ``{name: value}`` from ``fti run -p``: given to every notebook
            that declares ``name`` in its parameters cell, and recorded with each run.

    Returns:
        What ran, what failed, and where it stopped; `RunSummary.table` formats it.

    Raises:
        ScheduleError: An override that no notebook declares, or of ``run_date``.
    """
    from tqdm import tqdm

    runs_root = Path(runs_dir).expanduser().resolve()
    per_notebook = parameter_overrides(schedule, overrides) if overrides else {}
    history = dict(runlog.latest_statuses(store, schedule.system))
    ordered = sorted(set(days))
    real_clock = set(real_clock_days)
    expected = {plan.day: len(plan.to_run) for plan in plan_days(
        schedule, ordered, history, force=force, real_clock_days=real_clock,
        requests=runlog.pending_requests(store, schedule.system, ordered[-1]) if ordered else ())}
    own_executor = executor is None
    if executor is None:
        executor = InProcessExecutor(kernel_pool=None if sum(expected.values()) > POOL_MIN_NOTEBOOKS else False)
    summary = RunSummary(system=schedule.system, days=ordered, runs_dir=runs_root / schedule.system)
    say = echo or (lambda message: tqdm.write(message, file=sys.stderr))
    shown = _Progress(_progress_mode(progress), len(ordered), sum(expected.values()), say)
    context = _RunContext(schedule, store, runs_root, executor, per_notebook)
    try:
        for day in ordered:
            # One opening of the store for both look-ups (each opening costs tens of milliseconds).
            with store.connect():
                pending = runlog.pending_requests(store, schedule.system, day)
                asked_before = runlog.last_run_request_id(store)
            plan = plan_day(schedule, day, history, pending, force=force, real_clock=day in real_clock,
                            overrides=per_notebook)
            summary.plans.append(plan)
            shown.day(plan, expected[day])
            failed_today = _run_day(plan, history, context, summary, shown, say, asked_before)
            shown.day_done()
            if failed_today:
                summary.stopped_on = day
                break
    finally:
        shown.close()
        if own_executor:
            executor.close()  # its kernel pool, if any: no process outlives the run
    if ordered and summary.stopped_on is None:
        summary.waiting = [request for request in runlog.pending_requests(store, schedule.system, dt.date.max)
                           if request.run_on > ordered[-1]]
    return summary


@dataclass(frozen=True)
class _RunContext:
    """What every run of one `run_days` call shares."""

    schedule: Schedule
    store: Store
    runs_root: Path
    executor: Executor
    overrides: Mapping[str, Mapping[str, Any]]


def _run_day(plan: DayPlan, history: dict[tuple[str, dt.date], str], context: _RunContext, summary: RunSummary,
             shown: _Progress, say: Callable[[str], None], asked_before: int) -> set[str]:
    """Run one day's plan, adding same-day requested runs as notebooks ask for them; return the failed names.

    ``asked_before`` is the last request id in the store when the day starts: a
    request after it was made by a notebook of this day (only one runs at a time).
    """
    schedule, store = context.schedule, context.store
    queue = list(plan.to_run)
    ran_today: set[str] = set()
    failed_today: set[str] = set()
    added_at_end = sum(1 for planned in queue if planned.clock is not None
                       and planned.clock >= clock_at(plan.day, len(schedule.pipelines)))
    while queue:
        planned = queue.pop(0)
        name = planned.pipeline.name
        shown.starting(planned)
        blockers = [dependency for dependency in planned.pipeline.after if dependency in failed_today]
        if blockers:
            outcome = _skip(planned, blockers)
        else:
            outcome = _execute(planned, context)
        with store.connect():  # the run's record and the requests it made: one opening of the store
            _record(store, schedule.system, outcome)
            made = runlog.requests_after(store, schedule.system, asked_before)
        asked_before = max([asked_before] + [request.request_id for request in made])
        summary.outcomes.append(outcome)
        history[(name, plan.day)] = outcome.status
        ran_today.add(name)
        if outcome.status != STATUS_OK:
            failed_today.add(name)
            say(_describe(outcome))
        elif outcome.result is not None:
            for warning in outcome.result.warnings:
                say(f"note: {plan.day} {name}: {warning}")
        shown.finished(outcome)
        asked = _accepted(schedule, made)
        for request in (request for requests in asked.values() for request in requests):
            if request.run_on != plan.day:
                continue  # a next-day request: the next day's plan has it
            waiting = next((i for i, queued in enumerate(queue) if queued.pipeline.name == request.notebook), None)
            if waiting is not None:
                queued = queue[waiting]
                reason = queued.reason if request.because in queued.reason else f"{queued.reason}; {request.because}"
                queue[waiting] = replace(queued, reason=reason)
            elif request.notebook in ran_today or history.get((request.notebook, plan.day)) == STATUS_OK:
                say(f"note: {plan.day} {request.notebook} already ran today; the run {request.because} "
                    f"comes tomorrow (a notebook runs at most once a day)")
            else:
                pipeline = schedule.pipeline(request.notebook)
                position = len(schedule.pipelines) + added_at_end
                added_at_end += 1
                queue.append(PlannedRun(day=plan.day, pipeline=pipeline,
                                        clock=None if planned.clock is None else clock_at(plan.day, position),
                                        reason=request.because,
                                        overrides=dict(context.overrides.get(pipeline.name, {}))))
                shown.more(1)
    return failed_today


def _execute(planned: PlannedRun, context: _RunContext) -> RunOutcome:
    pipeline = planned.pipeline
    schedule = context.schedule
    output = context.runs_root / schedule.system / planned.day.isoformat() / f"{pipeline.name}.ipynb"
    _keep_earlier_attempt(context.store, output)
    parameters = {**pipeline.parameters, **planned.overrides, RUN_DATE_PARAMETER: planned.day.isoformat()}
    env: dict[str, str | None] = {
        STORE_VARIABLE: str(context.store.path),
        NOW_VARIABLE: planned.clock.isoformat() if planned.clock is not None else None,
        **on_demand.run_environment(schedule, pipeline.name, planned.day),
    }
    request = ExecutionRequest(notebook=pipeline.notebook, output=output, parameters=parameters, env=env,
                               timeout=pipeline.timeout, label=f"{planned.day} {pipeline.name}")
    result = context.executor.run_one(request)
    return RunOutcome(planned=planned, status=result.status, duration=result.duration, result=result,
                      error=result.error)


def _skip(planned: PlannedRun, blockers: list[str]) -> RunOutcome:
    return RunOutcome(planned=planned, status=STATUS_SKIPPED,
                      error=f"not run: {', '.join(blockers)} failed on {planned.day}")


def _record(store: Store, system: str, outcome: RunOutcome) -> None:
    planned = outcome.planned
    result = outcome.result
    parameters = dict(result.request.parameters) if result is not None else {
        **planned.pipeline.parameters, **planned.overrides, RUN_DATE_PARAMETER: planned.day.isoformat()}
    runlog.record_runs(store, [runlog.RunRecord(
        system=system, notebook=planned.pipeline.name, run_date=planned.day, status=outcome.status,
        started_at=result.started_at if result is not None else dt.datetime.now(dt.UTC),
        duration_s=outcome.duration, parameters=parameters, scheduled_at=planned.clock,
        output_path=str(result.output) if result is not None else None, error=outcome.error,
        reason=planned.reason, overrides=planned.overrides,
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
             progress: bool | None = None, echo: Callable[[str], None] | None = None,
             overrides: Mapping[str, Any] | None = None) -> RunSummary:
    """Simulate ``days`` days of operation from ``start`` (default: the schedule's ``start``).

    Args:
        schedule: The system's schedule.
        days: How many days.
        start: The first day.
        store: The store; it must not hold real-clock commits (`fti.store.storage.Store.check_timeline`).
        runs_dir, force, executor, progress, echo, overrides: As for `run_days`.

    Raises:
        ScheduleError: No start given and none in the schedule, fewer than 1 day, or a bad override.
        TimelineError: The store follows the real clock.
    """
    first = start or schedule.start
    if first is None:
        raise ScheduleError(f"{schedule.path}: no start day: give --start YYYY-MM-DD or add 'start:' to the file")
    all_days = day_range(first, days)
    _check_overrides(schedule, overrides)
    store.check_timeline(TIMELINE_SIMULATED, f"fti run {schedule.system} --start/--days", (
        f"Simulate into a store of its own (--store data/sim-store), or delete the folder {store.path} to start over"))
    runlog.record_request(store, schedule.system, all_days[0], all_days[-1], overrides)
    return run_days(schedule, all_days, store=store, runs_dir=runs_dir, force=force, executor=executor,
                    progress=progress, echo=echo, overrides=overrides)


def run_date(schedule: Schedule, day: dt.date | None = None, catch_up: int = DEFAULT_CATCH_UP_DAYS, *,
             store: Store, runs_dir: Path = RUNS_DIR, force: bool = False, executor: Executor | None = None,
             progress: bool | None = None, echo: Callable[[str], None] | None = None,
             overrides: Mapping[str, Any] | None = None) -> RunSummary:
    """Run what is due on one real date, first catching up days missed since the system last ran.

    With ``day=None`` the date is today (UTC) and today's notebooks run on the
    real clock; missed days, and an explicit ``day``, get the same fixed clock as
    in a simulation.

    ``day=None`` (``fti run --now``) operates the system on the real calendar: the
    store must not hold a simulation. An explicit ``day`` continues whatever the
    store holds.

    Args:
        schedule: The system's schedule.
        day: The date (default: today, on the real clock).
        catch_up: Also run up to this many days before ``day`` that have not
            completed, but none before the system's first recorded run (0: only ``day``).
        store: The store.
        runs_dir, force, executor, progress, echo, overrides: As for `run_days`.

    Raises:
        ScheduleError: ``catch_up`` is negative, or a bad override.
        TimelineError: ``day=None`` on a store that holds a simulation.
    """
    if catch_up < 0:
        raise ScheduleError(f"catch-up: expected 0 or more days, got {catch_up}")
    _check_overrides(schedule, overrides)
    real_clock = day is None
    if real_clock:
        store.check_timeline(TIMELINE_REAL, f"fti run {schedule.system} --now", (
            "Operate the system for real in a store of its own (--store data/live-store); reading this one is fine"))
    target = day or dt.datetime.now(dt.UTC).date()
    recorded = [run_day for (_, run_day) in runlog.latest_statuses(store, schedule.system)]
    first = target
    if recorded and catch_up:
        first = max(min(recorded), target - dt.timedelta(days=catch_up))
        first = min(first, target)
    all_days = day_range(first, (target - first).days + 1)
    runlog.record_request(store, schedule.system, all_days[0], all_days[-1], overrides)
    return run_days(schedule, all_days, store=store, runs_dir=runs_dir, force=force, executor=executor,
                    real_clock_days=[target] if real_clock else [], progress=progress, echo=echo,
                    overrides=overrides)


def resume(schedule: Schedule, *, store: Store, runs_dir: Path = RUNS_DIR, executor: Executor | None = None,
           progress: bool | None = None, echo: Callable[[str], None] | None = None) -> RunSummary:
    """Continue the most recent `fti run` of a system from its first day not completed.

    It runs with the ``-p`` overrides that run was given.

    Args:
        schedule: The system's schedule.
        store: The store.
        runs_dir, executor, progress, echo: As for `run_days`.

    Raises:
        ScheduleError: The system never ran with this store.
    """
    requested = runlog.last_request_with_overrides(store, schedule.system)
    if requested is None:
        raise ScheduleError(f"nothing to resume: no `fti run {schedule.system}` is recorded in the store {store.path}")
    first, last, overrides = requested
    all_days = day_range(first, (last - first).days + 1)
    history = runlog.latest_statuses(store, schedule.system)
    start = first_incomplete_day(schedule, all_days, history, runlog.pending_requests(store, schedule.system, last))
    say = echo or (lambda message: print(message, file=sys.stderr))
    if start is None:
        say(f"{schedule.system}: every day from {first} to {last} is complete; nothing to resume")
        runs_root = Path(runs_dir).expanduser().resolve()
        return RunSummary(system=schedule.system, days=all_days, runs_dir=runs_root / schedule.system)
    shown = f" with {', '.join(f'{name}={value}' for name, value in overrides.items())}" if overrides else ""
    say(f"{schedule.system}: resuming {first}..{last} at {start}{shown}")
    return run_days(schedule, [d for d in all_days if d >= start], store=store, runs_dir=runs_dir,
                    executor=executor, progress=progress, echo=echo, overrides=overrides)


def _check_overrides(schedule: Schedule, overrides: Mapping[str, Any] | None) -> None:
    """Refuse bad ``-p`` overrides before anything is recorded (`run_days` applies them)."""
    if overrides:
        parameter_overrides(schedule, overrides)
