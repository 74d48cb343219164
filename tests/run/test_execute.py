"""One execution: the kernel gets its environment and working folder at start, and this process keeps its own.

The tests that start kernels are marked slow (``pytest -m "not slow"`` leaves them out).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from fti.run.execute import INJECTED_CELL_ID, ExecutionRequest, execute, kernel_environment

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def write_probe(path: Path) -> Path:
    """A notebook that prints, as JSON, the variables it was asked about and its working folder."""
    notebook = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("names = []")
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters, nbformat.v4.new_code_cell(
        "import json, os\nprint(json.dumps({'env': {n: os.environ.get(n) for n in names}, 'cwd': os.getcwd()}))")]
    notebook.metadata["kernelspec"] = KERNELSPEC
    nbformat.write(notebook, path)
    return path


def test_kernel_environment_is_a_copy_with_the_changes(monkeypatch):
    monkeypatch.setenv("FTI_TEST_KEEP", "kept")
    monkeypatch.setenv("FTI_TEST_DROP", "dropped")
    before = dict(os.environ)
    env = kernel_environment({"FTI_TEST_DROP": None, "FTI_TEST_NEW": "new", "FTI_TEST_NUMBER": 3})  # type: ignore[dict-item]
    assert env["FTI_TEST_KEEP"] == "kept" and env["FTI_TEST_NEW"] == "new" and env["FTI_TEST_NUMBER"] == "3"
    assert "FTI_TEST_DROP" not in env
    assert dict(os.environ) == before, "os.environ is only read"


@pytest.mark.slow
def test_the_kernel_starts_with_its_environment_in_its_folder_and_nothing_here_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("FTI_TEST_INHERITED", "from the parent")
    monkeypatch.setenv("FTI_TEST_REMOVED", "must not reach the kernel")
    probe = write_probe(tmp_path / "probe.ipynb")
    work = tmp_path / "work"
    work.mkdir()
    environment_before, folder_before = dict(os.environ), os.getcwd()

    result = execute(ExecutionRequest(
        probe, tmp_path / "out" / "probe.ipynb", timeout=120, cwd=work,
        parameters={"names": ["FTI_TEST_INHERITED", "FTI_TEST_REMOVED", "FTI_TEST_SET", "FTI_NOW"]},
        env={"FTI_TEST_REMOVED": None, "FTI_TEST_SET": "set for this kernel", "FTI_NOW": "2026-01-05T23:00:00Z"},
    ))

    assert result.ok, result.error
    executed = nbformat.read(result.output, as_version=4)
    seen = json.loads(executed.cells[-1].outputs[0].text)
    assert seen == {"env": {"FTI_TEST_INHERITED": "from the parent", "FTI_TEST_REMOVED": None,
                            "FTI_TEST_SET": "set for this kernel", "FTI_NOW": "2026-01-05T23:00:00Z"},
                    "cwd": str(work)}
    assert dict(os.environ) == environment_before and os.getcwd() == folder_before
    # The injected parameters get a fixed cell id, so two executions with the same parameters match.
    assert [cell.get("id") for cell in executed.cells].count(INJECTED_CELL_ID) == 1


@pytest.mark.slow
def test_the_default_working_folder_is_the_notebooks_own(tmp_path):
    probe = write_probe(tmp_path / "probe.ipynb")
    result = execute(ExecutionRequest(probe, tmp_path / "elsewhere" / "probe.ipynb", timeout=120))
    assert result.ok, result.error
    seen = json.loads(nbformat.read(result.output, as_version=4).cells[-1].outputs[0].text)
    assert seen["cwd"] == str(tmp_path)
