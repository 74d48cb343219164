"""``hsml.predictor_state``: `PredictorState`, what ``deployment.get_state()`` returns."""

from __future__ import annotations

from fti.store.deployment import PredictorState

__all__ = ["PredictorState"]
