"""Replays each system's notebook story under nbval (``make test``).

The committed outputs were made by ``make notebooks`` (`fti.run.build`) from the
story in ``notebooks/<system>/story.yml``: a fresh store, a fixed clock per
notebook, and a run log and simulated days before some of them. Before the first
cell of each notebook, this prepares the same store with the same
`fti.run.story.prepare`, so nbval can compare outputs strictly.

nbval starts each notebook's kernel itself and has no way to give it an
environment, so the story's variables (``FTI_STORE``, ``FTI_NOW``) are set in
this process only while nbval starts that kernel (which copies them), and taken
away again at once.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from fti.run.story import Story, load_story, notebook_environment, prepare
from fti.store.storage import Store

_scratch = tempfile.TemporaryDirectory(prefix="fti-nbval-")
# One story, store and set of prepared notebooks per system folder, for the whole session.
_stories: dict[Path, tuple[Story, Store]] = {}
_prepared: set[Path] = set()


def _story_and_store(folder: Path) -> tuple[Story, Store]:
    if folder not in _stories:
        story = load_story(folder)
        _stories[folder] = (story, Store(Path(_scratch.name) / story.system / "store"))
    return _stories[folder]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    notebook = Path(str(item.fspath))
    if notebook.suffix != ".ipynb" or notebook in _prepared:
        yield
        return
    _prepared.add(notebook)
    story, store = _story_and_store(notebook.parent)
    step = story.step_for(notebook)
    prepare(story, step, store, runs_dir=Path(_scratch.name) / story.system / "runs")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in notebook_environment(step, store).items():
            patch.setenv(name, value)
        # nbval starts this notebook's kernel during the setup that runs now.
        yield
