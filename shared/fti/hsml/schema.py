"""``hsml.schema``: `Schema`, the columns (or tensor) of a model's inputs or outputs."""

from __future__ import annotations

from fti.store.model_schema import Schema

__all__ = ["Schema"]
