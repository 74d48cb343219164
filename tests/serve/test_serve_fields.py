"""Request fields and JSON answers, without a server: `fti.serve.fields` and `fti.serve.jsonable`."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from fti.exceptions import RequestFieldError, ServeError
from fti.serve import RequestField, parse_request, to_jsonable
from fti.serve.jsonable import dumps


def test_an_unknown_kind_is_refused_when_the_field_is_made():
    with pytest.raises(ServeError, match="request field 'when': kind 'date' is not one of int, float, bool"):
        RequestField("when", "date", "2026-01-01")


@pytest.mark.parametrize(("kind", "text", "value"), [
    ("int", " -12 ", -12), ("float", "1e3", 1000.0), ("bool", "No", False), ("bool", "1", True),
    ("datetime", "2026-03-01T12:00:00Z", dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)), ("text", "", ""),
])
def test_query_text_is_read_by_kind(kind, text, value):
    converted = RequestField("x", kind).convert(text, from_text=True)
    assert converted == value and type(converted) is type(value)


@pytest.mark.parametrize(("kind", "text"), [
    ("int", "1.5"), ("int", "twelve"), ("float", "nan"), ("float", "inf"), ("bool", "maybe"), ("datetime", "3pm"),
])
def test_query_text_of_the_wrong_kind_is_refused_with_the_example(kind, text):
    field = RequestField("x", kind, example={"int": 3, "float": 0.5, "bool": True, "datetime": "2026-01-01"}[kind])
    with pytest.raises(RequestFieldError, match=f"field 'x' must be .*, e.g. '{field.example_text}'; got '{text}'"):
        field.convert(text, from_text=True)


def test_json_infinity_and_nan_are_refused_for_a_float():
    values = json.loads('{"x": NaN}')  # Python's json reads it; the server must not pass it on
    with pytest.raises(RequestFieldError, match="field 'x' must be a number; got nan"):
        parse_request([RequestField("x", "float")], values)


def test_unknown_fields_are_reported_before_missing_ones():
    fields = [RequestField("a", "int"), RequestField("b", "int")]
    with pytest.raises(RequestFieldError) as caught:
        parse_request(fields, {"a": 1, "c": 2})
    assert caught.value.field == "c" and "a request has the fields a, b" in str(caught.value)


def test_answers_become_plain_json():
    answer = {
        "score": np.float32(0.25), "n": np.int16(3), "flag": np.bool_(False), "missing": float("-inf"),
        "when": pd.Timestamp("2026-03-01 12:00", tz="UTC"), "never": pd.NaT, "na": pd.NA,
        "day": dt.date(2026, 3, 1), "wait": dt.timedelta(minutes=2), "vector": np.array([1, 2]),
        "stamp": np.datetime64("2026-03-01T12:00"), "pair": (1, "a"),
    }
    assert json.loads(dumps(answer)) == {
        "score": 0.25, "n": 3, "flag": False, "missing": None, "when": "2026-03-01T12:00:00+00:00", "never": None,
        "na": None, "day": "2026-03-01", "wait": 120.0, "vector": [1, 2], "stamp": "2026-03-01T12:00",
        "pair": [1, "a"],
    }


def test_a_value_json_cannot_hold_names_where_it_is():
    with pytest.raises(TypeError, match=r"answer.rows\[1\] is a builtins.object"):
        to_jsonable({"rows": [1, object()]})
