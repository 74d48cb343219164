"""Executing the committed notebooks in place, as their system's story says (``make notebooks``).

``python -m fti.run.build [FOLDER | SYSTEM ...]`` plays the story of each notebook folder
(``notebooks/<system>/story.yml``, see `fti.run.story`) in a fresh temporary
store: for each committed notebook, in order, it prepares the store (the run log
and the simulated days the story asks for), executes the notebook with
`fti.run.execute.execute` on the story's clock, and writes the outputs back into
the notebook. Without arguments it builds every folder that has a story.

Nothing here knows a particular system: what to run, when, and after what is in
the story file. ``notebooks/conftest.py`` replays the same story under nbval.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import nbformat

from fti.exceptions import FTIError, PipelineFailedError
from fti.paths import NOTEBOOKS_DIR
from fti.run.execute import ExecutionRequest, ExecutionResult, execute
from fti.run.story import Story, find_stories, load_story, notebook_environment, prepare
from fti.store.storage import Store

# Seconds one committed notebook may take, kernel start included.
BUILD_TIMEOUT = 600.0


def execute_in_place(notebook: Path, env: Mapping[str, str | None], timeout: float = BUILD_TIMEOUT) -> ExecutionResult:
    """Execute a notebook and write its outputs back into it.

    The execution writes to a temporary copy (an execution never overwrites its
    source); then each code cell of the notebook takes that copy's outputs and
    execution count, and the notebook takes the kernel's ``language_info``.
    Everything else in the file (cell ids, metadata, sources) stays as it was,
    so papermill's bookkeeping (parameters, timings) never lands in a committed notebook.

    Args:
        notebook: The notebook.
        env: Environment variables for its kernel (e.g. `fti.run.story.notebook_environment`).
        timeout: Seconds the execution may take.

    Returns:
        The execution's result (its output file is gone by then).

    Raises:
        PipelineFailedError: The notebook failed or ran out of time; it is left unchanged.
    """
    with tempfile.TemporaryDirectory(prefix="fti-build-") as scratch:
        result = execute(ExecutionRequest(notebook=notebook, output=Path(scratch) / notebook.name, env=env,
                                          timeout=timeout))
        if not result.ok:
            details = f"\n{result.traceback}" if result.traceback else ""
            raise PipelineFailedError(f"{notebook}: {result.status}: {result.error}{details}", [result])
        executed = nbformat.read(result.output, as_version=4)
    source = nbformat.read(notebook, as_version=4)
    _take_outputs(source, executed)
    nbformat.write(source, notebook)
    return result


def _take_outputs(notebook: nbformat.NotebookNode, executed: nbformat.NotebookNode) -> None:
    """Copy outputs and execution counts from ``executed`` into the matching code cells of ``notebook``."""
    by_id = {cell.get("id"): cell for cell in executed.cells if cell.get("id")}
    for position, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        # Cells are matched by id; notebooks saved before ids existed are matched by position
        # (no cell is injected: the build passes no parameters).
        ran = by_id.get(cell.get("id")) if cell.get("id") else executed.cells[position]
        if ran is None:
            raise PipelineFailedError(f"cell {cell.get('id')} of the notebook is missing from its executed copy")
        cell.outputs = ran.outputs
        cell.execution_count = ran.execution_count
    for key in ("language_info", "widgets"):
        if key in executed.metadata:
            notebook.metadata[key] = executed.metadata[key]


def build(story: Story, workdir: Path | None = None) -> list[Path]:
    """Execute a story's committed notebooks in place, in a fresh store.

    Args:
        story: The story (`fti.run.story.load_story`).
        workdir: An empty or new folder for the story's store (``store/``) and the
            simulated days' executed notebooks (``runs/``), kept for inspection;
            default: a temporary folder, deleted afterwards.

    Returns:
        The notebooks written.

    Raises:
        PipelineFailedError: A notebook, or a simulated day before one, failed.
    """
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="fti-build-") as scratch:
            return build(story, Path(scratch))
    store = Store(workdir / "store")
    written = []
    for step in story.steps:
        if step.simulate_before is not None:
            simulation = step.simulate_before
            print(f"  simulating {simulation.days} day(s) from {simulation.start} before {step.name}", flush=True)
        prepare(story, step, store, runs_dir=workdir / "runs")
        print(f"  {_shown(step.notebook)}", flush=True)
        execute_in_place(step.notebook, notebook_environment(step, store))
        written.append(step.notebook)
    return written


def _shown(path: Path) -> Path:
    return path.relative_to(NOTEBOOKS_DIR.parent) if path.is_relative_to(NOTEBOOKS_DIR.parent) else path


def main(argv: Sequence[str] | None = None) -> None:
    """Build the notebook folders (or systems) named on the command line, or every folder with a story.

    A failure ends the process with a message and exit code 1, the notebooks after it unbuilt.
    """
    parser = argparse.ArgumentParser(description="Execute the committed notebooks in place, as their story says.")
    parser.add_argument("folders", nargs="*", metavar="FOLDER",
                        help="notebook folders with a story.yml, or system names such as titanic "
                             "(default: every folder in notebooks/ with a story)")
    args = parser.parse_args(argv)
    folders = [Path(name) if Path(name).exists() else NOTEBOOKS_DIR / name for name in args.folders]
    try:
        for folder in folders or find_stories():
            story = load_story(folder)
            print(f"building {story.system} notebooks", flush=True)
            build(story)
    except FTIError as exc:
        raise SystemExit(f"fti.run.build: error: {exc}") from None


if __name__ == "__main__":
    main()
