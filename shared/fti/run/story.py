"""Notebook stories: the circumstances a system's committed notebooks are executed in.

A reader opening a committed notebook sees real results, and CI (nbval) checks
that re-running it gives exactly those results. Both need the notebooks to run
in the same circumstances every time: a fresh store, a fixed clock per notebook,
and the same history before each. A system's *story* says what those are; it is
data, ``notebooks/<system>/story.yml`` (the Titanic's file documents the format):

* the committed notebooks, in the order they are executed, each with the
  instant its clock shows (``FTI_NOW``);
* optionally, for a notebook, the day the scheduler should count its execution
  as (``run_date``), and days of the system's schedule to simulate just before
  it (``simulate_before``), so later notebooks have a history to show.

`load_story` reads a story; `prepare` brings a store to the state a notebook of
the story expects; `notebook_environment` says what its kernel is told. The
notebook build (`fti.run.build`) and nbval (``notebooks/conftest.py``) both use
these three, so they replay the same story.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fti import clock
from fti.exceptions import StoryError
from fti.paths import NOTEBOOKS_DIR
from fti.store.storage import STORE_VARIABLE, Store

STORY_FILE = "story.yml"

_TOP_LEVEL_KEYS = {"system", "notebooks"}
_STEP_KEYS = {"notebook", "now", "run_date", "simulate_before"}
_SIMULATION_KEYS = {"start", "days"}


@dataclass(frozen=True)
class Simulation:
    """Consecutive days of a system's schedule, simulated as ``fti run --start START --days DAYS`` would.

    Attributes:
        start: The first day.
        days: How many days.
    """

    start: dt.date
    days: int

    @property
    def dates(self) -> list[dt.date]:
        """Every simulated day, in order."""
        return [self.start + dt.timedelta(days=offset) for offset in range(self.days)]


@dataclass(frozen=True)
class Step:
    """One committed notebook of a story.

    Attributes:
        notebook: The notebook, executed in place.
        now: The instant its clock shows (``FTI_NOW``), as written in the story.
        run_date: The day the scheduler counts this execution as its run of the notebook, if any.
        simulate_before: Days of the schedule simulated just before this notebook, if any.
    """

    notebook: Path
    now: str
    run_date: dt.date | None = None
    simulate_before: Simulation | None = None

    @property
    def name(self) -> str:
        """The notebook's file name without ``.ipynb``."""
        return self.notebook.stem


@dataclass(frozen=True)
class Story:
    """How the committed notebooks of one system are executed.

    Attributes:
        system: The system's name (used in the run log).
        path: The story file; its folder holds the notebooks and the schedule.
        steps: The committed notebooks, in the order they are executed.
    """

    system: str
    path: Path
    steps: tuple[Step, ...]

    @property
    def folder(self) -> Path:
        """The folder of the system's notebooks."""
        return self.path.parent

    def step_for(self, notebook: str | Path) -> Step:
        """The step of a notebook, given by name or path.

        Raises:
            StoryError: The notebook is not part of the story.
        """
        name = Path(notebook).stem
        for step in self.steps:
            if step.name == name:
                return step
        listed = ", ".join(step.name for step in self.steps)
        raise StoryError(f"{self.path}: {name} is not one of its notebooks; add it to the list ({listed})")


