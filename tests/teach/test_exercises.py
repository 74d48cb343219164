"""Exercises: generated student copies, restored checks, own stores, and batch grading of good and bad submissions.

Grading executes notebooks through the run layer (`fti.run.executors`), and a
few tests drive a real kernel or JupyterLab; those tests are marked slow
(``pytest -m "not slow"`` leaves them out).
"""

from __future__ import annotations

import csv
import html
import json
import os
import re
import shutil
import time
import urllib.request

import nbformat
import pytest

import fti
from fti import cli
from fti.exceptions import ExerciseError
from fti.paths import REPO_ROOT
from fti.run.executors import LocalExecutor
from fti.teach import exercises, grading

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
    submission.cells.append(nbformat.v4.new_code_cell("pass", id=checks[0].id))  # a second cell with a check's id
    graded = exercises.grading_version(master, submission)
    master_checks = [cell for cell in master.cells if {"check", "hidden-check"} & set(cell.metadata.get("tags", []))]
    graded_by_id = {cell.id: cell for cell in graded.cells}
    for cell in master_checks:
        # The master's check, behind the line that binds the genuine `check`.
        assert graded_by_id[cell.id].source == f"{grading.GUARD_LINE}\n{cell.source}"
    ids = [cell.id for cell in graded.cells]
    assert len(ids) == len(set(ids)), "each check cell is in the graded copy once"
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


# --------------------------------------------------------------------------- continuing after errors, tasks


def test_student_copies_continue_after_an_error():
    for master in MASTERS:
        student = nbformat.read(exercises.STUDENT_DIR / master.name, as_version=4)
        code = [cell for cell in student.cells if cell.cell_type == "code"]
        assert exercises.CONTINUE_TAG not in code[0].metadata.get("tags", []), "a failing setup cell must stop"
        untagged = [cell.id for cell in code[1:] if exercises.CONTINUE_TAG not in cell.metadata.get("tags", [])]
        assert untagged == [], f"{master.name}: Run All would stop at an error in cells {untagged}"


def test_grading_tags_restored_checks_and_cells_a_student_added():
    master = nbformat.read(MASTERS[0], as_version=4)
    submission = exercises.student_version(master)
    for cell in submission.cells:
        cell.metadata["tags"] = []  # a student removed every tag
    submission.cells.append(nbformat.v4.new_code_cell("print('my own cell')"))
    graded = exercises.grading_version(master, submission)
    code = [cell for cell in graded.cells if cell.cell_type == "code"]
    assert all(exercises.CONTINUE_TAG in cell.metadata.get("tags", []) for cell in code[1:])


def test_producers_name_the_task_that_makes_each_variable():
    master = nbformat.read(exercises.SOURCE_DIR / "01_feature_family_size.ipynb", as_version=4)
    made = exercises.producers(master)
    assert made["passengers"] == made["gx"] == exercises.SETUP
    assert made["add_family_features"] == made["features"] == "task 1"  # ``features`` is made in a check block
    assert made["family_expectations"] == "task 2"
    assert made["family_fg"] == made["commit"] == "task 3"
    assert "out" not in made, "a function's local variables are not notebook variables"


@pytest.mark.parametrize("master", MASTERS, ids=lambda path: path.stem)
def test_every_exercise_starts_in_a_store_of_its_own(master):
    notebook = nbformat.read(master, as_version=4)
    first = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert f'start("{master.stem}")' in first.source, (
        f"{master.name}: its first code cell should call start({master.stem!r}) (fti.teach.exercises)")


@pytest.fixture
def exercise_stores(tmp_path, monkeypatch):
    folder = tmp_path / "exercise-stores"
    monkeypatch.setenv(exercises.EXERCISE_STORES_VARIABLE, str(folder))
    monkeypatch.setattr(grading, "_producers", {})
    return folder


