"""``hsml.deployment``: `Deployment`, for labs that import it for type hints or ``isinstance``."""

from __future__ import annotations

from fti.store.deployment import Deployment

__all__ = ["Deployment"]
