"""Every public entry point of the kit answers bad input with an `fti.FTIError`.

A student or a scheduler should be able to catch "anything the kit refused" with
one ``except fti.FTIError``, and read a message that names what was wrong. So
each test below feeds one entry point one kind of bad input and checks that
the exception is an `FTIError`, of the specific subclass where one fits. A
failure message names the exception that came instead.

The conftest gives every test an empty store in ``FTI_STORE`` (fixtures ``fs`` and ``mr``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

import fti
from fti import cli
from fti.exceptions import (
    FeatureGroupNotFoundError,
    FeatureViewNotFoundError,
    FTIError,
    InvalidNameError,
    InvalidSuiteError,
    ModelNotFoundError,
    ParameterError,
    ParameterTypeError,
    QueryError,
    ScheduleError,
    SchemaError,
    ServingError,
    StoreConfigError,
    TimeTravelError,
)
from fti.run.schedule import load_schedule
from fti.teach import synthetic
from systems import titanic

BOARDED = pd.Timestamp("2024-01-01 12:00", tz="UTC")


@contextmanager
def raises_fti(expected: type[FTIError] = FTIError) -> Iterator[pytest.ExceptionInfo]:
    """Like ``pytest.raises(expected)``, but a wrong exception fails with its class and message.

    Any exception is caught, so a plain ``ValueError`` shows up as a clear
    failure ("expected SchemaError, got ValueError: ...") rather than as an error
    of the test.
    """
    assert issubclass(expected, FTIError)
    with pytest.raises(Exception) as info:  # noqa: B017 - the class is checked below, with a better message
        yield info
    got = info.value
    assert isinstance(got, expected), f"expected {expected.__name__}, got {type(got).__name__}: {got}"


@pytest.fixture
def passengers(fs):
    """An online feature group with two rows."""
    fg = fs.get_or_create_feature_group("passengers", version=1, primary_key=["pid"], event_time="boarded_at",
                                        online_enabled=True)
    fg.insert(pd.DataFrame({"pid": [1, 2], "boarded_at": [BOARDED, BOARDED], "fare": [7.25, 71.28]}))
    return fg


# --------------------------------------------------------------------------- opening a store


def test_get_feature_store_on_a_file(tmp_path):
    not_a_folder = tmp_path / "store.txt"
    not_a_folder.write_text("a file, not a store folder")
    with raises_fti(StoreConfigError):
        fti.get_feature_store(not_a_folder)


def test_login_on_a_file(tmp_path):
    not_a_folder = tmp_path / "store.txt"
    not_a_folder.write_text("a file, not a store folder")
    with raises_fti(StoreConfigError):
        fti.login(not_a_folder)


# --------------------------------------------------------------------------- defining a feature group


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"name": "bad name!"}, InvalidNameError),
        ({"name": "passengers", "version": 0}, InvalidNameError),
        ({"name": "passengers", "version": "1"}, InvalidNameError),
        ({"name": "passengers", "primary_key": None}, SchemaError),
        ({"name": "passengers", "primary_key": []}, SchemaError),
        # A string is a sequence of one-letter column names to Python; the store must not take it so.
        ({"name": "passengers", "primary_key": "pid"}, SchemaError),
        ({"name": "passengers", "primary_key": ["pid"], "expectation_suite": "not a suite"}, InvalidSuiteError),
        ({"name": "passengers", "primary_key": ["pid"], "validation_ingestion_policy": "sometimes"}, FTIError),
    ],
    ids=["invalid name", "version 0", "version '1'", "no primary key", "empty primary key",
         "primary key as a string", "not a suite", "unknown policy"],
)
def test_get_or_create_feature_group_rejects(fs, kwargs, expected):
    arguments = {"version": 1, "primary_key": ["pid"], "event_time": "boarded_at", **kwargs}
    with raises_fti(expected):
        fs.get_or_create_feature_group(**arguments)


def test_get_feature_group_unknown(fs):
    with raises_fti(FeatureGroupNotFoundError):
        fs.get_feature_group("nobody_made_this", version=1)


# --------------------------------------------------------------------------- writing and reading


def test_insert_not_a_dataframe(passengers):
    with raises_fti(SchemaError):
        passengers.insert([{"pid": 3, "boarded_at": BOARDED, "fare": 8.05}])


def test_insert_missing_column(passengers):
    with raises_fti(SchemaError):
        passengers.insert(pd.DataFrame({"pid": [3], "boarded_at": [BOARDED]}))


def test_insert_null_key(passengers):
    with raises_fti(SchemaError):
        passengers.insert(pd.DataFrame({"pid": pd.array([None], dtype="Int64"), "boarded_at": [BOARDED],
                                        "fare": [8.05]}))


def test_read_as_of_a_word(passengers):
    with raises_fti(TimeTravelError):
        passengers.read(as_of="yesterday")


def test_select_unknown_feature(passengers):
    with raises_fti(QueryError):
        passengers.select(["nope"])


# --------------------------------------------------------------------------- feature views and serving


def test_get_feature_view_unknown(fs):
    with raises_fti(FeatureViewNotFoundError):
        fs.get_feature_view("nobody_made_this", version=1)


def test_feature_vector_without_its_key(fs, passengers):
    view = fs.get_or_create_feature_view("fares", version=1, query=passengers.select(["fare"]))
    with raises_fti(ServingError):
        view.get_feature_vector({"passenger": 1})


# --------------------------------------------------------------------------- model registry


def test_get_model_with_version_and_alias(mr):
    with raises_fti():
        mr.get_model("m", version=1, alias="production")


def test_get_model_unknown(mr):
    with raises_fti(ModelNotFoundError):
        mr.get_model("unknown")


# --------------------------------------------------------------------------- schedules and the command line


@pytest.mark.parametrize(
    "text",
    [
        "pipelines: [unclosed\n",
        "- just\n- a list\n",
        "system: demo\npipelines: []\n",
        "system: demo\nsurprise: 1\npipelines:\n  - notebook: a\n    schedule: daily\n",
        "system: demo\npipelines:\n  - notebook: a\n    schedule: fortnightly\n",
        "system: demo\npipelines:\n  - notebook: missing\n    schedule: daily\n",
        "system: demo\nstart: 2026-13-01\npipelines:\n  - notebook: a\n    schedule: daily\n",
    ],
    ids=["invalid yaml", "not a mapping", "no pipelines", "unknown field", "unknown schedule",
         "missing notebook", "bad start date"],
)
def test_load_schedule_malformed(tmp_path, text):
    (tmp_path / "a.ipynb").write_text("{}")
    schedule_file = tmp_path / "pipelines.yml"
    schedule_file.write_text(text)
    with raises_fti(ScheduleError):
        load_schedule(schedule_file)


def test_load_schedule_unknown_system(tmp_path):
    with raises_fti(ScheduleError):
        load_schedule("no_such_system", notebooks_dir=tmp_path)


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "titanic", "--date", "2026-13-01"],
        ["run", "titanic", "--start", "05/01/2026", "--days", "3"],
        ["run", "no_such_system", "--date", "2026-01-05"],
    ],
    ids=["bad --date", "bad --start", "unknown system"],
)
def test_cli_bad_input_is_one_line_and_exit_code_2(argv, capsys):
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE == 2
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


# --------------------------------------------------------------------------- the clock


def test_now_with_a_malformed_fixed_clock(monkeypatch):
    monkeypatch.setenv("FTI_NOW", "soon")
    with raises_fti():
        fti.now()


# --------------------------------------------------------------------------- synthetic data


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda: synthetic.rng_for_date("2024-02-30", 1), ParameterError),
        (lambda: synthetic.rng_for_date(20240501, 1), ParameterTypeError),
        (lambda: synthetic.rng_for_date("2024-05-01", -1), ParameterError),
        (lambda: synthetic.seed_salt(""), ParameterError),
        (lambda: synthetic.DailyIdBlocks(first_day="2020-01-01", ids_per_day=0), ParameterError),
        (lambda: synthetic.DailyIdBlocks(first_day="2020-01-01", ids_per_day=10).first_id("2019-12-31"),
         ParameterError),
        (lambda: synthetic.DailyIdBlocks(first_day="2020-01-01", ids_per_day=10).first_id("2020-01-02", 11),
         ParameterError),
        (lambda: synthetic.drift_start("next week"), ParameterError),
        (lambda: synthetic.drift_from_parameters(synthetic.DriftSwitch, "2024/05/10"), ParameterError),
        (lambda: synthetic.numbers_from_text("0.5,x", "class_mix"), ParameterError),
        (lambda: synthetic.as_finite_float(float("inf"), "age_shift"), ParameterError),
    ],
    ids=["impossible date", "date as a number", "negative salt", "empty salt tag", "empty id block",
         "day before the first", "too many ids", "drift start", "drift from parameters", "numbers",
         "infinite number"],
)
def test_synthetic_rejects_bad_parameters(call, expected):
    with raises_fti(expected):
        call()


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda: titanic.drift_from_parameters("10/05/2024"), ParameterError),
        (lambda: titanic.drift_from_parameters("2024-05-10", class_mix="0.6,0.3"), ParameterError),
        (lambda: titanic.Drift(start="2024-05-10", age_shift=float("nan")), ParameterError),
        (lambda: titanic.first_passenger_id("1999-12-31"), ParameterError),
        (lambda: titanic.generate_passengers("2024-05-01", 0, first_id=1), ParameterError),
        (lambda: titanic.generate_passengers("2024-05-01", 5, first_id="7"), ParameterTypeError),
        (lambda: titanic.class_fares("2026-03-01", 0), ParameterError),
    ],
    ids=["drift start", "class mix", "age shift", "first id", "no passengers", "first id as text", "no fares"],
)
def test_titanic_rejects_bad_parameters(call, expected):
    with raises_fti(expected):
        call()


def test_titanic_bad_passenger_list(tmp_path: Path):
    broken = tmp_path / "titanic.csv"
    broken.write_text("pclass,sex,age,sibsp,parch,survived\n4,female,29,0,0,1\n")
    with raises_fti(SchemaError):
        titanic.load_passengers(broken)
