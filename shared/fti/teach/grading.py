"""Checks inside exercise notebooks: feedback for the student, points for the grader.

A check cell wraps a few assertions in `check`::

    with check("family_size counts the passenger too", points=2):
        assert row["family_size"] == 1, f"a passenger travelling alone has family_size {row['family_size']}, expected 1"

In JupyterLab the student sees one line per check: a tick, or a cross with the
assertion's message (so write messages that say what is wrong and what was
expected). A failing check never stops the notebook, so every check gets its
say. When the grader runs the notebook it sets ``FTI_GRADING_RESULTS`` to a
file, and each check appends its outcome there as one JSON line.
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RESULTS_VARIABLE = "FTI_GRADING_RESULTS"


def _record(result: dict) -> None:
    path = os.environ.get(RESULTS_VARIABLE)
    if path:
        with Path(path).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(result) + "\n")


@contextmanager
def check(name: str, points: int = 1) -> Iterator[None]:
    """Run the assertions in the block as one check worth ``points``.

    Args:
        name: What is checked, as the student will read it.
        points: What passing it is worth.
    """
    result = {"check": name, "points": 0, "max": points, "passed": False, "message": ""}
    try:
        yield
    except AssertionError as failure:
        result["message"] = str(failure) or "an assertion failed"
    except NotImplementedError:
        result["message"] = "not done yet: replace `raise NotImplementedError()` with your code"
    except Exception as error:  # a student's bug must cost this check only, not the notebook
        frame = traceback.extract_tb(error.__traceback__)[-1]
        result["message"] = f"{type(error).__name__}: {error} (line {frame.lineno})"
    else:
        result["passed"] = True
        result["points"] = points
    _record(result)
    mark = "✓" if result["passed"] else "✗"
    detail = "" if result["passed"] else f"\n    {result['message']}"
    print(f"{mark} {name} [{result['points']}/{points}]{detail}")
