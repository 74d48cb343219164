"""Runs on request: a pipeline notebook asks the scheduler for a run of another one.

The FTI architecture runs the training pipeline when it is needed, for example
when monitoring finds that the model in production no longer fits the data. A
notebook says so with one call::

    if verdict.retrain:
        fti.request_run("03_training_pipeline", reason=verdict.reason)

The system's ``pipelines.yml`` says which notebooks may ask for which, and when
the answer comes (``requested_by`` and ``on_request: next day | same day``;
`fti.run.schedule` has the details). The request is written to the store's run
log tables; the runner (``fti run``) reads it and runs the notebook, recording
``requested by 05_monitoring: <reason>`` as the run's reason.

A notebook learns that it runs under the scheduler from its kernel's
environment, which the runner sets (`run_environment`): its system, its own
name, its run date and the schedule file. Outside the scheduler (JupyterLab,
papermill by hand, the committed-notebook build) there is nobody to ask:
`request_run` prints that nothing is scheduled and returns ``None``; it never
fails because of that.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path

from fti import clock
from fti.exceptions import ParameterTypeError, ScheduleError
from fti.run import runlog
from fti.run.schedule import ON_REQUEST_SAME_DAY, Schedule, load_schedule, parse_date
from fti.store.storage import Store

SYSTEM_VARIABLE = "FTI_RUN_SYSTEM"
NOTEBOOK_VARIABLE = "FTI_RUN_NOTEBOOK"
DATE_VARIABLE = "FTI_RUN_DATE"
SCHEDULE_VARIABLE = "FTI_RUN_SCHEDULE"
CONTEXT_VARIABLES = (SYSTEM_VARIABLE, NOTEBOOK_VARIABLE, DATE_VARIABLE, SCHEDULE_VARIABLE)


def run_environment(schedule: Schedule, notebook: str, day: dt.date) -> dict[str, str]:
    """What the runner tells a scheduled notebook's kernel about its run (see `request_run`)."""
    return {SYSTEM_VARIABLE: schedule.system, NOTEBOOK_VARIABLE: notebook, DATE_VARIABLE: day.isoformat(),
            SCHEDULE_VARIABLE: str(schedule.path)}


def request_run(notebook: str, reason: str = "") -> runlog.RunRequest | None:
    """Ask the scheduler for a run of another pipeline notebook of this system.

    Under ``fti run``, the request is recorded in the store and answered as the
    requested notebook's ``on_request`` says (the next day, or later the same
    day); a line says when. Elsewhere it prints that nothing is scheduled.

    Args:
        notebook: The notebook to run, as named in ``pipelines.yml`` (``".ipynb"`` may be added).
        reason: Why, in a few words (``"drift in age, parch"``); shown in the run log.

    Returns:
        The recorded request, or ``None`` when not running under the scheduler.

    Raises:
        ParameterTypeError: ``notebook`` or ``reason`` is not text.
        ScheduleError: Under the scheduler: the schedule has no such notebook, or
            it does not list the asking notebook in its ``requested_by``.
    """
    if not isinstance(notebook, str) or not notebook.strip():
        raise ParameterTypeError(f"request_run: notebook must be a notebook's name such as "
                                 f"'03_training_pipeline', got {notebook!r}")
    if not isinstance(reason, str):
        raise ParameterTypeError(f"request_run: reason must be text, got {type(reason).__name__} {reason!r:.80}")
    name = notebook.strip().removesuffix(".ipynb")
    reason = " ".join(reason.split())
    context = _context(os.environ)
    if context is None:
        print(f"Not running under the scheduler (fti run): nothing is scheduled. Under `fti run`, this would ask "
              f"for a run of {name}" + (f" ({reason})." if reason else "."))
        return None
    system, asking, day, schedule_path = context
    schedule = load_schedule(schedule_path)
    requested = schedule.pipeline(name)
    if asking not in requested.requested_by:
        raise ScheduleError(
            f"{schedule.path}: {asking} asks for a run of {requested.name}, which does not take requests from it; "
            f"add `requested_by: [{asking}]` to {requested.name} in that file")
    same_day = requested.on_request == ON_REQUEST_SAME_DAY
    run_on = day if same_day else day + dt.timedelta(days=1)
    made = runlog.add_run_request(Store(), system, requested.name, asking, day, run_on, reason,
                                  clock.now().to_pydatetime())
    when = f"later today ({run_on})" if same_day else f"tomorrow ({run_on})"
    print(f"Asked the scheduler for a run of {requested.name} {when}" + (f": {reason}." if reason else "."))
    return made


def _context(environ: Mapping[str, str]) -> tuple[str, str, dt.date, Path] | None:
    """(system, notebook, run date, schedule file) of a scheduled run, or ``None`` outside the scheduler."""
    values = [environ.get(variable, "").strip() for variable in CONTEXT_VARIABLES]
    if not all(values):
        return None
    system, notebook, day, schedule = values
    return system, notebook, parse_date(day, DATE_VARIABLE), Path(schedule)
