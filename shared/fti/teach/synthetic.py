"""Building blocks for the synthetic data of an example system.

An example system's daily feature pipeline needs new rows every day, and a
committed notebook must show the same rows whenever and wherever it is run.
Every system solves the same three small problems, so they are solved once here:

* `rng_for_date`: a NumPy random generator seeded from the run date and a
  per-system salt (never from Python's ``hash()``, which changes per process),
  so a re-run of a day draws exactly the same numbers.
* `DailyIdBlocks`: a block of ids reserved for each run date, so a day's ids
  depend only on the date, never on what earlier runs wrote, and re-running a
  day upserts the same rows instead of adding new ones.
* `DriftSwitch` and `drift_from_parameters`: a population change that starts
  on a given date, switched on from notebook parameters (an empty start date
  means no drift), so the monitoring notebook has something to find.

The argument checks the three share (`as_date`, `as_int`, `as_finite_float`,
`numbers_from_text`) raise `fti.exceptions.ParameterError`, a ``ValueError``,
for an impossible value and `fti.exceptions.ParameterTypeError`, also a
``TypeError``, for a wrong type; both are `fti.FTIError`.

A system package uses them like this (the Titanic system in ``systems.titanic``
is the worked example)::

    SALT = synthetic.seed_salt("ELEC")
    METER_IDS = synthetic.DailyIdBlocks(first_day=date(2020, 1, 1), ids_per_day=500, base_id=1, item="readings")

    rng = synthetic.rng_for_date(run_date, SALT)
    first_id = METER_IDS.first_id(run_date, n)
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TypeVar

import numpy as np

from fti.exceptions import ParameterError, ParameterTypeError

__all__ = [
    "DailyIdBlocks",
    "DriftSwitch",
    "as_date",
    "as_finite_float",
    "as_int",
    "drift_from_parameters",
    "drift_start",
    "numbers_from_text",
    "rng_for_date",
    "seed_salt",
]

# ---------------------------------------------------------------------------
# Checking arguments
# ---------------------------------------------------------------------------

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def as_date(value: object, what: str) -> date:
    """Turn a date, a datetime or an ISO ``YYYY-MM-DD`` string into a date.

    Args:
        value: A `datetime.date`; a `datetime.datetime`, which counts as its
            calendar day in UTC (naive ones are taken to be UTC already); or a
            ``"YYYY-MM-DD"`` string, surrounding spaces allowed.
        what: What the value is, for the error message (e.g. ``"run_date"``).

    Returns:
        The calendar date.

    Raises:
        ParameterError: A string that is not a valid ``YYYY-MM-DD`` date.
        ParameterTypeError: Anything else than a date or a string.
    """
    if isinstance(value, datetime):
        # A datetime is a date too; take its calendar day in UTC, the day the pipeline runs for.
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return date(value.year, value.month, value.day)
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        # Only the plain calendar form: "2024-05-01". Times are rejected so
        # "2024-05-01T23:00+02:00" cannot silently mean two different days,
        # and so are the other ISO forms fromisoformat accepts ("20240501", "2024-W18-3").
        if _ISO_DATE.fullmatch(text):
            try:
                return date.fromisoformat(text)
            except ValueError:
                pass  # the right shape but no such day, e.g. "2024-13-01"
        raise ParameterError(f"{what} {value!r} is not a date in the form YYYY-MM-DD")
    raise ParameterTypeError(f"{what} must be a datetime.date or a 'YYYY-MM-DD' string, not {type(value).__name__}")


def as_int(value: object, what: str) -> int:
    """Accept a Python or NumPy integer as an int.

    Args:
        value: The value to check.
        what: What the value is, for the error message.

    Returns:
        ``value`` as a Python int.

    Raises:
        ParameterTypeError: A bool (``True`` is an int to Python, but never a
            meant count), a float (even ``2.0``) or anything else that is not an integer.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterTypeError(f"{what} must be an integer, not {type(value).__name__} {value!r}")
    return int(value)


