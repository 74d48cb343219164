"""Executing the example notebooks so that their committed outputs are reproducible.

A reader opening a committed notebook sees real results, and CI (nbval) checks
that re-running it gives exactly those results. Both need the notebooks to run
in the same circumstances every time: a fresh store, a fixed clock (``FTI_NOW``)
per notebook, and the same history before them. A *story* says what that is for
one example system:

* the committed notebooks, in order, each with its clock;
* the history simulated before one of them (for the Titanic: four days of
  the schedule, as ``fti run`` would run them, before the day the notebooks
  show), so the monitoring notebook has days to judge and runs to list.

``python -m fti.run.build titanic`` (``make notebooks``) executes the
notebooks in place; ``notebooks/conftest.py`` replays the same story under nbval.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fti import clock
from fti.clock import NOW_VARIABLE
from fti.run.execute import environment
from fti.paths import NOTEBOOKS_DIR
from fti.store.storage import STORE_VARIABLE


@dataclass(frozen=True)
class Step:
    """One committed notebook: which one, and the fixed time its clock shows."""

    notebook: str
    now: str


@dataclass(frozen=True)
class Story:
    """How the committed notebooks of one system are executed.

    Attributes:
        system: The example system (its folder in ``notebooks/`` and its schedule file).
        committed: The notebooks executed in place, in order.
        history_before: The committed notebook before which ``history_days`` are simulated.
        history_days: Days simulated with the system's schedule (``fti run``).
        recorded: Committed notebooks run before the history, logged as the scheduler would
            log them (so it does not run a once-only backfill again): ``(notebook, run date)``.
    """

    system: str
    committed: tuple[Step, ...]
    history_before: str
    history_days: tuple[str, ...]
    recorded: tuple[tuple[str, str], ...]

    @property
    def folder(self) -> Path:
        return NOTEBOOKS_DIR / self.system

    def step_for(self, notebook: str) -> Step:
        for step in self.committed:
            if step.notebook == notebook:
                return step
        raise KeyError(f"{notebook} is not a committed notebook of the {self.system} story")


def _titanic() -> Story:
    return Story(
        system="titanic",
        committed=(
            Step("01_feature_backfill", "2026-01-01T06:00:00Z"),
            Step("02_feature_pipeline", "2026-01-05T23:00:00Z"),
            Step("03_training_pipeline", "2026-01-05T23:05:00Z"),
            Step("04_batch_inference", "2026-01-05T23:10:00Z"),
            Step("05_monitoring", "2026-01-05T23:15:00Z"),
        ),
        history_before="02_feature_pipeline",
        history_days=("2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"),
        recorded=(("01_feature_backfill", "2026-01-01"),),
    )


STORIES = {"titanic": _titanic}


def get_story(system: str) -> Story:
    """The story of an example system.

    Raises:
        KeyError: No story for that system.
    """
    if system not in STORIES:
        raise KeyError(f"no notebook story for system {system!r}; known: {sorted(STORIES)}")
    return STORIES[system]()


def play_history(story: Story, store: Path, runs_dir: Path) -> None:
    """Simulate the story's history days with the system's schedule, in ``store``.

    Raises:
        PipelineFailedError: A notebook of the history failed.
    """
    from fti.run import runlog, runner
    from fti.run.schedule import load_schedule, parse_date

    now = clock.to_utc(story.committed[0].now).to_pydatetime()
    runlog.record_runs(store, [
        runlog.RunRecord(system=story.system, notebook=notebook, run_date=parse_date(day), status="ok",
                         started_at=now, duration_s=0.0, parameters={"run_date": day}, scheduled_at=now)
        for notebook, day in story.recorded
    ])
    summary = runner.run_days(load_schedule(story.system), [parse_date(day) for day in story.history_days],
                              store=store, runs_dir=runs_dir, progress=False)
    summary.raise_for_failures()


def execute_in_place(path: Path, now: str) -> None:
    """Execute a notebook with the clock at ``now`` and write its outputs back into it."""
    import nbclient
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    with environment({NOW_VARIABLE: now}):
        client = nbclient.NotebookClient(
            notebook, kernel_name="python3", timeout=600, record_timing=False,
            resources={"metadata": {"path": str(path.parent)}},
        )
        client.execute()
    nbformat.write(notebook, path)


def build(system: str) -> list[Path]:
    """Execute a system's committed notebooks in place, in a fresh temporary store.

    Returns:
        The notebooks written.
    """
    story = get_story(system)
    written = []
    with tempfile.TemporaryDirectory(prefix="fti-build-") as scratch:
        store = Path(scratch) / "store"
        with environment({STORE_VARIABLE: str(store)}):
            for step in story.committed:
                if step.notebook == story.history_before:
                    print(f"  history: {len(story.history_days)} simulated days before {step.notebook}", flush=True)
                    play_history(story, store, Path(scratch) / "runs")
                path = story.folder / f"{step.notebook}.ipynb"
                print(f"  {path.relative_to(NOTEBOOKS_DIR.parent)}", flush=True)
                execute_in_place(path, step.now)
                written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Execute an example system's notebooks in place, reproducibly.")
    parser.add_argument("systems", nargs="*", default=sorted(STORIES), help="systems to build (default: all)")
    args = parser.parse_args(argv)
    for system in args.systems:
        print(f"building {system} notebooks", flush=True)
        build(system)


if __name__ == "__main__":
    main()