def test_start_points_fti_at_an_emptied_store_of_its_own(exercise_stores, store_path, capsys):
    store = exercise_stores / "01_feature_family_size"
    (store / "models").mkdir(parents=True)
    (store / "models" / "left-over").write_text("from an earlier attempt")
    exercise = exercises.start("01_feature_family_size")
    assert exercise.store == store and store.is_dir() and list(store.iterdir()) == []
    assert fti.get_feature_store().path == store != store_path, "fti.get_feature_store() uses the exercise store"
    assert grading._producers["features"] == "task 1"
    printed = capsys.readouterr().out
    assert str(store) in printed and "emptied now" in printed
    exercises.start("01_feature_family_size", fresh=False)
    assert "kept as it was" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["99_no_such_exercise", "../data", "", None])
def test_start_refuses_an_unknown_or_unsafe_name(exercise_stores, name):
    with pytest.raises(ExerciseError):
        exercises.start(name)
    assert not exercise_stores.exists(), "nothing is created for a name that is refused"


def test_fti_exercises_reset(exercise_stores, capsys):
    for name in ("01_feature_family_size", "02_training_point_in_time"):
        (exercise_stores / name).mkdir(parents=True)
        (exercise_stores / name / "offline.duckdb").write_text("not really")
    assert cli.main(["exercises", "reset", "01_feature_family_size"]) == 0
    assert not (exercise_stores / "01_feature_family_size").exists()
    assert (exercise_stores / "02_training_point_in_time").exists(), "only the named exercise is reset"
    assert cli.main(["exercises", "reset", "01_feature_family_size"]) == 0
    assert "already empty" in capsys.readouterr().out
    assert cli.main(["exercises", "reset", "no_such_exercise"]) == cli.EXIT_USAGE
    assert "there is no exercise 'no_such_exercise'" in capsys.readouterr().err
    assert cli.main(["exercises", "reset"]) == cli.EXIT_USAGE
    assert cli.main(["exercises", "reset", "--all"]) == 0
    assert [path for path in exercise_stores.iterdir() if not path.name.startswith(".")] == []


def test_a_check_explains_what_is_missing_outside_a_notebook(exercise_stores, capsys):
    grading.set_producers({"features": "task 1"})
    with grading.check("uses features", points=2):
        features  # noqa: B018, F821 - the name an earlier task did not make
    with grading.check("a task not done"):
        raise NotImplementedError()
    with grading.check("a plain failure"):
        raise AssertionError("1 + 1 is 2")  # as a check's assert raises it (pytest rewrites a plain one)
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        "✗ uses features [0/2]",
        "    task 1 has not produced `features` yet: run the cells above this check in order (and fix the first "
        "error they show), then this check again",
        "✗ a task not done [0/1]",
        "    not done yet: replace `raise NotImplementedError()` with your code",
        "✗ a plain failure [0/1]",
        "    1 + 1 is 2",
    ]


def test_a_syntax_error_is_named_by_its_cell_and_line_not_a_temporary_file():
    output = {"output_type": "error", "ename": "SyntaxError", "evalue": "invalid syntax (1602438192.py, line 3)",
              "traceback": ["\x1b[36m  Cell \x1b[39m\x1b[32mIn[4], line 3\x1b[39m", "    x = = 1",
                            "SyntaxError: invalid syntax"]}
    assert exercises.describe_cell_error(4, output) == "cell [4], line 3: SyntaxError: invalid syntax"
    raised_elsewhere = {"output_type": "error", "ename": "KeyError", "evalue": "'parc'",
                        "traceback": ["Cell In[7], line 2", "Cell In[3], line 4", "KeyError: 'parc'"]}
    assert exercises.describe_cell_error(7, raised_elsewhere) == (
        "cell [7], line 2 (in the code of cell [3], line 4): KeyError: 'parc'")



def _submit(folder, student, master, edit=None):
    notebook = nbformat.read(master, as_version=4)
    if edit is not None:
        edit(notebook)
    target = folder / student / master.name
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)


def _first_solution(notebook):
    return next(cell for cell in notebook.cells if exercises.BEGIN_SOLUTION in cell.source)


def _cell(notebook, cell_id):
    return next(cell for cell in notebook.cells if cell.get("id") == cell_id)


TRAINING = exercises.SOURCE_DIR / "02_training_point_in_time.ipynb"
# In exercise 02, task 1 (the point-in-time query) and task 2 (the naive join) are independent.
TASK_1_CELL, TASK_2_CELL, TASK_2_CHECKS = "ex02-03", "ex02-06", "ex02-07"
SYNTAX_ERROR_LINE = "def half_written(:"


