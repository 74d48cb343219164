"""The expectation suite of the passengers feature group: what every valid passenger satisfies."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import great_expectations as gx

__all__ = ["passenger_expectations"]


def passenger_expectations() -> gx.ExpectationSuite:
    """The expectation suite every insert into the passengers feature group must pass.

    Each expectation is a fact about valid passengers, not about this sample: a
    class is 1, 2 or 3; an age, when known, is between 0 and 120; nobody has a
    negative number of relatives; sex and survival are always recorded.

    Returns:
        A ``great_expectations.ExpectationSuite`` named ``"passengers"``.
    """
    # Imported here: Great Expectations takes seconds to import, and only the
    # pipelines that validate need it.
    import great_expectations as gx

    expect = gx.expectations
    return gx.ExpectationSuite(
        name="passengers",
        expectations=[
            expect.ExpectColumnValuesToBeInSet(column="pclass", value_set=[1, 2, 3]),
            expect.ExpectColumnValuesToBeInSet(column="sex", value_set=["female", "male"]),
            expect.ExpectColumnValuesToBeBetween(column="age", min_value=0, max_value=120),
            expect.ExpectColumnValuesToBeBetween(column="sibsp", min_value=0, max_value=20),
            expect.ExpectColumnValuesToBeBetween(column="parch", min_value=0, max_value=20),
            expect.ExpectColumnValuesToBeInSet(column="survived", value_set=[0, 1]),
            expect.ExpectColumnValuesToNotBeNull(column="survived"),
        ],
    )
