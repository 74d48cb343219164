"""The model registry and model serving, as labs written for the Hopsworks client use them.

Metric names with spaces, ``create_model(model_schema=..., version=...)`` on every
flavour, ``model.save(folder)`` / ``model.download()`` keeping the lab's files at the
top, and in-process deployments of a lab's own predictor script (``class Predict``),
found again from another process. Real files and real processes throughout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

import fti
from fti.exceptions import (
    ArtifactIntegrityError,
    DeploymentError,
    DeploymentNotFoundError,
    DeploymentNotRunningError,
    InvalidNameError,
    ModelSaveError,
    ParameterTypeError,
    PredictionError,
    PredictorScriptError,
)
from fti.hsml.model_schema import ModelSchema
from fti.hsml.schema import Schema
from fti.hsml.utils.schema import Schema as OldPathSchema
from fti.store.deployment import ModelServing
from fti.store.feature_store import FeatureStore
from fti.store.registry import ModelRegistry

# --------------------------------------------------------------------------- helpers

PREDICT_SCRIPT = '''
import os

import joblib


class Predict:
    def __init__(self):
        # As a Hopsworks predictor: the model's files are in MODEL_FILES_PATH.
        self.model = joblib.load(os.environ["MODEL_FILES_PATH"] + "/model.pkl")

    def predict(self, inputs):
        return [self.model["scale"] * sum(row) + self.model["offset"] for row in inputs]
'''


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def saved_scaler(mr: ModelRegistry, tmp_path: Path, scale: float = 3.0, offset: float = 0.5, name: str = "scaler"):
    """A model saved as Hopsworks labs do: a folder holding model.pkl."""
    model_dir = tmp_path / f"{name}_dir_{scale}"
    model_dir.mkdir()
    joblib.dump({"scale": scale, "offset": offset}, model_dir / "model.pkl")
    model = mr.python.create_model(name, metrics={"f1 score": scale})
    return model.save(str(model_dir))


# --------------------------------------------------------------------------- metrics


def test_metric_names_with_spaces_and_dashes_and_best_model(mr):
    scores = [(0.70, 0.30), (0.90, 0.20), (0.80, 0.10)]
    for f1, loss in scores:
        mr.sklearn.create_model("clf", metrics={"f1 score": f1, "log-loss": loss}).save({"f1": f1})
    assert mr.get_model("clf", 2).metrics == {"f1 score": 0.90, "log-loss": 0.20}
    assert mr.get_best_model("clf", "f1 score", "max").version == 2
    assert mr.get_best_model("clf", "log-loss", "min").version == 3
    assert mr.get_best_model("clf", "f1 score", "min").load() == {"f1": 0.70}
    with pytest.raises(fti.ModelNotFoundError, match="f1-score"):
        mr.get_best_model("clf", "f1-score", "max")  # another name: not recorded


@pytest.mark.parametrize("metrics, error", [
    ({"": 0.5}, InvalidNameError), ({"   ": 0.5}, InvalidNameError), ({"a\nb": 0.5}, InvalidNameError),
    ({"f1 score": "high"}, ParameterTypeError), ({"f1 score": True}, ParameterTypeError),
])
def test_empty_metric_names_and_non_numbers_are_refused(mr, metrics, error):
    with pytest.raises(error, match="metric"):
        mr.python.create_model("clf", metrics=metrics)
    with pytest.raises(InvalidNameError):
        mr.get_best_model("clf", "", "max")


# --------------------------------------------------------------------------- schemas


def test_schema_of_frames_series_arrays_and_lists():
    frame = pd.DataFrame({"age": [1.5, 2.0], "pclass": np.array([1, 3], dtype="int64"), "sex": ["m", "f"]})
    assert Schema(frame).to_dict() == {"columnar_schema": [
        {"name": "age", "type": "float64"}, {"name": "pclass", "type": "int64"},
        {"name": "sex", "type": str(frame["sex"].dtype)}]}
    assert Schema(frame["age"]).to_dict() == {"columnar_schema": [{"name": "age", "type": "float64"}]}
    tensor = Schema(np.zeros((4, 28, 28), dtype="uint8")).to_dict()
    assert tensor == {"tensor_schema": {"type": "uint8", "shape": "(4, 28, 28)"}}
    listed = Schema([{"name": "x", "type": "double", "description": "an x"}]).to_dict()
    assert listed == {"columnar_schema": [{"name": "x", "type": "double", "description": "an x"}]}
    assert OldPathSchema is Schema  # hsml.utils.schema, the 3.0 path, is the same class
    with pytest.raises(ParameterTypeError, match="Schema"):
        Schema("age")
    with pytest.raises(ParameterTypeError, match="type"):
        Schema([{"name": "x"}])
    both = ModelSchema(input_schema=Schema(frame), output_schema=Schema(frame["age"]))
    assert set(both.to_dict()) == {"input_schema", "output_schema"}
    assert json.loads(both.json()) == both.to_dict()
    assert ModelSchema(output_schema=Schema(frame["age"])).to_dict() == {
        "output_schema": {"columnar_schema": [{"name": "age", "type": "float64"}]}}


@pytest.mark.parametrize("flavour", ["python", "sklearn", "tensorflow", "torch", "llm", "xgboost"])
def test_model_schema_is_kept_with_the_version(store_path, flavour):
    mr = fti.get_model_registry()
    X = pd.DataFrame({"age": [22.0, 38.0], "fare": [7.25, 71.3]})
    y = pd.Series([0, 1], name="survived")
    schema = ModelSchema(input_schema=Schema(X), output_schema=Schema(y))
    model = getattr(mr, flavour).create_model(
        "titanic", metrics={"accuracy": 0.8}, model_schema=schema, input_example=X.head(1),
        description="a lab's model")
    assert model.model_schema == schema  # before saving, too
    model.save({"weights": [1, 2]})
    # A fresh registry (as another notebook would open) reads it back.
    again = ModelRegistry(FeatureStore(store_path)).get_model("titanic", 1)
    assert again.model_schema.to_dict() == schema.to_dict()
    assert again.model_schema.input_schema.columnar_schema[1] == {"name": "fare", "type": "float64"}
    assert again.input_example == [{"age": 22.0, "fare": 7.25}]
    assert again.description == "a lab's model"
    # A version saved without one has none.
    mr.python.create_model("titanic").save({"weights": []})
    assert mr.get_model("titanic", 2).model_schema is None
    with pytest.raises(ParameterTypeError, match="model_schema"):
        mr.python.create_model("titanic", model_schema="columns: age, fare")


def test_the_model_schema_is_covered_by_the_checksum(mr, store_path):
    X = pd.DataFrame({"age": [22.0]})
    mr.python.create_model("m", model_schema=ModelSchema(input_schema=Schema(X))).save({"w": 1})
    schema_file = store_path / "models" / "m" / "1" / "model_schema.json"
    schema_file.write_text(schema_file.read_text().replace("float64", "int64"))
    with pytest.raises(ArtifactIntegrityError, match="'m'"):
        mr.get_model("m").load()


def test_create_model_version_and_input_example_forms(mr):
    assert mr.python.create_model("m", version=5).save({"w": 5}).version == 5
    assert mr.python.create_model("m").save({"w": 6}).version == 6
    with pytest.raises(ModelSaveError, match="version 5"):
        mr.python.create_model("m", version=5).save({"w": 0})
    assert [m.version for m in mr.get_models("m")] == [5, 6]
    row = pd.Series({"age": 22.0, "fare": 7.25})
    assert mr.python.create_model("m", input_example=row).input_example == [{"age": 22.0, "fare": 7.25}]
    assert mr.python.create_model("m", input_example=np.array([1.0, 2.0])).input_example == [[1.0, 2.0]]
    assert mr.python.create_model("m", input_example=[[1, 2], [3, 4]]).input_example == [[1, 2], [3, 4]]
    with pytest.raises(ParameterTypeError, match="input_example"):
        mr.python.create_model("m", input_example=42)


# --------------------------------------------------------------------------- saved folders


def test_a_saved_folder_downloads_with_its_files_at_the_top(mr, tmp_path):
    from sklearn.linear_model import LogisticRegression

    X, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1])
    clf = LogisticRegression().fit(X, y)
    model_dir = tmp_path / "model_dir"
    (model_dir / "images").mkdir(parents=True)
    joblib.dump(clf, model_dir / "model.pkl")
    (model_dir / "model.json").write_text('{"threshold": 0.5}')
    (model_dir / "images" / "confusion_matrix.png").write_bytes(b"\x89PNG fake")
    mr.python.create_model("lab", metrics={"f1 score": 1.0}).save(model_path=str(model_dir))  # hsml's keyword

    path = mr.get_model("lab", 1).download()
    assert sorted(os.listdir(path)) == ["images", "model.json", "model.pkl"]
    loaded = joblib.load(path + "/model.pkl")
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    assert json.loads(Path(os.path.join(path, "model.json")).read_text()) == {"threshold": 0.5}
    # download(local_path) copies them, still at the top.
    copy = mr.get_model("lab", 1).download(str(tmp_path / "copy"))
    assert sorted(os.listdir(copy)) == ["images", "model.json", "model.pkl"]
    # An object saved by the kit's own notebooks downloads as its one file and loads back.
    mr.sklearn.create_model("kit").save(clf)
    assert os.listdir(mr.get_model("kit").download()) == ["model.joblib"]
    np.testing.assert_array_equal(mr.get_model("kit").load().predict(X), clf.predict(X))


def test_a_version_in_the_older_layout_still_loads(mr, store_path):
    """Kits before the files/ folder kept an object's file in the version folder itself."""
    mr.python.create_model("old").save({"weights": [1, 2, 3]})
    version = store_path / "models" / "old" / "1"
    (version / "files" / "model.joblib").rename(version / "model.joblib")
    (version / "files").rmdir()
    from fti.store import artifacts
    from fti.store.storage import Store

    with Store().connect() as con:  # the older kit's checksum, over the older layout
        con.execute("UPDATE fti_models SET sha256 = ? WHERE name = 'old'", [artifacts.checksum(version)])
    again = fti.get_model_registry().get_model("old")
    assert again.load() == {"weights": [1, 2, 3]}
    assert os.listdir(again.download()) == ["model.joblib"]


