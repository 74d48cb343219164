"""Answers as JSON: what ``predict`` returns, made of plain numbers, text, lists and objects.

A prediction is usually built from NumPy and pandas values; `json` refuses most of them
and writes ``NaN``, which is not JSON and which browsers' ``JSON.parse`` rejects. So:
NaN and infinities become ``null``; NumPy numbers and booleans become plain ones;
dates and times (`datetime`, `pandas.Timestamp`, `numpy.datetime64`) become ISO 8601
text and a missing time (``NaT``) or value (``pandas.NA``) ``null``; tuples, sets and arrays become lists.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["dumps", "to_jsonable"]


def to_jsonable(value: Any, where: str = "answer") -> Any:
    """``value`` with every part replaced by one JSON can hold.

    Args:
        value: What ``predict`` returned, or a part of it.
        where: The path to ``value``, for the error message (``answer.features.amount``).

    Raises:
        TypeError: A part JSON cannot hold (an object of another class); the message names where.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(item, f"{where}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else str(value)
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist(), where)
    if isinstance(value, np.generic):
        return to_jsonable(value.item(), where)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        # pandas' NaT is a datetime subclass whose isoformat() is the text 'NaT'.
        return None if value != value else value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return to_jsonable(float(value), where)
    if type(value).__name__ == "NAType":  # pandas.NA, without importing pandas
        return None
    raise TypeError(f"{where} is a {type(value).__module__}.{type(value).__qualname__}, which JSON cannot hold; "
                    "return numbers, text, booleans, None, lists and dicts")


def dumps(value: Any) -> str:
    """``value`` as JSON text, after `to_jsonable` (strict: never ``NaN``)."""
    return json.dumps(to_jsonable(value), allow_nan=False, ensure_ascii=False)
