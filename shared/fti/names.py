"""Names that reach SQL.

Feature group, column, model and alias names are user input that ends up in SQL
statements and in file paths. They are checked here once, against one rule, and
quoted when used, so no name can change the meaning of a statement.
"""

from __future__ import annotations

import re

from fti.exceptions import InvalidNameError

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def check_name(name: object, what: str) -> str:
    """Return ``name`` if it is a valid identifier, else raise.

    Args:
        name: The name to check.
        what: What it names, for the message (``"feature group"``, ``"column"``...).

    Raises:
        InvalidNameError: Not a string of letters, digits and underscores that starts
            with a letter or underscore (at most 63 characters), or it starts with
            ``_fti`` (reserved for the store's own columns).
    """
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise InvalidNameError(
            f"{what} name {name!r} is not valid: use letters, digits and underscores, "
            "starting with a letter or underscore (at most 63 characters)"
        )
    if name.lower().startswith("_fti"):
        raise InvalidNameError(f"{what} name {name!r} is not valid: names starting with '_fti' are reserved")
    return name


def check_version(version: object, what: str) -> int:
    """Return ``version`` if it is a positive integer, else raise InvalidNameError."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidNameError(f"{what} version {version!r} is not valid: use a positive integer")
    return version


def quote(name: str) -> str:
    """Quote an already checked identifier for DuckDB or SQLite."""
    return '"' + name.replace('"', '""') + '"'