# --------------------------------------------------------------------------- deployments


def test_deploy_start_predict_in_both_request_forms(mr, tmp_path):
    model = saved_scaler(mr, tmp_path)
    script = write(tmp_path / "predict_scaler.py", PREDICT_SCRIPT)
    deployment = model.deploy(name="scaler", description="scales", script_file=str(script))
    assert deployment.is_stopped() and not deployment.is_running()
    with pytest.raises(DeploymentNotRunningError, match="'scaler'.*start"):
        deployment.predict(inputs=[[1, 2]])
    deployment.start()
    assert deployment.is_running() and deployment.get_state().status == "Running"
    assert deployment.predict(inputs=[[1, 2], [3, 4]]) == {"predictions": [9.5, 21.5]}
    assert deployment.predict({"instances": [[1, 1]]}) == {"predictions": [6.5]}
    assert deployment.predict(data={"instances": [[0, 0]]}, inputs=[[9, 9]]) == {"predictions": [0.5]}
    assert deployment.predict(inputs=[2, 2]) == {"predictions": [12.5]}  # one row
    assert deployment.predict(inputs=np.array([[1.0, 0.0]])) == {"predictions": [3.5]}
    assert deployment.predict(inputs=pd.Series([1.0, 1.0])) == {"predictions": [6.5]}  # one row
    # The script was copied when it was deployed: editing the original changes nothing.
    script.write_text(PREDICT_SCRIPT.replace("+ self.model", "- self.model"))
    again = ModelServing(fti.get_model_registry()).get_deployment("scaler")
    assert again.predict(inputs=[[1, 2]]) == {"predictions": [9.5]}
    assert (again.model_name, again.model_version, again.description) == ("scaler", 1, "scales")
    deployment.stop()
    assert again.get_state().status == "Stopped"
    with pytest.raises(DeploymentNotRunningError):
        again.predict(inputs=[[1, 2]])


