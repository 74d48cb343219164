"""The import contracts in pyproject.toml hold, and they catch an import that breaks them.

``make lint`` runs import-linter on the real tree; these tests run it on a copy
of ``shared/`` with one bad import planted, to prove each kind of contract can
fail (a contract that cannot fail protects nothing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(shared: Path) -> subprocess.CompletedProcess:
    """Run import-linter with the project's contracts on the packages in ``shared``."""
    env = {**os.environ, "PYTHONPATH": str(shared)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(REPO / "pyproject.toml"), "--no-cache"],
        cwd=shared, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.fixture
def shared_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "shared"
    shutil.copytree(REPO / "shared", copy, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return copy


def _plant(module: Path, line: str) -> None:
    """Add an import at the end of a module (the contracts read imports anywhere in a file)."""
    module.write_text(module.read_text() + f"\n{line}  # planted by tests/test_layers.py\n")


def test_the_real_tree_keeps_every_contract(shared_copy: Path) -> None:
    result = _lint_imports(shared_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        # The store core importing the run layer: a lower layer reaching up.
        ("fti/store/schema.py", "import fti.run.schedule", "fti layers"),
        # The generic package importing an example system.
        ("fti/teach/plots.py", "import systems.titanic", "fti never imports an example system"),
        # Two store modules importing each other.
        ("fti/store/storage.py", "import fti.store.registry", "no import circle"),
    ],
)
def test_a_planted_import_breaks_its_contract(shared_copy: Path, module: str, line: str, contract: str) -> None:
    _plant(shared_copy / module, line)
    result = _lint_imports(shared_copy)
    assert result.returncode != 0, f"import-linter accepted {line!r} in {module}:\n{result.stdout}"
    broken = [row for row in result.stdout.splitlines() if row.endswith("BROKEN")]
    assert any(contract in row for row in broken), result.stdout
