"""Executing the example notebooks so that their committed outputs are reproducible.

A reader opening a committed notebook sees real results, and CI (nbval) checks
that re-running it gives exactly those results. Both need the notebooks to run
in the same circumstances every time: a fresh store, a fixed clock (``FTI_NOW``)
per notebook, and the same history before them. A *story* says what that is for
one example system:

* the committed notebooks, in order, each with its clock;
* the history simulated before one of them (for the Titanic: four days of
  feature and inference runs before the day the notebooks show), executed with
  papermill into a scratch folder, so the monitoring notebook has days to judge.

``python -m fti.notebook_build titanic`` (``make notebooks``) executes the
notebooks in place; ``notebooks/conftest.py`` replays the same story under nbval.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fti.clock import NOW_VARIABLE
from fti.paths import NOTEBOOKS_DIR
from fti.storage import STORE_VARIABLE


@dataclass(frozen=True)
class Step:
    """One notebook execution: which notebook, for which run date, at which fixed time."""

    notebook: str
    run_date: str
    now: str


@dataclass(frozen=True)
class Story:
    """How the committed notebooks of one system are executed."""

    system: str
    committed: tuple[Step, ...]
    history_before: str
    history: tuple[Step, ...]

    @property
    def folder(self) -> Path:
        return NOTEBOOKS_DIR / self.system

    def step_for(self, notebook: str) -> Step:
        for step in self.committed:
            if step.notebook == notebook:
                return step
        raise KeyError(f"{notebook} is not a committed notebook of the {self.system} story")


def _titanic() -> Story:
    history: list[Step] = [Step("03_training_pipeline", "2026-01-01", "2026-01-01T06:30:00Z")]
    for day in range(1, 5):
        date = f"2026-01-0{day}"
        history.append(Step("02_feature_pipeline", date, f"{date}T23:00:00Z"))
        history.append(Step("04_batch_inference", date, f"{date}T23:10:00Z"))
    return Story(
        system="titanic",
        committed=(
            Step("01_feature_backfill", "2026-01-01", "2026-01-01T06:00:00Z"),
            Step("02_feature_pipeline", "2026-01-05", "2026-01-05T23:00:00Z"),
            Step("03_training_pipeline", "2026-01-05", "2026-01-05T23:05:00Z"),
            Step("04_batch_inference", "2026-01-05", "2026-01-05T23:10:00Z"),
            Step("05_monitoring", "2026-01-05", "2026-01-05T23:15:00Z"),
        ),
        history_before="02_feature_pipeline",
        history=tuple(history),
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


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables for the kernels started inside the block, then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def play_history(story: Story, scratch: Path) -> None:
    """Execute the story's history with papermill into ``scratch``, in the current ``FTI_STORE``."""
    import papermill

    scratch.mkdir(parents=True, exist_ok=True)
    for index, step in enumerate(story.history):
        source = story.folder / f"{step.notebook}.ipynb"
        target = scratch / f"{index:02d}_{step.run_date}_{step.notebook}.ipynb"
        with environment(**{NOW_VARIABLE: step.now}):
            papermill.execute_notebook(
                str(source), str(target), parameters={"run_date": step.run_date}, kernel_name="python3",
                progress_bar=False, cwd=str(story.folder),
            )


def execute_in_place(path: Path, now: str) -> None:
    """Execute a notebook with the clock at ``now`` and write its outputs back into it."""
    import nbclient
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    with environment(**{NOW_VARIABLE: now}):
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
        with environment(**{STORE_VARIABLE: str(Path(scratch) / "store")}):
            for step in story.committed:
                if step.notebook == story.history_before:
                    print(f"  history: {len(story.history)} pipeline runs before {step.notebook}", flush=True)
                    play_history(story, Path(scratch) / "history")
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