def _executed_count(path, cell_id):
    return _cell(nbformat.read(path, as_version=4), cell_id).execution_count


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

    def name_error_in_task_1(notebook):
        _cell(notebook, TASK_1_CELL).source = "training_query = build_query(passengers_fg, fares_fg)"

    def syntax_error_in_task_2(notebook):
        _cell(notebook, TASK_2_CELL).source += "\n" + SYNTAX_ERROR_LINE

    def bad_join_in_task_1(notebook):
        _cell(notebook, TASK_1_CELL).source = (
            "def training_query(passengers_fg, fares_fg):\n"
            "    query = passengers_fg.select(['pclass', 'sex', 'age', 'survived'])\n"
            "    return query.join(fares_fg.select(['fare']), on=['sex'])\n")

    _submit(submissions, "vandal", monitoring, vandalise)
    _submit(submissions, "chatty", monitoring, chatter)
    _submit(submissions, "nameerror", TRAINING, name_error_in_task_1)
    _submit(submissions, "syntax", TRAINING, syntax_error_in_task_2)
    _submit(submissions, "badjoin", TRAINING, bad_join_in_task_1)
    scratch = root / "scratch"  # the kernels' folders: two levels below it, a vandal's ../.. lands in it
    scratch.mkdir()
    with LocalExecutor(workers=2) as executor:
        grades = exercises.grade(submissions, root / "out", timeout=240, executor=executor, progress=False,
                                 scratch_dir=scratch)
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
        not_reached = [name for name, message in grade.messages.items() if message.startswith("did not run")]
        assert not_reached == [], f"{master.stem}: the untouched copy stopped before the checks {not_reached}"
        assert all(grade.messages[name] for name in grade.failed_checks), "every failed check says why"


@pytest.mark.slow
def test_an_untouched_task_says_it_is_not_done_and_a_missing_input_names_its_task(graded):
    _, grades = graded
    messages = grades[("untouched", "01_feature_family_size")].messages
    assert messages["family_size is sibsp + parch + 1"].startswith(
        "not done yet: `add_family_features` (your cell [")
    assert messages["travels_alone is True exactly when family_size is 1"].startswith(
        "task 1 has not produced `features` yet")
    assert messages["the feature group holds every passenger with the new features"].startswith(
        "task 3 has not produced `family_fg` yet")
    assert not any("NameError" in message for message in messages.values())


@pytest.mark.slow
def test_a_name_error_in_task_1_does_not_cost_task_2(graded):
    root, grades = graded
    grade = grades[("nameerror", TRAINING.stem)]
    master = nbformat.read(TRAINING, as_version=4)
    task_2 = exercises.checks_of(nbformat.v4.new_notebook(cells=[_cell(master, TASK_2_CHECKS)]))
    assert grade.points == sum(task_2.values()) > 0, grade.messages
    assert set(grade.failed_checks).isdisjoint(task_2)
    assert grade.messages["one row per passenger"].startswith("task 1 has not produced `training_query` yet")
    for name in grade.failed_checks:  # the others miss what the first check makes from training_query
        assert grade.messages[name].startswith("task 1 has not produced `"), grade.messages
    count = _executed_count(root / "out" / grade.notebook, TASK_1_CELL)
    assert grade.status == "error"
    assert grade.error == f"cell [{count}], line 1: NameError: name 'build_query' is not defined"


@pytest.mark.slow
def test_a_syntax_error_names_the_cell_and_line(graded):
    root, grades = graded
    grade = grades[("syntax", TRAINING.stem)]
    master = nbformat.read(TRAINING, as_version=4)
    line = len(_cell(master, TASK_2_CELL).source.splitlines()) + 1
    count = _executed_count(root / "out" / grade.notebook, TASK_2_CELL)
    assert grade.error.startswith(f"cell [{count}], line {line}: SyntaxError: invalid syntax"), grade.error
    assert not re.search(r"\d+\.py", grade.error), "the temporary file IPython compiled the cell as means nothing"
    task_1 = exercises.checks_of(nbformat.v4.new_notebook(cells=[_cell(master, "ex02-04")]))
    assert set(grade.failed_checks).isdisjoint(task_1), "task 1 is right and scores"


