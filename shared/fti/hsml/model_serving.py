"""``hsml.model_serving``: `ModelServing`, what ``project.get_model_serving()`` returns."""

from __future__ import annotations

from fti.store.deployment import ModelServing

__all__ = ["ModelServing"]
