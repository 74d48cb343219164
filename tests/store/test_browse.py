"""Browsing a store: every feature group, feature view and model, without knowing their names.

``fs.get_feature_groups()``, ``fs.get_feature_views()`` and ``mr.get_models()``
(no name) are DataFrames a student can look at in a notebook; ``fti store`` prints
the same with the most recent runs (tests/run/test_cli.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fti
from fti.exceptions import InvalidNameError


def passengers_frame(first: int, count: int) -> pd.DataFrame:
    ids = np.arange(first, first + count)
    return pd.DataFrame({
        "pid": ids,
        "boarded": pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(ids, unit="h"),
        "age": (ids % 60).astype(float),
        "survived": ids % 2,
    })


@pytest.fixture
def filled(fs, mr, monkeypatch):
    """Two feature groups (one never written), two feature views (one with two training datasets), two models."""
    monkeypatch.setenv("FTI_NOW", "2026-01-05T23:00:00Z")
    passengers = fs.get_or_create_feature_group("passengers", primary_key=["pid"], event_time="boarded",
                                                description="who boarded")
    passengers.insert(passengers_frame(0, 30))
    monkeypatch.setenv("FTI_NOW", "2026-01-06T23:00:00Z")
    passengers.insert(passengers_frame(20, 30))  # 10 rows again (unchanged), 20 new
    fs.get_or_create_feature_group("cabins", primary_key=["cabin"], online_enabled=True)
    survival = fs.get_or_create_feature_view("survival", query=passengers.select(["age", "survived"]),
                                             labels=["survived"], description="who survives")
    survival.train_test_split(test_size=0.25, seed=1)
    survival.train_test_split(test_size=0.5, seed=2)
    fs.get_or_create_feature_view("survival", version=2, query=passengers.select(["age", "survived"]),
                                  labels=["survived"])
    mr.create_model("titanic", metrics={"accuracy": 0.75}, feature_view=survival).save({"weights": [1]})
    monkeypatch.setenv("FTI_NOW", "2026-01-07T23:00:00Z")
    mr.create_model("titanic", metrics={"accuracy": 0.8, "roc_auc": 0.9}).save({"weights": [2]})
    mr.create_model("baseline", metrics={"accuracy": 0.6}).save({"weights": [0]})
    mr.set_alias("titanic", "production", 2)
    mr.set_alias("titanic", "challenger", 2)
    mr.set_alias("titanic", "previous", 1)
    return fs, mr


def test_feature_groups_with_their_commits_and_rows(filled):
    fs, _ = filled
    groups = fs.get_feature_groups().set_index("name")
    assert list(groups.index) == ["cabins", "passengers"]
    assert groups.loc["passengers", "commits"] == 2 and groups.loc["passengers", "rows"] == 50
    assert groups.loc["passengers", "last_commit_at"] == pd.Timestamp("2026-01-06 23:00", tz="UTC")
    assert groups.loc["passengers", "description"] == "who boarded"
    assert groups.loc["cabins", "commits"] == 0 and groups.loc["cabins", "rows"] == 0
    assert pd.isna(groups.loc["cabins", "last_commit_at"]) and bool(groups.loc["cabins", "online_enabled"])


def test_feature_views_with_their_training_datasets(filled):
    fs, _ = filled
    views = fs.get_feature_views()
    assert list(views.columns) == ["name", "version", "labels", "training_datasets", "description", "created_at"]
    assert list(zip(views["name"], views["version"], views["training_datasets"], strict=True)) == [
        ("survival", 1, 2), ("survival", 2, 0)]
    assert views["labels"].iloc[0] == ["survived"] and views["description"].iloc[0] == "who survives"


def test_every_model_with_versions_metrics_and_aliases(filled):
    _, mr = filled
    models = mr.get_models()
    assert isinstance(models, pd.DataFrame)
    assert list(models.columns) == ["name", "version", "metrics", "aliases", "created_at", "feature_view",
                                    "training_dataset_version", "description"]
    rows = {(name, version): row for name, version, row in zip(
        models["name"], models["version"], models.to_dict(orient="records"), strict=True)}
    assert list(rows) == [("baseline", 1), ("titanic", 1), ("titanic", 2)]
    assert rows[("titanic", 2)]["aliases"] == ["challenger", "production"]
    assert rows[("titanic", 1)]["aliases"] == ["previous"] and rows[("baseline", 1)]["aliases"] == []
    assert rows[("titanic", 2)]["metrics"] == {"accuracy": 0.8, "roc_auc": 0.9}
    assert rows[("titanic", 1)]["feature_view"] == "survival v1"
    assert rows[("titanic", 1)]["training_dataset_version"] == 2, "the view's latest training dataset"
    assert pd.isna(rows[("titanic", 2)]["feature_view"]), "trained without a feature view"
    assert rows[("titanic", 2)]["created_at"] == pd.Timestamp("2026-01-07 23:00", tz="UTC")
    # With a name, as in the Hopsworks client: the versions as Model objects.
    assert [model.version for model in mr.get_models("titanic")] == [1, 2]
    assert mr.get_models("nothing") == []
    with pytest.raises(InvalidNameError):
        mr.get_models("no such name!")


def test_an_empty_store_lists_nothing_with_the_same_columns(fs, mr):
    assert fs.get_feature_groups().empty and "rows" in fs.get_feature_groups().columns
    assert fs.get_feature_views().empty and "training_datasets" in fs.get_feature_views().columns
    assert mr.get_models().empty and "aliases" in mr.get_models().columns


def test_browsing_another_folder_does_not_touch_the_default_store(filled, tmp_path):
    other = fti.get_feature_store(tmp_path / "other")
    assert other.get_feature_groups().empty
    assert fti.get_model_registry(tmp_path / "other").get_models().empty
    assert len(fti.get_feature_store().get_feature_groups()) == 2
