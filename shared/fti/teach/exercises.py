"""Exercises written once: master copies with solutions, generated student copies, batch grading.

An exercise is one notebook in ``exercises/source/`` (the *master*). In it:

* a solution sits between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines
  in a code cell; the student copy has ``# YOUR CODE HERE`` and
  ``raise NotImplementedError()`` there instead;
* cells tagged ``check`` hold visible checks (`fti.teach.grading.check`), which the
  student runs for feedback;
* cells tagged ``hidden-check`` hold more checks, left out of the student copy
  and put back when grading;
* markdown headings ``## Task 1: ...`` (or ``## Task: ...``) start the tasks: a
  check that misses a name a task should have made says "task 1 has not
  produced `features` yet" (`producers`);
* the first code cell calls ``start("NN_name")``: the exercise gets a store of
  its own, emptied each time that cell runs (see `start`).

`build` writes the student copies to ``exercises/student/`` (never edit those by
hand; ``fti exercises build`` regenerates them). In a student copy every code
cell after the first is tagged ``raises-exception``: JupyterLab's "Run All"
(and nbclient, so papermill and the grader) go on past an error in a cell with
that tag, so an untouched or half-done notebook still reaches every check, and
each check scores on its own.

`grade` executes submissions through the run layer
(`fti.run.execute.ExecutionRequest` handed to an `fti.run.executors.Executor`,
several at once): each gets the master's check cells restored (visible ones as
the master has them, hidden ones inserted where the master has them), its own
working folder and stores, and a time limit; its checks are scored, and the
executed notebook is rendered as HTML next to it for ``grades.html``.

What grading guarantees (details in `grade`, `score` and exercises/README.md):

* a check is credited only by the outcome its own cell, the master's, shows in
  the executed notebook: not by its name, and not through any file a
  submission could write;
* the masters, the graded copy (hidden checks) and the output folder are not in
  or under the kernel's working folder, and no environment variable or
  attribute of the package names them in a graded kernel;
* every process a submission starts is killed when its execution ends, new
  sessions included (`fti.run.sweep`).

What it is **not**: a security sandbox. The submission runs in the same
process as the checks (it can replace the kit's functions in memory) and as
the user who grades (it can read any absolute path that user can, the masters
in this checkout included). Grade untrusted code inside a container or a
virtual machine.
"""

from __future__ import annotations

import ast
import copy
import csv
import html
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fti.clock import NOW_VARIABLE
from fti.exceptions import ExerciseError
from fti.paths import DATA_DIR, EXERCISE_STORES_VARIABLE, REPO_ROOT
from fti.run import sweep
from fti.run.execute import STATUS_FAILED, ExecutionRequest, ExecutionResult
from fti.run.executors import Executor, LocalExecutor
from fti.store.storage import STORE_VARIABLE
from fti.teach import grading
from fti.teach.grading import GRADED_VARIABLE, GUARD_LINE, RESULT_MIME

if TYPE_CHECKING:
    # Imported where used: nbformat costs a second at import, and a notebook calling `start` needs none of it.
    import nbformat

# EXERCISES_DIR, SOURCE_DIR and STUDENT_DIR (exercises/, its source/ and student/) are served by the
# module's __getattr__ below, which refuses them to a graded submission's kernel.
_FOLDERS = ("EXERCISES_DIR", "SOURCE_DIR", "STUDENT_DIR")
# Each exercise's own store is a folder in here (git-ignored), never the course store data/store/.
EXERCISE_STORES_DIR = DATA_DIR / "exercise-stores"
# The masters' folder, when not exercises/source/ (`start` reads the tasks from there). Never given to a graded kernel.
EXERCISE_SOURCE_VARIABLE = "FTI_EXERCISE_SOURCE"
# Set by the grader in a submission's kernel: which task makes which name (JSON), instead of the master's path.
PRODUCERS_VARIABLE = "FTI_EXERCISE_PRODUCERS"
BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
CHECK_TAG = "check"
HIDDEN_TAG = "hidden-check"
# JupyterLab's "Run All" and nbclient both go on past an error in a cell with this tag.
CONTINUE_TAG = "raises-exception"
SETUP = "the setup cell"
DEFAULT_TIMEOUT = 180.0
# An executed submission larger than this printed far too much; its outputs are cut.
MAX_NOTEBOOK_BYTES = 5_000_000

_TASK_HEADING = re.compile(r"^ {0,3}#{1,6}\s*task\b *(\d+)?", re.IGNORECASE | re.MULTILINE)
_EXERCISE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_CELL_FRAME = re.compile(r"Cell In\[(\d+)\], line (\d+)")
# How a SyntaxError names an IPython cell: "invalid syntax (1602438192.py, line 1)".
_CELL_FILE_SUFFIX = re.compile(r"\s*\(\d+\.py, line (\d+)\)\s*$")