@pytest.mark.slow
def test_an_error_raised_inside_the_kit_points_at_the_students_line(graded):
    root, grades = graded
    grade = grades[("badjoin", TRAINING.stem)]
    count = _executed_count(root / "out" / grade.notebook, TASK_1_CELL)
    message = grade.messages["one row per passenger"]
    assert message.startswith(f"your cell [{count}], line 3: `return query.join(fares_fg.select(['fare']), "
                              "on=['sex'])`: QueryError: joining feature group 'exercise_fares' v1"), message
    assert "fti/" not in message and "query.py" not in message


@pytest.mark.slow
def test_a_submission_cleaning_its_folder_keeps_its_score_and_cannot_reach_the_project(graded):
    root, grades = graded
    grade = grades[("vandal", "04_monitoring_drift_check")]
    assert grade.points == grade.max_points, grade.failed_checks
    assert not (REPO_ROOT / "notebooks" / "HACKED.txt").exists()
    assert list((root / "scratch").rglob("HACKED.txt")), "the relative write should have landed in the scratch folder"


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
    for grade in grades.values():
        for name in grade.failed_checks:  # each failed check with what it said
            assert html.escape(grade.messages[name]) in page
        assert grade.html, f"{grade.student}/{grade.exercise}: the executed notebook was not rendered"
        assert f'href="{html.escape(grade.html)}"' in page
        rendered = (root / "out" / grade.html).read_text()
        assert "jp-Notebook" in rendered and grade.exercise.split("_")[0] in rendered
    assert "✗ the feature group holds every passenger" in (
        root / "out" / grades[("untouched", "01_feature_family_size")].html).read_text()


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


# --------------------------------------------------------------------------- a student's kernel, a student's browser


class Kernel:
    """A real IPython kernel, run cell by cell as JupyterLab would."""

    def __init__(self, env: dict, cwd):
        from jupyter_client.manager import start_new_kernel

        self.manager, self.client = start_new_kernel(kernel_name="python3", env=env, cwd=str(cwd))
        # The outcomes the checks showed (`grading.RESULT_MIME`), in order.
        self.outcomes: list[dict] = []

    def run(self, source: str) -> tuple[str, str]:
        """Execute one cell; return its status (``ok`` or ``error``) and everything it printed."""
        printed = []

        def keep(message):
            content = message["content"]
            if message["msg_type"] == "stream":
                printed.append(content["text"])
            elif message["msg_type"] == "display_data" and grading.RESULT_MIME in content["data"]:
                printed.append(content["data"]["text/plain"] + "\n")
                self.outcomes.append(content["data"][grading.RESULT_MIME])
            elif message["msg_type"] == "error":
                printed.append(f"{content['ename']}: {content['evalue']}")

        reply = self.client.execute_interactive(source, timeout=180, output_hook=keep)
        return reply["content"]["status"], "".join(printed)

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.mark.slow
def test_a_wrong_first_attempt_at_exercise_01_then_the_right_one_passes(tmp_path):
    master = nbformat.read(exercises.SOURCE_DIR / "01_feature_family_size.ipynb", as_version=4)
    code = [cell for cell in master.cells if cell.cell_type == "code"]
    task_1 = next(i for i, cell in enumerate(code) if cell.id == "ex01-03")
    right = code[task_1].source
    # A plausible first attempt: family_size as a float, travels_alone as 0/1. Its values pass the
    # visible check of task 1, and task 3 writes the feature group with those column types.
    wrong = right.replace('.astype("int64")', '.astype("float64")').replace(
        'out["family_size"] == 1', '(out["family_size"] == 1).astype("int64")')
    assert wrong != right
    stores = tmp_path / "exercise-stores"
    env = {**os.environ, exercises.EXERCISE_STORES_VARIABLE: str(stores)}
    env.pop("FTI_STORE", None)
    env.pop("FTI_NOW", None)
    kernel = Kernel(env, cwd=exercises.STUDENT_DIR)
    try:
        for index, cell in enumerate(code):
            status, printed = kernel.run(wrong if index == task_1 else cell.source)
            assert status == "ok", f"first attempt, cell {cell.id}: {printed}"
        store = stores / "01_feature_family_size"
        first = fti.get_feature_store(store).get_feature_group("exercise_family", 1)
        assert dict(first.columns)["travels_alone"] == "BIGINT", "the wrong attempt fixed the group's columns"
        first_attempt = len(kernel.outcomes)
        # The right solution, then the cells after it again, in the same kernel and the same store
        # (the first cell, which would empty the store, is not run again).
        for cell in code[task_1:]:
            status, printed = kernel.run(cell.source)
            assert status == "ok", f"second attempt, cell {cell.id}: {printed}"
    finally:
        kernel.close()
    records = kernel.outcomes[first_attempt:]
    assert {record["check"] for record in records} == set(exercises.checks_of(master))
    failed = {record["check"]: record["message"] for record in records if not record["passed"]}
    assert failed == {}, failed
    again = fti.get_feature_store(store).get_feature_group("exercise_family", 1)
    assert dict(again.columns)["travels_alone"] == "BOOLEAN"
    assert again.commit_details()["commit_id"].tolist() == [2], "the group was replaced in the same store"


