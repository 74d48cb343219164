"""Grades a submission cannot forge: real submissions, each trying one trick, graded through `exercises.grade`.

Every submission starts from the untouched student copy of exercise 04 (so its
honest score is 0) and adds cells that try to: take a check's points by
reusing its name (case 10), write "passed" records into a results file (11),
read the masters or the graded copy with its hidden checks (12), and leave a
process running after grading (13). The master solution is graded in the same
batch and must still score full marks. These tests are slow (real kernels).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from fti.run.executors import LocalExecutor
from fti.teach import exercises, grading

pytestmark = pytest.mark.slow

EXERCISE = "04_monitoring_drift_check"
MASTER = exercises.SOURCE_DIR / f"{EXERCISE}.ipynb"
STUDENT_COPY = exercises.STUDENT_DIR / f"{EXERCISE}.ipynb"
TIMEOUT = 90

# Case 10: a check's points taken by its name: with the name `check`, with the module's function
# replaced by one that passes everything, and by showing a result record in a cell of its own.
FORGE_BY_NAME = """
import contextlib
import fti.teach.grading
from IPython.display import publish_display_data

for name, points in {checks!r}.items():
    with check(name, points=points):
        pass
    publish_display_data({{"text/plain": f"✓ {{name}}", {mime!r}: {{
        "check": name, "passed": True, "points": points, "max": points, "message": ""}}}})

@contextlib.contextmanager
def check(name, points=1):  # every check passes, whatever the block raised
    try:
        yield
    except Exception:
        pass
    publish_display_data({{"text/plain": f"✓ {{name}}", {mime!r}: {{
        "check": name, "passed": True, "points": points, "max": points, "message": ""}}}})

fti.teach.grading.check = check
"""

# Case 11: "passed" records appended to the results file the grader used to name in the kernel's environment.
FORGE_RESULTS_FILE = """
import json, os
results = os.environ.get("FTI_GRADING_RESULTS")
print("results file:", results)
if results:
    with open(results, "a") as handle:
        for name, points in {checks!r}.items():
            handle.write(json.dumps({{"check": name, "points": points, "max": points, "passed": True,
                                      "message": ""}}) + "\\n")
"""

# Case 12: look for the masters and the graded copy (hidden checks, solutions) by relative path, in the
# environment, and through the attributes of the kit's modules; print what was found.
SNOOP = """
import json, os, sys
from pathlib import Path

markers = ("### BEGIN " + "SOLUTION", "hidden" + "-check")

def notebooks(place, patterns=("*.ipynb", "*/*.ipynb")):
    try:
        place = Path(place)
        if place.is_file():
            return [place] if place.suffix == ".ipynb" else []
        return [path for pattern in patterns for path in place.glob(pattern)] if place.is_dir() else []
    except (OSError, ValueError):
        return []

candidates = []
# Relative paths: this folder and the one above in full, two levels up (the scratch folder) shallowly, the
# places the grader used to keep the graded copy, the executed notebooks and the results.
candidates += notebooks(".", ("**/*.ipynb",)) + notebooks("..", ("**/*.ipynb",)) + notebooks("../..")
for old in ("../../executed", "../../../executed", "../../work", "../../../work", "../../results"):
    candidates += notebooks(old, ("**/*.ipynb",))
# The kernel's environment.
candidates += [path for value in os.environ.values() if value.startswith(("/", ".")) for path in notebooks(value)]
# Every attribute of the kit's modules that is a path or a string.
attempts = {}
for module_name, module in list(sys.modules.items()):
    if not module_name.startswith(("fti", "systems")) or module is None:
        continue
    for attribute in dir(module):
        try:
            value = getattr(module, attribute)
        except Exception:
            continue
        if isinstance(value, (str, os.PathLike)) and len(str(value)) < 4096:
            candidates += notebooks(value)
from fti.teach import exercises
for attribute in ("SOURCE_DIR", "EXERCISES_DIR", "STUDENT_DIR"):
    try:
        candidates += notebooks(getattr(exercises, attribute))
        attempts[attribute] = "read"
    except AttributeError as error:
        attempts[attribute] = f"refused: {error}"
for function in ("masters_folder", "masters"):
    try:
        found = getattr(exercises, function)()
        candidates += [path for place in (found if isinstance(found, list) else [found]) for path in notebooks(place)]
        attempts[function] = "read"
    except Exception as error:
        attempts[function] = f"refused: {error}"
findings = sorted({str(path.resolve()) for path in candidates
                   if path.is_file() and any(marker in path.read_text(errors="replace") for marker in markers)})
print("SNOOP " + json.dumps({"findings": findings, "attempts": attempts, "cwd": os.getcwd()}))
"""

# Case 13: a child in a session of its own, which the kernel's process group does not include.
SPAWN = """
import subprocess
child = subprocess.Popen(["sleep", "600"], start_new_session=True)
with open({pid_file!r}, "w") as handle:
    handle.write(str(child.pid))
