"""Writing small notebooks for the tests of `fti.run`: a ``parameters`` cell, then code cells.

The committed notebooks in ``tests/run/notebooks/`` are made the same way by
``make_notebooks.py`` (a script, run from that folder); tests that need a notebook of
their own in a temporary folder call `write_notebook`.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def write_notebook(path: Path, parameters: str, *cells: str) -> Path:
    """A notebook at ``path``: the ``parameters`` cell, then ``cells``; fixed cell ids, so the same file each time."""
    notebook = nbformat.v4.new_notebook()
    parameter_cell = nbformat.v4.new_code_cell(parameters)
    parameter_cell.metadata["tags"] = ["parameters"]
    notebook.cells = [parameter_cell] + [nbformat.v4.new_code_cell(source) for source in cells]
    notebook.metadata["kernelspec"] = KERNELSPEC
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index}"
    nbformat.write(notebook, path)
    return path
