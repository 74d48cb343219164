"""Expectation suites of the electricity feature groups: what every valid row satisfies.

Each rule is a fact about valid data, not about 2014: demand in Victoria is a few
gigawatts (never negative, never 20 GW), Melbourne's temperature stays between
-10 and 50 °C, and there is one row per half-hour. That last one has two halves:
"no time twice" is an expectation on the frame (``ExpectColumnValuesToBeUnique``);
"no half-hour missing" is a property of the rows *together*, which row-wise
expectations cannot see, so `systems.electricity.data.check_half_hour_grid`
checks it before the insert.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .data import REGION

if TYPE_CHECKING:
    import great_expectations as gx

__all__ = ["demand_expectations", "forecast_expectations", "weather_expectations"]


def _suite(name: str, column: str, low: float, high: float, unique: list[str],
           extra: tuple = ()) -> gx.ExpectationSuite:
    # Imported here: Great Expectations takes seconds to import; only validating pipelines need it.
    import great_expectations as gx

    expect = gx.expectations
    once = (expect.ExpectColumnValuesToBeUnique(column=unique[0]) if len(unique) == 1
            else expect.ExpectCompoundColumnsToBeUnique(column_list=unique))
    return gx.ExpectationSuite(
        name=name,
        expectations=[
            expect.ExpectColumnValuesToBeInSet(column="region", value_set=[REGION]),
            expect.ExpectColumnValuesToNotBeNull(column=column),
            expect.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high),
            once,
            *extra,
        ],
    )


def demand_expectations() -> gx.ExpectationSuite:
    """The suite of the ``demand`` feature group: demand between 1 and 15 GW, one row per half-hour."""
    return _suite("demand", "demand_gw", 1.0, 15.0, ["timestamp"])


def weather_expectations() -> gx.ExpectationSuite:
    """The suite of the ``weather`` feature group: observed temperature between -10 and 50 °C, one row per half-hour."""
    return _suite("weather", "temperature_c", -10.0, 50.0, ["timestamp"])


def forecast_expectations() -> gx.ExpectationSuite:
    """The suite of ``weather_forecasts``: temperatures within -15 to 55 °C, one row per (valid, issue) time.

    A backfill inserts many issues at once, so a valid time repeats across issues;
    what must not repeat is the pair. The lead time lies within the two days forecast.
    """
    import great_expectations as gx

    lead = gx.expectations.ExpectColumnValuesToBeBetween(column="lead_hours", min_value=0, max_value=48)
    return _suite("weather_forecasts", "temperature_c", -15.0, 55.0, ["valid_time", "issue_time"], (lead,))
