"""Checks inside exercise notebooks: feedback for the student, points for the grader.

A check cell wraps a few assertions in `check`::

    with check("family_size counts the passenger too", points=2):
        assert row["family_size"] == 1, f"a passenger travelling alone has family_size {row['family_size']}, expected 1"

In JupyterLab the student sees one line per check: a tick, or a cross with what
is wrong (so write assertion messages that say what is wrong and what was
expected). A failing check never stops the notebook, so every check gets its
say. What the cross says when the block raised something other than the check's
own assertion points at the student's code, not at the kit:

* an error raised in (or under) the student's own cell: ``your cell [3], line 4:
  KeyError: 'parc'``, with the line, even when the exception came from deep in
  the kit (a ``QueryError`` raised by the store while running the student's
  function);
* a task not written yet: ``not done yet: `add_family_features` (your cell [3])
  still raises NotImplementedError``;
* an input an earlier task should have made: ``task 1 has not produced
  `features` yet``, instead of ``NameError: name 'features' is not defined``.
  `fti.teach.exercises.start` tells the checks which task makes which name
  (`set_producers`), from the exercise's master copy.

Cells are named by the execution count JupyterLab shows beside them (``[3]``).

When the grader runs the notebook it sets ``FTI_GRADING_RESULTS`` to a file, and
each check appends its outcome there as one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

RESULTS_VARIABLE = "FTI_GRADING_RESULTS"

# {name: what makes it}, e.g. {"features": "task 1"}: set by `set_producers` for the running exercise.
_producers: dict[str, str] = {}


def set_producers(producers: Mapping[str, str]) -> None:
    """Tell the checks which part of the exercise defines each name, for the "has not produced" message.

    Args:
        producers: ``{name: producer}``, e.g. ``{"features": "task 1", "passengers": "the setup cell"}``.
    """
    _producers.clear()
    _producers.update(producers)


def _record(result: dict) -> None:
    path = os.environ.get(RESULTS_VARIABLE)
    if path:
        with Path(path).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(result) + "\n")


def cell_number(filename: str) -> int | None:
    """The execution count of the notebook cell IPython compiled as ``filename``; None for a real file.

    IPython keeps that map itself (it is how its tracebacks say ``Cell In[3]``);
    outside IPython there are no cells.
    """
    if "IPython" not in sys.modules:
        return None
    shell = sys.modules["IPython"].get_ipython()
    numbers = getattr(getattr(shell, "compile", None), "_filename_map", None)
    return numbers.get(filename) if isinstance(numbers, dict) else None


def _code(frame: traceback.FrameSummary) -> str:
    line = (frame.line or "").strip()
    return f" `{line if len(line) <= 100 else line[:97] + '...'}`" if line else ""


def explain(error: BaseException) -> str:
    """What a check says about an exception raised inside it, pointing at the student's cell and line.

    Args:
        error: The exception, with its traceback.

    Returns:
        One message: the assertion's own text for a failed check, else where the
        error happened in the notebook and what it was.
    """
    frames = traceback.extract_tb(error.__traceback__)
    in_cells = [(frame, cell_number(frame.filename)) for frame in frames]
    in_cells = [(frame, number) for frame, number in in_cells if number is not None]
    # The outermost cell frame is the check cell itself (the ``with check(...)`` block).
    check_file = in_cells[0][0].filename if in_cells else None
    theirs = [(frame, number) for frame, number in in_cells if frame.filename != check_file]
    innermost_is_check = not theirs or (in_cells and in_cells[-1][0].filename == check_file)

    if isinstance(error, NotImplementedError):
        if theirs:
            frame, number = theirs[-1]
            where = f"`{frame.name}` (your cell [{number}])" if frame.name != "<module>" else f"your cell [{number}]"
            return f"not done yet: {where} still raises NotImplementedError: write your code there instead"
        return "not done yet: replace `raise NotImplementedError()` with your code"
    if isinstance(error, AssertionError) and innermost_is_check:
        return str(error) or "an assertion failed"
    if isinstance(error, NameError) and innermost_is_check and getattr(error, "name", None):
        name = error.name
        producer = _producers.get(name)
        advice = "run the cells above this check in order (and fix the first error they show)"
        if producer:
            return f"{producer} has not produced `{name}` yet: {advice}, then this check again"
        return f"`{name}` is not defined: {advice}"
    what = f"{type(error).__name__}: {error}"
    if isinstance(error, SyntaxError) and error.filename:
        number = cell_number(error.filename)
        place = f"your cell [{number}]" if number is not None else Path(error.filename).name
        return f"{place}, line {error.lineno}: {type(error).__name__}: {error.msg}"
    if not in_cells:
        return what
    frame, number = in_cells[-1]
    if frame.filename == check_file:
        return f"{what} (raised by this check, line {frame.lineno}:{_code(frame)})"
    return f"your cell [{number}], line {frame.lineno}:{_code(frame)}: {what}"


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
    except Exception as error:  # a student's bug must cost this check only, not the notebook
        result["message"] = explain(error)
    else:
        result["passed"] = True
        result["points"] = points
    _record(result)
    mark = "✓" if result["passed"] else "✗"
    detail = "" if result["passed"] else "\n    " + result["message"].replace("\n", "\n    ")
    print(f"{mark} {name} [{result['points']}/{points}]{detail}")
