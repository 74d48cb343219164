"""The expectation suite of the readings feature group: what every valid row satisfies."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import great_expectations as gx

__all__ = ["reading_expectations"]


def reading_expectations() -> gx.ExpectationSuite:
    """The expectation suite every insert into the readings feature group must pass.

    Each expectation is a fact about valid readings, not about this sample:
    every row has a reading and its weekly mean, a day of the week is 0 to 6, and
    the label, once known, is 0 or 1 (it is missing until the next reading arrives).
    Replace them with the facts of your data: ranges a sensor cannot leave, ids
    that exist, columns that are never empty.

    Returns:
        A ``great_expectations.ExpectationSuite`` named ``"readings"``.
    """
    # Imported here: Great Expectations takes seconds to import, and only the pipelines that validate need it.
    import great_expectations as gx

    expect = gx.expectations
    return gx.ExpectationSuite(
        name="readings",
        expectations=[
            expect.ExpectColumnValuesToNotBeNull(column="value"),
            expect.ExpectColumnValuesToNotBeNull(column="mean_7d"),
            expect.ExpectColumnValuesToBeBetween(column="day_of_week", min_value=0, max_value=6),
            expect.ExpectColumnValuesToBeInSet(column="goes_up", value_set=[0, 1]),
        ],
    )
