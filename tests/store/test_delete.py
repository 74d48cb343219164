"""Deleting feature groups, feature views and model versions: what goes, what stays, what is refused.

``fg.delete()``, ``fv.delete()`` and ``model.delete()`` are named as in the
Hopsworks client. Each is all or nothing, is refused while something else uses
the thing (a view reading a group, a model trained from a view, an alias on a
model version) and never gives a commit id or a model version out twice.

The conftest gives every test an empty store in ``FTI_STORE`` (fixtures ``fs``, ``mr``, ``store_path``).
"""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

from fti.exceptions import (
    FeatureGroupNotFoundError,
    FeatureViewNotFoundError,
    FTIError,
    InUseError,
    ModelNotFoundError,
    SchemaError,
)
from fti.store import arguments
from fti.store.storage import Store

DAY = pd.Timestamp("2026-01-01 08:00", tz="UTC")


def passengers(ids, fare_dtype="int64", fare=10):
    return pd.DataFrame({"pid": list(ids), "boarded_at": [DAY] * len(ids),
                         "fare": pd.Series([fare] * len(ids), dtype=fare_dtype), "survived": [1] * len(ids)})


def offline_tables() -> set[str]:
    with Store().connect() as con:
        return {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def rows_of(sql: str, params: list) -> list[tuple]:
    with Store().connect() as con:
        return con.execute(sql, params).fetchall()


def online_tables(store_path) -> set[str]:
    with sqlite3.connect(store_path / "online.sqlite") as con:
        return {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


class Boom(Exception):
    """Raised by a patched step to fail a delete half-way."""


def fail_inside_transactions(monkeypatch):
    """Make the store's clock raise: every delete asks it for ``deleted_at`` as its transaction's last step."""
    def boom():
        raise Boom("the process died half-way")

    monkeypatch.setattr(arguments, "now", boom)


# --------------------------------------------------------------------------- feature groups


def test_a_deleted_feature_group_can_be_created_again_with_other_columns(fs, store_path):
    fg = fs.get_or_create_feature_group("passengers", 1, primary_key=["pid"], event_time="boarded_at",
                                        online_enabled=True)
    fg.insert(passengers([1, 2], "int64"))
    fg.insert(passengers([3], "int64"))
    # The first insert fixed 'fare' as a whole number: a float frame is refused.
    with pytest.raises(SchemaError):
        fg.insert(passengers([4], "float64", 9.5))
    assert "fg_passengers_1" in offline_tables() and "fg_passengers_1" in online_tables(store_path)

    fg.delete()

    assert "fg_passengers_1" not in offline_tables()
    assert "fg_passengers_1" not in online_tables(store_path)
    assert rows_of("SELECT * FROM fti_commits WHERE fg_name = ?", ["passengers"]) == []
    with pytest.raises(FeatureGroupNotFoundError):
        fs.get_feature_group("passengers", 1)
    again = fs.get_or_create_feature_group("passengers", 1, primary_key=["pid"], event_time="boarded_at",
                                           online_enabled=True)
    commit = again.insert(passengers([4, 5], "float64", 9.5))
    assert commit.commit_id == 3, "commit ids 1 and 2 belonged to the deleted group and are not given out again"
    stored = again.read()
    assert stored["pid"].tolist() == [4, 5] and stored["fare"].tolist() == [9.5, 9.5]
    assert again.commit_details()["commit_id"].tolist() == [3]
    # The online copy holds the new group only: no row of the deleted one comes back.
    view = fs.get_or_create_feature_view("fares", 1, query=again.select(["fare"]))
    assert view.get_feature_vector({"pid": 4}) == [9.5]
    assert view.get_feature_vector({"pid": 1}) == [None]


def test_a_stale_handle_and_a_second_delete_say_the_group_is_gone(fs):
    fg = fs.get_or_create_feature_group("passengers", 1, primary_key=["pid"], event_time="boarded_at")
    fg.insert(passengers([1]))
    fg.delete()
    with pytest.raises(FeatureGroupNotFoundError, match="no feature group 'passengers'"):
        fg.insert(passengers([2]))
    with pytest.raises(FeatureGroupNotFoundError):
        fg.delete()


def test_deleting_one_version_keeps_the_others(fs):
    v1 = fs.get_or_create_feature_group("passengers", 1, primary_key=["pid"], event_time="boarded_at")
    v2 = fs.get_or_create_feature_group("passengers", 2, primary_key=["pid"], event_time="boarded_at")
    v1.insert(passengers([1]))
    v2.insert(passengers([7, 8]))
    v1.delete()
    assert fs.get_feature_group("passengers").version == 2
    assert fs.get_feature_group("passengers", 2).read()["pid"].tolist() == [7, 8]


def test_a_feature_group_a_view_reads_is_not_deleted(fs):
    fg = fs.get_or_create_feature_group("passengers", 1, primary_key=["pid"], event_time="boarded_at")
    fares = fs.get_or_create_feature_group("fares", 1, primary_key=["pid"], event_time="boarded_at")
    fg.insert(passengers([1, 2]))
    fares.insert(passengers([1, 2], fare=30)[["pid", "boarded_at", "fare"]])
    view = fs.get_or_create_feature_view("joined", 1, query=fg.select(["survived"]).join(fares.select(["fare"])),
                                         labels=["survived"])
    for group in (fg, fares):
        with pytest.raises(InUseError, match=r"feature view 'joined' v1 reads it") as refused:
            group.delete()
        assert isinstance(refused.value, FTIError)
    assert len(fares.read()) == 2 and len(view.query.read()) == 2, "a refused delete changes nothing"
    view.delete()
    fares.delete()
    with pytest.raises(FeatureGroupNotFoundError):
        fs.get_feature_group("fares", 1)


def test_commit_ids_stay_unique_so_an_old_training_dataset_reads_the_same_rows(fs):
    kept = fs.get_or_create_feature_group("passengers", 1, primary_key=["pid"], event_time="boarded_at")
    scratch = fs.get_or_create_feature_group("scratch", 1, primary_key=["pid"], event_time="boarded_at")
    kept.insert(passengers([1, 2, 3, 4]))                     # commit 1
    scratch.insert(passengers([9]))                          # commit 2: the newest of the store
    view = fs.get_or_create_feature_view("survival", 1, query=kept.select(["fare", "survived"]),
                                         labels=["survived"])
    X_before, _ = view.training_data()                       # recorded as of commit 2
    scratch.delete()
    commit = kept.insert(passengers([5, 6]))
    assert commit.commit_id == 3, "reusing id 2 would slip this commit into the training dataset recorded at 2"
    X_again, _ = view.get_training_data(1)
    pd.testing.assert_frame_equal(X_again, X_before)


def test_a_failed_feature_group_delete_changes_nothing(fs, monkeypatch):
    fg = fs.get_or_create_feature_group("passengers", 1, primary_key=["pid"], event_time="boarded_at",
                                        online_enabled=True)
    fg.insert(passengers([1, 2]))
    before, commits = fg.read(), fg.commit_details()
    with monkeypatch.context() as patch:
        fail_inside_transactions(patch)
        with pytest.raises(Boom):
            fg.delete()
    pd.testing.assert_frame_equal(fg.read(), before)
    pd.testing.assert_frame_equal(fg.commit_details(), commits)
    # The online copy, dropped before the offline delete failed, is rebuilt from the history.
    view = fs.get_or_create_feature_view("fares", 1, query=fg.select(["fare"]))
    assert view.get_feature_vector({"pid": 2}) == [10]


# --------------------------------------------------------------------------- feature views


@pytest.fixture
def trained(fs, mr):
    """A feature group, a view with a scaler and one training dataset, and a model trained from it."""
    fg = fs.get_or_create_feature_group("passengers", 1, primary_key=["pid"], event_time="boarded_at")
    fg.insert(passengers(range(1, 11)).assign(fare=[float(i) for i in range(10)]))
    view = fs.get_or_create_feature_view("survival", 1, query=fg.select(["fare", "survived"]), labels=["survived"],
                                         transformation_functions={"fare": "standard_scaler"})
    view.train_test_split(test_size=0.3, seed=1)
    model = mr.create_model("survival", metrics={"accuracy": 0.5}, feature_view=view).save({"weights": [1]})
    return fg, view, model


def test_a_view_a_model_was_trained_from_is_not_deleted(fs, trained):
    _, view, model = trained
    with pytest.raises(InUseError, match=r"model 'survival' v1 was trained from it"):
        view.delete()
    assert len(view.get_training_datasets()) == 1, "a refused delete changes nothing"
    model.delete()
    view.delete()
    with pytest.raises(FeatureViewNotFoundError):
        fs.get_feature_view("survival", 1)
    assert rows_of("SELECT * FROM fti_training_datasets WHERE fv_name = ?", ["survival"]) == []


def test_a_deleted_view_can_be_defined_again_and_its_old_handle_writes_nothing(fs, trained):
    fg, view, model = trained
    model.delete()
    view.delete()
    with pytest.raises(FeatureViewNotFoundError, match="was deleted"):
        view.train_test_split(test_size=0.3, seed=1)
    assert rows_of("SELECT * FROM fti_training_datasets", []) == []
    # The same name and version with another definition (no scaler) is a new view now.
    again = fs.get_or_create_feature_view("survival", 1, query=fg.select(["fare", "survived"]), labels=["survived"])
    again.train_test_split(test_size=0.3, seed=1)
    assert again.get_training_datasets()["td_version"].tolist() == [1]
    assert again.transformation_functions == {}


def test_a_failed_view_delete_changes_nothing(fs, trained, monkeypatch):
    _, view, model = trained
    model.delete()
    with monkeypatch.context() as patch:
        fail_inside_transactions(patch)
        with pytest.raises(Boom):
            view.delete()
    assert fs.get_feature_view("survival", 1).get_training_datasets()["td_version"].tolist() == [1]


# --------------------------------------------------------------------------- models


def test_deleting_a_model_version_removes_its_row_and_artifact_and_never_reuses_its_number(mr, store_path):
    saved = [mr.create_model("titanic", metrics={"accuracy": a}).save({"w": a}) for a in (0.7, 0.8)]
    folder = store_path / "models" / "titanic" / "2"
    assert folder.is_dir()
    saved[1].delete()
    assert not folder.exists()
    assert sorted(p.name for p in (store_path / "models" / "titanic").iterdir()) == ["1"], "nothing left aside"
    with pytest.raises(ModelNotFoundError, match="has no version 2"):
        mr.get_model("titanic", 2)
    with pytest.raises(ModelNotFoundError, match="was deleted"):
        saved[1].load()
    assert [m.version for m in mr.get_models("titanic")] == [1]
    assert mr.get_model("titanic", 1).load() == {"w": 0.7}
    assert mr.create_model("titanic", metrics={"accuracy": 0.9}).save({"w": 0.9}).version == 3
    with pytest.raises(ModelNotFoundError):
        saved[1].delete()


def test_deleting_the_last_version_leaves_no_model_folder(mr, store_path):
    model = mr.create_model("titanic").save({"w": 1})
    model.delete()
    assert not (store_path / "models" / "titanic").exists()
    with pytest.raises(ModelNotFoundError):
        mr.get_model("titanic")


def test_a_model_version_an_alias_points_at_is_not_deleted(mr, store_path):
    first = mr.create_model("titanic").save({"w": 1})
    second = mr.create_model("titanic").save({"w": 2})
    mr.set_alias("titanic", "production", 2)
    with pytest.raises(InUseError, match=r"alias 'production' points at it"):
        second.delete()
    assert mr.get_model("titanic", alias="production").load() == {"w": 2}, "a refused delete changes nothing"
    mr.set_alias("titanic", "production", 1)  # roll back, then the old version can go
    second.delete()
    assert mr.get_aliases("titanic") == {"production": 1}
    assert first.load() == {"w": 1}


def test_an_unsaved_model_cannot_be_deleted(mr):
    with pytest.raises(ModelNotFoundError, match="not saved"):
        mr.create_model("titanic").delete()


def test_a_failed_model_delete_puts_the_artifact_back(mr, store_path, monkeypatch):
    model = mr.create_model("titanic").save({"w": 1})
    with monkeypatch.context() as patch:
        fail_inside_transactions(patch)
        with pytest.raises(Boom):
            model.delete()
    assert mr.get_model("titanic", 1).load() == {"w": 1}
    assert sorted(p.name for p in (store_path / "models" / "titanic").iterdir()) == ["1"]