def find_stories(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    """The folders in ``notebooks_dir`` that have a story file, sorted."""
    return sorted(path.parent for path in notebooks_dir.glob(f"*/{STORY_FILE}"))


def load_story(folder: str | Path) -> Story:
    """Read and check the story of the notebooks in ``folder``.

    Args:
        folder: A system's notebook folder (``notebooks/titanic``), or its story file.

    Raises:
        StoryError: No story file, unreadable YAML, an unknown or malformed field, or a missing notebook.
    """
    from fti.run.schedule import read_yaml

    path = Path(folder).expanduser()
    path = path if path.suffix in {".yml", ".yaml"} else path / STORY_FILE
    if not path.is_file():
        raise StoryError(f"{path}: no story file, so its notebooks cannot be executed reproducibly; "
                         f"write one like notebooks/titanic/{STORY_FILE}")
    return parse_story(read_yaml(path, StoryError), path.resolve())


def parse_story(document: object, path: str | Path) -> Story:
    """Check a story document (already read from YAML) and build the `Story`.

    Args:
        document: The parsed YAML.
        path: The file it came from: names it in errors; notebooks are found in its folder.

    Raises:
        StoryError: See `load_story`.
    """
    path = Path(path)
    if not isinstance(document, dict):
        raise StoryError(f"{path}: expected a mapping with a 'notebooks' list, found {type(document).__name__}")
    _reject_unknown_keys(document, _TOP_LEVEL_KEYS, str(path))
    system = document.get("system", path.parent.name)
    if not isinstance(system, str) or not system.strip():
        raise StoryError(f"{path}: system: expected a name, found {system!r}")
    entries = document.get("notebooks")
    if not isinstance(entries, list) or not entries:
        raise StoryError(f"{path}: notebooks: expected a non-empty list of notebooks, found {entries!r}")
    steps: list[Step] = []
    for position, entry in enumerate(entries):
        where = f"{path}: notebooks[{position}]"
        if not isinstance(entry, dict):
            raise StoryError(f"{where}: expected a mapping with 'notebook' and 'now', found {entry!r}")
        _reject_unknown_keys(entry, _STEP_KEYS, where)
        notebook = _notebook(entry.get("notebook"), path.parent, f"{where}.notebook")
        where = f"{path}: notebooks[{position}] ({notebook.stem})"
        if notebook.stem in {step.name for step in steps}:
            raise StoryError(f"{where}: notebook {notebook.stem!r} is listed twice")
        if "now" not in entry:
            raise StoryError(f"{where}: now is missing; give the instant its clock shows, e.g. '2026-01-05T23:00:00Z'")
        steps.append(Step(
            notebook=notebook,
            now=_instant(entry["now"], f"{where}.now"),
            run_date=_date(entry["run_date"], f"{where}.run_date") if entry.get("run_date") is not None else None,
            simulate_before=(_simulation(entry["simulate_before"], f"{where}.simulate_before")
                             if entry.get("simulate_before") is not None else None),
        ))
    return Story(system=system.strip(), path=path, steps=tuple(steps))


def notebook_environment(step: Step, store: Store) -> dict[str, str]:
    """What the kernel of a story's notebook is told: its store (``FTI_STORE``) and its clock (``FTI_NOW``)."""
    return {STORE_VARIABLE: str(store.path), clock.NOW_VARIABLE: step.now}


def prepare(story: Story, step: Step, store: Store, runs_dir: Path) -> None:
    """Bring ``store`` to the state ``step``'s notebook expects, the notebooks before it having run.

    Records the previous notebook's execution in the run log if the story gives
    it a ``run_date``, then simulates the step's ``simulate_before`` days, if any.

    Args:
        story: The story.
        step: The notebook about to run.
        store: The story's store.
        runs_dir: Where the simulated days' executed notebooks go.

    Raises:
        PipelineFailedError: A notebook of the simulated days failed.
    """
    from fti.run import runlog, runner
    from fti.run.schedule import RUN_DATE_PARAMETER, load_schedule

    index = story.steps.index(step)
    previous = story.steps[index - 1] if index > 0 else None
    if previous is not None and previous.run_date is not None:
        ran_at = clock.to_utc(previous.now).to_pydatetime()
        runlog.record_runs(store, [runlog.RunRecord(
            system=story.system, notebook=previous.name, run_date=previous.run_date, status="ok",
            started_at=ran_at, duration_s=0.0, parameters={RUN_DATE_PARAMETER: previous.run_date.isoformat()},
            scheduled_at=ran_at,
        )])
    if step.simulate_before is not None:
        schedule = load_schedule(story.folder)
        summary = runner.run_days(schedule, step.simulate_before.dates, store=store, runs_dir=runs_dir,
                                  progress=False)
        summary.raise_for_failures()


def _reject_unknown_keys(mapping: Mapping, allowed: set[str], where: str) -> None:
    unknown = sorted(str(key) for key in mapping if key not in allowed)
    if unknown:
        raise StoryError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _notebook(value: object, folder: Path, where: str) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise StoryError(f"{where}: expected the notebook's file name, found {value!r}")
    name = value.strip()
    notebook = (folder / (name if name.endswith(".ipynb") else f"{name}.ipynb")).resolve()
    if not notebook.is_file():
        raise StoryError(f"{where}: notebook {notebook} does not exist")
    return notebook


def _instant(value: object, where: str) -> str:
    """The clock of a step, kept as written (YAML turns an unquoted time into a datetime: back to ISO text)."""
    text = value.isoformat() if isinstance(value, dt.datetime) else value
    if not isinstance(text, str):
        raise StoryError(f"{where}: expected an ISO time such as '2026-01-05T23:00:00Z', found {value!r}")
    try:
        clock.to_utc(text)
    except ValueError:
        raise StoryError(f"{where}: {value!r} is not an ISO time such as '2026-01-05T23:00:00Z'") from None
    return text


def _date(value: object, where: str) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise StoryError(f"{where}: {value!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-01-05")


def _simulation(value: object, where: str) -> Simulation:
    if not isinstance(value, dict):
        raise StoryError(f"{where}: expected a mapping with 'start' and 'days', found {value!r}")
    _reject_unknown_keys(value, _SIMULATION_KEYS, where)
    if "start" not in value or "days" not in value:
        raise StoryError(f"{where}: expected both 'start' (YYYY-MM-DD) and 'days' (a whole number)")
    days = value["days"]
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise StoryError(f"{where}.days: expected a whole number of at least 1, found {days!r}")
    return Simulation(start=_date(value["start"], f"{where}.start"), days=days)
