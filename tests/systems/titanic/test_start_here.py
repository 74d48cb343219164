"""The course's index, notebooks/00_start_here.ipynb: what `make lab` opens first.

It must link every Titanic notebook and every student exercise, in order, with
links relative to the notebook (so they open inside JupyterLab), every link must
lead to a file that exists, and it must stay a page to read: no code, nothing for
nbval or the notebook build to execute.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat

from fti.paths import NOTEBOOKS_DIR, REPO_ROOT

INDEX = NOTEBOOKS_DIR / "00_start_here.ipynb"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def links() -> list[str]:
    notebook = nbformat.read(INDEX, as_version=4)
    return [target for cell in notebook.cells for target in LINK.findall(cell.source)]


def test_the_index_is_markdown_only_with_the_fti_map():
    notebook = nbformat.read(INDEX, as_version=4)
    nbformat.validate(notebook)
    assert notebook.cells and {cell.cell_type for cell in notebook.cells} == {"markdown"}
    text = "\n".join(cell.source for cell in notebook.cells)
    for words in ("feature pipeline", "training", "inference pipeline", "feature store", "model registry"):
        assert words in text.lower(), words


def test_every_titanic_notebook_and_exercise_is_linked_in_order():
    targets = links()
    notebooks = [f"titanic/{path.name}" for path in sorted((NOTEBOOKS_DIR / "titanic").glob("[0-9]*.ipynb"))]
    exercises = [f"../exercises/student/{path.name}"
                 for path in sorted((REPO_ROOT / "exercises" / "student").glob("*.ipynb"))]
    assert len(notebooks) == 5 and len(exercises) >= 4
    for expected in (notebooks, exercises):
        positions = [targets.index(target) for target in expected]  # ValueError names a missing one
        assert positions == sorted(positions), f"not in order: {expected}"


def _has_committed_outputs(folder: Path) -> bool:
    """True for the kit's example systems, whose notebooks are committed with their outputs.

    A student's system made by `fti new` has a story too, but its notebooks carry no
    outputs until the student builds them; the index is not asked to link it.
    """
    for path in folder.glob("[0-9]*.ipynb"):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        if any(cell.get("outputs") for cell in notebook["cells"] if cell["cell_type"] == "code"):
            return True
    return False


def test_every_system_is_linked_with_its_overview_and_notebooks():
    # An example system: a folder of notebooks with a story and committed outputs.
    systems = sorted(path.parent for path in NOTEBOOKS_DIR.glob("*/story.yml") if _has_committed_outputs(path.parent))
    assert NOTEBOOKS_DIR / "titanic" in systems
    targets = links()
    for folder in systems:
        expected = [f"{folder.name}/README.md"] + [f"{folder.name}/{path.name}"
                                                   for path in sorted(folder.glob("[0-9]*.ipynb"))]
        missing = [target for target in expected if target not in targets]
        assert not missing, f"00_start_here.ipynb does not link {missing}"
        positions = [targets.index(target) for target in expected]
        assert positions == sorted(positions), f"{folder.name}: not in order"


def test_every_link_is_relative_and_leads_to_a_file():
    targets = links()
    assert len(targets) >= 12
    for target in targets:
        assert not re.match(r"^[a-z]+:", target) and not target.startswith("/"), f"not relative: {target}"
        assert (INDEX.parent / Path(target.split("#")[0])).resolve().is_file(), f"broken link: {target}"
