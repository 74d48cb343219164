"""Daily ticket prices per class: a feature that changes over time, for the point-in-time exercise.

Only the exercises use it (``exercises/source/02_training_point_in_time.ipynb``):
a passenger must be joined with the fare valid when they boarded, not the latest one.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from fti.exceptions import ParameterError
from fti.teach import synthetic

__all__ = ["BASE_FARES", "class_fares"]

BASE_FARES: dict[int, float] = {1: 84.0, 2: 21.0, 3: 13.0}
"""Mean fare in pounds per ticket class on the real voyage, the starting point of `class_fares`."""


def class_fares(start: date | str, days: int, *, hour: int = 6) -> pd.DataFrame:
    """Daily ticket prices per class, changing every morning: a feature that varies over time.

    Used to practise point-in-time joins: a passenger must get the fare valid
    when they boarded, not the latest one. Deterministic for given arguments.

    Args:
        start: The first day (``YYYY-MM-DD``).
        days: How many days of prices.
        hour: Hour (UTC) at which each day's prices take effect.

    Returns:
        Columns ``pclass`` (int64), ``valid_from`` (UTC datetime) and ``fare`` (float64),
        one row per class and day.

    Raises:
        ParameterError: A malformed ``start`` or ``days < 1`` (a ``ValueError`` too).
        ParameterTypeError: ``start`` is not a date or ``days`` not an integer (a ``TypeError`` too).
    """
    first = synthetic.as_date(start, "start")
    if synthetic.as_int(days, "days") < 1:
        raise ParameterError(f"days must be at least 1, got {days}")
    # Seeded with the bare date ordinal, not `synthetic.rng_for_date`: these are
    # the prices the exercises were written and graded with, and a salted seed would change them.
    rng = np.random.default_rng(first.toordinal())
    moments = pd.date_range(pd.Timestamp(first, tz="UTC") + pd.Timedelta(hours=hour), periods=days, freq="D")
    frames = []
    for pclass, base in BASE_FARES.items():
        # A random walk of daily price changes of a few percent.
        factors = np.exp(np.cumsum(rng.normal(0.0, 0.05, size=days)))
        frames.append(pd.DataFrame({"pclass": pclass, "valid_from": moments, "fare": np.round(base * factors, 2)}))
    fares = pd.concat(frames, ignore_index=True)
    fares["pclass"] = fares["pclass"].astype("int64")
    fares["valid_from"] = fares["valid_from"].astype("datetime64[us, UTC]")
    return fares
