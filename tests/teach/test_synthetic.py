"""fti.teach.synthetic: date-seeded random numbers, per-day id blocks, and drift from notebook parameters."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from fti.exceptions import FTIError, ParameterError, ParameterTypeError
from fti.teach import synthetic
from fti.teach.synthetic import DailyIdBlocks, DriftSwitch

SALT = synthetic.seed_salt("TEST")

# --------------------------------------------------------------------------- rng_for_date


def test_the_same_date_and_salt_give_the_same_numbers():
    a = synthetic.rng_for_date("2024-05-01", SALT).random(50)
    b = synthetic.rng_for_date(date(2024, 5, 1), SALT).random(50)
    # A datetime counts by its calendar day in UTC.
    late_evening_in_new_york = datetime(2024, 4, 30, 22, 0, tzinfo=timezone(timedelta(hours=-4)))
    c = synthetic.rng_for_date(late_evening_in_new_york, SALT).random(50)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_different_dates_and_salts_give_different_streams():
    draws = {
        (day, salt): tuple(synthetic.rng_for_date(day, salt).random(8))
        for day in ("2024-05-01", "2024-05-02", "2025-05-01")
        for salt in (SALT, synthetic.seed_salt("ELEC"))
    }
    assert len(set(draws.values())) == len(draws)


def test_the_seed_is_the_salt_and_the_date_ordinal():
    # The derivation the Titanic generator has always used; changing it changes every committed output.
    expected = np.random.default_rng(np.random.SeedSequence([0x54495441, date(2024, 5, 1).toordinal()])).random(5)
    actual = synthetic.rng_for_date("2024-05-01", synthetic.seed_salt("TITA")).random(5)
    np.testing.assert_array_equal(actual, expected)
    assert synthetic.seed_salt("TITA") == 0x54495441


def test_a_fresh_process_with_another_hash_seed_draws_the_same_numbers():
    here = repr(synthetic.rng_for_date("2024-05-01", SALT).random(5).tolist())
    code = (
        "from fti.teach import synthetic\n"
        f"print(repr(synthetic.rng_for_date('2024-05-01', {SALT}).random(5).tolist()))\n"
    )
    shared = Path(synthetic.__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(shared), "PYTHONHASHSEED": "4242"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                            check=True)
    assert result.stdout.strip() == here


@pytest.mark.parametrize(
    ("run_date", "salt", "error"),
    [
        ("2024-13-01", SALT, ParameterError),
        ("01/05/2024", SALT, ParameterError),
        ("2024-05-01T10:00", SALT, ParameterError),
        ("20240501", SALT, ParameterError),
        (20240501, SALT, ParameterTypeError),
        ("2024-05-01", -1, ParameterError),
        ("2024-05-01", 1.5, ParameterTypeError),
        ("2024-05-01", True, ParameterTypeError),
    ],
)
def test_rng_for_date_rejects_bad_arguments(run_date, salt, error):
    with pytest.raises(error):
        synthetic.rng_for_date(run_date, salt)


@pytest.mark.parametrize(
    ("tag", "error"), [("", ParameterError), ("TITANIC é", ParameterError), (7, ParameterTypeError)]
)
def test_seed_salt_rejects_bad_tags(tag, error):
    with pytest.raises(error):
        synthetic.seed_salt(tag)


# --------------------------------------------------------------------------- DailyIdBlocks

BLOCKS = DailyIdBlocks(first_day=date(2020, 1, 1), ids_per_day=100, base_id=5000, item="readings")


def test_first_id_comes_from_the_date_alone():
    assert BLOCKS.first_id("2020-01-01") == 5000
    assert BLOCKS.first_id("2020-01-02", 100) == 5100
    assert BLOCKS.first_id(date(2020, 3, 1), 7) == BLOCKS.first_id("2020-03-01") == 5000 + 60 * 100
    assert BLOCKS.ids("2020-01-03", 3) == range(5200, 5203)


def test_blocks_of_different_days_never_overlap():
    days = [date(2020, 2, 20) + timedelta(days=i) for i in range(20)]
    seen: set[int] = set()
    for day in days:
        block = set(BLOCKS.ids(day, BLOCKS.ids_per_day))
        assert not block & seen, day
        seen |= block
    # Adjacent days are adjacent blocks: no gap either.
    assert max(BLOCKS.ids(days[0], 100)) + 1 == BLOCKS.first_id(days[1])


def test_blocks_normalise_their_first_day():
    assert DailyIdBlocks(first_day="2020-01-01", ids_per_day=100, base_id=5000, item="readings") == BLOCKS


@pytest.mark.parametrize(
    ("run_date", "n", "error", "match"),
    [
        ("2020-01-05", 0, ParameterError, "readings per day must be between 1 and 100"),
        ("2020-01-05", 101, ParameterError, "between 1 and 100"),
        ("2020-01-05", 2.0, ParameterTypeError, "readings per day must be an integer"),
        ("2019-12-31", 1, ParameterError, "2019-12-31 is before 2020-01-01"),
        ("2020-1-5", 1, ParameterError, "YYYY-MM-DD"),
        (None, 1, ParameterTypeError, "run_date"),
    ],
)
def test_first_id_rejects_bad_arguments(run_date, n, error, match):
    with pytest.raises(error, match=match):
        BLOCKS.first_id(run_date, n)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"first_day": "2020-01-01", "ids_per_day": 0}, ParameterError),
        ({"first_day": "2020-01-01", "ids_per_day": 10, "base_id": -1}, ParameterError),
        ({"first_day": "Jan 1st", "ids_per_day": 10}, ParameterError),
        ({"first_day": "2020-01-01", "ids_per_day": "10"}, ParameterTypeError),
    ],
)
def test_blocks_reject_bad_definitions(kwargs, error):
    with pytest.raises(error):
        DailyIdBlocks(**kwargs)


# --------------------------------------------------------------------------- drift


@dataclass(frozen=True)
class DemandDrift(DriftSwitch):
    """A made-up system's drift: demand scaled from ``start`` on."""

    scale: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self._normalise("scale", synthetic.as_finite_float(self.scale, "DemandDrift scale"))


