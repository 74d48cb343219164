"""Model schemas: the columns (or tensors) of a model's inputs and outputs, as the Hopsworks model registry writes them.

`Schema` describes one side (a DataFrame's columns and dtypes, or an array's type and
shape); `ModelSchema` pairs an input and an output schema. A model version keeps its
schema as ``model_schema.json`` beside its files (`fti.store.model_engine`). Lab code
imports them by hsml's paths: ``from fti.hsml.schema import Schema``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from fti.exceptions import ParameterTypeError

__all__ = ["ModelSchema", "Schema"]


def _column(dtype: Any, name: Any, description: Any = None) -> dict[str, Any]:
    """One column of a columnar schema, as Hopsworks writes it: name, type, description if given."""
    column: dict[str, Any] = {"name": None if name is None else str(name), "type": str(dtype)}
    if description is not None:
        column["description"] = str(description)
    return column


class Schema:
    """The schema of a model's inputs or outputs (`fti.hsml.schema.Schema`, as ``hsml.schema.Schema``).

    A DataFrame, a Series or a list of ``{"name", "type"}`` dicts gives a columnar
    schema (column names and dtypes); a numpy array, or a list of dicts that each
    have a ``"shape"``, gives a tensor schema (type and shape).

    Args:
        object: What to describe.
        **kwargs: ``columnar_schema=`` or ``tensor_schema=`` rebuild one from `to_dict`.

    Raises:
        ParameterTypeError: ``object`` is none of those, or a dict entry has no ``"type"``.
    """

    def __init__(self, object: Any = None, **kwargs: Any):  # noqa: A002 - the name hsml uses

        self.columnar_schema: list[dict[str, Any]] | None = None
        self.tensor_schema: Any = None
        if object is None and ("columnar_schema" in kwargs or "tensor_schema" in kwargs):
            self.columnar_schema = kwargs.get("columnar_schema")
            self.tensor_schema = kwargs.get("tensor_schema")
            return
        if isinstance(object, np.ndarray):
            self.tensor_schema = {"type": str(object.dtype), "shape": str(object.shape)}
        elif isinstance(object, pd.DataFrame):
            self.columnar_schema = [_column(dtype, name) for name, dtype in object.dtypes.items()]
        elif isinstance(object, pd.Series):
            self.columnar_schema = [_column(object.dtype, object.name)]
        elif isinstance(object, list) and object and all(isinstance(entry, dict) for entry in object):
            for entry in object:
                if "type" not in entry:
                    raise ParameterTypeError(f"Schema: the entry {entry!r:.120} has no 'type' (e.g. 'float64')")
            if all("shape" in entry for entry in object):
                self.tensor_schema = [
                    {key: entry[key] for key in ("name", "type", "shape", "description") if entry.get(key) is not None}
                    for entry in object
                ]
            else:
                self.columnar_schema = [_column(entry["type"], entry.get("name"), entry.get("description"))
                                        for entry in object]
        else:
            raise ParameterTypeError(
                "Schema needs a DataFrame, a Series, a numpy array or a list of {'name': ..., 'type': ...} "
                f"dicts, got {type(object).__name__}"
            )

    def to_dict(self) -> dict[str, Any]:
        """``{"columnar_schema": [{"name", "type"}, ...]}`` or ``{"tensor_schema": ...}``, as in hsml."""
        if self.tensor_schema is not None:
            return {"tensor_schema": self.tensor_schema}
        return {"columnar_schema": list(self.columnar_schema or [])}

    def json(self) -> str:
        """`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2)

    def __repr__(self) -> str:
        return f"Schema(type: {'tensor' if self.tensor_schema is not None else 'columnar'!r})"


class ModelSchema:
    """A model's input and output schemas (`fti.hsml.model_schema.ModelSchema`, as in hsml).

    Args:
        input_schema: A `Schema` of the inputs (or its `to_dict` form).
        output_schema: A `Schema` of the outputs (or its `to_dict` form).

    Raises:
        ParameterTypeError: A schema that is neither a `Schema` nor a dict.
    """

    def __init__(self, input_schema: Schema | dict[str, Any] | None = None,
                 output_schema: Schema | dict[str, Any] | None = None, **kwargs: Any):
        del kwargs  # hsml accepts and ignores extra response fields too
        self.input_schema = self._schema(input_schema, "input_schema")
        self.output_schema = self._schema(output_schema, "output_schema")

    @staticmethod
    def _schema(value: Any, argument: str) -> Schema | None:
        if value is None or isinstance(value, Schema):
            return value
        if isinstance(value, dict) and ({"columnar_schema", "tensor_schema"} & value.keys()):
            return Schema(**value)
        raise ParameterTypeError(
            f"ModelSchema: {argument} must be a Schema (Schema(X_train)), got {type(value).__name__}"
        )

    @classmethod
    def from_value(cls, value: Any, where: str) -> ModelSchema | None:
        """A ModelSchema from what ``create_model(model_schema=...)`` was given (a ModelSchema or its dict).

        Raises:
            ParameterTypeError: Anything else.
        """
        if value is None or isinstance(value, ModelSchema):
            return value
        if isinstance(value, dict):
            return cls(**value)
        # Duck typing: an hsml ModelSchema built with the real client has to_dict() too.
        if hasattr(value, "to_dict"):
            return cls(**value.to_dict())
        raise ParameterTypeError(
            f"{where}: model_schema must be a ModelSchema(input_schema=Schema(X), output_schema=Schema(y)), "
            f"got {type(value).__name__}"
        )

    def to_dict(self) -> dict[str, Any]:
        """``{"input_schema": {...}, "output_schema": {...}}`` (a schema not given is left out)."""
        schemas = {"input_schema": self.input_schema, "output_schema": self.output_schema}
        return {key: schema.to_dict() for key, schema in schemas.items() if schema is not None}

    def json(self) -> str:
        """`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ModelSchema) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.json())

    def __repr__(self) -> str:
        return f"ModelSchema(input_schema: {self.input_schema!r}, output_schema: {self.output_schema!r})"
