"""Notebook stories (story.yml) and the in-place notebook build, on the mini system.

Reading and checking story files takes no kernel; the build of the mini
system's notebooks does, and is marked slow.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from fti.exceptions import PipelineFailedError, StoryError
from fti.run import runlog
from fti.run.build import build, execute_in_place, main
from fti.run.story import STORY_FILE, find_stories, load_story, notebook_environment, parse_story, prepare
from fti.store.storage import Store

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"
MINI = NOTEBOOKS / "mini"
MINI_STORY = """
notebooks:
  - notebook: 01_backfill
    now: "2026-01-05T06:00:00Z"
    run_date: 2026-01-05
  - notebook: 02_features.ipynb
    now: "2026-01-07T23:00:00Z"
    simulate_before: {start: 2026-01-05, days: 2}
  - notebook: 03_predict
    now: 2026-01-07T23:05:00Z
"""


@pytest.fixture
def mini(tmp_path) -> Path:
    """A copy of the mini system with a story."""
    folder = tmp_path / "mini"
    shutil.copytree(MINI, folder)
    (folder / STORY_FILE).write_text(MINI_STORY)
    return folder


def test_a_story_is_read_with_its_defaults(mini):
    story = load_story(mini)
    assert story.system == "mini" and story.folder == mini.resolve()
    assert [step.name for step in story.steps] == ["01_backfill", "02_features", "03_predict"]
    backfill, features, predict = story.steps
    assert backfill.run_date == dt.date(2026, 1, 5) and backfill.simulate_before is None
    assert features.simulate_before is not None
    assert features.simulate_before.dates == [dt.date(2026, 1, 5), dt.date(2026, 1, 6)]
    # An unquoted time is read by YAML as a datetime; the story keeps it as ISO text.
    assert predict.now == "2026-01-07T23:05:00+00:00"
    assert story.step_for(mini / "03_predict.ipynb") is predict
    assert load_story(mini / STORY_FILE) == story
    assert find_stories(mini.parent) == [mini]


@pytest.mark.parametrize("document, message", [
    (None, "expected a mapping with a 'notebooks' list, found NoneType"),
    ({"notebooks": []}, "notebooks: expected a non-empty list"),
    ({"notebooks": [{"notebook": "01_backfill"}]}, r"notebooks\[0\] \(01_backfill\): now is missing"),
    ({"notebooks": [{"notebook": "nope", "now": "2026-01-05"}]}, r"notebooks\[0\].notebook: notebook .*nope.ipynb"),
    ({"notebooks": [{"notebook": "01_backfill", "now": "soon"}]}, "'soon' is not an ISO time"),
    ({"notebooks": [{"notebook": "01_backfill", "now": 5}]}, "expected an ISO time"),
    ({"notebooks": [{"notebook": "01_backfill", "now": "2026-01-05", "run_date": "5 Jan"}]},
     r"run_date: '5 Jan' is not a date"),
    ({"notebooks": [{"notebook": "01_backfill", "now": "2026-01-05", "simulate_before": {"days": 2}}]},
     "expected both 'start'"),
    ({"notebooks": [{"notebook": "01_backfill", "now": "2026-01-05",
                     "simulate_before": {"start": "2026-01-01", "days": 0}}]}, r"days: expected a whole number"),
    ({"notebooks": [{"notebook": "01_backfill", "now": "2026-01-05", "when": 1}]}, r"unknown field\(s\) when"),
    ({"notebooks": [{"notebook": "01_backfill", "now": "2026-01-05"}] * 2}, "listed twice"),
    ({"system": "", "notebooks": [{"notebook": "01_backfill", "now": "2026-01-05"}]}, "system: expected a name"),
])
def test_malformed_stories_name_the_file_and_field(mini, document, message):
    with pytest.raises(StoryError, match=message) as caught:
        parse_story(document, mini / STORY_FILE)
    assert str(mini / STORY_FILE) in str(caught.value)


def test_missing_and_unreadable_story_files(tmp_path, mini):
    with pytest.raises(StoryError, match="no story file"):
        load_story(tmp_path)
    story = load_story(mini)
    with pytest.raises(StoryError, match="04_nothing is not one of its notebooks"):
        story.step_for("04_nothing")
    (mini / STORY_FILE).write_text("notebooks: [oops")
    with pytest.raises(StoryError, match=r"not valid YAML: line 1, column 17"):
        load_story(mini)


def test_prepare_records_the_previous_notebook_as_its_days_run(mini, tmp_path):
    story = parse_story({"notebooks": [
        {"notebook": "01_backfill", "now": "2026-01-05T06:00:00Z", "run_date": "2026-01-05"},
        {"notebook": "02_features", "now": "2026-01-05T23:00:00Z"},
        {"notebook": "03_predict", "now": "2026-01-05T23:05:00Z"},
    ]}, mini / STORY_FILE)
    store = Store(tmp_path / "store")
    backfill, features, predict = story.steps
    prepare(story, backfill, store, runs_dir=tmp_path / "runs")
    assert runlog.get_runs(store=store).empty
    prepare(story, features, store, runs_dir=tmp_path / "runs")
    [record] = runlog.get_runs("mini", store=store).to_dict("records")
    assert (record["notebook"], str(record["run_date"])[:10], record["status"]) == ("01_backfill", "2026-01-05", "ok")
    assert str(record["scheduled_at"]).startswith("2026-01-05 06:00:00")
    assert json.loads(record["parameters"]) == {"run_date": "2026-01-05"}
    # Preparing the third notebook records nothing more: the second one has no run_date.
    prepare(story, predict, store, runs_dir=tmp_path / "runs")
    assert len(runlog.get_runs("mini", store=store)) == 1
    assert notebook_environment(predict, store) == {"FTI_STORE": str(store.path), "FTI_NOW": "2026-01-05T23:05:00Z"}


@pytest.mark.slow
def test_build_executes_the_story_in_place(mini, tmp_path):
    untouched = {path.name: nbformat.read(path, as_version=4) for path in mini.glob("*.ipynb")}
    work = tmp_path / "work"
    written = build(load_story(mini), work)
    assert [path.name for path in written] == ["01_backfill.ipynb", "02_features.ipynb", "03_predict.ipynb"]
    for path in written:
        notebook = nbformat.read(path, as_version=4)
        before = untouched[path.name]
        # Only outputs, execution counts and the kernel's language_info change: no papermill bookkeeping.
        assert [(c.id, c.source, c.metadata) for c in notebook.cells] == [
            (c.id, c.source, c.metadata) for c in before.cells]
        assert "papermill" not in notebook.metadata and "language_info" in notebook.metadata
        assert all(cell.outputs and cell.execution_count for cell in notebook.cells[1:]), path.name
    predict = nbformat.read(mini / "03_predict.ipynb", as_version=4)
    assert "at 2026-01-07 23:05:00+00:00" in json.dumps([cell.outputs for cell in predict.cells])

    # The backfill counted as the run of its day, so the simulated days did not run it again.
    log = runlog.get_runs("mini", store=work / "store")
    assert list(zip(log["notebook"], log["run_date"].astype(str).str[:10], strict=True)) == [
        ("01_backfill", "2026-01-05"), ("02_features", "2026-01-05"), ("03_predict", "2026-01-05"),
        ("02_features", "2026-01-06"), ("03_predict", "2026-01-06")]
    assert (log["status"] == "ok").all()
    assert sorted(path.name for path in (work / "runs" / "mini" / "2026-01-05").iterdir()) == [
        "02_features.ipynb", "03_predict.ipynb"]


@pytest.mark.slow
def test_a_failing_notebook_stops_the_build_and_is_left_as_it_was(tmp_path):
    failing = tmp_path / "raises.ipynb"
    shutil.copy(NOTEBOOKS / "raises.ipynb", failing)
    text = failing.read_text()
    with pytest.raises(PipelineFailedError, match="raises.ipynb: failed: cell .* ValueError: broken on purpose"):
        execute_in_place(failing, {"FTI_STORE": str(tmp_path / "store")})
    assert failing.read_text() == text


def test_build_command_reports_a_folder_without_a_story(tmp_path):
    with pytest.raises(SystemExit, match="fti.run.build: error: .*no story file"):
        main([str(tmp_path)])
