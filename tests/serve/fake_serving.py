"""A made-up service for the tests of `fti.serve`: a lemonade stand's chance of selling out.

Importable as ``fake_serving`` (the tests' folder is on ``sys.path``; the subprocess tests
put it on ``PYTHONPATH`` and run ``fti serve --module fake_serving``). Nothing here is
about any example system. Its answers are computed from the request, so a test can check
the server passed every field, converted, and the page showed what came back.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from fti.exceptions import ParameterError
from fti.serve import RequestField

FIELDS = [
    RequestField("cups", "int", 40, "cups of lemonade made this morning"),
    RequestField("price", "float", 1.5, "price of a cup, in euros"),
    RequestField("sunny", "bool", True, "is the sun out?"),
    RequestField("opens_at", "datetime", "2026-06-01T09:00:00+00:00", "when the stand opens, with a time zone"),
    RequestField("note", "text", "corner of Elm street", "anything; 'crash' makes predict fail, 'slow' takes 1 s"),
]


def expected_score(cups: int, price: float, sunny: bool) -> float:
    """The score `LemonadeStand.predict` returns, written out again for the tests to compare with."""
    return round(min(1.0, (0.6 if sunny else 0.2) * 40 / max(cups, 1) / price), 6)


class LemonadeStand:
    """A `fti.serve` service whose answers are simple functions of the request."""

    name = "Lemonade stand"
    description = "Will the stand sell out today? Type the morning's numbers and press Score."
    request_fields = FIELDS

    def __init__(self, store: str | Path | None = None):
        self.store = Path(store) if store is not None else None
        self.requests: list[dict[str, Any]] = []
        self.closed = 0

    def predict(self, request: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(request)
        if request["cups"] < 0:
            raise ParameterError(f"cups must be 0 or more, got {request['cups']}")
        if request["note"] == "crash":
            raise ZeroDivisionError("the stand divided by zero")
        if request["note"] == "slow":
            if self.store is not None:  # tells a test the request is in flight
                self.store.mkdir(parents=True, exist_ok=True)
                (self.store / "slow-started").touch()
            time.sleep(1.0)
        opens_at: dt.datetime = request["opens_at"]
        score = expected_score(request["cups"], request["price"], request["sunny"])
        return {
            "score": np.float64(score),
            "decision": "make more" if score >= 0.5 else "enough",
            "features": {
                "cups": np.int64(request["cups"]),
                "price": request["price"],
                "sunny": np.bool_(request["sunny"]),
                "opening_hour": opens_at.hour,
                "opens_at": opens_at,
                "rain_mm": float("nan"),
            },
            "note": request["note"],
        }

    def close(self) -> None:
        """Count the closes; with a store folder, write what was served there (the CLI tests read it)."""
        self.closed += 1
        if self.store is not None:
            self.store.mkdir(parents=True, exist_ok=True)
            (self.store / "closed.json").write_text(json.dumps({"closed": self.closed, "requests": len(self.requests)}))


def service(store: str | Path | None = None) -> LemonadeStand:
    """What ``fti serve --module fake_serving`` serves."""
    return LemonadeStand(store)
