"""``hsfs.constructor.filter``: `Filter` (one condition on one feature) and `Logic` (filters joined by & and |).

See `fti.store.filters`.
"""

from __future__ import annotations

from fti.store.filters import Filter, Logic

__all__ = ["Filter", "Logic"]
