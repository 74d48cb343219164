"""Replays each example system's notebook story under nbval (``make test``).

The committed outputs were made by ``make notebooks`` (`fti.run.build`): a
fresh store, a fixed clock per notebook, and a few simulated days before the
daily pipelines. Before the first cell of each notebook, this sets the same
clock and plays the same history, so nbval can compare outputs strictly.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from fti.run import notebook_build
from fti.clock import NOW_VARIABLE
from fti.store.storage import STORE_VARIABLE

_started: set[str] = set()
_scratch = tempfile.TemporaryDirectory(prefix="fti-nbval-")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    notebook = Path(str(item.fspath))
    if notebook.suffix != ".ipynb" or str(notebook) in _started:
        return
    _started.add(str(notebook))
    story = notebook_build.get_story(notebook.parent.name)
    # nbval starts this notebook's kernel right after this hook: it inherits these variables.
    os.environ[STORE_VARIABLE] = str(Path(_scratch.name) / story.system / "store")
    step = story.step_for(notebook.stem)
    if step.notebook == story.history_before:
        notebook_build.play_history(story, Path(os.environ[STORE_VARIABLE]), Path(_scratch.name) / story.system / "runs")
    os.environ[NOW_VARIABLE] = step.now
