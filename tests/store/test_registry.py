"""The model registry: versions, aliases, best model, lineage, artifacts and their checksums."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fti
from fti.exceptions import ModelSaveError
from fti.store import storage
from fti.store.registry import ModelRegistry
from fti.store.storage import Store

# --------------------------------------------------------------------------- helpers


def model_files(store_path: Path, name: str | None = None) -> list[Path]:
    """Every file and folder under models/ (or models/NAME/)."""
    root = store_path / "models" if name is None else store_path / "models" / name
    return sorted(root.rglob("*")) if root.exists() else []


def version_rows(mr, name: str) -> list[int]:
    with Store().connect() as con:  # the test's store: FTI_STORE
        return [row[0] for row in con.execute("SELECT version FROM fti_models WHERE name = ? ORDER BY version",
                                              [name]).fetchall()]


@pytest.fixture(scope="module")
def training_data():
    rng = np.random.default_rng(7)
    X = pd.DataFrame({"age": rng.uniform(1, 80, 300), "fare": rng.uniform(5, 200, 300),
                      "pclass": rng.integers(1, 4, 300).astype("int64")})
    y = ((X["fare"] / 50 - X["pclass"] + rng.normal(0, 0.5, 300)) > 0).astype(int)
    return X, y


def save_plain(mr, name: str, metrics: dict, obj=None):
    return mr.create_model(name, metrics=metrics).save(obj if obj is not None else {"weights": list(metrics.values())})


# --------------------------------------------------------------------------- versions


def test_versions_are_numbered_1_2_3(mr, store_path):
    saved = [save_plain(mr, "titanic", {"accuracy": a}) for a in (0.7, 0.8, 0.75)]
    assert [m.version for m in saved] == [1, 2, 3]
    assert version_rows(mr, "titanic") == [1, 2, 3]
    # Numbering is per model name.
    assert save_plain(mr, "other", {"accuracy": 0.1}).version == 1
    assert save_plain(mr, "titanic", {"accuracy": 0.5}).version == 4
    assert [m.version for m in mr.get_models("titanic")] == [1, 2, 3, 4]
    for version in (1, 2, 3, 4):
        assert (store_path / "models" / "titanic" / str(version)).is_dir()
    # A model object not saved yet has no version and cannot be loaded.
    draft = mr.create_model("titanic", metrics={"accuracy": 0.9})
    assert draft.version is None
    with pytest.raises(fti.ModelNotFoundError, match="titanic"):
        draft.load()


def test_get_model_latest_by_version_and_by_alias(mr):
    for accuracy in (0.7, 0.8, 0.75):
        save_plain(mr, "titanic", {"accuracy": accuracy})
    latest = mr.get_model("titanic")
    assert latest.version == 3 and latest.metrics == {"accuracy": 0.75}
    second = mr.get_model("titanic", 2)
    assert second.version == 2 and second.metrics == {"accuracy": 0.8}
    assert second.load() == {"weights": [0.8]}
    mr.set_alias("titanic", "production", 2)
    by_alias = mr.get_model("titanic", alias="production")
    assert by_alias.version == 2 and by_alias.load() == {"weights": [0.8]}
    assert mr.get_aliases("titanic") == {"production": 2}
    with pytest.raises(ValueError):
        mr.get_model("titanic", version=1, alias="production")


def test_get_best_model_max_and_min(mr):
    for accuracy, loss in [(0.70, 0.9), (0.85, 0.4), (0.80, 0.3), (0.85, 0.5)]:
        save_plain(mr, "titanic", {"accuracy": accuracy, "loss": loss})
    save_plain(mr, "titanic", {"f1": 0.99})  # records another metric only
    best = mr.get_best_model("titanic", "accuracy", "max")
    assert best.version == 2  # the tie with version 4 goes to the older version
    assert mr.get_best_model("titanic", "loss", "min").version == 3
    assert mr.get_best_model("titanic", "loss", "max").version == 1
    assert mr.get_best_model("titanic", "accuracy", direction="min").version == 1
    with pytest.raises(fti.ModelNotFoundError, match="titanic"):
        mr.get_best_model("titanic", "recall")
    with pytest.raises(fti.ModelNotFoundError):
        mr.get_best_model("nothing_here", "accuracy")
    with pytest.raises(ValueError):
        mr.get_best_model("titanic", "accuracy", "biggest")


def test_set_alias_promotes_and_rolls_back(mr):
    for accuracy in (0.7, 0.8, 0.9):
        save_plain(mr, "titanic", {"accuracy": accuracy})
    mr.set_alias("titanic", "production", 1)
    mr.set_alias("titanic", "staging", 3)
    assert mr.get_model("titanic", alias="production").metrics["accuracy"] == 0.7
    mr.set_alias("titanic", "production", 3)  # promote
    assert mr.get_model("titanic", alias="production").version == 3
    mr.set_alias("titanic", "production", 2)  # roll back
    assert mr.get_model("titanic", alias="production").version == 2
    assert mr.get_aliases("titanic") == {"production": 2, "staging": 3}
    # Another process (a new registry object) sees the same.
    assert fti.get_model_registry().get_model("titanic", alias="production").version == 2
    with pytest.raises(fti.ModelNotFoundError, match="titanic"):
        mr.set_alias("titanic", "production", 7)
    assert mr.get_model("titanic", alias="production").version == 2
    mr.delete_alias("titanic", "staging")
    assert mr.get_aliases("titanic") == {"production": 2}
    with pytest.raises(fti.ModelNotFoundError, match="staging"):
        mr.get_model("titanic", alias="staging")


# --------------------------------------------------------------------------- metadata and lineage


def test_metrics_input_schema_and_example_are_kept(mr):
    example = pd.DataFrame({
        "age": pd.array([22, None], dtype="Int64"),
        "fare": [7.25, float("nan")],
        "sex": pd.array(["male", None], dtype="str"),
        "boarded": pd.to_datetime(["2024-04-10 09:00", None]),
        "alone": [True, False],
    })
    model = mr.create_model("titanic", metrics={"accuracy": np.float64(0.8125), "n_trees": np.int64(50)},
                            input_example=example, description="first try")
    model.save({"w": 1})
    loaded = mr.get_model("titanic", 1)
    assert loaded.metrics == {"accuracy": 0.8125, "n_trees": 50}
    assert type(loaded.metrics["n_trees"]) is int
    assert loaded.description == "first try"
    assert loaded.input_schema == [
        {"name": "age", "dtype": "Int64"},
        {"name": "fare", "dtype": "float64"},
        {"name": "sex", "dtype": str(example["sex"].dtype)},
        {"name": "boarded", "dtype": str(example["boarded"].dtype)},
        {"name": "alone", "dtype": "bool"},
    ]
    first, second = loaded.input_example
    assert first["age"] == 22 and first["fare"] == 7.25 and first["sex"] == "male" and first["alone"] is True
    assert pd.Timestamp(first["boarded"]) == pd.Timestamp("2024-04-10 09:00")
    # Missing values come back as None (JSON null), not NaN or a string.
    assert second["age"] is None and second["fare"] is None and second["sex"] is None and second["boarded"] is None
    assert loaded.created_at is not None and str(pd.Timestamp(loaded.created_at).tz) == "UTC"


def test_created_at_follows_fti_now(mr, monkeypatch):
    monkeypatch.setenv("FTI_NOW", "2024-02-03T04:05:06")
    saved = save_plain(mr, "titanic", {"accuracy": 0.5})
    assert saved.created_at == pd.Timestamp("2024-02-03 04:05:06", tz="UTC")
    assert pd.Timestamp(mr.get_model("titanic").created_at) == pd.Timestamp("2024-02-03 04:05:06", tz="UTC")


def test_lineage_feature_view_training_dataset_and_commit(fs, mr):
    fg = fs.get_or_create_feature_group("passengers", primary_key=["pid"], event_time="ts")
    rows = 40
    frame = pd.DataFrame({
        "pid": np.arange(rows),
        "ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(rows), unit="h"),
        "age": np.linspace(1, 80, rows),
        "survived": np.arange(rows) % 2,
    })
    first = fg.insert(frame)
    fv = fs.get_or_create_feature_view("survival", version=1, query=fg.select(["age", "survived"]),
                                       labels=["survived"])
    fv.train_test_split(test_size=0.25, seed=1)
    second = fg.insert(frame.assign(age=frame["age"] + 1))  # after the training data was read
    model = mr.create_model("titanic", metrics={"accuracy": 0.7}, feature_view=fv)
    model.save({"w": 1})
    loaded = mr.get_model("titanic")
    assert loaded.feature_view_name == "survival" and loaded.feature_view_version == 1
    assert loaded.training_dataset_version == 1
    assert loaded.trained_on_commit == first.commit_id != second.commit_id
    view = loaded.feature_view
    assert view.name == "survival" and view.training_dataset_version == 1
    # A second training dataset, named explicitly.
    fv.train_test_split(test_size=0.25, seed=2)
    other = mr.create_model("titanic", feature_view=fv, training_dataset_version=2).save({"w": 2})
    assert (other.training_dataset_version, other.trained_on_commit) == (2, second.commit_id)
    assert mr.get_model("titanic", 1).trained_on_commit == first.commit_id
    # No feature view: no lineage.
    plain = save_plain(mr, "plain", {"accuracy": 0.1})
    assert (plain.feature_view_name, plain.training_dataset_version, plain.trained_on_commit) == (None, None, None)
    assert mr.get_model("plain").feature_view is None


# --------------------------------------------------------------------------- artifacts


def test_xgboost_model_round_trips_in_native_format(mr, training_data):
    xgboost = pytest.importorskip("xgboost")
    X, y = training_data
    clf = xgboost.XGBClassifier(n_estimators=20, max_depth=3, random_state=0)
    clf.fit(X, y)
    saved = mr.python.create_model("xgb", metrics={"accuracy": float((clf.predict(X) == y).mean())}).save(clf)
    files = [p.name for p in saved.artifact_path.iterdir()]
    assert files == ["model.ubj"], files
    assert not any(p.suffix in (".pkl", ".pickle", ".joblib") for p in saved.artifact_path.rglob("*"))
    loaded = mr.get_model("xgb", 1).load()
    assert type(loaded) is xgboost.XGBClassifier
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert mr.get_model("xgb").framework.startswith("xgboost")


def test_sklearn_model_round_trips_with_joblib(mr, training_data):
    from sklearn.linear_model import LogisticRegression

    X, y = training_data
    clf = LogisticRegression(max_iter=500).fit(X, y)
    saved = mr.sklearn.create_model("logreg", metrics={"accuracy": clf.score(X, y)}).save(clf)
    assert [p.name for p in saved.artifact_path.iterdir()] == ["model.joblib"]
    loaded = mr.get_model("logreg").load()
    assert isinstance(loaded, LogisticRegression)
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_save_a_directory_and_a_single_file(mr, tmp_path):
    folder = tmp_path / "export"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text('{"layers": 2}')
    (folder / "sub" / "weights.bin").write_bytes(bytes(range(256)))
    saved_dir = mr.python.create_model("bundle").save(folder)
    single = tmp_path / "model.onnx"
    single.write_bytes(b"\x08\x01onnx-bytes")
    saved_file = mr.python.create_model("single").save(str(single))

    # Changing the originals afterwards does not change the registered copies.
    (folder / "config.json").write_text("changed")
    single.write_bytes(b"changed")

    loaded_dir = Path(mr.get_model("bundle").load())
    assert loaded_dir.is_dir()
    assert (loaded_dir / "config.json").read_text() == '{"layers": 2}'
    assert (loaded_dir / "sub" / "weights.bin").read_bytes() == bytes(range(256))
    loaded_file = Path(mr.get_model("single").load())
    assert loaded_file.name == "model.onnx" and loaded_file.read_bytes() == b"\x08\x01onnx-bytes"
    assert Path(mr.get_model("single").download()).is_dir()
    assert saved_dir.version == saved_file.version == 1
    with pytest.raises(ModelSaveError, match="does_not_exist"):
        mr.python.create_model("ghost").save(tmp_path / "does_not_exist")
    assert version_rows(mr, "ghost") == []


@pytest.mark.parametrize("kind", ["joblib", "xgboost", "directory"])
def test_a_tampered_artifact_is_not_loaded(mr, tmp_path, training_data, kind):
    if kind == "joblib":
        from sklearn.linear_model import LogisticRegression

        obj = LogisticRegression(max_iter=500).fit(*training_data)
    elif kind == "xgboost":
        xgboost = pytest.importorskip("xgboost")
        obj = xgboost.XGBClassifier(n_estimators=5).fit(*training_data)
    else:
        obj = tmp_path / "bundle"
        obj.mkdir()
        (obj / "a.txt").write_text("hello world")
    saved = mr.create_model("m").save(obj)
    target = next(p for p in sorted(saved.artifact_path.rglob("*")) if p.is_file())
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(fti.ArtifactIntegrityError, match="'m'") as info:
        mr.get_model("m").load()
    assert "SHA-256" in str(info.value) or "sha" in str(info.value).lower()
    with pytest.raises(fti.ArtifactIntegrityError):
        mr.get_model("m").download()
    # Flip it back: it loads again.
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    assert mr.get_model("m").load() is not None


def test_a_deleted_or_added_artifact_file_is_detected(mr):
    saved = save_plain(mr, "m", {"accuracy": 0.5})
    (saved.artifact_path / "extra.txt").write_text("sneaked in")
    with pytest.raises(fti.ArtifactIntegrityError):
        mr.get_model("m").load()
    (saved.artifact_path / "extra.txt").unlink()
    assert mr.get_model("m").load() == {"weights": [0.5]}
    (saved.artifact_path / "model.joblib").unlink()
    with pytest.raises(fti.ArtifactIntegrityError):
        mr.get_model("m").load()


# --------------------------------------------------------------------------- errors


def test_unknown_model_version_or_alias_raise_model_not_found(mr):
    with pytest.raises(fti.ModelNotFoundError, match="nope"):
        mr.get_model("nope")
    with pytest.raises(fti.ModelNotFoundError, match="nope"):
        mr.get_model("nope", 1)
    with pytest.raises(fti.ModelNotFoundError, match="nope"):
        mr.get_model("nope", alias="production")
    save_plain(mr, "titanic", {"accuracy": 0.5})
    with pytest.raises(fti.ModelNotFoundError, match="titanic") as info:
        mr.get_model("titanic", 2)
    assert "2" in str(info.value)
    with pytest.raises(fti.ModelNotFoundError, match="titanic") as info:
        mr.get_model("titanic", alias="production")
    assert "production" in str(info.value)
    with pytest.raises(fti.ModelNotFoundError, match="nope"):
        mr.set_alias("nope", "production", 1)
    assert isinstance(info.value, fti.NotFoundError) and isinstance(info.value, LookupError)


@pytest.mark.parametrize("name", ["a;drop table x", "1abc", "_fti_model", "../escape", "a/b", "", "with space"])
def test_invalid_names_are_refused(mr, store_path, name):
    with pytest.raises(fti.InvalidNameError) as info:
        mr.create_model(name)
    assert repr(name) in str(info.value)
    with pytest.raises(fti.InvalidNameError):
        mr.get_model(name)
    save_plain(mr, "ok", {"accuracy": 0.5})
    with pytest.raises(fti.InvalidNameError):
        mr.set_alias("ok", name, 1)
    with pytest.raises(fti.InvalidNameError):
        mr.get_model("ok", alias=name)
    if name == "":
        with pytest.raises(fti.InvalidNameError):
            mr.create_model("ok", metrics={name: 1.0})
    else:  # metric names are free text, as in Hopsworks ("f1 score"): kept as JSON, never in SQL
        assert mr.create_model("ok", metrics={name: 1.0}).metrics == {name: 1.0}
    with pytest.raises(fti.InvalidNameError):
        mr.get_model("ok", version=0)
    assert [p.name for p in (store_path / "models").iterdir()] == ["ok"]
    assert mr.get_aliases("ok") == {}


def test_a_failing_database_insert_leaves_no_version_and_no_artifact(mr, store_path, monkeypatch):
    save_plain(mr, "titanic", {"accuracy": 0.5})
    before = model_files(store_path)

    import duckdb

    original_attach = storage.attach  # how the store opens its file

    class FailingInsert:
        def __init__(self, con):
            self._con = con

        def execute(self, sql, *args, **kwargs):
            if sql.lstrip().startswith("INSERT INTO fti_models"):
                raise duckdb.IOException("disk full (simulated)")
            return self._con.execute(sql, *args, **kwargs)

        def __getattr__(self, name):
            return getattr(self._con, name)

    monkeypatch.setattr(storage, "attach", lambda path: FailingInsert(original_attach(path)))
    with pytest.raises(duckdb.IOException, match="simulated"):
        mr.create_model("titanic", metrics={"accuracy": 0.9}).save({"w": 2})
    with pytest.raises(duckdb.IOException, match="simulated"):
        mr.create_model("fresh", metrics={"accuracy": 0.9}).save({"w": 2})
    monkeypatch.setattr(storage, "attach", original_attach)

    assert version_rows(mr, "titanic") == [1]
    assert version_rows(mr, "fresh") == []
    assert not (store_path / "models" / "titanic" / "2").exists()
    assert [p for p in model_files(store_path) if p.is_file()] == [p for p in before if p.is_file()]
    assert not any(".staging" in p.name for p in model_files(store_path))
    # The next save takes version 2 and works.
    assert mr.create_model("titanic", metrics={"accuracy": 0.9}).save({"w": 2}).version == 2
    assert mr.get_model("titanic", 2).load() == {"w": 2}


def test_an_object_that_cannot_be_saved_leaves_nothing_behind(mr, store_path):
    save_plain(mr, "titanic", {"accuracy": 0.5})
    before = [p for p in model_files(store_path) if p.is_file()]
    unpicklable = {"f": lambda x: x}
    with pytest.raises(ModelSaveError, match="model 'titanic'.*cannot be pickled"):
        mr.create_model("titanic", metrics={"accuracy": 0.9}).save(unpicklable)
    assert version_rows(mr, "titanic") == [1]
    after = model_files(store_path)
    assert not any(".staging" in part for p in after for part in p.parts), after
    assert [p for p in after if p.is_file()] == before
    assert mr.create_model("titanic").save({"w": 3}).version == 2


# --------------------------------------------------------------------------- Hopsworks-style entry points


def test_hopsworks_style_login_and_flavours(store_path):
    project = fti.login(project="demo", api_key_value="ignored")
    fs = project.get_feature_store()
    mr = project.get_model_registry()
    assert isinstance(fs, fti.FeatureStore) and isinstance(mr, ModelRegistry)
    assert Path(fs.path) == Path(store_path).resolve()
    m1 = mr.python.create_model("hops", metrics={"accuracy": 0.6})
    m1.save({"w": 1})
    m2 = mr.sklearn.create_model("hops", metrics={"accuracy": 0.7})
    m2.save({"w": 2})
    assert (m1.version, m2.version) == (1, 2)
    # The same registry as fti.get_model_registry() on that store.
    other = fti.get_model_registry()
    assert [m.version for m in other.get_models("hops")] == [1, 2]
    assert other.get_best_model("hops", "accuracy").load() == {"w": 2}
    # Feature store from the project is the same store too.
    fg = fs.get_or_create_feature_group("things", primary_key=["id"])
    fg.insert(pd.DataFrame({"id": [1], "x": [1.0]}))
    assert fti.get_feature_store().get_feature_group("things").read()["x"].tolist() == [1.0]
    assert json.loads(json.dumps(m2.metrics)) == {"accuracy": 0.7}
