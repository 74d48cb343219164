"""What a prediction request carries: `RequestField`, and turning JSON or query text into typed values.

A service lists its fields; the server checks every request against them before
``predict`` sees it, so a service never has to guess what a missing field, a
string where a number is due or an unparseable time means. Two sources of
values, two rules:

* a JSON body (``POST /predict``): values must already have the JSON type of
  their kind (a number for ``int``/``float``, ``true``/``false`` for ``bool``,
  a string for ``datetime``/``text``), as any program sending JSON can do;
* a query string (``GET /predict?amount=42.5``): every value is text, read
  by its kind (``true``/``false``, ``1``/``0``, ``yes``/``no`` for ``bool``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fti.exceptions import RequestFieldError, ServeError

__all__ = ["KINDS", "RequestField", "parse_request"]

KINDS = ("int", "float", "bool", "datetime", "text")
"""The kinds of value a request field may hold."""

_WHOLE = re.compile(r"[+-]?\d+")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_KIND_WORDS = {
    "int": "a whole number", "float": "a number", "bool": "true or false",
    "datetime": "a date and time in ISO 8601", "text": "text",
}


@dataclass(frozen=True)
class RequestField:
    """One field of a prediction request: the page shows it as a labelled input, the server checks it.

    Args:
        name: The key in the request (and the input's label on the page).
        kind: One of `KINDS`: ``int``, ``float``, ``bool``, ``datetime`` (ISO 8601 text, e.g.
            ``2026-03-01T12:00:00Z``; ``predict`` gets a `datetime.datetime`) or ``text``.
        example: A valid value; the page's form starts with it.
        help: One line for a person filling in the form.

    Raises:
        ServeError: An unknown kind, or a name that is not a non-empty string.
    """

    name: str
    kind: str
    example: Any = None
    help: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ServeError(f"a request field needs a name (a non-empty string), got {self.name!r}")
        if self.kind not in KINDS:
            raise ServeError(f"request field {self.name!r}: kind {self.kind!r} is not one of {', '.join(KINDS)}")

    @property
    def example_text(self) -> str:
        """The example as a person types it: ``true``, ``42.5``, ``2026-03-01T12:00:00Z`` (empty when none)."""
        value = self.example
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, dt.datetime | dt.date):
            return value.isoformat()
        return str(value)

    def convert(self, value: Any, from_text: bool = False) -> Any:
        """The value checked and typed for ``predict``.

        Args:
            value: The value from a JSON body, or text from a query string.
            from_text: The value is query-string text, read by the field's kind.

        Raises:
            RequestFieldError: The value is not of the field's kind (naming the field).
        """
        converter = _FROM_TEXT[self.kind] if from_text else _FROM_JSON[self.kind]
        converted = converter(value)
        if converted is _INVALID:
            example = f", e.g. {self.example_text!r}" if self.example is not None else ""
            raise RequestFieldError(
                f"field {self.name!r} must be {_KIND_WORDS[self.kind]}{example}; got {_shown(value)}", field=self.name)
        return converted


_INVALID = object()


def _shown(value: Any) -> str:
    """A value as the error message quotes it: its JSON-ish spelling, cut at 80 characters."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _int_from_json(value: Any) -> Any:
    if isinstance(value, bool):
        return _INVALID
    if isinstance(value, int):
        return value
    # JSON has one number type: 17.0 is the whole number 17 to many clients.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return _INVALID


def _float_from_json(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _INVALID
    value = float(value)
    # Python's json reads NaN and Infinity; a model should never see them as a request.
    return value if math.isfinite(value) else _INVALID


def _bool_from_json(value: Any) -> Any:
    return value if isinstance(value, bool) else _INVALID


def _datetime_from_text(value: Any) -> Any:
    if not isinstance(value, str):
        return _INVALID
    try:
        # Python 3.11 reads every ISO 8601 form a person or a browser writes, 'Z' included.
        return dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return _INVALID


def _text_from_json(value: Any) -> Any:
    return value if isinstance(value, str) else _INVALID


def _int_from_text(value: str) -> Any:
    return int(value) if _WHOLE.fullmatch(value.strip()) else _INVALID


def _float_from_text(value: str) -> Any:
    try:
        number = float(value)
    except ValueError:
        return _INVALID
    return number if math.isfinite(number) else _INVALID


def _bool_from_text(value: str) -> Any:
    word = value.strip().lower()
    return True if word in _TRUE else False if word in _FALSE else _INVALID


_FROM_JSON = {"int": _int_from_json, "float": _float_from_json, "bool": _bool_from_json,
              "datetime": _datetime_from_text, "text": _text_from_json}
_FROM_TEXT = {"int": _int_from_text, "float": _float_from_text, "bool": _bool_from_text,
              "datetime": _datetime_from_text, "text": str}


def parse_request(fields: Sequence[RequestField], values: Mapping[str, Any], from_text: bool = False) -> dict:
    """A request checked against the fields: every field present, none unknown, each of its kind.

    Args:
        fields: The service's request fields.
        values: The request: a decoded JSON object, or query-string values (one text each).
        from_text: The values are query-string text.

    Returns:
        The typed values, by field name, in the fields' order.

    Raises:
        RequestFieldError: Not an object, a field missing or unknown, or a value of the wrong kind.
    """
    if not isinstance(values, Mapping):
        raise RequestFieldError(f"a request is a JSON object of fields, got {type(values).__name__}")
    names = [field.name for field in fields]
    expected = f"a request has the fields {', '.join(names)}"
    unknown = [name for name in values if name not in names]
    if unknown:
        raise RequestFieldError(f"unknown field {unknown[0]!r}; {expected}", field=unknown[0])
    missing = [name for name in names if name not in values]
    if missing:
        raise RequestFieldError(f"field {missing[0]!r} is missing; {expected}", field=missing[0])
    return {field.name: field.convert(values[field.name], from_text=from_text) for field in fields}
