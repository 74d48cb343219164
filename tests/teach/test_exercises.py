"""Exercises: generated student copies, restored checks, and batch grading of good and bad submissions.

Grading executes notebooks through the run layer (`fti.run.executors`); those
tests are marked slow (``pytest -m "not slow"`` leaves them out).
"""

from __future__ import annotations

import csv
import shutil

import nbformat
import pytest

from fti.exceptions import ExerciseError
from fti.paths import REPO_ROOT
from fti.run.executors import LocalExecutor
from fti.teach import exercises

MASTERS = exercises.masters()


def test_there_is_an_exercise_per_pipeline():
    names = [path.stem for path in MASTERS]
    for pipeline in ("feature", "training", "inference", "monitoring"):
        assert any(pipeline in name for name in names), f"no exercise for the {pipeline} pipeline in {names}"


def test_student_copies_are_up_to_date():
    assert exercises.outdated() == [], "run `fti exercises build` and commit exercises/student/"


def test_build_is_idempotent(tmp_path):
    source, student = tmp_path / "source", tmp_path / "student"
    shutil.copytree(exercises.SOURCE_DIR, source)
    exercises.build(source, student)
    first = {path.name: path.read_bytes() for path in student.glob("*.ipynb")}
    (student / "99_orphan.ipynb").write_text("{}")
    exercises.build(source, student)
    assert {path.name: path.read_bytes() for path in student.glob("*.ipynb")} == first
    assert exercises.outdated(source, student) == []


@pytest.mark.parametrize("master", MASTERS, ids=lambda path: path.stem)
def test_student_copy_has_no_solutions_or_hidden_checks(master):
    notebook = nbformat.read(master, as_version=4)
    student = exercises.student_version(notebook)
    text = nbformat.writes(student)
    assert exercises.BEGIN_SOLUTION not in text and exercises.END_SOLUTION not in text
    assert "raise NotImplementedError()" in text
    assert not any(exercises.HIDDEN_TAG in cell.metadata.get("tags", []) for cell in student.cells)
    hidden = [cell for cell in notebook.cells if exercises.HIDDEN_TAG in cell.metadata.get("tags", [])]
    assert hidden, f"{master.name} has no hidden checks"
    visible = [cell.id for cell in notebook.cells if exercises.CHECK_TAG in cell.metadata.get("tags", [])]
    assert visible == [cell.id for cell in student.cells if exercises.CHECK_TAG in cell.metadata.get("tags", [])]


def test_grading_restores_edited_and_deleted_checks():
    master = nbformat.read(MASTERS[0], as_version=4)
    submission = exercises.student_version(master)
    checks = [cell for cell in submission.cells if exercises.CHECK_TAG in cell.metadata.get("tags", [])]
    checks[0].source = "print('all good, trust me')"
    submission.cells.remove(checks[1])
    graded = exercises.grading_version(master, submission)
    master_checks = [cell for cell in master.cells if {"check", "hidden-check"} & set(cell.metadata.get("tags", []))]
    graded_by_id = {cell.id: cell for cell in graded.cells}
    for cell in master_checks:
        assert graded_by_id[cell.id].source == cell.source
    # Restored cells keep the master's order.
    order = [cell.id for cell in graded.cells]
    assert order == sorted(order, key=[c.id for c in master.cells].index)


def test_unbalanced_markers_are_refused():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1")])
    with pytest.raises(ExerciseError, match="never closed"):
        exercises.student_version(notebook, "broken.ipynb")


def test_bad_submission_folders_are_exercise_errors(tmp_path):
    with pytest.raises(ExerciseError, match="the submissions folder .*missing does not exist"):
        exercises.grade(tmp_path / "missing", tmp_path / "out", progress=False)
    (tmp_path / "file").write_text("")
    with pytest.raises(ExerciseError, match="is not a folder"):
        exercises.find_submissions(tmp_path / "file", [])
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    (tmp_path / "subs" / "alice" / "homework.ipynb").write_text("{}")
    with pytest.raises(ExerciseError, match="homework.ipynb matches no exercise"):
        exercises.find_submissions(tmp_path / "subs", ["01_feature_pipeline"])


