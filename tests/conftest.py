"""Every test gets its own empty store, so no test sees another's data or the real one."""

from __future__ import annotations

import pytest

import fti


@pytest.fixture(autouse=True)
def store_path(tmp_path_factory, monkeypatch):
    """Point FTI_STORE at a fresh folder and pin the clock unless a test changes it."""
    path = tmp_path_factory.mktemp("store")
    monkeypatch.setenv("FTI_STORE", str(path))
    monkeypatch.delenv("FTI_NOW", raising=False)
    return path


@pytest.fixture
def fs(store_path):
    return fti.get_feature_store()


@pytest.fixture
def mr(store_path):
    return fti.get_model_registry()
