"""Passenger ids of generated passengers: a block of ids per run date.

The real passengers have ids 1..1309. New passengers get ids from the block of
their run date, ``1_000_000 + days since 2000-01-01 * 1000``, rather than from
the store's current maximum, so re-running a day upserts the same passengers
instead of adding new ones, and a day's ids never depend on earlier runs.
"""

from __future__ import annotations

from datetime import date

from fti.teach import synthetic

__all__ = ["IDS_PER_DAY", "PASSENGER_IDS", "first_passenger_id"]

IDS_PER_DAY = 1000
"""Passenger ids reserved per run date, so a day's ids never depend on earlier runs."""

PASSENGER_IDS = synthetic.DailyIdBlocks(
    first_day=date(2000, 1, 1),
    ids_per_day=IDS_PER_DAY,
    # Far above the real list's 1..1309, so a generated passenger never takes a real one's id.
    base_id=1_000_000,
    item="passengers",
)
"""The id blocks of generated passengers, one per run date from 2000-01-01 on."""


def first_passenger_id(run_date: date | str, n: int = 1) -> int:
    """The first passenger id for ``run_date``: the same every time that date is run.

    Args:
        run_date: The day the feature pipeline runs for (a date, a datetime
            whose UTC date is used, or ``"YYYY-MM-DD"``).
        n: How many passengers the day will have; they take this id and the following ones.

    Returns:
        ``1_000_000 + (run_date - 2000-01-01).days * IDS_PER_DAY``.

    Raises:
        ParameterError: ``n`` is not between 1 and `IDS_PER_DAY`, the date is
            before 2000 or malformed (a ``ValueError`` too).
        ParameterTypeError: ``run_date`` is not a date or ``n`` not an integer
            (a ``TypeError`` too).
    """
    return PASSENGER_IDS.first_id(run_date, n)