def test_a_deployment_is_found_and_served_by_another_process(mr, tmp_path, store_path):
    model = saved_scaler(mr, tmp_path, scale=2.0, offset=0.0)
    model.deploy(name="doubler", script_file=str(write(tmp_path / "p.py", PREDICT_SCRIPT))).start()
    child = textwrap.dedent('''
        import json, sys
        import fti
        from fti.store.deployment import ModelServing
        ms = ModelServing(fti.get_model_registry(sys.argv[1]))
        deployment = ms.get_deployment("doubler")
        print(json.dumps({"running": deployment.is_running(), "names": [d.name for d in ms.get_deployments()],
                          "answer": deployment.predict(inputs=[[5, 6], [1, 1]])}))
        deployment.stop()
    ''')
    done = subprocess.run([sys.executable, "-c", child, str(store_path)], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "running": True, "names": ["doubler"], "answer": {"predictions": [22.0, 4.0]}}
    # The child stopped it: this process sees that.
    assert ModelServing(mr).get_deployment("doubler").get_state().status == "Stopped"


def test_newer_predictor_forms_model_argument_async_and_environment(mr, tmp_path):
    model = saved_scaler(mr, tmp_path, name="fraud_model")
    script = write(tmp_path / "newer.py", '''
        import os

        class Predictor:
            def __init__(self, model):
                self.label = f"{model.name} v{model.version}"
                self.folder = os.environ["ARTIFACT_FILES_PATH"]

            async def predict(self, inputs):
                return {"model": self.label, "rows": len(inputs), "greeting": os.environ["GREETING"],
                        "deployment": os.environ["DEPLOYMENT_NAME"],
                        "has_script": "newer.py" in os.listdir(self.folder)}
    ''')
    deployment = model.deploy(script_file=str(script), env_vars={"GREETING": "hej"})
    assert deployment.name == "fraudmodel"  # Hopsworks' default: the model name's letters and digits
    deployment.start()
    assert deployment.predict(inputs=[[1], [2]])["predictions"] == {
        "model": "fraud_model v1", "rows": 2, "greeting": "hej", "deployment": "fraudmodel", "has_script": True}
    assert "GREETING" not in os.environ  # set only while the script runs