def _graded() -> bool:
    """Whether this process is a graded submission's kernel (the grader set `GRADED_VARIABLE`)."""
    return bool(os.environ.get(GRADED_VARIABLE))


def _folder(name: str) -> Path:
    if _graded():
        raise ExerciseError(f"{name}: the exercise folders are not available to a submission being graded")
    exercises_dir = REPO_ROOT / "exercises"
    return {"EXERCISES_DIR": exercises_dir, "SOURCE_DIR": exercises_dir / "source",
            "STUDENT_DIR": exercises_dir / "student"}[name]


def __getattr__(name: str) -> Path:
    """``EXERCISES_DIR``, ``SOURCE_DIR`` (the masters) and ``STUDENT_DIR``, except in a graded submission's kernel.

    Not module constants, so that no attribute of the package hands a graded
    submission the masters' folder (the checkout's layout is no secret, though:
    see exercises/README.md).
    """
    if name in _FOLDERS:
        try:
            return _folder(name)
        except ExerciseError as exc:
            raise AttributeError(str(exc)) from None
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def masters_folder() -> Path:
    """The masters' folder: ``FTI_EXERCISE_SOURCE`` if set, else ``exercises/source/``.

    Raises:
        ExerciseError: Asked from a graded submission's kernel.
    """
    configured = os.environ.get(EXERCISE_SOURCE_VARIABLE)
    if _graded():
        raise ExerciseError("the masters are not available to a submission being graded")
    return Path(configured) if configured else _folder("SOURCE_DIR")


