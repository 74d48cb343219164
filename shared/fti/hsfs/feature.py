"""``hsfs.feature``: `Feature`, one column of a feature group; comparing it makes a filter.

``Feature("amount") > 100`` (or ``fg.amount > 100``) is a `fti.hsfs.constructor.filter.Filter`
for ``query.filter(...)``. See `fti.store.filters`.
"""

from __future__ import annotations

from fti.store.filters import Feature

__all__ = ["Feature"]