def test_a_script_uploaded_to_the_project_is_found(mr, tmp_path, store_path):
    model = saved_scaler(mr, tmp_path)
    write(store_path / "datasets" / "Resources" / "predict_scaler.py", PREDICT_SCRIPT)
    deployment = model.deploy(name="uploaded", script_file="/Projects/demo/Resources/predict_scaler.py")
    deployment.start()
    assert deployment.predict(inputs=[[1, 0]]) == {"predictions": [3.5]}


def test_unknown_deployments(mr, store_path):
    with pytest.raises(DeploymentNotFoundError, match="'nosuch'") as info:
        ModelServing(mr).get_deployment("nosuch")
    assert isinstance(info.value, fti.NotFoundError)
    # A store opened as fti.login() does follows Hopsworks: None for a name that does not exist.
    hopsworks_mr = ModelRegistry(FeatureStore(store_path, hopsworks=True))
    assert ModelServing(hopsworks_mr).get_deployment("nosuch") is None
    with pytest.raises(DeploymentError, match="letters and digits"):
        ModelServing(mr).get_deployment("my_model")


def test_bad_deployments_are_refused_with_the_deployment_named(mr, tmp_path):
    model = saved_scaler(mr, tmp_path)
    with pytest.raises(DeploymentError, match="script_file"):
        model.deploy(name="noscript")
    with pytest.raises(DeploymentError, match="'my_model'.*letters and digits"):
        model.deploy(name="my_model", script_file=str(write(tmp_path / "a.py", PREDICT_SCRIPT)))
    with pytest.raises(PredictorScriptError, match="'ghost'.*not a file"):
        model.deploy(name="ghost", script_file=str(tmp_path / "missing.py"))
    with pytest.raises(DeploymentError, match="transformer"):
        model.deploy(name="withtransformer", script_file=str(tmp_path / "a.py"), transformer={"script_file": "t.py"})
    unsaved = mr.python.create_model("unsaved")
    with pytest.raises(DeploymentError, match="save it first"):
        unsaved.deploy(name="unsaved", script_file=str(tmp_path / "a.py"))
    model.deploy(name="twice", script_file=str(tmp_path / "a.py"), resources={"num_instances": 1})
    with pytest.raises(DeploymentError, match="'twice' exists already"):
        model.deploy(name="twice", script_file=str(tmp_path / "a.py"))
    assert [d.name for d in ModelServing(mr).get_deployments()] == ["twice"]


