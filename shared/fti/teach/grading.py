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

How a check reports to the grader: in a kernel, each check's line is shown as
a display output carrying its outcome as `RESULT_MIME` data (JupyterLab shows
the text line). The executing process files every output under the cell whose
execution produced it, and the grader (`fti.teach.exercises.score`) reads the
outcomes from the outputs of its own check cells only: an outcome shown while a
student's cell ran stays in that cell and counts for nothing, as does one
naming a check the master does not declare in that cell, and a check shown
twice in its cell (once by student code the check called) gets nothing. There
is no results file for a submission to write into.

Every check cell the grader puts into a submission starts with `GUARD_LINE`,
which binds ``check`` to `genuine_check`: the function as this module defined
it, whatever the student's cells bound to the name ``check`` or to
``fti.teach.grading.check``. A student's code still runs in the same process as
the checks, so code written to forge a result can still do so: replace this
module's other functions or IPython's display machinery, rewrite cells as
IPython compiles them, or, from code a check calls, clear the check cell's
output and show a fake outcome. This stops accidents and casual forgery, not a
determined attacker; the executed notebook shows every cell the student ran.
"""

from __future__ import annotations

import linecache
import os
import sys
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# The MIME type of a check's outcome in a cell's outputs: {"check", "passed", "points", "max", "message"}.
RESULT_MIME = "application/vnd.fti.check-result+json"
# Set in a graded submission's kernel: checks then also catch what a student's code raises to abort a check cell.
GRADED_VARIABLE = "FTI_GRADED_SUBMISSION"
# The first line of every check cell the grader runs: see `genuine_check`.
GUARD_LINE = "check = __import__('fti.teach.grading', fromlist=['_']).genuine_check()  # put here by fti grade"

# {name: what makes it}, e.g. {"features": "task 1"}: set by `set_producers` for the running exercise.
_producers: dict[str, str] = {}


def set_producers(producers: Mapping[str, str]) -> None:
    """Tell the checks which part of the exercise defines each name, for the "has not produced" message.

    Args:
        producers: ``{name: producer}``, e.g. ``{"features": "task 1", "passengers": "the setup cell"}``.
    """
    _producers.clear()
    _producers.update(producers)


def _in_kernel() -> Any:
    """The IPython kernel's shell when running in one (a notebook), else None."""
    if "IPython" not in sys.modules:
        return None
    shell = sys.modules["IPython"].get_ipython()
    return shell if getattr(shell, "kernel", None) is not None else None


def _report(result: dict, line: str) -> None:
    """Show a check's line; in a kernel, as a display output that also carries the outcome for the grader."""
    if _in_kernel() is None:
        print(line)
        return
    from IPython.display import publish_display_data

    publish_display_data({"text/plain": line, RESULT_MIME: result})


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


def _check_line(frame: traceback.FrameSummary) -> int | None:
    """A line of a check cell as its author numbered it: the grader's `GUARD_LINE` above it is not counted."""
    guarded = linecache.getline(frame.filename, 1).rstrip("\n") == GUARD_LINE
    return frame.lineno - 1 if guarded and frame.lineno else frame.lineno


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
        return f"{what} (raised by this check, line {_check_line(frame)}:{_code(frame)})"
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
    except (KeyboardInterrupt, SystemExit) as error:
        # Interactively, Ctrl-C and exit() stop the cell as usual. In a graded kernel nobody presses
        # Ctrl-C: a student's code raising these would stop the cell before the checks after this one
        # report, so this check fails and the cell goes on.
        if not os.environ.get(GRADED_VARIABLE):
            raise
        result["message"] = f"{type(error).__name__} raised inside the check"
    else:
        result["passed"] = True
        result["points"] = points
    mark = "✓" if result["passed"] else "✗"
    detail = "" if result["passed"] else "\n    " + result["message"].replace("\n", "\n    ")
    _report(result, f"{mark} {name} [{result['points']}/{points}]{detail}")


# The function as defined above, kept apart from the module attribute `check`, which a student's code may replace.
_genuine_check = check


def genuine_check() -> Any:
    """`check` as this module defined it: what `GUARD_LINE` binds in every check cell the grader runs.

    A student's cell that rebinds the name ``check``, or replaces
    ``fti.teach.grading.check``, does not change the function graded check
    cells use.
    """
    return _genuine_check
