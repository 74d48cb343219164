"""Where the kit keeps things, relative to the repository root.

The package lives in ``<repo>/shared/fti/`` and is installed in editable mode, so
the repository is two folders above this file.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT / "data"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
DASHBOARDS_DIR = REPO_ROOT / "dashboards"
RUNS_DIR = REPO_ROOT / "runs"
