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

What a submission's isolation is, and is not: it runs in its own kernel
process, in a fresh working folder, with its own feature stores (``FTI_STORE``,
``FTI_EXERCISE_STORES``), ``HOME`` pointing at that folder and a time limit;
relative paths cannot reach the project or another submission. It is **not** a
security sandbox: the code runs as the user who grades and can reach any
absolute path that user can. Grade untrusted code inside a container or a
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
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fti.clock import NOW_VARIABLE
from fti.exceptions import ExerciseError
from fti.paths import DATA_DIR, EXERCISE_STORES_VARIABLE, REPO_ROOT
from fti.run.execute import STATUS_FAILED, ExecutionRequest
from fti.run.executors import Executor, LocalExecutor
from fti.store.storage import STORE_VARIABLE
from fti.teach import grading
from fti.teach.grading import RESULTS_VARIABLE

if TYPE_CHECKING:
    # Imported where used: nbformat costs a second at import, and a notebook calling `start` needs none of it.
    import nbformat

EXERCISES_DIR = REPO_ROOT / "exercises"
SOURCE_DIR = EXERCISES_DIR / "source"
STUDENT_DIR = EXERCISES_DIR / "student"
# Each exercise's own store is a folder in here (git-ignored), never the course store data/store/.
EXERCISE_STORES_DIR = DATA_DIR / "exercise-stores"
# Set by the grader to the masters it grades against (`start` reads the tasks from there).
EXERCISE_SOURCE_VARIABLE = "FTI_EXERCISE_SOURCE"
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


def masters(source_dir: Path = SOURCE_DIR) -> list[Path]:
    """The master notebooks, in name order."""
    return sorted(source_dir.glob("*.ipynb"))


def build(source_dir: Path = SOURCE_DIR, student_dir: Path = STUDENT_DIR) -> list[Path]:
    """Write every student copy; remove copies whose master is gone. Returns the copies written.

    Running it twice changes nothing the second time.
    """
    nbformat = _nbformat()
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


def outdated(source_dir: Path = SOURCE_DIR, student_dir: Path = STUDENT_DIR) -> list[str]:
    """Names of student copies that are missing, stale or extra (empty when all are current)."""
    nbformat = _nbformat()
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


def checks_of(master: nbformat.NotebookNode, name: str = "notebook") -> dict[str, int]:
    """``{check name: points}`` declared by the master's check and hidden-check cells.

    Raises:
        ExerciseError: A check's name or points are not literals.
    """
    found: dict[str, int] = {}
    for cell in master.cells:
        if cell.cell_type != "code" or not ({CHECK_TAG, HIDDEN_TAG} & set(_tags(cell))):
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "check":
                try:
                    title = ast.literal_eval(node.args[0])
                    points = next((ast.literal_eval(k.value) for k in node.keywords if k.arg == "points"), 1)
                except (IndexError, ValueError) as exc:
                    raise ExerciseError(
                        f"{name}, cell {cell.get('id')}: check(...) needs a literal name and points") from exc
                found[title] = int(points)
    return found


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


def producers(master: Mapping[str, Any]) -> dict[str, str]:
    """Which part of an exercise first defines each notebook variable: ``{"features": "task 1", ...}``.

    Code cells before the first task heading are the setup cell; a markdown cell
    with a heading ``Task 1`` (or just ``Task``) starts a task, and its code cells
    (solutions and checks alike) make the names it defines.

    Args:
        master: The master notebook (an ``nbformat`` node or the plain JSON).
    """
    found: dict[str, str] = {}
    part = SETUP
    for cell in master.get("cells", []):
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

    Raises:
        ExerciseError: No master of that name (in ``exercises/source/``, or ``FTI_EXERCISE_SOURCE``).
    """
    name = _exercise_name(name)
    source_dir = Path(os.environ.get(EXERCISE_SOURCE_VARIABLE) or SOURCE_DIR)
    master = source_dir / f"{name}.ipynb"
    if not master.is_file():
        known = ", ".join(path.stem for path in masters(source_dir)) or "none"
        raise ExerciseError(f"there is no exercise {name!r} in {_shown(source_dir)} (exercises there: {known})")
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
    A restored cell goes right after the cell that precedes it in the master.
    Every code cell after the first is tagged ``raises-exception``, so each
    check runs whatever the cells before it did.
    """
    graded = copy.deepcopy(submission)
    checks = {cell.id: cell for cell in master.cells if {CHECK_TAG, HIDDEN_TAG} & set(_tags(cell))}
    cells = [copy.deepcopy(checks[cell.get("id")]) if cell.get("id") in checks else cell for cell in graded.cells]
    present = {cell.get("id") for cell in cells}
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