def _source(cell: Mapping[str, Any]) -> str:
    """A cell's source as text (a notebook file may store it as a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _nbformat() -> Any:
    import nbformat

    return nbformat


def _tags(cell: Mapping[str, Any]) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _strip_solutions(source: str, where: str) -> str:
    out: list[str] = []
    inside = False
    for number, line in enumerate(source.splitlines(), start=1):
        marker = line.strip()
        if marker == BEGIN_SOLUTION:
            if inside:
                raise ExerciseError(f"{where}, line {number}: {BEGIN_SOLUTION} inside another solution")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out += [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError()"]
        elif marker == END_SOLUTION:
            if not inside:
                raise ExerciseError(f"{where}, line {number}: {END_SOLUTION} without {BEGIN_SOLUTION}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ExerciseError(f"{where}: {BEGIN_SOLUTION} is never closed by {END_SOLUTION}")
    return "\n".join(out)


def _continue_after_errors(cells: list) -> None:
    """Tag every code cell after the first with ``raises-exception``, in place.

    The first code cell sets the exercise up: when it fails, nothing after it
    can work, and stopping there says so. After it, a task that raises (not
    written yet, or wrong) must not keep the later tasks and checks from running.
    """
    code_cells = [cell for cell in cells if cell.get("cell_type") == "code"]
    for cell in code_cells[1:]:
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if CONTINUE_TAG not in tags:
            tags.append(CONTINUE_TAG)


def student_version(master: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """The student copy of a master notebook: no solutions, no hidden checks, no outputs.

    Every code cell after the first is tagged ``raises-exception``, so "Run All"
    goes on past a task that raises and reaches every check.
    """
    student = copy.deepcopy(master)
    cells = []
    for cell in student.cells:
        if HIDDEN_TAG in _tags(cell):
            continue
        if cell.cell_type == "code":
            cell.source = _strip_solutions(cell.source, f"{name}, cell {cell.get('id', '?')}")
            cell.outputs = []
            cell.execution_count = None
        cells.append(cell)
    _continue_after_errors(cells)
    student.cells = cells
    return student


def _render(notebook: nbformat.NotebookNode) -> str:
    return _nbformat().writes(notebook) + "\n"


def masters(source_dir: Path | None = None) -> list[Path]:
    """The master notebooks, in name order (default: in `masters_folder()`)."""
    return sorted((source_dir or masters_folder()).glob("*.ipynb"))


def build(source_dir: Path | None = None, student_dir: Path | None = None) -> list[Path]:
    """Write every student copy; remove copies whose master is gone. Returns the copies written.

    Running it twice changes nothing the second time.

    Args:
        source_dir: The masters (default: `masters_folder()`).
        student_dir: Where the student copies go (default: ``exercises/student/``).
    """
    nbformat = _nbformat()
    student_dir = student_dir or _folder("STUDENT_DIR")
    student_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for master in masters(source_dir):
        target = student_dir / master.name
        text = _render(student_version(nbformat.read(master, as_version=4), master.name))
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
        written.append(target)
    wanted = {path.name for path in written}
    for stale in student_dir.glob("*.ipynb"):
        if stale.name not in wanted:
            stale.unlink()
    return written


def outdated(source_dir: Path | None = None, student_dir: Path | None = None) -> list[str]:
    """Names of student copies that are missing, stale or extra (empty when all are current)."""
    nbformat = _nbformat()
    student_dir = student_dir or _folder("STUDENT_DIR")
    problems = []
    wanted = set()
    for master in masters(source_dir):
        wanted.add(master.name)
        target = student_dir / master.name
        text = _render(student_version(nbformat.read(master, as_version=4), master.name))
        if not target.exists():
            problems.append(f"{master.name}: missing")
        elif target.read_text(encoding="utf-8") != text:
            problems.append(f"{master.name}: differs from its master")
    problems += [f"{path.name}: has no master" for path in student_dir.glob("*.ipynb") if path.name not in wanted]
    return problems


@dataclass(frozen=True)
class DeclaredCheck:
    """One check a master declares: what grading credits, by the cell it is in, never by its name alone.

    Attributes:
        cell_id: The id of the master's check (or hidden-check) cell holding it.
        name: The check's name, a literal in ``check(...)``.
        points: What passing it is worth.
    """

    cell_id: str
    name: str
    points: int


def declared_checks(master: nbformat.NotebookNode, name: str = "notebook") -> list[DeclaredCheck]:
    """Every check of the master's check and hidden-check cells, in the master's order.

    Raises:
        ExerciseError: A check's name or points are not literals, a check cell has no id, or two checks
            share a name.
    """
    found: list[DeclaredCheck] = []
    for cell in master.cells:
        if cell.cell_type != "code" or not ({CHECK_TAG, HIDDEN_TAG} & set(_tags(cell))):
            continue
        if not cell.get("id"):
            raise ExerciseError(f"{name}: a check cell has no cell id; save the master with nbformat 4.5 or later")
        calls = [node for node in ast.walk(ast.parse(cell.source))
                 if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "check"]
        for node in sorted(calls, key=lambda call: (call.lineno, call.col_offset)):
            try:
                title = ast.literal_eval(node.args[0])
                points = next((ast.literal_eval(k.value) for k in node.keywords if k.arg == "points"), 1)
            except (IndexError, ValueError) as exc:
                raise ExerciseError(
                    f"{name}, cell {cell.get('id')}: check(...) needs a literal name and points") from exc
            if any(other.name == title for other in found):
                raise ExerciseError(f"{name}, cell {cell.get('id')}: two checks are named {title!r}; rename one")
            found.append(DeclaredCheck(cell.id, title, int(points)))
    return found


def checks_of(master: nbformat.NotebookNode, name: str = "notebook") -> dict[str, int]:
    """``{check name: points}`` declared by the master's check and hidden-check cells (see `declared_checks`).

    Raises:
        ExerciseError: As `declared_checks`.
    """
    return {declared.name: declared.points for declared in declared_checks(master, name)}


# -- tasks and the names they make ------------------------------------------------------------


def _top_level_names(source: str) -> list[str]:
    """Names a cell binds at the top level of the notebook (assignments, defs, imports, ``with ... as``).

    Statements inside ``with``, ``if``, ``for`` and ``try`` blocks count (a check
    block's ``features = ...`` is a notebook variable); function and class bodies,
    lambdas and comprehensions have scopes of their own and do not.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
            return
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.extend((alias.asname or alias.name).split(".")[0] for alias in node.names if alias.name != "*")
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.append(node.id)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def producers(master: Mapping[str, Any], *, hidden: bool = True) -> dict[str, str]:
    """Which part of an exercise first defines each notebook variable: ``{"features": "task 1", ...}``.

    Code cells before the first task heading are the setup cell; a markdown cell
    with a heading ``Task 1`` (or just ``Task``) starts a task, and its code cells
    (solutions and checks alike) make the names it defines.

    Args:
        master: The master notebook (an ``nbformat`` node or the plain JSON).
        hidden: Count the hidden-check cells too (the grader leaves them out of what a kernel is told).
    """
    found: dict[str, str] = {}
    part = SETUP
    for cell in master.get("cells", []):
        if not hidden and HIDDEN_TAG in _tags(cell):
            continue
        source = _source(cell)
        if cell.get("cell_type") == "markdown":
            heading = _TASK_HEADING.search(source)
            if heading:
                part = f"task {heading.group(1)}" if heading.group(1) else "the task"
        elif cell.get("cell_type") == "code":
            for name in _top_level_names(source):
                found.setdefault(name, part)
    return found


# -- each exercise's own store ------------------------------------------------------------------


def _exercise_name(name: object) -> str:
    if not isinstance(name, str) or not _EXERCISE_NAME.fullmatch(name):
        raise ExerciseError(
            f"exercise name {name!r} is not valid: use the master's file name without .ipynb, "
            "e.g. '01_feature_family_size'")
    return name


def exercise_stores_dir() -> Path:
    """The folder of the exercise stores: ``FTI_EXERCISE_STORES`` if set, else ``data/exercise-stores/``."""
    configured = os.environ.get(EXERCISE_STORES_VARIABLE)
    return Path(configured).expanduser().resolve() if configured else EXERCISE_STORES_DIR


def exercise_store(name: str) -> Path:
    """Where exercise ``name`` keeps its feature store and models.

    Raises:
        ExerciseError: ``name`` is not a valid exercise name.
    """
    return exercise_stores_dir() / _exercise_name(name)


def reset(name: str) -> bool:
    """Empty exercise ``name``'s store: it starts again with no feature groups, views or models.

    All or nothing: the folder is first renamed aside, then removed.

    Returns:
        Whether there was anything to remove.

    Raises:
        ExerciseError: ``name`` is not a valid exercise name, or the folder cannot be moved
            (for example a program keeps a file in it open, on Windows).
    """
    folder = exercise_store(name)
    if not folder.exists():
        return False
    if not folder.is_dir():
        raise ExerciseError(f"the exercise store {folder} is a file, not a folder: remove it yourself")
    aside = folder.with_name(f".{folder.name}.removing-{uuid.uuid4().hex}")
    try:
        folder.rename(aside)
    except OSError as exc:
        raise ExerciseError(f"the exercise store {folder} cannot be reset: {exc.strerror or exc}") from None
    shutil.rmtree(aside, ignore_errors=True)
    return True


def _shown(path: Path) -> str:
    """A path as a student reads it: relative to the repository when inside it."""
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


@dataclass(frozen=True)
class Exercise:
    """What `start` set up: the exercise's name, its own store, and which task makes which name.

    Attributes:
        name: The exercise, e.g. ``"01_feature_family_size"``.
        store: Its store folder, where ``fti.get_feature_store()`` now points.
        producers: ``{name: "task 1", ...}``, what the checks use to say a task is not done.
    """

    name: str
    store: Path
    producers: dict[str, str] = field(default_factory=dict, repr=False)


def start(name: str, *, fresh: bool = True) -> Exercise:
    """Begin exercise ``name`` in a notebook: its own store, emptied, and checks that know its tasks.

    Sets ``FTI_STORE`` in this process to the exercise's store
    (``data/exercise-stores/NAME/``, or under ``FTI_EXERCISE_STORES``), so
    ``fti.get_feature_store()`` and ``fti.get_model_registry()`` use it and a
    wrong first attempt never reaches the course store ``data/store/``. With
    ``fresh`` (the default) the store is emptied first, so running the notebook
    from the top always starts from the same state. Prints where the store is.

    Args:
        name: The exercise: its master's file name without ``.ipynb``.
        fresh: Empty the store first.

    Returns:
        The `Exercise`.

    In a graded submission's kernel the grader says which task makes which name
    (``FTI_EXERCISE_PRODUCERS``): the kernel is never told where the masters are.

    Raises:
        ExerciseError: No master of that name (in ``exercises/source/``, or ``FTI_EXERCISE_SOURCE``).
    """
    name = _exercise_name(name)
    told = os.environ.get(PRODUCERS_VARIABLE)
    if told:
        made = {str(key): str(value) for key, value in json.loads(told).items()}
    else:
        folder = masters_folder()
        master = folder / f"{name}.ipynb"
        if not master.is_file():
            known = ", ".join(path.stem for path in masters(folder)) or "none"
            raise ExerciseError(f"there is no exercise {name!r} in {_shown(folder)} (exercises there: {known})")
        with master.open(encoding="utf-8") as handle:
            made = producers(json.load(handle))
    store = exercise_store(name)
    emptied = reset(name) if fresh else False
    store.mkdir(parents=True, exist_ok=True)
    os.environ[STORE_VARIABLE] = str(store)
    grading.set_producers(made)
    state = "emptied now" if emptied else ("new and empty" if fresh else "kept as it was")
    print(f"Exercise {name}: its own store is {_shown(store)} ({state}).\n"
          "fti.get_feature_store() and fti.get_model_registry() use it from here on; the course store is not "
          "touched.\n"
          f"To start over, run this cell again (or: .venv/bin/fti exercises reset {name}).")
    return Exercise(name, store, made)


def grading_version(master: nbformat.NotebookNode, submission: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The submission with the master's check cells restored and its hidden checks inserted.

    Check cells are matched by cell id: a student cannot change or delete a check.
    A restored cell goes right after the cell that precedes it in the master; a
    second cell of the student's bearing a check cell's id is dropped, so each
    check cell is in the graded copy exactly once, with the master's id (the
    grader reads its outcomes by that id). Each restored check cell starts with
    `fti.teach.grading.GUARD_LINE`. Every code cell after the first is tagged
    ``raises-exception``, so each check runs whatever the cells before it did.
    """
    graded = copy.deepcopy(submission)
    checks = {cell.id: cell for cell in master.cells if {CHECK_TAG, HIDDEN_TAG} & set(_tags(cell))}
    cells, present = [], set()
    for cell in graded.cells:
        cell_id = cell.get("id")
        if cell_id in checks:
            if cell_id in present:
                continue
            cell = copy.deepcopy(checks[cell_id])
        cells.append(cell)
        present.add(cell_id)
    previous_id = None
    for cell in master.cells:
        if cell.id in checks and cell.id not in present:
            position = next((i + 1 for i, c in enumerate(cells) if c.get("id") == previous_id), len(cells))
            cells.insert(position, copy.deepcopy(cell))
            present.add(cell.id)
        previous_id = cell.id
    for cell in cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            if cell.get("id") in checks:
                cell.source = f"{GUARD_LINE}\n{checks[cell.id].source}"
    _continue_after_errors(cells)
    graded.cells = cells
    return graded


# -- grading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """One student's notebook for one exercise."""

    student: str
    exercise: str
    path: Path


def find_submissions(folder: Path, exercises: Iterable[str]) -> list[Submission]:
    """Submissions laid out as ``STUDENT/EXERCISE.ipynb`` or ``EXERCISE/STUDENT.ipynb``.

    Raises:
        ExerciseError: ``folder`` is not a folder, or a notebook matches no exercise.
    """
    folder = Path(folder)
    if not folder.is_dir():
        problem = "is not a folder" if folder.exists() else "does not exist"
        raise ExerciseError(f"the submissions folder {folder} {problem}")
    known = set(exercises)
    found = []
    for path in sorted(folder.glob("*/*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        outer, inner = path.parent.name, path.stem
        if inner in known:
            found.append(Submission(outer, inner, path))
        elif outer in known:
            found.append(Submission(inner, outer, path))
        else:
            raise ExerciseError(
                f"submission {path} matches no exercise: name it STUDENT/EXERCISE.ipynb or EXERCISE/STUDENT.ipynb "
                f"with EXERCISE one of {sorted(known)}"
            )
    return found


@dataclass
class Grade:
    """The score of one submission.

    Attributes:
        student: Who.
        exercise: Which exercise.
        points: Points of the checks passed.
        max_points: Points of every check.
        status: ``ok``, ``error`` (a cell raised), ``timeout``, each possibly with ``, output cut``.
        failed_checks: Names of the checks not passed, in the master's order.
        messages: ``{failed check: what it said}`` (or why it did not run).
        error: The cells that raised, as ``cell [4], line 2: SyntaxError: invalid syntax``; else why
            the execution stopped; empty when nothing raised.
        notebook: The executed notebook, relative to the output folder.
        html: The executed notebook rendered as HTML, relative to the output folder ("" if it could not be).
    """

    student: str
    exercise: str
    points: int
    max_points: int
    status: str
    failed_checks: list[str] = field(default_factory=list)
    error: str = ""
    notebook: str = ""
    messages: dict[str, str] = field(default_factory=dict)
    html: str = ""


NOT_RUN = "did not run: the notebook stopped or ran out of time before this check"
NOT_REPORTED = ("did not report a result: its cell stopped before this check, or the notebook's outputs passed "
                "their size limit")
REPORTED_TWICE = ("reported more than once: something besides the check showed a result in its cell, so neither "
                  "counts")


def _outcomes(executed: Path) -> dict[str, tuple[bool, list[dict]]]:
    """``{cell id: (whether it ran, the check outcomes shown in its outputs)}`` of an executed notebook."""
    try:
        notebook = _nbformat().read(executed, as_version=4)
    except Exception:  # noqa: BLE001 - a missing or unreadable executed notebook ran no checks
        return {}
    found: dict[str, tuple[bool, list[dict]]] = {}
    for cell in notebook.cells:
        if cell.cell_type != "code" or not cell.get("id"):
            continue
        shown = [output.get("data", {}).get(RESULT_MIME) for output in cell.get("outputs", [])
                 if output.get("output_type") in ("display_data", "execute_result")]
        found[cell.id] = (cell.get("execution_count") is not None,
                          [outcome for outcome in shown if isinstance(outcome, dict)])
    return found


def score(executed: Path, declared: list[DeclaredCheck]) -> tuple[int, list[str], dict[str, str]]:
    """Points, failed checks and their messages, from the outputs of the grader's check cells.

    A check is credited only by an outcome shown in the output of *its own*
    cell (the master's check cell, found by its id) and naming a check the
    master declares in that cell, exactly once: outcomes shown by the student's
    cells, or naming a check of another cell, count for nothing, and a check
    whose cell shows two outcomes for it gets neither. Points come from the
    master, never from the outcome.

    Args:
        executed: The executed graded copy (`grading_version`).
        declared: The master's checks (`declared_checks`).

    Returns:
        The points, the names of the checks not passed (in the master's order), and ``{name: why}`` for those.
    """
    outcomes = _outcomes(executed)
    points, failed, messages = 0, [], {}
    for expected in declared:
        ran, shown = outcomes.get(expected.cell_id, (False, []))
        mine = [outcome for outcome in shown if outcome.get("check") == expected.name]
        if len(mine) == 1 and mine[0].get("passed") is True:
            points += expected.points
            continue
        failed.append(expected.name)
        if len(mine) > 1:
            messages[expected.name] = REPORTED_TWICE
        elif mine:
            messages[expected.name] = str(mine[0].get("message") or "failed")
        else:
            messages[expected.name] = NOT_REPORTED if ran else NOT_RUN
    return points, failed, messages


def describe_cell_error(execution_count: int | None, output: Mapping[str, Any]) -> str:
    """One line for an error output of an executed cell, naming the student's cell and line.

    ``cell [4], line 2: SyntaxError: invalid syntax`` rather than IPython's
    ``invalid syntax (1602438192.py, line 1)``; an error raised in code of another
    cell (a function defined there) names that cell too.
    """
    ename = str(output.get("ename", "Error"))
    evalue = str(output.get("evalue", ""))
    lines = [line for line in evalue.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    suffix = _CELL_FILE_SUFFIX.search(first)
    line = int(suffix.group(1)) if suffix else None
    first = _CELL_FILE_SUFFIX.sub("", first)
    if len(lines) > 1:
        first += " ..."
    frames = [(int(n), int(line_no)) for n, line_no in
              _CELL_FRAME.findall(_ANSI_ESCAPE.sub("", "\n".join(output.get("traceback", []))))]
    own = [line_no for n, line_no in frames if n == execution_count]
    if own:
        line = own[0]
    where = "cell" if execution_count is None else f"cell [{execution_count}]"
    if line is not None:
        where += f", line {line}"
    if frames and frames[-1][0] != execution_count:
        where += f" (in the code of cell [{frames[-1][0]}], line {frames[-1][1]})"
    message = f"{where}: {ename}: {first}".rstrip(": ")
    return message if len(message) <= 400 else message[:397] + "..."


def cell_errors(executed: Path) -> list[str]:
    """Every error an executed notebook shows, in cell order (see `describe_cell_error`)."""
    if not executed.exists():
        return []
    try:
        notebook = _nbformat().read(executed, as_version=4)
    except Exception:  # noqa: BLE001 - an unreadable executed notebook has no errors to list
        return []
    return [describe_cell_error(cell.get("execution_count"), output)
            for cell in notebook.cells if cell.cell_type == "code"
            for output in cell.get("outputs", []) if output.get("output_type") == "error"]


def _cut_outputs(path: Path) -> bool:
    """Shorten a huge executed notebook's outputs in place; True if it had to."""
    if not path.exists() or path.stat().st_size <= MAX_NOTEBOOK_BYTES:
        return False
    nbformat = _nbformat()
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            for output in cell.outputs:
                if output.get("output_type") == "stream" and len(output.get("text", "")) > 10_000:
                    output["text"] = output["text"][:10_000] + "\n[... output cut by the grader ...]\n"
                for key, value in list(output.get("data", {}).items()):
                    if isinstance(value, str) and len(value) > 10_000:
                        output["data"][key] = value[:10_000] + "\n[... output cut by the grader ...]"
    nbformat.write(notebook, path)
    return True


def render_html(executed: Path) -> Path | None:
    """Write the executed notebook as HTML next to it (JupyterLab's look); None if it cannot be rendered."""
    if not executed.exists():
        return None
    try:
        from nbconvert import HTMLExporter

        body, _ = HTMLExporter(template_name="lab").from_notebook_node(_nbformat().read(executed, as_version=4))
    except Exception:  # noqa: BLE001 - a notebook that cannot be rendered is still graded and linked
        return None
    target = executed.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target


@dataclass(frozen=True)
class _Job:
    """One submission on its way through the grader."""

    submission: Submission
    request: ExecutionRequest
    tag: str
    executed: Path


def _prepare(submission: Submission, master: nbformat.NotebookNode, private: Path, kernels: Path,
             timeout: float) -> _Job:
    """Write the graded copy where the kernel cannot see it, and the request that runs it in a folder of its own."""
    nbformat = _nbformat()
    # Random names: a folder's name tells a kernel nothing about whose it is or where the rest is.
    token = uuid.uuid4().hex
    work = kernels / token
    work.mkdir()
    try:
        notebook = nbformat.read(submission.path, as_version=4)
    except Exception as exc:  # a broken file is that student's problem, not the batch's
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
            f"raise ValueError({'the submitted file is not a readable notebook: ' + str(exc)[:200]!r})")])
    source = private / f"{token}.ipynb"
    nbformat.write(grading_version(master, notebook), source)
    tag = sweep.new_tag()
    env: dict[str, str | None] = {
        # The kernel's own stores and HOME, and the real clock.
        STORE_VARIABLE: str(work / "store"), EXERCISE_STORES_VARIABLE: str(work / "exercise-stores"),
        "HOME": str(work), NOW_VARIABLE: None,
        # What `start` needs from the master, instead of where the masters are; nothing names them.
        PRODUCERS_VARIABLE: json.dumps(producers(master, hidden=False)), EXERCISE_SOURCE_VARIABLE: None,
        GRADED_VARIABLE: "1",
        # Every process the submission starts carries it, so all are ended with the execution.
        sweep.EXECUTION_TAG_VARIABLE: tag,
    }
    executed = private / f"{token}.executed.ipynb"
    request = ExecutionRequest(notebook=source, output=executed, env=env, cwd=work, timeout=timeout,
                               label=f"{submission.student}/{submission.exercise}")
    return _Job(submission, request, tag, executed)


def grade(submissions: Path, out_dir: Path, *, source_dir: Path | None = None, timeout: float = DEFAULT_TIMEOUT,
          executor: Executor | None = None, progress: bool = True, scratch_dir: Path | None = None) -> list[Grade]:
    """Execute and score every submission; write ``grades.csv`` and ``grades.html`` in ``out_dir``.

    Each check scores on its own: a cell that raises (a task not done, a syntax
    error) costs the checks that need it, not the whole notebook. Checks are
    scored from the outputs of the master's own check cells (`score`).

    Where things are while a submission runs: its kernel works in a fresh folder
    of its own (also its ``HOME`` and stores) under a new folder in
    ``scratch_dir``; the graded copies (hidden checks included) and the
    notebooks being executed are in a hidden folder in ``out_dir``, and the
    executed notebooks reach ``out_dir/executed/`` only when every submission
    has run. Neither the kernel's environment nor the package names either
    place or the masters. Both temporary folders are removed at the end.
    Every process a submission started is killed when its execution ends
    (`fti.run.sweep`).

    Args:
        submissions: Folder of submissions (see `find_submissions`).
        out_dir: Where the executed notebooks (and their HTML) and the reports go.
        source_dir: The master notebooks (default: `masters_folder()`).
        timeout: Seconds each submission may run.
        executor: An `fti.run.executors.Executor`; default: a `LocalExecutor` with one worker per core.
        progress: Show a progress bar.
        scratch_dir: Where the kernels' working folders are made (default: the system's temporary folder).

    Returns:
        One grade per submission, in the order `find_submissions` found them.

    Raises:
        ExerciseError: The submissions folder does not exist, a submission matches no
            exercise, or a master's checks are malformed.
    """
    nbformat = _nbformat()
    exercise_masters = {path.stem: nbformat.read(path, as_version=4) for path in masters(source_dir)}
    declared = {name: declared_checks(master, name) for name, master in exercise_masters.items()}
    found = find_submissions(Path(submissions), exercise_masters)
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    private = Path(tempfile.mkdtemp(prefix=".grading-", dir=out_dir))
    kernels = Path(tempfile.mkdtemp(prefix="fti-grading-", dir=scratch_dir))
    jobs: list[_Job] = []
    tags: dict[str, str] = {}
    try:
        for submission in found:
            jobs.append(_prepare(submission, exercise_masters[submission.exercise], private, kernels, timeout))
            tags[jobs[-1].request.label] = jobs[-1].tag
        by_label = _execute_all([job.request for job in jobs], tags, executor, progress)
        for job in jobs:
            target = out_dir / "executed" / job.submission.student / f"{job.submission.exercise}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            if job.executed.exists():
                job.executed.replace(target)
    finally:
        for tag in tags.values():
            sweep.sweep(tag)  # whatever happened above, nothing a submission started outlives grading
        shutil.rmtree(private, ignore_errors=True)
        shutil.rmtree(kernels, ignore_errors=True)
    grades: list[Grade] = []
    for job in jobs:
        submission = job.submission
        result = by_label[job.request.label]
        executed = out_dir / "executed" / submission.student / f"{submission.exercise}.ipynb"
        checks = declared[submission.exercise]
        points, failed, messages = score(executed, checks)
        # A submission whose cells raised is graded "error"; "ok" and "timeout" are the execution's own words.
        status = "error" if result.status == STATUS_FAILED else result.status
        if _cut_outputs(executed):
            status = f"{status}, output cut"
        errors = cell_errors(executed)
        error = "; ".join(errors[:3]) + (f"; and {len(errors) - 3} more" if len(errors) > 3 else "")
        page = render_html(executed)
        grades.append(Grade(
            submission.student, submission.exercise, points, sum(check.points for check in checks), status,
            failed,
            # A timeout or a dead kernel is said by the execution; cell errors by the cells.
            error if error and result.status == STATUS_FAILED else (result.error or error),
            str(executed.relative_to(out_dir)), messages,
            str(page.relative_to(out_dir)) if page is not None else "",
        ))
    write_reports(grades, out_dir)
    return grades


def _execute_all(requests: list[ExecutionRequest], tags: Mapping[str, str], executor: Executor | None,
                 progress: bool) -> dict[str, ExecutionResult]:
    """Run the requests; as each ends, kill what it left running. Returns the results by label."""
    owner = executor is None
    executor = executor or LocalExecutor()
    by_label: dict[str, ExecutionResult] = {}
    try:
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(requests), desc="grading", unit="notebook")
        for result in executor.map_unordered(requests):
            # The execution has ended (its kernel stopped or was killed). A process it started in a
            # session of its own is still running: end it now, not when the batch ends. Here, for an
            # executor on this machine; the run layer does the same where the execution ran.
            sweep.sweep(tags[result.request.label])
            by_label[result.request.label] = result
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
    finally:
        if owner:
            executor.close()
    return by_label


