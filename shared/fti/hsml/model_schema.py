"""``hsml.model_schema``: `ModelSchema`, a model's input and output `Schema` (``create_model(model_schema=...)``)."""

from __future__ import annotations

from fti.store.model_schema import ModelSchema

__all__ = ["ModelSchema"]
