"""Tests for fti.store.validation: suites to and from dicts, validating frames, and staying quiet.

Great Expectations is imported lazily here too (through the `gx` fixture or the module
under test), so the first test in this file, which checks that validation prints
nothing, also covers the first import of GX in this process.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import subprocess
import sys
import warnings
import weakref
from pathlib import Path

import pandas as pd
import pytest

import fti
from fti.exceptions import InvalidSuiteError
from fti.store.validation import ValidationOutcome, suite_from_dict, suite_to_dict, validate

# --------------------------------------------------------------------------- fixtures

FAILING_SUITE = {
    "name": "passengers",
    "expectations": [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "age", "min_value": 0, "max_value": 120}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "name"}},
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "embarked", "value_set": ["S", "C", "Q"]}},
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1, "max_value": 100}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "fare", "min_value": 0, "max_value": 1000}},
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {
                "column": "boarded_at",
                "min_value": "2024-01-01T00:00:00+00:00",
                "max_value": "2024-12-31T23:59:59+00:00",
            },
        },
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "cabin"}},
    ],
}

PASSING_SUITE = {
    "name": "passengers_ok",
    "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "passenger_id"}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "passenger_id"}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "passenger_id", "min_value": 1}},
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 6, "max_value": 6}},
        {"type": "expect_column_values_to_be_in_set",
         "kwargs": {"column": "embarked", "value_set": ["S", "C", "Q", "X"]}},
    ],
}


def passengers() -> pd.DataFrame:
    """Six passengers with pandas 3 dtypes and deliberate problems in several columns."""
    return pd.DataFrame(
        {
            "passenger_id": pd.array([1, 2, 3, 4, 5, 6], dtype="Int64"),
            "age": pd.array([22, 38, 150, None, -1, 150], dtype="Int64"),
            "name": ["Braund", "Cumings", None, "Allen", "Moran", "Heikkinen"],
            "embarked": ["S", "C", "Q", "X", None, "X"],
            "fare": [7.25, 71.28, float("nan"), 8.05, 8.46, 1e6],
            "boarded_at": pd.to_datetime(
                ["2024-04-10 09:00", "2024-04-10 09:30", "2025-01-02 10:00", None, "2024-04-11 08:00",
                 "2024-04-11 08:15"],
                utc=True,
            ).as_unit("us"),
        }
    )


EXPECTED_FAILURES = [
    {
        "expectation": "expect_column_values_to_be_between",
        "column": "age",
        "kwargs": {"column": "age", "min_value": 0.0, "max_value": 120.0},
        "examples": [150, -1],
        "error": None,
    },
    {
        "expectation": "expect_column_values_to_not_be_null",
        "column": "name",
        "kwargs": {"column": "name"},
        "examples": [None],
        "error": None,
    },
    {
        "expectation": "expect_column_values_to_be_in_set",
        "column": "embarked",
        "kwargs": {"column": "embarked", "value_set": ["S", "C", "Q"]},
        "examples": ["X"],
        "error": None,
    },
    {
        "expectation": "expect_column_values_to_be_between",
        "column": "fare",
        "kwargs": {"column": "fare", "min_value": 0.0, "max_value": 1000.0},
        "examples": [1000000.0],
        "error": None,
    },
    {
        "expectation": "expect_column_values_to_be_between",
        "column": "boarded_at",
        "kwargs": {
            "column": "boarded_at",
            "min_value": "2024-01-01T00:00:00+00:00",
            "max_value": "2024-12-31T23:59:59+00:00",
        },
        "examples": ["2025-01-02T10:00:00+00:00"],
        "error": None,
    },
    {
        "expectation": "expect_column_values_to_not_be_null",
        "column": "cabin",
        "kwargs": {"column": "cabin"},
        "examples": [],
        "error": 'Error: The column "cabin" in BatchData does not exist.',
    },
]


@pytest.fixture(scope="module")
def gx():
    """The great_expectations package, imported once, on first use."""
    import great_expectations

    return great_expectations


def failing_suite_object(gx):
    """FAILING_SUITE built from GX expectation classes, the way a student would write it."""
    e = gx.expectations
    return gx.ExpectationSuite(
        name="passengers",
        expectations=[
            e.ExpectColumnValuesToBeBetween(column="age", min_value=0, max_value=120),
            e.ExpectColumnValuesToNotBeNull(column="name"),
            e.ExpectColumnValuesToBeInSet(column="embarked", value_set=["S", "C", "Q"]),
            e.ExpectTableRowCountToBeBetween(min_value=1, max_value=100),
            e.ExpectColumnValuesToBeBetween(column="fare", min_value=0, max_value=1000),
            e.ExpectColumnValuesToBeBetween(
                column="boarded_at",
                min_value="2024-01-01T00:00:00+00:00",
                max_value="2024-12-31T23:59:59+00:00",
            ),
            e.ExpectColumnValuesToNotBeNull(column="cabin"),
        ],
    )


def keys_anywhere(value) -> set[str]:
    """Every dict key at any depth of a JSON-like value."""
    if isinstance(value, dict):
        return set(value).union(*(keys_anywhere(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(keys_anywhere(v) for v in value))
    return set()


# ------------------------------------------------------------------------ no output
# First in the file on purpose: when run in order, this also covers GX's first import.


def test_validate_prints_nothing_at_fd_level(capfd):
    capfd.readouterr()  # drop anything earlier tests or collection printed
    outcome = validate(passengers(), FAILING_SUITE, name="passengers_v1")
    suite_to_dict(FAILING_SUITE)
    validate(passengers(), PASSING_SUITE, name="passengers_v1")
    captured = capfd.readouterr()
    assert not outcome.success  # the run did go through GX's failure paths, incl. an error
    assert captured.out == ""
    assert captured.err == ""


def test_capfd_would_see_gx_progress_bars_if_they_were_on(capfd, gx):
    """Control for the test above: a GX context with default settings does print."""
    from great_expectations.data_context import EphemeralDataContext
    from great_expectations.data_context.data_context.context_factory import project_manager
    from great_expectations.data_context.types.base import DataContextConfig, InMemoryStoreBackendDefaults

    context = EphemeralDataContext(
        project_config=DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False))
    )
    batch = (
        context.data_sources.add_pandas("control")
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": passengers()})
    )
    try:
        previous = project_manager.get_current_project()
    except gx.exceptions.DataContextRequiredError:
        previous = None
    project_manager.set_project(context)
    capfd.readouterr()
    try:
        batch.validate(suite_from_dict(PASSING_SUITE))
    finally:
        project_manager.set_project(previous)
    assert "Calculating Metrics" in capfd.readouterr().err


# ----------------------------------------------------------------------- lazy import


def test_importing_the_module_does_not_import_great_expectations():
    shared = str(Path(fti.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [shared, os.environ.get("PYTHONPATH")]))}
    code = ("import sys, fti.store.validation; "
            "print(sorted(m for m in sys.modules if m.startswith('great_expectations')))")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"
    assert done.stderr == ""


# -------------------------------------------------------------------------- validate


def test_frame_uses_pandas_3_dtypes():
    dtypes = {column: str(dtype) for column, dtype in passengers().dtypes.items()}
    assert dtypes == {
        "passenger_id": "Int64",
        "age": "Int64",
        "name": "str",
        "embarked": "str",
        "fare": "float64",
        "boarded_at": "datetime64[us, UTC]",
    }


def test_passing_suite():
    outcome = validate(passengers(), PASSING_SUITE, name="passengers_v1")
    assert isinstance(outcome, ValidationOutcome)
    assert outcome.success is True
    assert outcome.evaluated == 5
    assert outcome.failures == []
    assert outcome.report["success"] is True
    assert outcome.report["statistics"] == {
        "evaluated_expectations": 5,
        "successful_expectations": 5,
        "unsuccessful_expectations": 0,
        "success_percent": 100.0,
    }


def test_failing_suite_reports_exact_failures_and_examples():
    outcome = validate(passengers(), FAILING_SUITE, name="passengers_v1")
    assert outcome.success is False
    assert outcome.evaluated == 7
    assert outcome.failures == EXPECTED_FAILURES


def test_examples_are_plain_python_and_strict_json():
    outcome = validate(passengers(), FAILING_SUITE, name="passengers_v1")
    for failure in outcome.failures:
        assert len(failure["examples"]) <= 5
        for value in failure["examples"]:
            assert type(value) in (int, float, str, bool, type(None)), (failure["column"], type(value))
    # allow_nan=False: a NaN or a numpy scalar anywhere would make this raise
    json.dumps(outcome.failures, allow_nan=False)
    json.dumps(outcome.report, allow_nan=False)


def test_examples_are_distinct_and_at_most_five():
    df = pd.DataFrame({"n": pd.array([200, 200, 201, 202, 203, 204, 205, 206, 1], dtype="Int64")})
    suite = {"name": "s", "expectations": [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "n", "min_value": 0, "max_value": 10}},
    ]}
    [failure] = validate(df, suite, name="numbers").failures
    assert failure["examples"] == [200, 201, 202, 203, 204]


def test_report_content_for_one_expectation():
    outcome = validate(passengers(), FAILING_SUITE, name="passengers_v1")
    report = outcome.report
    assert report["suite_name"] == "passengers"
    assert report["success"] is False
    assert report["statistics"]["evaluated_expectations"] == 7
    assert report["statistics"]["unsuccessful_expectations"] == 6
    assert [entry["type"] for entry in report["results"]] == [e["type"] for e in FAILING_SUITE["expectations"]]
    age = report["results"][0]
    assert age["kwargs"] == {"column": "age", "min_value": 0.0, "max_value": 120.0}
    assert age["success"] is False
    assert age["result"]["unexpected_count"] == 3
    assert age["result"]["partial_unexpected_list"] == [150, -1, 150]
    row_count = report["results"][3]
    assert row_count["success"] is True
    assert row_count["result"]["observed_value"] == 6


def test_report_is_deterministic_across_calls_and_equal_suites(gx):
    first = validate(passengers(), FAILING_SUITE, name="passengers_v1").report
    second = validate(passengers(), FAILING_SUITE, name="passengers_v1").report
    from_object = validate(passengers(), failing_suite_object(gx), name="passengers_v1").report
    from_other_object = validate(passengers(), failing_suite_object(gx), name="passengers_v1").report
    text = json.dumps(first, sort_keys=True)
    assert json.dumps(second, sort_keys=True) == text
    assert json.dumps(from_object, sort_keys=True) == text
    assert json.dumps(from_other_object, sort_keys=True) == text
    assert not keys_anywhere(first) & {"id", "run_id", "batch_id", "validation_time", "ge_load_time"}


def test_kwargs_in_failures_have_no_batch_id():
    for failure in validate(passengers(), FAILING_SUITE, name="passengers_v1").failures:
        assert "batch_id" not in failure["kwargs"]


def test_empty_suite_passes():
    outcome = validate(passengers(), {"name": "empty", "expectations": []}, name="passengers_v1")
    assert (outcome.success, outcome.evaluated, outcome.failures) == (True, 0, [])


def test_validate_does_not_modify_the_suite_object(gx):
    suite = failing_suite_object(gx)
    before = suite_to_dict(suite)
    validate(passengers(), suite, name="passengers_v1")
    assert suite_to_dict(suite) == before
    assert all(expectation.id is None for expectation in suite.expectations)


def test_validate_rejects_bad_arguments():
    with pytest.raises(TypeError):
        validate([1, 2, 3], PASSING_SUITE, name="x")
    with pytest.raises(ValueError):
        validate(passengers(), PASSING_SUITE, name="")
    with pytest.raises(TypeError):
        validate(passengers(), "not a suite", name="x")


# --------------------------------------------------------------- suites to/from dict


def test_suite_to_dict_of_object_equals_that_of_dict(gx):
    assert suite_to_dict(failing_suite_object(gx)) == suite_to_dict(FAILING_SUITE)


def test_suite_to_dict_round_trip(gx):
    data = suite_to_dict(failing_suite_object(gx))
    rebuilt = suite_from_dict(data)
    assert isinstance(rebuilt, gx.ExpectationSuite)
    assert rebuilt.name == "passengers"
    assert [e.expectation_type for e in rebuilt.expectations] == [e["type"] for e in FAILING_SUITE["expectations"]]
    again = suite_to_dict(rebuilt)
    assert again == data
    assert json.dumps(again, sort_keys=True) == json.dumps(data, sort_keys=True)
    # plain JSON in and out
    assert json.loads(json.dumps(data, allow_nan=False)) == data


def test_suite_to_dict_is_identical_every_time(gx):
    first = json.dumps(suite_to_dict(failing_suite_object(gx)))  # no sort_keys: key order too
    second = json.dumps(suite_to_dict(failing_suite_object(gx)))
    assert first == second


def test_suite_to_dict_keeps_notes_meta_and_description(gx):
    suite = gx.ExpectationSuite(
        name="documented",
        expectations=[
            gx.expectations.ExpectColumnValuesToNotBeNull(
                column="name", notes="every passenger has a name", meta={"owner": "ops"}, description="names"
            )
        ],
        meta={"team": "data"},
        notes="suite notes",
    )
    data = suite_to_dict(suite)
    [expectation] = data["expectations"]
    assert expectation["notes"] == "every passenger has a name"
    assert expectation["meta"] == {"owner": "ops"}
    assert expectation["description"] == "names"
    assert data["meta"] == {"team": "data"}
    assert data["notes"] == "suite notes"
    assert suite_to_dict(suite_from_dict(data)) == data


def test_ids_of_a_saved_suite_are_stripped_and_user_context_kept(gx):
    """A suite saved in the user's own GX context has random ids; they must not leak."""
    from great_expectations.data_context.data_context.context_factory import project_manager

    try:
        previous = project_manager.get_current_project()
    except gx.exceptions.DataContextRequiredError:
        previous = None
    context = gx.get_context(mode="ephemeral")  # becomes GX's current context
    try:
        saved = context.suites.add(gx.ExpectationSuite(name="passengers"))
        saved.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column="name"))
        assert saved.id is not None and saved.expectations[0].id is not None
        data = suite_to_dict(saved)
        assert "id" not in keys_anywhere(data)
        assert data == suite_to_dict(
            {"name": "passengers",
             "expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "name"}}]}
        )
        outcome = validate(passengers(), saved, name="passengers_v1")
        assert [f["column"] for f in outcome.failures] == ["name"]
        # validate borrowed GX's "current context" and gave the user's back
        assert project_manager.get_current_project() is context
    finally:
        project_manager.set_project(previous)


def test_suite_from_dict_raises_on_unknown_expectation():
    data = {"name": "s", "expectations": [{"type": "expect_column_values_to_be_wonderful", "kwargs": {"column": "a"}}]}
    with pytest.raises(InvalidSuiteError, match="expectation #0"):
        suite_from_dict(data)


def test_suite_from_dict_raises_on_bad_kwargs_instead_of_dropping_the_expectation():
    data = {"name": "s", "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"colum": "age", "min_value": 0}},
    ]}
    with pytest.raises(InvalidSuiteError, match="expectation #1"):
        suite_from_dict(data)