@pytest.mark.parametrize("script, match", [
    ("class Other:\n    def predict(self, inputs):\n        return inputs\n", "no class Predict"),
    ("import not_a_module_anywhere\n", "failed to import.*ModuleNotFoundError"),
    ("class Predict:\n    def __init__(self):\n        raise RuntimeError('no model.pkl here')\n"
     "    def predict(self, inputs):\n        return inputs\n", "__init__.*no model.pkl here"),
    ("class Predict:\n    def __init__(self, registry):\n        pass\n"
     "    def predict(self, inputs):\n        return inputs\n", "needs 'registry'"),
])
def test_broken_predictor_scripts_fail_at_start(mr, tmp_path, script, match):
    model = saved_scaler(mr, tmp_path)
    deployment = model.deploy(name="broken", script_file=str(write(tmp_path / "broken.py", script)))
    with pytest.raises(PredictorScriptError, match=f"deployment 'broken'.*{match}"):
        deployment.start()
    assert deployment.get_state().status == "Created"  # it did not start


def test_predict_raising_or_returning_non_json(mr, tmp_path):
    model = saved_scaler(mr, tmp_path)
    script = write(tmp_path / "p.py", '''
        class Predict:
            def predict(self, inputs):
                if inputs == [[0]]:
                    return object()
                return [1 / row[0] for row in inputs]
    ''')
    deployment = model.deploy(name="fragile", script_file=str(script))
    deployment.start()
    assert deployment.predict(inputs=[[4]]) == {"predictions": [0.25]}
    with pytest.raises(PredictionError, match="'fragile'.*ZeroDivisionError") as info:
        deployment.predict(inputs=[[0.0], [1.0]])
    assert isinstance(info.value.__cause__, ZeroDivisionError)  # the lab's own traceback is kept
    with pytest.raises(PredictionError, match="'fragile'.*JSON"):
        deployment.predict(inputs=[[0]])
    with pytest.raises(PredictionError, match="'fragile'.*dict"):
        deployment.predict(data=[[1]])


def test_stop_and_delete(mr, tmp_path, store_path):
    model = saved_scaler(mr, tmp_path)
    deployment = model.deploy(name="shortlived", script_file=str(write(tmp_path / "p.py", PREDICT_SCRIPT)))
    deployment.start()
    with pytest.raises(DeploymentError, match="'shortlived' is running"):
        deployment.delete()
    deployment.delete(force=True)
    with pytest.raises(DeploymentNotFoundError, match="'shortlived'"):
        ModelServing(mr).get_deployment("shortlived")
    assert not (store_path / "deployments" / "shortlived").exists()
    assert mr.get_model("scaler", 1).load() is not None  # the model stays
    # The name is free again.
    assert model.deploy(name="shortlived", script_file=str(tmp_path / "p.py")).get_state().status == "Created"
