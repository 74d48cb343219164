"""The __System__ system: a __kind__ ML system made with ``fti new __system__``.

Replace this paragraph with what the system predicts, for whom, and from which
data. Until then it runs on the built-in example: daily readings of 16 stations,
and the prediction whether each station's next reading will be higher.

Its notebooks, schedule (``pipelines.yml``) and notebook story are in
``notebooks/__system__/``; its test is in ``tests/systems/__system__/``; the guide
``docs/own-system.md`` says how to turn the example into your own system. The
package has one module per concern:

* `systems.__system__.source`: the source adapter, the one place raw data comes in:
  `backfill` (history), `pull` (what is new since the last run), `record_fixture`.
* `systems.__system__.features`: `add_features` and `rows_to_write`, used by both
  feature pipelines, and the model's `FEATURES` and `LABEL`.
* `systems.__system__.expectations`: `reading_expectations`, the feature group's suite.
* `systems.__system__.serving` (real-time systems): the online prediction entry point.

Notebooks import the package and use the names below: ``from systems import
__system__; __system__.pull(since, run_date)``.
"""

from __future__ import annotations

from .expectations import reading_expectations
from .features import FEATURES, LABEL, add_features, rows_to_write
from .source import COLUMNS, DATA_SOURCES, EVENT_TIME, FIXTURE, KEY, backfill, fetch_live, pull, record_fixture

__all__ = [
    "COLUMNS",
    "DATA_SOURCES",
    "EVENT_TIME",
    "FEATURES",
    "FIXTURE",
    "KEY",
    "LABEL",
    "add_features",
    "backfill",
    "fetch_live",
    "pull",
    "reading_expectations",
    "record_fixture",
    "rows_to_write",
]
