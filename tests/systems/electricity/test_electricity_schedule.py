"""The electricity schedule (pipelines.yml) and notebook story (story.yml) as committed, without kernels."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator

import nbformat

from fti.paths import NOTEBOOKS_DIR
from fti.run import runner
from fti.run.execute import ExecutionRequest, ExecutionResult
from fti.run.executors import Executor
from fti.run.schedule import load_schedule
from fti.run.story import load_story
from fti.store.storage import Store

FOLDER = NOTEBOOKS_DIR / "electricity"
START = dt.date(2014, 9, 1)


class RecordingExecutor(Executor):
    """Pretends every notebook succeeds and records (run_date, notebook) in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def map_unordered(self, requests: Iterable[ExecutionRequest]) -> Iterator[ExecutionResult]:
        for request in requests:
            self.calls.append((request.parameters["run_date"], request.notebook.stem))
            yield ExecutionResult(request=request, status="ok", started_at=dt.datetime.now(dt.UTC), duration=0.0)

    def names_on(self, day: str) -> list[str]:
        return [name for run_day, name in self.calls if run_day == day]


def test_the_schedule_file_is_valid_as_committed():
    schedule = load_schedule("electricity")
    assert schedule.system == "electricity" and schedule.start == START
    assert [p.name for p in schedule.pipelines] == ["01_feature_backfill", "02_feature_pipeline",
                                                    "03_training_pipeline", "04_batch_inference", "05_monitoring"]
    training = schedule.pipeline("03_training_pipeline")
    assert training.requested_by == ("05_monitoring",) and training.on_request == "next day"


def test_a_simulated_fortnight_features_daily_training_weekly(tmp_path):
    executor = RecordingExecutor()
    summary = runner.simulate(load_schedule("electricity"), 15, store=Store(tmp_path / "store"),
                              runs_dir=tmp_path / "runs", executor=executor, progress=False)
    assert summary.ok
    # Day 1: backfill, the day's features, training (so inference finds a model), inference, monitoring.
    assert executor.names_on("2014-09-01") == ["01_feature_backfill", "02_feature_pipeline", "03_training_pipeline",
                                              "04_batch_inference", "05_monitoring"]
    assert executor.names_on("2014-09-02") == ["02_feature_pipeline", "04_batch_inference", "05_monitoring"]
    training_days = [day for day, name in executor.calls if name == "03_training_pipeline"]
    assert training_days == ["2014-09-01", "2014-09-08", "2014-09-15"]
    assert "06_leak_lesson" not in {name for _, name in executor.calls}


def test_the_story_covers_every_notebook_in_order():
    story = load_story(FOLDER)
    assert story.system == "electricity"
    assert [step.name for step in story.steps] == sorted(path.stem for path in FOLDER.glob("*.ipynb"))
    backfill, features = story.steps[0], story.steps[1]
    assert backfill.run_date == START
    assert features.simulate_before is not None and features.simulate_before.dates[0] == START
    assert features.simulate_before.dates[-1] < dt.date.fromisoformat(features.now[:10])
    assert [step.now for step in story.steps] == sorted(step.now for step in story.steps)


def test_every_notebook_has_one_typed_parameters_cell_with_the_story_s_run_date():
    for path in sorted(FOLDER.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        tagged = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged parameters"
        lines = [line for line in tagged[0].source.splitlines() if line and not line.startswith("#")]
        assert all(": " in line.split("=")[0] and "#" in line for line in lines), f"{path.name}: {lines}"
        assert any(line.startswith("run_date: str = ") for line in lines), path.name
        source = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
        assert "sys.path" not in source and "pip install" not in source and "\ndef " not in source, path.name
