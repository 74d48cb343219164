"""One store, one timeline: real-clock work never lands in a simulation (fixed clock, ``FTI_NOW``).

The store records at its first commit whether it follows a simulated clock or
the real one; a simulated store refuses commits and model versions on the real
clock (the store core). `fti run` refuses, before anything runs, a simulation in
a real-clock store and ``--now`` in a simulated one (the run layer). JupyterLab
(``make lab``) works in data/lab-store, so it never meets the simulated data/store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd
import pytest

import fti
from fti.cli import EXIT_USAGE, main
from fti.exceptions import InvalidTimeError, TimelineError
from fti.run import runlog, runner
from fti.run.execute import ExecutionRequest, ExecutionResult
from fti.run.executors import Executor
from fti.run.schedule import load_schedule
from fti.store.storage import Store, current_timeline

MINI = Path(__file__).resolve().parent / "notebooks" / "mini"
SIMULATED_NOW = "2026-01-05T23:00:00Z"


class EnvironmentRecorder(Executor):
    """Pretends every notebook succeeds; keeps the environment each kernel would get."""

    def __init__(self) -> None:
        self.envs: list[dict[str, str | None]] = []

    def map_unordered(self, requests: Iterable[ExecutionRequest]) -> Iterator[ExecutionResult]:
        for request in requests:
            self.envs.append(dict(request.env))
            yield ExecutionResult(request=request, status="ok", started_at=dt.datetime.now(dt.UTC), duration=0.0)


def passengers(fs: fti.FeatureStore):
    return fs.get_or_create_feature_group("passengers", primary_key=["pid"], event_time="boarded")


def rows(first: int) -> pd.DataFrame:
    return pd.DataFrame({"pid": [first, first + 1], "boarded": pd.to_datetime(["2026-01-05", "2026-01-05"], utc=True),
                         "age": [30.0, 40.0]})


def test_a_simulated_store_refuses_a_real_clock_commit_and_writes_nothing(fs, mr, monkeypatch, store_path):
    group = passengers(fs)  # created on the real clock: creating is not committing
    monkeypatch.setenv("FTI_NOW", SIMULATED_NOW)
    group.insert(rows(1))
    assert Store(store_path).recorded_timeline() == "simulated"

    monkeypatch.delenv("FTI_NOW")
    with pytest.raises(TimelineError) as refused:
        group.insert(rows(10))
    message = str(refused.value)
    assert str(store_path) in message and "holds a simulation" in message and "data/lab-store" in message
    assert "Reading this store is fine" in message
    assert len(group.read()) == 2 and len(group.commit_details()) == 1, "nothing written"
    with pytest.raises(TimelineError, match="holds a simulation"):
        mr.create_model("titanic", metrics={"accuracy": 0.8}).save({"weights": [1, 2]})
    assert mr.get_models("titanic") == [] and mr.get_models().empty, "no model version either"
    assert len(group.read()) == 2, "reading is fine"

    # Continuing the simulation is fine.
    monkeypatch.setenv("FTI_NOW", "2026-01-06T23:00:00Z")
    group.insert(rows(10))
    assert len(group.read()) == 4


def test_a_real_clock_store_takes_a_fixed_clock_where_it_is_used_on_purpose(fs, monkeypatch, store_path):
    group = passengers(fs)
    group.insert(rows(1))
    assert Store(store_path).recorded_timeline() == "real"
    # A fixed clock in a real-clock store: the evening of a day `fti run --now` catches up, a test.
    monkeypatch.setenv("FTI_NOW", SIMULATED_NOW)
    group.insert(rows(10))
    assert len(group.commit_details()) == 2 and Store(store_path).recorded_timeline() == "real"


def test_a_malformed_fti_now_is_named_before_any_timeline_question(fs, monkeypatch):
    monkeypatch.setenv("FTI_NOW", "teatime")
    with pytest.raises(InvalidTimeError, match="FTI_NOW='teatime'"):
        current_timeline()
    with pytest.raises(InvalidTimeError, match="FTI_NOW='teatime'"):
        passengers(fs).insert(rows(1))


def real_clock_store(folder: Path) -> Path:
    """A store whose first commit was made on the real clock (as from JupyterLab)."""
    passengers(fti.get_feature_store(folder)).insert(rows(1))
    return folder


def test_fti_run_refuses_to_simulate_in_a_real_clock_store_before_anything_runs(tmp_path):
    schedule = load_schedule(MINI)
    store = Store(real_clock_store(tmp_path / "store"))
    executor = EnvironmentRecorder()
    with pytest.raises(TimelineError, match="fti run mini --start/--days runs on a simulated clock"):
        runner.simulate(schedule, 2, store=store, runs_dir=tmp_path / "runs", executor=executor, progress=False)
    assert executor.envs == [] and runlog.last_request(store, "mini") is None


def test_fti_run_now_refuses_a_simulated_store_and_runs_in_a_real_one(tmp_path, monkeypatch):
    schedule = load_schedule(MINI)
    simulated = Store(tmp_path / "simulated")
    monkeypatch.setenv("FTI_NOW", SIMULATED_NOW)
    passengers(fti.get_feature_store(simulated.path)).insert(rows(1))  # as a simulated notebook would
    monkeypatch.delenv("FTI_NOW")
    executor = EnvironmentRecorder()
    with pytest.raises(TimelineError, match="holds a simulation.*fti run mini --now runs on the real clock"):
        runner.run_date(schedule, None, store=simulated, runs_dir=tmp_path / "runs", executor=executor,
                        progress=False)
    assert executor.envs == []

    real = Store(real_clock_store(tmp_path / "real"))
    operated = EnvironmentRecorder()
    assert runner.run_date(schedule, None, store=real, runs_dir=tmp_path / "runs", executor=operated,
                           progress=False).ok
    assert [env["FTI_NOW"] for env in operated.envs] == [None] * 3, "today, on the real clock"


def test_the_command_reports_a_mixed_timeline_on_one_line(capsys, tmp_path):
    store = real_clock_store(tmp_path / "store")
    assert main(["run", str(MINI), "--days", "1", "--store", str(store), "--runs-dir", str(tmp_path / "runs")]) == (
        EXIT_USAGE)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("fti run: error: the store ")
    assert "follows the real clock" in err
