"""``hsml.utils.model_schema`` (Hopsworks 3.0 docs): the same `ModelSchema` as `fti.hsml.model_schema`."""

from __future__ import annotations

from fti.hsml.model_schema import ModelSchema

__all__ = ["ModelSchema"]