def _submit(folder, student, master, edit=None):
    notebook = nbformat.read(master, as_version=4)
    if edit is not None:
        edit(notebook)
    target = folder / student / master.name
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)


def _first_solution(notebook):
    return next(cell for cell in notebook.cells if exercises.BEGIN_SOLUTION in cell.source)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """One batch: full solutions, untouched student copies, and misbehaving submissions."""
    root = tmp_path_factory.mktemp("grading")
    submissions = root / "submissions"
    for master in MASTERS:
        _submit(submissions, "teacher", master)
        _submit(submissions, "untouched", exercises.STUDENT_DIR / master.name)
    monitoring = next(path for path in MASTERS if "monitoring" in path.name)

    def vandalise(notebook):
        _first_solution(notebook).source += (
            "\nimport os, pathlib\n"
            "for name in os.listdir('.'):\n"
            "    path = pathlib.Path(name)\n"
            "    path.unlink() if path.is_file() else None\n"
            "pathlib.Path('../../notebooks').mkdir(parents=True, exist_ok=True)\n"
            "pathlib.Path('../../notebooks/HACKED.txt').write_text('x')\n"
        )

    def chatter(notebook):
        _first_solution(notebook).source += "\nprint('x' * 12_000_000)\n"

    _submit(submissions, "vandal", monitoring, vandalise)
    _submit(submissions, "chatty", monitoring, chatter)
    with LocalExecutor(workers=2) as executor:
        grades = exercises.grade(submissions, root / "out", timeout=240, executor=executor, progress=False)
    return root, {(g.student, g.exercise): g for g in grades}


@pytest.mark.slow
def test_masters_score_full_marks(graded):
    _, grades = graded
    for master in MASTERS:
        grade = grades[("teacher", master.stem)]
        assert grade.status == "ok", grade.error
        assert grade.points == grade.max_points > 0, grade.failed_checks


@pytest.mark.slow
def test_untouched_student_copies_score_zero_without_crashing(graded):
    _, grades = graded
    for master in MASTERS:
        grade = grades[("untouched", master.stem)]
        assert grade.points == 0, f"{master.stem}: an untouched copy scored {grade.points}"
        assert grade.status in ("ok", "error")
        assert len(grade.failed_checks) == len(exercises.checks_of(nbformat.read(master, as_version=4)))


@pytest.mark.slow
def test_a_submission_cleaning_its_folder_keeps_its_score_and_cannot_reach_the_project(graded):
    root, grades = graded
    grade = grades[("vandal", "04_monitoring_drift_check")]
    assert grade.points == grade.max_points, grade.failed_checks
    assert not (REPO_ROOT / "notebooks" / "HACKED.txt").exists()
    assert list(root.rglob("HACKED.txt")), "the relative write should have landed inside the grading folder"


@pytest.mark.slow
def test_megabytes_of_output_are_cut_and_still_scored(graded):
    root, grades = graded
    grade = grades[("chatty", "04_monitoring_drift_check")]
    assert "output cut" in grade.status
    assert grade.points == grade.max_points
    assert (root / "out" / grade.notebook).stat().st_size < exercises.MAX_NOTEBOOK_BYTES


@pytest.mark.slow
def test_reports_list_every_submission(graded):
    root, grades = graded
    with (root / "out" / "grades.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(grades)
    assert {(row["student"], row["exercise"]) for row in rows} == set(grades)
    page = (root / "out" / "grades.html").read_text()
    assert "teacher" in page and "untouched" in page


@pytest.mark.slow
def test_an_infinite_loop_times_out(tmp_path):
    monitoring = next(path for path in MASTERS if "monitoring" in path.name)

    def loop(notebook):
        _first_solution(notebook).source += "\nwhile True:\n    pass\n"

    _submit(tmp_path / "submissions", "looper", monitoring, loop)
    with LocalExecutor(workers=1) as executor:
        [grade] = exercises.grade(tmp_path / "submissions", tmp_path / "out", timeout=20, executor=executor,
                                  progress=False)
    assert grade.status == "timeout"
    assert grade.points == 0
