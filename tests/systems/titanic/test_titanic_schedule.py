"""The Titanic's schedule (pipelines.yml) and notebook story (story.yml) as committed, without kernels.

The runner's rules are tested on a generic system in tests/run/test_schedule.py;
this checks that the Titanic's own files say what its README promises: backfill
once, training the first day and then only when monitoring asks for it, features,
inference and monitoring daily, in an order in which inference always finds a model.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator

from fti.paths import NOTEBOOKS_DIR
from fti.run import runner
from fti.run.execute import ExecutionRequest, ExecutionResult
from fti.run.executors import Executor
from fti.run.schedule import load_schedule
from fti.run.story import load_story
from fti.store.storage import Store

FOLDER = NOTEBOOKS_DIR / "titanic"
MONDAY = dt.date(2026, 1, 5)


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
    schedule = load_schedule("titanic")
    assert schedule.system == "titanic" and schedule.start == MONDAY
    assert [p.name for p in schedule.pipelines] == ["01_feature_backfill", "03_training_pipeline",
                                                    "02_feature_pipeline", "04_batch_inference", "05_monitoring"]
    assert all(pipeline.notebook.parent == FOLDER for pipeline in schedule.pipelines)


def test_first_weeks_backfill_once_training_on_request_the_rest_daily(tmp_path):
    schedule = load_schedule("titanic")
    executor = RecordingExecutor()
    summary = runner.simulate(schedule, 15, store=Store(tmp_path / "store"), runs_dir=tmp_path / "runs",
                              executor=executor, progress=False)
    assert summary.ok
    # Day 1: backfill, then training (so inference has a model), then the daily chain.
    assert executor.names_on("2026-01-05") == ["01_feature_backfill", "03_training_pipeline", "02_feature_pipeline",
                                              "04_batch_inference", "05_monitoring"]
    assert executor.names_on("2026-01-06") == ["02_feature_pipeline", "04_batch_inference", "05_monitoring"]
    # Nobody asked for training (these notebooks never run): it ran on the first day only.
    training_days = [day for day, name in executor.calls if name == "03_training_pipeline"]
    assert training_days == ["2026-01-05"]
    training = schedule.pipeline("03_training_pipeline")
    assert training.requested_by == ("05_monitoring",) and training.on_request == "next day"
    assert [name for _, name in executor.calls].count("01_feature_backfill") == 1


def test_the_story_covers_every_notebook_in_order():
    story = load_story(FOLDER)
    assert story.system == "titanic"
    assert [step.name for step in story.steps] == sorted(path.stem for path in FOLDER.glob("*.ipynb"))
    # The backfill counts as the scheduler's run of its day, so the simulated days before
    # the daily notebooks do not run it again; they end the day before the notebooks' evening.
    backfill, features = story.steps[0], story.steps[1]
    assert backfill.run_date == dt.date(2026, 1, 1)
    assert features.simulate_before is not None
    assert features.simulate_before.dates[0] == backfill.run_date
    assert features.simulate_before.dates[-1] < dt.date.fromisoformat(features.now[:10])
    assert [step.now for step in story.steps] == sorted(step.now for step in story.steps)
