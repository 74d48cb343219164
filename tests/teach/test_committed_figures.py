"""Every figure in a committed notebook is an image, never the text ``<Figure size ...>``.

Jupyter shows a matplotlib figure built without pyplot as its text repr unless
the figure gives Jupyter a picture; `fti.teach.plots.NotebookFigure` does. These
tests read the committed notebooks as a student's JupyterLab would receive them.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import nbformat
import pytest

from fti.paths import REPO_ROOT
from fti.teach import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The text Jupyter falls back to for a figure: "<Figure size 400x350 with 1 Axes>" (or a subclass's name).
FIGURE_TEXT = re.compile(r"^<\w*Figure size ")
COMMITTED = sorted((REPO_ROOT / "notebooks").glob("*/*.ipynb")) + sorted((REPO_ROOT / "exercises").glob("*/*.ipynb"))


def _figure_outputs(path: Path) -> list[tuple[int, dict]]:
    """(cell index, output) for each output whose text is a matplotlib figure's repr."""
    notebook = nbformat.read(path, as_version=4)
    found = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            text = output.get("data", {}).get("text/plain", "")
            if isinstance(text, list):
                text = "".join(text)
            if FIGURE_TEXT.match(text):
                found.append((index, output))
    return found


def test_there_are_committed_notebooks_with_figures() -> None:
    # Guards the test below against passing on nothing (a moved folder, a glob gone wrong).
    assert any(_figure_outputs(path) for path in COMMITTED), "no committed notebook shows a figure"


@pytest.mark.parametrize("path", COMMITTED, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_committed_figure_has_a_png(path: Path) -> None:
    for index, output in _figure_outputs(path):
        png = output["data"].get("image/png")
        assert png, f"{path.name} cell {index} shows a figure only as text: {output['data']['text/plain']!r}"
        assert base64.b64decode(png).startswith(PNG_SIGNATURE), f"{path.name} cell {index}: image/png is not a PNG"


def test_notebook_figures_are_png_and_the_same_bytes_every_time() -> None:
    def draw() -> bytes:
        figure = plots.probability_histogram_figure([0.1, 0.4, 0.4, 0.9], "scores")
        return figure._repr_png_()

    first, second = draw(), draw()
    assert first.startswith(PNG_SIGNATURE)
    assert first == second