def test_suite_from_dict_needs_a_name_and_a_dict():
    with pytest.raises(InvalidSuiteError):
        suite_from_dict({"expectations": []})
    with pytest.raises(TypeError):
        suite_from_dict(["not", "a", "dict"])


# ------------------------------------------------------- process state and resources


def test_validate_leaves_warning_filters_and_logging_alone():
    validate(passengers(), FAILING_SUITE, name="passengers_v1")  # GX imported by now
    filters_before = list(warnings.filters)
    gx_logger = logging.getLogger("great_expectations")
    logger_state = (gx_logger.level, gx_logger.propagate, list(gx_logger.handlers))
    validate(passengers(), FAILING_SUITE, name="passengers_v1")
    assert warnings.filters == filters_before
    assert (gx_logger.level, gx_logger.propagate, list(gx_logger.handlers)) == logger_state
    with pytest.warns(UserWarning, match="still shown"):
        warnings.warn("still shown", UserWarning, stacklevel=1)


def test_no_log_records_reach_the_root_logger(caplog):
    caplog.set_level(logging.DEBUG)
    validate(passengers(), FAILING_SUITE, name="passengers_v1")
    assert [r for r in caplog.records if r.name.startswith("great_expectations")] == []


def test_gx_log_records_inside_a_run_are_swallowed(caplog, capfd):
    """GX logs nothing in the runs above, so check the silencing itself on a GX child logger."""
    from fti.store import validation

    caplog.set_level(logging.DEBUG)
    child = logging.getLogger("great_expectations.fti_test_child")
    child.setLevel(logging.INFO)  # as some GX modules do, so the parent's level alone is not enough
    try:
        capfd.readouterr()
        with warnings.catch_warnings(record=True) as shown:
            warnings.simplefilter("always")  # what the user sees if `_quiet` lets it through
            with validation._quiet():
                child.warning("would reach stderr through logging's last-resort handler")
                warnings.warn("would be printed by the default warning filters", UserWarning, stacklevel=1)
        assert shown == []
        assert caplog.records == []
        assert capfd.readouterr() == ("", "")
    finally:
        child.setLevel(logging.NOTSET)


def test_warning_filters_installed_by_imports_inside_a_run_are_kept():
    """Libraries imported during the first run (numpy, scipy, urllib3) install filters; a
    plain import would keep them, so `_quiet` must not throw them away."""
    from fti.store import validation

    marker = ("ignore", "fti-test-filter-marker")
    try:
        with validation._quiet():
            warnings.filterwarnings(*marker, category=RuntimeWarning)  # as an imported library would
        kept = [f for f in warnings.filters if f[1] is not None and f[1].pattern == marker[1]]
        assert [(f[0], f[2]) for f in kept] == [("ignore", RuntimeWarning)]
    finally:
        warnings.filters[:] = [f for f in warnings.filters if not (f[1] is not None and f[1].pattern == marker[1])]


def test_no_data_sources_or_frames_are_kept():
    from fti.store import validation

    df = passengers()
    ref = weakref.ref(df)
    validate(df, PASSING_SUITE, name="passengers_v1")
    validate(df, PASSING_SUITE, name="passengers_v2")
    assert list(validation._CONTEXT.data_sources.all()) == []
    del df
    gc.collect()
    assert ref() is None
