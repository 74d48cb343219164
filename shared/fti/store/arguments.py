"""Checks that turn what a notebook passes into plain values, or refuse it with a clear `FTIError`.

The public objects (`FeatureStore`, `FeatureGroup`, `Query`, `FeatureView`,
`ModelRegistry`, `Model`) call these before they hand anything to an engine, so a
student who writes ``primary_key="id"`` or ``as_of="yesterday"`` reads a message
naming the feature group (or view, or model) and the argument, not a ``TypeError``
from deep inside pandas or DuckDB. Most functions take ``where``: the thing the
argument belongs to, such as ``"feature group 'passengers' v1"``. The engines use
it too, for ``as_of`` (`as_of_point`) and for the clock (`now`).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from fti import clock
from fti.exceptions import FTIError, InvalidTimeError, ParameterError, ParameterTypeError, TimeTravelError
from fti.names import check_name, check_version


def names(value: Any, argument: str, where: str, what: str = "column",
          error: type[FTIError] = ParameterTypeError) -> list[str]:
    """Return a list of valid names given as a list or tuple.

    A single string is refused rather than read as a sequence of one-letter names,
    which is what ``list("id")`` would make of ``primary_key="id"``.

    Args:
        value: What the caller passed.
        argument: Its name, e.g. ``"primary_key"``.
        where: What it belongs to.
        what: What each name is, e.g. ``"primary key column"``.
        error: The `FTIError` class for a value that is not a list: the class of the
            definition it belongs to (`SchemaError` for a feature group's keys,
            `QueryError` for a query's columns).

    Raises:
        ParameterTypeError: ``value`` is a string or not a list or tuple (or ``error``).
        InvalidNameError: An item is not a valid name.
    """
    if isinstance(value, str):
        raise error(
            f"{where}: {argument} must be a list of {what} names, got the string {value!r} "
            f"(write {argument}=[{value!r}])"
        )
    if not isinstance(value, (list, tuple)):
        raise error(f"{where}: {argument} must be a list of {what} names, got {type(value).__name__}")
    return [check_name(item, f"{where}: {what}") for item in value]


def version(value: Any, what: str) -> int:
    """Return a version number (any whole number type, e.g. a numpy integer from a DataFrame) as an int.

    Raises:
        InvalidNameError: Not a positive whole number (a string, a float, a bool...).
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = int(value)
    return check_version(value, what)


def optional_version(value: Any, what: str) -> int | None:
    """`version`, or None when ``value`` is None (meaning "the latest")."""
    return None if value is None else version(value, what)


def mapping(value: Any, argument: str, where: str) -> dict[Any, Any]:
    """Return a copy of a dict argument; None gives an empty dict.

    Raises:
        ParameterTypeError: ``value`` is not a mapping.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ParameterTypeError(f"{where}: {argument} must be a dict, got {type(value).__name__} {value!r:.80}")
    return dict(value)


def text(value: Any, argument: str, where: str) -> str:
    """Return a string argument such as a description.

    Raises:
        ParameterTypeError: ``value`` is not a string.
    """
    if not isinstance(value, str):
        raise ParameterTypeError(f"{where}: {argument} must be text, got {type(value).__name__} {value!r:.80}")
    return value


def flag(value: Any, argument: str, where: str) -> bool:
    """Return a True/False argument (Python or numpy booleans).

    Raises:
        ParameterTypeError: ``value`` is not a boolean (e.g. the string ``"yes"``).
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ParameterTypeError(f"{where}: {argument} must be True or False, got {type(value).__name__} {value!r:.80}")


def moment(value: Any, argument: str, where: str, error: type[FTIError] = InvalidTimeError) -> pd.Timestamp:
    """Return a date, datetime or ISO string as a UTC timestamp (naive values are taken as UTC).

    Args:
        value: What the caller passed.
        argument: Its name, e.g. ``"start_time"``.
        where: What it belongs to, e.g. ``"feature view 'fraud' v1"``.
        error: The `FTIError` class to raise, `InvalidTimeError` unless the caller knows
            better (an ``as_of`` raises `TimeTravelError`).

    Raises:
        InvalidTimeError: ``value`` is not a time (or ``error``, if given).
    """
    if isinstance(value, (bool, numbers.Number)) or value is None:
        # pd.Timestamp would read a number as nanoseconds since 1970: never what was meant.
        problem = f"{value!r} is of type {type(value).__name__}, not a date or time"
    else:
        try:
            return clock.to_utc(value, argument)
        except ValueError:
            problem = f"{value!r:.80} is not a date or time"
    raise error(
        f"{where}: {argument} {problem} (use e.g. '2024-06-01', a datetime or a pandas Timestamp)"
    )


def now() -> pd.Timestamp:
    """`fti.now()`, with a malformed ``FTI_NOW`` always reported as an `InvalidTimeError`.

    Raises:
        InvalidTimeError: ``FTI_NOW`` is set but is not a date or time.
    """
    try:
        return clock.now()
    except FTIError:
        raise
    except ValueError as exc:
        raise InvalidTimeError(str(exc)) from None


def as_of_point(value: Any, where: str) -> int | pd.Timestamp | None:
    """Read an ``as_of``: None (the latest state), a commit id, or a time.

    Raises:
        TimeTravelError: ``value`` is neither a whole number nor a date or time
            (a bool, a float, ``"yesterday"``...).
    """
    if value is None:
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (bool, numbers.Number)):
        raise TimeTravelError(
            f"{where}: as_of {value!r} is of type {type(value).__name__}; give a commit id (a whole number) "
            "or a date or time"
        )
    return moment(value, "as_of", where, TimeTravelError)


def commit_id(value: Any, argument: str, where: str) -> int | None:
    """Return a commit id (None stays None, meaning the latest state).

    Raises:
        TimeTravelError: ``value`` is not a whole number.
    """
    if value is None:
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    raise TimeTravelError(f"{where}: {argument} {value!r:.80} is not a commit id (a whole number)")


def hopsworks_name(value: Any, hopsworks: bool) -> Any:
    """A feature name as the store keeps it: lower-cased for a store opened through ``fti.login()``.

    The Hopsworks client lower-cases feature names when a feature group is written, so a lab
    that inserts ``PassengerId`` then selects ``passengerid``. Anything not a string is left
    for the checks that follow to refuse.
    """
    return value.lower() if hopsworks and isinstance(value, str) else value


def hopsworks_names(values: Any, hopsworks: bool) -> Any:
    """`hopsworks_name` of each item of a list or tuple (anything else is returned as it is)."""
    if hopsworks and isinstance(values, (list, tuple)):
        return [hopsworks_name(value, True) for value in values]
    return values


def epoch_ms(value: Any, hopsworks: bool) -> Any:
    """A whole number as a time of epoch milliseconds, as the Hopsworks client reads it; anything else unchanged.

    Only for a store opened through ``fti.login()``: the kit's own calls refuse numbers as times,
    since nothing says which unit they are in.
    """
    if hopsworks and isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return pd.Timestamp(int(value), unit="ms", tz="UTC")
    return value


def unsupported(where: str, **given: Any) -> None:
    """Refuse Hopsworks keyword arguments that would change a result here if they were ignored.

    Args:
        where: What the call belongs to.
        **given: ``argument=(value, why and what to write instead)``; a None (or False, or
            empty) value was not given and passes.

    Raises:
        ParameterError: One was given.
    """
    for argument, (value, advice) in given.items():
        if value is None or value is False or (isinstance(value, (list, dict, tuple, str)) and not value):
            continue
        raise ParameterError(f"{where}: {argument}={value!r:.80} is not supported here: {advice}")
