"""What a served object must have (`Service`), checked once before the server starts (`check_service`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from fti.exceptions import ServeError
from fti.serve.fields import RequestField

__all__ = ["Service", "check_service"]


@runtime_checkable
class Service(Protocol):
    """Any object with these attributes can be served; see the contract in `fti.serve`."""

    name: str
    description: str
    request_fields: Sequence[RequestField]

    def predict(self, request: dict[str, Any]) -> dict[str, Any]:
        """One answer for one checked request; raises an `FTIError` subclass for a request it refuses."""
        ...

    def close(self) -> None:
        """Flush logs and let go of resources; called once, at shutdown."""
        ...


def check_service(service: object) -> None:
    """Refuse, before serving, an object that lacks part of the `Service` contract.

    Raises:
        ServeError: Naming every attribute missing or of the wrong type.
    """
    label = f"the service {type(service).__name__}"
    problems = []
    for attribute in ("name", "description"):
        if not isinstance(getattr(service, attribute, None), str):
            problems.append(f"{attribute} (a str)")
    fields = getattr(service, "request_fields", None)
    if isinstance(fields, str) or not isinstance(fields, Sequence) or \
            not all(isinstance(field, RequestField) for field in fields):
        problems.append("request_fields (a list of fti.serve.RequestField)")
    else:
        names = [field.name for field in fields]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            problems.append(f"request_fields with distinct names (twice: {', '.join(twice)})")
    for method in ("predict", "close"):
        if not callable(getattr(service, method, None)):
            problems.append(f"{method}() (a method)")
    if problems:
        raise ServeError(f"{label} cannot be served: it needs {'; '.join(problems)} (see `help(fti.serve)`)")