def as_finite_float(value: object, what: str) -> float:
    """Accept a real number (Python or NumPy, not a bool) that is neither NaN nor infinite.

    Args:
        value: The value to check.
        what: What the value is, for the error message.

    Returns:
        ``value`` as a Python float.

    Raises:
        ParameterTypeError: Not a number, or a bool.
        ParameterError: NaN or infinite.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterTypeError(f"{what} must be a number, not {type(value).__name__} {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ParameterError(f"{what} must be finite, got {value!r}")
    return number


def numbers_from_text(text: str | None, what: str, *, count: int | None = None) -> tuple[float, ...] | None:
    """Parse a notebook parameter such as ``"0.6,0.3,0.1"`` into numbers.

    Notebook parameters are plain values (papermill and ``pipelines.yml`` pass
    strings, numbers and bools), so a list of numbers arrives as text.

    Args:
        text: Comma-separated numbers, spaces allowed; ``""`` or None for "not given".
        what: What the numbers are, for the error message (e.g. ``"class_mix"``).
        count: How many numbers there must be; None for any number (at least one).

    Returns:
        The numbers, or None when ``text`` is empty or None.

    Raises:
        ParameterError: A part that is not a finite number, or not ``count`` of them.
        ParameterTypeError: ``text`` is not a string.
    """
    if text is None:
        return None
    if not isinstance(text, str):
        raise ParameterTypeError(f"{what} must be a string of comma-separated numbers, not {type(text).__name__}")
    if not text.strip():
        return None
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        expected = f"{count} comma-separated numbers" if count is not None else "comma-separated numbers"
        raise ParameterError(f"{what} {text!r} is not {expected}") from None
    if not all(math.isfinite(v) for v in values):
        raise ParameterError(f"{what} {text!r} must contain finite numbers only")
    if count is not None and len(values) != count:
        raise ParameterError(f"{what} {text!r} must have {count} comma-separated numbers, got {len(values)}")
    return values


# ---------------------------------------------------------------------------
# Date-seeded random numbers
# ---------------------------------------------------------------------------


def seed_salt(tag: str) -> int:
    """A system's salt for `rng_for_date`: the ASCII bytes of ``tag`` read as one big-endian integer.

    A short readable tag per system (``"TITA"`` gives ``0x54495441``) keeps the
    streams of different systems apart even for the same run date.

    Args:
        tag: One or more ASCII characters, unique among the kit's systems.

    Returns:
        A non-negative integer.

    Raises:
        ParameterError: An empty or non-ASCII tag.
        ParameterTypeError: ``tag`` is not a string.
    """
    if not isinstance(tag, str):
        raise ParameterTypeError(f"seed salt tag must be a string, not {type(tag).__name__}")
    if not tag or not tag.isascii():
        raise ParameterError(f"seed salt tag must be one or more ASCII characters, got {tag!r}")
    return int.from_bytes(tag.encode("ascii"), "big")


def rng_for_date(run_date: date | str, salt: int) -> np.random.Generator:
    """A random generator that depends only on the run date and the system's salt.

    The seed is ``SeedSequence([salt, run_date.toordinal()])``: the date's
    ordinal is the same on every platform and in every process (unlike
    ``hash()``), and the salt keeps systems that run on the same dates apart.
    A system must draw its numbers in a fixed order from the generator for its
    output to stay the same.

    Args:
        run_date: The day the pipeline runs for (see `as_date`).
        salt: The system's salt, a non-negative integer (see `seed_salt`).

    Returns:
        A fresh `numpy.random.Generator`; two calls with equal arguments give
        generators that draw identical numbers.

    Raises:
        ParameterError: A malformed date or a negative salt.
        ParameterTypeError: A date or salt of the wrong type.
    """
    day = as_date(run_date, "run_date")
    salt = as_int(salt, "seed salt")
    if salt < 0:
        raise ParameterError(f"seed salt must be a non-negative integer, got {salt}")
    return np.random.default_rng(np.random.SeedSequence([salt, day.toordinal()]))


# ---------------------------------------------------------------------------
# Per-day id blocks
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DailyIdBlocks:
    """A block of ``ids_per_day`` consecutive ids reserved for every run date from ``first_day`` on.

    The first id of a date is ``base_id + (date - first_day).days * ids_per_day``,
    so the ids of a day come from its date alone: consecutive days get adjacent
    blocks that never overlap, and a re-run of a day reuses its ids.

    Attributes:
        first_day: The first run date that may have ids (a date or ``"YYYY-MM-DD"``; stored as a date).
        ids_per_day: Size of every day's block, at least 1: the most rows a day may have.
        base_id: First id of ``first_day``, at least 0. Choose it above any id
            that exists otherwise (e.g. the real rows of the data set).
        item: What the ids number, for error messages (``"passengers"``).

    Raises:
        ParameterError: ``ids_per_day < 1``, ``base_id < 0`` or a malformed ``first_day``.
        ParameterTypeError: An argument of the wrong type.
    """

    first_day: date
    ids_per_day: int
    base_id: int = 1
    item: str = "ids"

    def __post_init__(self) -> None:
        # Normalise in place (frozen, hence object.__setattr__), so equal blocks compare equal.
        object.__setattr__(self, "first_day", as_date(self.first_day, "first_day"))
        object.__setattr__(self, "ids_per_day", as_int(self.ids_per_day, "ids_per_day"))
        object.__setattr__(self, "base_id", as_int(self.base_id, "base_id"))
        if self.ids_per_day < 1:
            raise ParameterError(f"ids_per_day must be at least 1, got {self.ids_per_day}")
        if self.base_id < 0:
            raise ParameterError(f"base_id must be at least 0, got {self.base_id}")

    def first_id(self, run_date: date | str, n: int = 1) -> int:
        """The first id of ``run_date``'s block: the same every time that date is run.

        Args:
            run_date: The day (see `as_date`).
            n: How many ids the caller will use, from the first one on; checked
                to fit in the block.

        Returns:
            The first id; the caller may use it and the ``n - 1`` following ones.

        Raises:
            ParameterError: ``n`` is not between 1 and `ids_per_day`, or
                ``run_date`` is malformed or before `first_day`.
            ParameterTypeError: ``n`` is not an integer or ``run_date`` not a date.
        """
        day = as_date(run_date, "run_date")
        n = as_int(n, f"{self.item} per day")
        if not 1 <= n <= self.ids_per_day:
            raise ParameterError(f"{self.item} per day must be between 1 and {self.ids_per_day}, got {n}")
        if day < self.first_day:
            raise ParameterError(f"run_date {day.isoformat()} is before {self.first_day.isoformat()}")
        return self.base_id + (day - self.first_day).days * self.ids_per_day

    def ids(self, run_date: date | str, n: int) -> range:
        """The ``n`` ids of ``run_date``: ``first_id(run_date, n)`` and the ones after it.

        Raises:
            ParameterError: As `first_id`.
            ParameterTypeError: As `first_id`.
        """
        first = self.first_id(run_date, n)
        return range(first, first + n)


# ---------------------------------------------------------------------------
# Drift switched on from notebook parameters
# ---------------------------------------------------------------------------


def drift_start(start: str | date | None, what: str = "drift start") -> date | None:
    """Read the start date of a drift from a notebook parameter.

    Args:
        start: ``"YYYY-MM-DD"`` or a date; ``""``, blanks or None mean no drift
            (a notebook parameter cannot be None when it comes from the command line).
        what: What the value is, for the error message.

    Returns:
        The start date, or None when drift is off.

    Raises:
        ParameterError: A malformed date.
        ParameterTypeError: Neither a string, a date nor None.
    """
    if start is None or (isinstance(start, str) and not start.strip()):
        return None
    return as_date(start, what)


@dataclass(frozen=True)
class DriftSwitch:
    """Base class of a system's drift: a population change that takes effect from ``start`` on.

    A system subclasses it (a frozen dataclass too) and adds its own settings,
    e.g. ``age_shift: float = 0.0``; its generator applies the settings only
    on run dates where `applies_to` is true, so runs before ``start`` are
    exactly the same as without drift. A subclass that defines
    ``__post_init__`` must call ``super().__post_init__()``.

    Attributes:
        start: First run date affected (a date, or ``"YYYY-MM-DD"``; stored as a date).

    Raises:
        ParameterError: A malformed ``start``.
        ParameterTypeError: ``start`` is not a date or string.
    """

    start: date | str

    def __post_init__(self) -> None:
        # Normalise in place (frozen, hence object.__setattr__) so that equal
        # drifts compare and hash equal, whatever form the date was given in.
        self._normalise("start", as_date(self.start, f"{type(self).__name__} start"))

    def _normalise(self, field: str, value: object) -> None:
        """Replace a field of this frozen instance by its checked, normalised value (for ``__post_init__``)."""
        object.__setattr__(self, field, value)

    def applies_to(self, run_date: date | str) -> bool:
        """Whether the drift is in effect for ``run_date`` (on or after `start`)."""
        return as_date(run_date, "run_date") >= self.start


DriftT = TypeVar("DriftT", bound=DriftSwitch)


def drift_from_parameters(drift_type: type[DriftT], start: str | date | None, **settings: object) -> DriftT | None:
    """Build a drift from notebook parameters; None when ``start`` is empty (drift off).

    Args:
        drift_type: The system's `DriftSwitch` subclass.
        start: First run date with drift, or ``""`` for no drift (see `drift_start`).
        **settings: The subclass's other fields, already converted from text
            where needed (see `numbers_from_text`); the subclass checks them.
            Ignored when drift is off, so a notebook may keep its defaults.

    Returns:
        ``drift_type(start=..., **settings)``, or None.

    Raises:
        ParameterError: A malformed ``start``, or a setting the subclass rejects.
        ParameterTypeError: ``drift_type`` is not a `DriftSwitch` subclass.
    """
    if not (isinstance(drift_type, type) and issubclass(drift_type, DriftSwitch)):
        raise ParameterTypeError(f"drift_type must be a subclass of DriftSwitch, not {drift_type!r}")
    day = drift_start(start)
    if day is None:
        return None
    return drift_type(start=day, **settings)
