"""Exercises written once: master copies with solutions, generated student copies, batch grading.

An exercise is one notebook in ``exercises/source/`` (the *master*). In it:

* a solution sits between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines
  in a code cell; the student copy has ``# YOUR CODE HERE`` and
  ``raise NotImplementedError()`` there instead;
* cells tagged ``check`` hold visible checks (`fti.teach.grading.check`), which the
  student runs for feedback;
* cells tagged ``hidden-check`` hold more checks, left out of the student copy
  and put back when grading.

`build` writes the student copies to ``exercises/student/`` (never edit those by
hand; ``fti exercises build`` regenerates them). `grade` executes submissions
through the run layer (`fti.run.execute.ExecutionRequest` handed to an
`fti.run.executors.Executor`, several at once): each gets the master's check
cells restored (visible ones as the master has them, hidden ones inserted where
the master has them), its own working folder and store, and a time limit, and
its checks are scored.

What a submission's isolation is, and is not: it runs in its own kernel
process, in a fresh working folder, with its own feature store (``FTI_STORE``),
``HOME`` pointing at that folder and a time limit; relative paths cannot reach
the project or another submission. It is **not** a security sandbox: the code
runs as the user who grades and can reach any absolute path that user can.
Grade untrusted code inside a container or a virtual machine.
"""

from __future__ import annotations

import ast
import copy
import csv
import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from fti.clock import NOW_VARIABLE
from fti.exceptions import ExerciseError
from fti.paths import REPO_ROOT
from fti.run.execute import STATUS_FAILED, ExecutionRequest
from fti.run.executors import Executor, LocalExecutor
from fti.store.storage import STORE_VARIABLE
from fti.teach.grading import RESULTS_VARIABLE

EXERCISES_DIR = REPO_ROOT / "exercises"
SOURCE_DIR = EXERCISES_DIR / "source"
STUDENT_DIR = EXERCISES_DIR / "student"
BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
CHECK_TAG = "check"
HIDDEN_TAG = "hidden-check"
DEFAULT_TIMEOUT = 180.0
# An executed submission larger than this printed far too much; its outputs are cut.
MAX_NOTEBOOK_BYTES = 5_000_000


def _tags(cell: nbformat.NotebookNode) -> list[str]:
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


def student_version(master: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """The student copy of a master notebook: no solutions, no hidden checks, no outputs."""
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
    student.cells = cells
    return student


def _render(notebook: nbformat.NotebookNode) -> str:
    return nbformat.writes(notebook) + "\n"


def masters(source_dir: Path = SOURCE_DIR) -> list[Path]:
    """The master notebooks, in name order."""
    return sorted(source_dir.glob("*.ipynb"))


def build(source_dir: Path = SOURCE_DIR, student_dir: Path = STUDENT_DIR) -> list[Path]:
    """Write every student copy; remove copies whose master is gone. Returns the copies written.

    Running it twice changes nothing the second time.
    """
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


def grading_version(master: nbformat.NotebookNode, submission: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The submission with the master's check cells restored and its hidden checks inserted.

    Check cells are matched by cell id: a student cannot change or delete a check.
    A restored cell goes right after the cell that precedes it in the master.
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
    """The score of one submission."""

    student: str
    exercise: str
    points: int
    max_points: int
    status: str
    failed_checks: list[str] = field(default_factory=list)
    error: str = ""
    notebook: str = ""


def _score(results_file: Path, declared: dict[str, int]) -> tuple[int, list[str]]:
    passed: dict[str, int] = {}
    if results_file.exists():
        for line in results_file.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a submission writing into the results file gains nothing from it
            name = record.get("check")
            if name in declared and record.get("passed") is True:
                passed[name] = declared[name]
    failed = [name for name in declared if name not in passed]
    return sum(passed.values()), failed


def _cut_outputs(path: Path) -> bool:
    """Shorten a huge executed notebook's outputs in place; True if it had to."""
    if not path.exists() or path.stat().st_size <= MAX_NOTEBOOK_BYTES:
        return False
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


def grade(submissions: Path, out_dir: Path, *, source_dir: Path = SOURCE_DIR, timeout: float = DEFAULT_TIMEOUT,
          executor: Executor | None = None, progress: bool = True) -> list[Grade]:
    """Execute and score every submission; write ``grades.csv`` and ``grades.html`` in ``out_dir``.

    Args:
        submissions: Folder of submissions (see `find_submissions`).
        out_dir: Where the executed notebooks, working folders and reports go.
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
            # The kernel's own store, results file and HOME, and the real clock.
            env={STORE_VARIABLE: str(work / "store"), RESULTS_VARIABLE: str(results), "HOME": str(work),
                 NOW_VARIABLE: None},
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
        points, failed = _score(results_files[(submission.student, submission.exercise)], checks)
        # A submission that raised is graded "error"; "ok" and "timeout" are the execution's own words.
        status = "error" if result.status == STATUS_FAILED else result.status
        if _cut_outputs(result.output):
            status = f"{status}, output cut"
        grades.append(Grade(submission.student, submission.exercise, points, sum(checks.values()), status, failed,
                            result.error or "", str(result.output.relative_to(out_dir))))
    write_reports(grades, out_dir)
    return grades


def write_reports(grades: list[Grade], out_dir: Path) -> None:
    """``grades.csv`` (one row per submission) and ``grades.html`` (totals per student, then details)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "grades.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "exercise", "points", "max", "status", "failed_checks", "error"])
        for g in grades:
            writer.writerow([g.student, g.exercise, g.points, g.max_points, g.status, "; ".join(g.failed_checks),
                             g.error])
    totals: dict[str, list[int]] = {}
    for g in grades:
        total = totals.setdefault(g.student, [0, 0])
        total[0] += g.points
        total[1] += g.max_points
    e = html.escape
    summary = "".join(f"<tr><td>{e(s)}</td><td>{p}</td><td>{m}</td></tr>" for s, (p, m) in sorted(totals.items()))
    details = "".join(
        f"<tr><td>{e(g.student)}</td><td>{e(g.exercise)}</td><td>{g.points}/{g.max_points}</td>"
        f"<td class=\"{re.sub(r'[^a-z]', '', g.status.split(',')[0])}\">{e(g.status)}</td>"
        f"<td>{e('; '.join(g.failed_checks))}</td><td>{e(g.error)}</td>"
        f"<td><a href=\"{e(g.notebook)}\">notebook</a></td></tr>"
        for g in grades
    )
    page = (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Grades</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse;margin-bottom:2rem}"
        "td,th{border-bottom:1px solid #ddd;padding:.25rem .6rem;text-align:left}"
        ".error,.timeout{color:#b00}</style></head><body><h1>Grades</h1>"
        f"<h2>Totals</h2><table><tr><th>student</th><th>points</th><th>max</th></tr>{summary}</table>"
        "<h2>Submissions</h2><table><tr><th>student</th><th>exercise</th><th>score</th><th>status</th>"
        f"<th>failed checks</th><th>error</th><th></th></tr>{details}</table></body></html>\n"
    )
    (out_dir / "grades.html").write_text(page, encoding="utf-8")