def _score(results_file: Path, declared: dict[str, int]) -> tuple[int, list[str], dict[str, str]]:
    """Points, failed checks and their messages from a results file; the last record of a check counts."""
    outcome: dict[str, dict] = {}
    if results_file.exists():
        for line in results_file.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a submission writing into the results file gains nothing from it
            if isinstance(record, dict) and record.get("check") in declared:
                outcome[record["check"]] = record
    passed = {name for name, record in outcome.items() if record.get("passed") is True}
    failed = [name for name in declared if name not in passed]
    messages = {
        name: str(outcome[name].get("message") or "failed") if name in outcome
        else "did not run: the notebook stopped or ran out of time before this check"
        for name in failed
    }
    return sum(declared[name] for name in passed), failed, messages


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


def grade(submissions: Path, out_dir: Path, *, source_dir: Path = SOURCE_DIR, timeout: float = DEFAULT_TIMEOUT,
          executor: Executor | None = None, progress: bool = True) -> list[Grade]:
    """Execute and score every submission; write ``grades.csv`` and ``grades.html`` in ``out_dir``.

    Each check scores on its own: a cell that raises (a task not done, a syntax
    error) costs the checks that need it, not the whole notebook.

    Args:
        submissions: Folder of submissions (see `find_submissions`).
        out_dir: Where the executed notebooks (and their HTML), working folders and reports go.
        source_dir: The master notebooks.
        timeout: Seconds each submission may run.
        executor: An `fti.run.executors.Executor`; default: a `LocalExecutor` with one worker per core.
        progress: Show a progress bar.

    Returns:
        One grade per submission, in the order `find_submissions` found them.

    Raises:
        ExerciseError: The submissions folder does not exist, a submission matches no
            exercise, or a master's checks are malformed.
    """
    nbformat = _nbformat()
    exercise_masters = {path.stem: nbformat.read(path, as_version=4) for path in masters(source_dir)}
    declared = {name: checks_of(master, name) for name, master in exercise_masters.items()}
    found = find_submissions(Path(submissions), exercise_masters)
    out_dir = Path(out_dir).resolve()
    requests, results_files = [], {}
    for submission in found:
        work = out_dir / "work" / submission.student / submission.exercise
        work.mkdir(parents=True, exist_ok=True)
        try:
            notebook = nbformat.read(submission.path, as_version=4)
        except Exception as exc:  # a broken file is that student's problem, not the batch's
            notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
                f"raise ValueError({'the submitted file is not a readable notebook: ' + str(exc)[:200]!r})")])
        graded = grading_version(exercise_masters[submission.exercise], notebook)
        source = work / f"{submission.exercise}.ipynb"
        nbformat.write(graded, source)
        # Outside the working folder, so a submission that cleans its folder keeps its score.
        results = out_dir / "results" / submission.student / f"{submission.exercise}.jsonl"
        results.parent.mkdir(parents=True, exist_ok=True)
        results.unlink(missing_ok=True)
        results_files[(submission.student, submission.exercise)] = results
        requests.append(ExecutionRequest(
            notebook=source,
            output=out_dir / "executed" / submission.student / f"{submission.exercise}.ipynb",
            # The kernel's own stores, results file and HOME, the masters graded against, and the real clock.
            env={STORE_VARIABLE: str(work / "store"), EXERCISE_STORES_VARIABLE: str(work / "exercise-stores"),
                 EXERCISE_SOURCE_VARIABLE: str(Path(source_dir).resolve()), RESULTS_VARIABLE: str(results),
                 "HOME": str(work), NOW_VARIABLE: None},
            cwd=work, timeout=timeout, label=f"{submission.student}/{submission.exercise}",
        ))
    owner = executor is None
    executor = executor or LocalExecutor()
    grades: list[Grade] = []
    try:
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(requests), desc="grading", unit="notebook")
        by_label = {}
        for result in executor.map_unordered(requests):
            by_label[result.request.label] = result
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
    finally:
        if owner:
            executor.close()
    for submission in found:
        result = by_label[f"{submission.student}/{submission.exercise}"]
        checks = declared[submission.exercise]
        points, failed, messages = _score(results_files[(submission.student, submission.exercise)], checks)
        # A submission whose cells raised is graded "error"; "ok" and "timeout" are the execution's own words.
        status = "error" if result.status == STATUS_FAILED else result.status
        if _cut_outputs(result.output):
            status = f"{status}, output cut"
        errors = cell_errors(result.output)
        error = "; ".join(errors[:3]) + (f"; and {len(errors) - 3} more" if len(errors) > 3 else "")
        page = render_html(result.output)
        grades.append(Grade(
            submission.student, submission.exercise, points, sum(checks.values()), status, failed,
            # A timeout or a dead kernel is said by the execution; cell errors by the cells.
            error if error and result.status == STATUS_FAILED else (result.error or error),
            str(result.output.relative_to(out_dir)), messages,
            str(page.relative_to(out_dir)) if page is not None else "",
        ))
    write_reports(grades, out_dir)
    return grades


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
