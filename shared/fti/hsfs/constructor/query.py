"""``hsfs.constructor.query``: `Query`, features of feature groups joined point-in-time, optionally filtered.

See `fti.store.query`.
"""

from __future__ import annotations

from fti.store.query import Query

__all__ = ["Query"]
