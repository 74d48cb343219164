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
# Where exercises keep their own stores (see fti.teach.exercises): a folder given in this
# variable, else data/exercise-stores/. The grader and `fti batch` point it into their own
# temporary folders, so that running masters never writes into the repository.
EXERCISE_STORES_VARIABLE = "FTI_EXERCISE_STORES"