"""
LOOP = "while True:\n    pass\n"


def _submission(folder: Path, student: str, *extra_cells: str, from_master: bool = False,
                at_end: bool = False) -> None:
    """The student copy (or the master) with ``extra_cells`` added after its first cell, or at its end."""
    notebook = nbformat.read(MASTER if from_master else STUDENT_COPY, as_version=4)
    first_code = next(i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code")
    for offset, source in enumerate(extra_cells, start=1):
        cell = nbformat.v4.new_code_cell(source, metadata={"tags": [exercises.CONTINUE_TAG]})
        notebook.cells.insert(len(notebook.cells) if at_end else first_code + offset, cell)
    target = folder / student / f"{EXERCISE}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)


def _alive(pid: int) -> bool:
    """Whether a process runs; a zombie (killed, waiting for its parent to collect it) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("integrity")
    submissions = root / "submissions"
    master = nbformat.read(MASTER, as_version=4)
    visible = {check.name: check.points for check in exercises.declared_checks(master)
               if check.cell_id in {cell.id for cell in nbformat.read(STUDENT_COPY, as_version=4).cells}}
    every = exercises.checks_of(master)  # hidden names too, as if they had leaked
    forge = FORGE_BY_NAME.format(checks=every, mime=grading.RESULT_MIME)
    _submission(submissions, "teacher", from_master=True)
    # After the genuine checks: a forged outcome that comes last is the hardest to tell from a real one.
    _submission(submissions, "namer", forge, FORGE_BY_NAME.format(checks=visible, mime=grading.RESULT_MIME),
                at_end=True)
    _submission(submissions, "namer_early", forge, FORGE_BY_NAME.format(checks=visible, mime=grading.RESULT_MIME))
    _submission(submissions, "appender", FORGE_RESULTS_FILE.format(checks=every), at_end=True)
    _submission(submissions, "snoop", SNOOP)
    _submission(submissions, "spawner", SPAWN.format(pid_file=str(root / "spawner.pid")))
    _submission(submissions, "spawnlooper", SPAWN.format(pid_file=str(root / "spawnlooper.pid")), LOOP)
    # The kernels' folders go in a scratch folder of the test's own, not the shared system temp folder
    # (two levels above a kernel's folder), where anything at all may be lying around.
    scratch = root / "scratch"
    scratch.mkdir()
    with LocalExecutor(workers=2) as executor:
        grades = exercises.grade(submissions, root / "out", timeout=TIMEOUT, executor=executor, progress=False,
                                 scratch_dir=scratch)
    return root, {grade.student: grade for grade in grades}


def _printed(root: Path, grade, prefix: str) -> str:
    """The first line starting with ``prefix`` that the executed submission printed."""
    notebook = nbformat.read(root / "out" / grade.notebook, as_version=4)
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            for line in output.get("text", "").splitlines():
                if line.startswith(prefix):
                    return line[len(prefix):]
    raise AssertionError(f"{grade.student} printed no line starting with {prefix!r}")


def test_the_master_still_scores_full_marks(batch):
    _, grades = batch
    assert grades["teacher"].status == "ok", grades["teacher"].error
    assert grades["teacher"].points == grades["teacher"].max_points > 0, grades["teacher"].messages


@pytest.mark.parametrize("student", ["namer", "namer_early"])
def test_a_check_is_not_credited_by_its_name_or_a_forged_result_record(batch, student):
    _, grades = batch
    grade = grades[student]
    assert grade.points == 0, f"forged checks scored: {grade.messages}"
    # The genuine checks ran (a rebound `check` and a replaced module function were not used)
    # and said what is wrong with the untouched task.
    assert grade.messages["identical samples have PSI 0"].startswith("not done yet"), grade.messages


def test_records_written_into_a_results_file_score_nothing(batch):
    root, grades = batch
    grade = grades["appender"]
    assert grade.points == 0, grade.messages
    assert _printed(root, grade, "results file: ") == "None", "the kernel is told of no results file"


def test_a_submission_finds_neither_the_masters_nor_the_hidden_checks(batch):
    root, grades = batch
    grade = grades["snoop"]
    seen = json.loads(_printed(root, grade, "SNOOP "))
    assert seen["findings"] == [], seen
    for attempt in ("SOURCE_DIR", "EXERCISES_DIR", "STUDENT_DIR", "masters_folder", "masters"):
        assert seen["attempts"][attempt].startswith("refused"), seen["attempts"]
    out = (root / "out").resolve()
    assert not Path(seen["cwd"]).resolve().is_relative_to(out), "the kernel worked inside the output folder"
    # Nothing of the grader's is left behind but the executed notebooks and the reports.
    assert not [path for path in out.iterdir() if path.name.startswith(".grading-")]
    assert list((root / "scratch").iterdir()) == [], "the kernels' folders are removed"


@pytest.mark.parametrize("student", ["spawner", "spawnlooper"])
def test_a_child_in_a_new_session_does_not_outlive_grading(batch, student):
    root, grades = batch
    pid_file = root / f"{student}.pid"
    assert pid_file.exists(), f"{student} did not start its child: {grades[student].error}"
    pid = int(pid_file.read_text())
    assert not _alive(pid), f"{student}'s child {pid} (sleep 600, a session of its own) still runs"
    if student == "spawnlooper":
        assert grades[student].status == "timeout"
