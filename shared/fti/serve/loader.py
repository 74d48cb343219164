"""Finding a system's service: ``systems.<name>.serving`` (or any module), imported by name at run time.

`fti` never imports an example system statically (an import-linter contract forbids it):
the module is found with `importlib` when ``fti serve`` asks for it.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from fti.exceptions import ServeError
from fti.serve.service import Service, check_service

__all__ = ["load_service", "serving_module"]


def serving_module(system: str | None = None, module: str | None = None) -> str:
    """The module to import: ``module`` as given, else ``systems.<system>.serving``.

    Raises:
        ServeError: Neither or both given, or a system name that is not a plain name.
    """
    if (system is None) == (module is None):
        raise ServeError("name a system (fti serve fraud) or a module (fti serve --module my_project.serving), "
                         "not " + ("both" if system else "neither"))
    if module is not None:
        return module
    if not system.isidentifier():
        raise ServeError(f"{system!r} is not a system name (a Python name such as fraud); to serve a module of "
                         "your own, use --module PACKAGE.MODULE")
    return f"systems.{system}.serving"


def load_service(system: str | None = None, module: str | None = None, store: str | Path | None = None) -> Service:
    """Import the serving module and call its ``service(store)``.

    Args:
        system: An example system's name: its module is ``systems.<system>.serving``.
        module: Or any importable module with a ``service`` function (a project of your own).
        store: The store folder handed to ``service`` (``None``: its default, ``FTI_STORE``).

    Raises:
        ServeError: No such module, no ``service`` function in it, or what it returns is no `Service`.
        FTIError: Whatever ``service`` raises on purpose (no model in the store yet, ...).
    """
    name = serving_module(system, module)
    try:
        loaded = importlib.import_module(name)
    except ModuleNotFoundError as problem:
        # Only the module itself (or a package above it) missing is "no such system"; a module
        # the serving code imports being missing is a bug of that code and keeps its traceback.
        if problem.name is None or not (name == problem.name or name.startswith(problem.name + ".")):
            raise
        what = f"no system {system!r} to serve" if system else f"no module {module!r}"
        hint = (f"there is no module {name} (shared/systems/{system}/serving.py with a service() function)"
                if system else "is it on PYTHONPATH, or installed?")
        raise ServeError(f"{what}: {hint}") from None
    factory = getattr(loaded, "service", None)
    if not callable(factory):
        raise ServeError(f"{name} has no service() function: add `def service(store=None)` returning the object "
                         "to serve (see `help(fti.serve)`)")
    served = factory(store)
    check_service(served)
    return served
