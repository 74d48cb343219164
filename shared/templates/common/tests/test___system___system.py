"""The __System__ system works: a sound shape, a source adapter that keeps its contract, a few days of operation.

Written by ``fti new __system__``; keep it passing as the system grows, and add
tests of your own next to it. Everything here reads the source adapter's
recorded fixture, never the live source, so it runs offline and gives the same
result every time. The slow tests execute the notebooks (``-m "not slow"`` skips them).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

import fti
from fti.run import runner
from fti.run.schedule import load_schedule
from fti.store.storage import Store
from fti.teach import shape
from systems import __system__

SYSTEM = "__system__"
# This file is tests/systems/SYSTEM/test_SYSTEM_system.py: the project is three folders up.
NOTEBOOKS = Path(__file__).resolve().parents[3] / "notebooks" / SYSTEM
DAYS = 3


def test_the_shape_is_sound() -> None:
    report = shape.check_system(NOTEBOOKS, run=False)
    assert report.ok, report.text()


def test_the_fixture_covers_the_backfill_and_the_simulated_days() -> None:
    schedule = load_schedule(NOTEBOOKS)
    history = __system__.backfill(schedule.start, data_source="fixture")
    last = schedule.start + dt.timedelta(days=DAYS - 1)
    new = __system__.pull(history[__system__.EVENT_TIME].max(), last, data_source="fixture")
    assert not history.empty
    assert sorted(new[__system__.EVENT_TIME].dt.date.unique()) == [
        schedule.start + dt.timedelta(days=offset) for offset in range(DAYS)]


def test_pull_returns_only_what_is_new() -> None:
    history = __system__.backfill("2026-01-05", 10, data_source="fixture")
    newest = history[__system__.EVENT_TIME].max()
    assert __system__.pull(newest, newest.date(), data_source="fixture").empty
    new = __system__.pull(newest, "2026-01-06", data_source="fixture")
    assert (new[__system__.EVENT_TIME] > newest).all() and not new.empty


def test_features_never_look_ahead() -> None:
    """A day's features must not change when later readings change: only its label may."""
    readings = __system__.backfill("2026-01-05", 30, data_source="fixture")
    cutoff = readings[__system__.EVENT_TIME].min() + pd.Timedelta(days=20)
    later = readings[__system__.EVENT_TIME] > cutoff
    changed = readings.assign(value=readings["value"].where(~later, readings["value"] * 3 + 100))
    before = __system__.add_features(readings)
    after = __system__.add_features(changed)
    known = before[__system__.EVENT_TIME] <= cutoff
    pd.testing.assert_frame_equal(before.loc[known, __system__.FEATURES], after.loc[known, __system__.FEATURES])


@pytest.mark.slow
def test_each_notebook_runs_alone_on_the_fixture(tmp_path: Path) -> None:
    report = shape.check_system(NOTEBOOKS, run=True, work_dir=tmp_path)
    assert report.ok, report.text()


@pytest.mark.slow
def test_a_few_simulated_days_on_the_fixture(tmp_path: Path) -> None:
    schedule = shape.offline_schedule(NOTEBOOKS, tmp_path)
    summary = runner.simulate(schedule, DAYS, store=Store(tmp_path / "store"), runs_dir=tmp_path / "runs",
                              progress=False)
    assert summary.ok, summary.table()

    fs = fti.get_feature_store(tmp_path / "store")
    readings = fs.get_feature_group(f"{SYSTEM}_readings", version=1).read()
    predictions = fs.get_feature_group(f"{SYSTEM}_predictions", version=1).read()
    days = [schedule.start + dt.timedelta(days=offset) for offset in range(DAYS)]
    read_on = readings[__system__.EVENT_TIME].dt.date
    predicted_on = predictions[__system__.EVENT_TIME].dt.date
    # Every simulated day was pulled, and each of its readings got exactly one prediction.
    for day in days:
        assert (read_on == day).sum() > 0, f"no readings for {day}"
        assert sorted(predictions.loc[predicted_on == day, __system__.KEY]) == sorted(
            readings.loc[read_on == day, __system__.KEY]), f"predictions for {day} do not match its readings"
    # Labels arrive a day later: every day but the last has them.
    assert readings.loc[read_on < days[-1], __system__.LABEL].notna().all()
    assert readings.loc[read_on == days[-1], __system__.LABEL].isna().all()
    # The production model was trained through the feature view, with its lineage recorded.
    production = fti.get_model_registry(tmp_path / "store").get_model(SYSTEM, alias="production")
    assert production.feature_view_name == SYSTEM and production.training_dataset_version is not None
    assert set(predictions["model_version"]) == {production.version}