@pytest.mark.parametrize("start", ["", "   ", None])
def test_drift_is_off_without_a_start_date(start):
    assert synthetic.drift_start(start) is None
    # Off means off: the other settings are not even looked at.
    assert synthetic.drift_from_parameters(DemandDrift, start, scale="not checked") is None


def test_drift_is_on_from_its_start_date():
    drift = synthetic.drift_from_parameters(DemandDrift, " 2024-05-10 ", scale=2)
    assert drift == DemandDrift(start=date(2024, 5, 10), scale=2.0)
    assert isinstance(drift.scale, float)
    assert not drift.applies_to("2024-05-09")
    assert drift.applies_to("2024-05-10") and drift.applies_to(date(2024, 6, 1))
    assert synthetic.drift_start("2024-05-10") == date(2024, 5, 10)


@pytest.mark.parametrize(
    ("start", "settings", "error", "match"),
    [
        ("10/05/2024", {}, ParameterError, "10/05/2024"),
        (20240510, {}, ParameterTypeError, "drift start"),
        ("2024-05-10", {"scale": float("nan")}, ParameterError, "scale must be finite"),
        ("2024-05-10", {"scale": "2"}, ParameterTypeError, "scale must be a number"),
    ],
)
def test_drift_from_parameters_rejects_bad_parameters(start, settings, error, match):
    with pytest.raises(error, match=match):
        synthetic.drift_from_parameters(DemandDrift, start, **settings)


def test_drift_from_parameters_needs_a_drift_switch_class():
    with pytest.raises(ParameterTypeError, match="DriftSwitch"):
        synthetic.drift_from_parameters(dict, "2024-05-10")


def test_numbers_from_text():
    assert synthetic.numbers_from_text("0.6, 0.3 ,0.1", "class_mix", count=3) == (0.6, 0.3, 0.1)
    assert synthetic.numbers_from_text("1,2", "weights") == (1.0, 2.0)
    assert synthetic.numbers_from_text("", "class_mix", count=3) is None
    assert synthetic.numbers_from_text(None, "class_mix") is None


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [
        ("a,b,c", ParameterError, "class_mix 'a,b,c' is not 3 comma-separated numbers"),
        ("0.6;0.3;0.1", ParameterError, "class_mix"),
        ("0.5,0.5", ParameterError, "must have 3"),
        ("0.5,nan,0.5", ParameterError, "finite"),
        (0.5, ParameterTypeError, "class_mix"),
    ],
)
def test_numbers_from_text_rejects_bad_text(text, error, match):
    with pytest.raises(error, match=match):
        synthetic.numbers_from_text(text, "class_mix", count=3)


# --------------------------------------------------------------------------- the errors themselves


def test_bad_parameters_are_fti_errors_and_the_usual_python_errors():
    # One `except FTIError` catches them; code written for ValueError/TypeError still works.
    with pytest.raises(FTIError):
        synthetic.as_date("tomorrow", "run_date")
    with pytest.raises(ValueError):
        synthetic.as_date("tomorrow", "run_date")
    with pytest.raises(TypeError):
        synthetic.as_int(True, "n")
    with pytest.raises(ParameterError):
        synthetic.as_int(2.0, "n")
    assert issubclass(ParameterTypeError, ParameterError)


def test_as_helpers_accept_numpy_numbers():
    assert synthetic.as_int(np.int64(7), "n") == 7
    assert synthetic.as_finite_float(np.float32(0.5), "x") == 0.5
    assert synthetic.as_finite_float(3, "x") == 3.0