@pytest.mark.slow
def test_a_graded_check_cell_numbers_its_lines_as_the_master_does(tmp_path):
    env = {**os.environ, grading.GRADED_VARIABLE: "1"}
    kernel = Kernel(env, cwd=tmp_path)
    try:
        kernel.run("check = None  # a student's cell rebinding the name")
        master_cell = 'with check("a lookup", points=1):\n    {}["missing"]'
        status, printed = kernel.run(f"{grading.GUARD_LINE}\n{master_cell}")
    finally:
        kernel.close()
    assert status == "ok", printed
    [outcome] = kernel.outcomes
    assert outcome["message"] == "KeyError: 'missing' (raised by this check, line 2: `{}[\"missing\"]`)", outcome


def _wait_for_an_idle_kernel(base: str, token: str, timeout: float = 90.0) -> None:
    """Wait until JupyterLab's server has a session whose kernel is idle (the notebook's, started on opening)."""
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=5) as answer:
            sessions = json.load(answer)
        if any(session["kernel"]["execution_state"] == "idle" for session in sessions):
            return
        assert time.monotonic() < deadline, f"no idle kernel after {timeout:g} s: {sessions}"
        time.sleep(0.5)


@pytest.mark.slow
def test_run_all_in_jupyterlab_reaches_every_check_of_an_untouched_copy(tmp_path, monkeypatch):
    from browser import browser_page, jupyterlab, require_chromium

    require_chromium()
    root, settings = tmp_path / "lab", tmp_path / "settings"
    root.mkdir()
    settings.mkdir()
    shutil.copy(exercises.STUDENT_DIR / "01_feature_family_size.ipynb", root)
    monkeypatch.setenv(exercises.EXERCISE_STORES_VARIABLE, str(tmp_path / "exercise-stores"))
    last_check = "the feature group holds every passenger with the new features"
    with jupyterlab(root, settings) as url, browser_page(width=1300, height=900) as page:
        base, token = url.split("|")
        page.goto(f"{base}/lab/tree/01_feature_family_size.ipynb?token={token}", wait_until="domcontentloaded")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        # Run All before the notebook's kernel has started makes JupyterLab ask which kernel to start.
        _wait_for_an_idle_kernel(base, token)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        try:
            page.get_by_text(f"✗ {last_check}").wait_for(timeout=120_000)
        except Exception:
            page.screenshot(path=str(tmp_path / "stuck.png"))
            print(f"screenshot of where it stopped: {tmp_path / 'stuck.png'}")
            raise
        page.get_by_text(f"✗ {last_check}").scroll_into_view_if_needed()
        screenshot = tmp_path / "run-all.png"
        page.screenshot(path=str(screenshot))
        print(f"screenshot: {screenshot}")
        outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
    shown = "\n".join(outputs)
    assert "NotImplementedError" in shown, "task 3's cell raised, and Run All went on past it"
    assert "task 3 has not produced `family_fg` yet" in shown
