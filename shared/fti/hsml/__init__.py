"""hsml's names for labs written for the Hopsworks model registry client.

A lab's ``from hsml.schema import Schema`` becomes ``from fti.hsml.schema import Schema``
(and ``hsml.model_schema.ModelSchema`` likewise; the older ``hsml.utils.schema`` and
``hsml.utils.model_schema`` paths work too). The classes live in `fti.store`; these
modules only give them hsml's import paths.
"""

from __future__ import annotations

from fti.hsml.model_schema import ModelSchema
from fti.hsml.schema import Schema

__all__ = ["ModelSchema", "Schema"]
