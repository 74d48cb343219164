"""``hsml.utils.schema`` (Hopsworks 3.0 docs): the same `Schema` as `fti.hsml.schema`."""

from __future__ import annotations

from fti.hsml.schema import Schema

__all__ = ["Schema"]