_REPORT_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse;margin-bottom:2rem}"
    "td,th{border-bottom:1px solid #ddd;padding:.35rem .6rem;text-align:left;vertical-align:top}"
    "th{background:#f4f4f4}.error,.timeout{color:#b00}.ok{color:#070}ul{margin:0;padding-left:1.1rem}"
    "li{margin:.15rem 0}.check{font-weight:600}.message{white-space:pre-wrap;font-family:ui-monospace,monospace;"
    "font-size:.85rem}.full{color:#070}td.errors{font-family:ui-monospace,monospace;font-size:.85rem;"
    "max-width:32rem}"
)


def write_reports(grades: list[Grade], out_dir: Path) -> None:
    """``grades.csv`` (one row per submission) and ``grades.html`` (totals per student, then each submission).

    The page lists each failed check with what it said, the cells that raised,
    and links to the executed notebook, rendered as HTML and as ``.ipynb``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "grades.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "exercise", "points", "max", "status", "failed_checks", "messages", "error",
                         "notebook"])
        for g in grades:
            writer.writerow([g.student, g.exercise, g.points, g.max_points, g.status, "; ".join(g.failed_checks),
                             "\n".join(f"{name}: {g.messages.get(name, '')}" for name in g.failed_checks),
                             g.error, g.html or g.notebook])
    totals: dict[str, list[int]] = {}
    for g in grades:
        total = totals.setdefault(g.student, [0, 0])
        total[0] += g.points
        total[1] += g.max_points
    e = html.escape
    summary = "".join(f"<tr><td>{e(s)}</td><td>{p}</td><td>{m}</td></tr>" for s, (p, m) in sorted(totals.items()))

    def feedback(g: Grade) -> str:
        if not g.failed_checks:
            return '<span class="full">every check passed</span>'
        items = "".join(f'<li><span class="check">✗ {e(name)}</span><div class="message">'
                        f"{e(g.messages.get(name, ''))}</div></li>" for name in g.failed_checks)
        return f"<ul>{items}</ul>"

    def links(g: Grade) -> str:
        shown = [f'<a href="{e(g.html)}">executed notebook</a>'] if g.html else []
        shown.append(f'<a href="{e(g.notebook)}">.ipynb</a>')
        return " · ".join(shown)

    details = "".join(
        f"<tr><td>{e(g.student)}</td><td>{e(g.exercise)}</td><td>{g.points}/{g.max_points}</td>"
        f"<td class=\"{re.sub(r'[^a-z]', '', g.status.split(',')[0])}\">{e(g.status)}</td>"
        f"<td>{feedback(g)}</td><td class=\"errors\">{e(g.error)}</td><td>{links(g)}</td></tr>"
        for g in grades
    )
    page = (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Grades</title>"
        f"<style>{_REPORT_STYLE}</style></head><body><h1>Grades</h1>"
        f"<h2>Totals</h2><table><tr><th>student</th><th>points</th><th>max</th></tr>{summary}</table>"
        "<h2>Submissions</h2><table><tr><th>student</th><th>exercise</th><th>score</th><th>status</th>"
        f"<th>failed checks</th><th>cells that raised</th><th></th></tr>{details}</table></body></html>\n"
    )
    (out_dir / "grades.html").write_text(page, encoding="utf-8")
