"""Acceptance tests of Hopsworks compatibility: lab-style scripts run on the kit with only the imports changed.

The scripts in ``tests/compat/labs/`` are written against the current Hopsworks Python
client (``import hopsworks``) and differ from a Hopsworks lab only in their imports
(``import fti as hopsworks``, ``from fti.hsfs...``, ``from fti.hsml...``). Each one is run
as a real ``python`` process, in order, in one temporary store, with the clock fixed,
from a temporary working directory holding copies of the scripts, the predictor script
and the Titanic CSV: the way a student runs a lab's notebooks one after the other.

Later scripts need the earlier ones' results (the training pipeline reads the feature
group the backfill wrote), so the whole sequence runs once per module; each test then
judges one script or one result.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

LABS = Path(__file__).parent / "labs"
REPO = Path(__file__).resolve().parents[2]
TITANIC_CSV = REPO / "data" / "titanic.csv"

# In the order a student runs them: each script reads what the ones before it wrote.
SCRIPTS = [
    "titanic_feature_backfill.py",
    "titanic_feature_pipeline.py",
    "titanic_training_pipeline.py",
    "titanic_batch_inference.py",
    "fraud_feature_backfill.py",
    "fraud_training.py",
    "fraud_online_inference.py",
]
HELPERS = ["predict_fraud.py"]

FIXED_NOW = "2024-02-01T08:00:00"
FRAUD_API_KEY = "lab-test-key-0123456789"
SCRIPT_TIMEOUT_SECONDS = 600

# What a Hopsworks lab imports: the client, the data and ML libraries, the standard library.
ALLOWED_TOP_LEVEL_IMPORTS = {
    "fti", "pandas", "numpy", "sklearn", "xgboost", "joblib", "matplotlib",
    "os", "random", "datetime", "json", "math", "pathlib", "time",
}
# The only ways a lab may name the kit: the three import rewrites of a Hopsworks lab.
KIT_IMPORT_LINE = re.compile(
    r"^(import fti as hopsworks"
    r"|from fti\.hsfs\.builtin_transformations import [\w, ]+"
    r"|from fti\.hsml\.schema import Schema"
    r"|from fti\.hsml\.model_schema import ModelSchema)$"
)


@dataclass
class LabRun:
    """One script's process: its exit code and output."""

    script: str
    returncode: int
    stdout: str
    stderr: str

    def failure(self) -> str:
        """The end of the output, enough to see the failing call and its error."""
        tail = "\n".join(self.stderr.strip().splitlines()[-25:])
        return f"{self.script} exited {self.returncode}:\n{tail}"


@dataclass
class LabSession:
    """The store, working directory and results of running every script in order."""

    store: Path
    workdir: Path
    runs: dict[str, LabRun]
    env: dict[str, str]


@pytest.fixture(scope="module")
def labs(tmp_path_factory: pytest.TempPathFactory) -> LabSession:
    """Run every lab script once, in order, in one fresh store; keep going past failures to report them all."""
    store = tmp_path_factory.mktemp("store")
    workdir = tmp_path_factory.mktemp("lab")
    for name in SCRIPTS + HELPERS:
        shutil.copy(LABS / name, workdir / name)
    shutil.copy(TITANIC_CSV, workdir / "titanic.csv")
    env = {
        **os.environ,
        "FTI_STORE": str(store),
        "FTI_NOW": FIXED_NOW,
        "FRAUD_API_KEY": FRAUD_API_KEY,
        "MPLBACKEND": "Agg",
        "PYTHONHASHSEED": "0",
    }
    runs = {}
    for name in SCRIPTS:
        completed = subprocess.run(
            [sys.executable, name], cwd=workdir, env=env, capture_output=True, text=True,
            timeout=SCRIPT_TIMEOUT_SECONDS, check=False,
        )
        runs[name] = LabRun(name, completed.returncode, completed.stdout, completed.stderr)
    return LabSession(store, workdir, runs, env)


def kit_query(labs: LabSession, code: str) -> str:
    """Run ``code`` against the lab's store in a fresh process (as a later lab would) and return its stdout."""
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=labs.workdir, env=labs.env, capture_output=True, text=True,
        timeout=SCRIPT_TIMEOUT_SECONDS, check=False,
    )
    assert completed.returncode == 0, f"reading the lab's results failed:\n{completed.stderr[-3000:]}"
    return completed.stdout


# --- the scripts themselves -------------------------------------------------------------------


@pytest.mark.parametrize("script", SCRIPTS + HELPERS)
def test_only_the_imports_name_the_kit(script: str) -> None:
    """Every line that names ``fti`` is one of the import rewrites; nothing else differs from a Hopsworks lab."""
    lines = (LABS / script).read_text().splitlines()
    kit_lines = [line.strip() for line in lines if re.search(r"\bfti\b", line)]
    assert kit_lines, f"{script} does not import the kit at all"
    strays = [line for line in kit_lines if not KIT_IMPORT_LINE.match(line)]
    assert not strays, f"{script} names the kit outside its imports: {strays}"


@pytest.mark.parametrize("script", SCRIPTS + HELPERS)
def test_imports_only_what_a_hopsworks_lab_would(script: str) -> None:
    """No kit helpers (``systems``, ``fti.teach``, ``fti.store``...): only the client and the usual libraries."""
    tree = ast.parse((LABS / script).read_text())
    modules = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules.append(node.module or "")
    outside = [m for m in modules if m.split(".")[0] not in ALLOWED_TOP_LEVEL_IMPORTS]
    assert not outside, f"{script} imports {outside}, which a Hopsworks lab would not"
    kit_modules = [m for m in modules if m.split(".")[0] == "fti" and m != "fti"]
    allowed_kit = {"fti.hsfs.builtin_transformations", "fti.hsml.schema", "fti.hsml.model_schema"}
    assert set(kit_modules) <= allowed_kit, f"{script} imports kit modules {set(kit_modules) - allowed_kit}"


@pytest.mark.parametrize("script", SCRIPTS)
def test_lab_script_runs(labs: LabSession, script: str) -> None:
    """The script, run as ``python script.py`` after the ones before it, exits 0."""
    run = labs.runs[script]
    earlier = [labs.runs[name] for name in SCRIPTS[: SCRIPTS.index(script)]]
    failed_before = [r.script for r in earlier if r.returncode != 0]
    note = f" (after failures in {failed_before})" if failed_before else ""
    assert run.returncode == 0, run.failure() + note


# --- what the scripts leave behind ------------------------------------------------------------


def test_new_passenger_is_in_the_feature_group(labs: LabSession) -> None:
    """The daily pipeline's synthetic passenger is stored, with the id after the CSV's passengers."""
    run = labs.runs["titanic_feature_pipeline.py"]
    assert run.returncode == 0, run.failure()
    csv_rows = len(pd.read_csv(TITANIC_CSV))
    out = kit_query(labs, (
        "import fti as hopsworks\n"
        "fg = hopsworks.login().get_feature_store().get_feature_group('titanic', version=1)\n"
        "df = fg.read()\n"
        "new = df[df['passengerid'] == df['passengerid'].max()].iloc[0]\n"
        "print(len(df), int(new['passengerid']), new['sex'], float(new['age']), int(new['pclass']))\n"
    ))
    rows, new_id, sex, age, pclass = out.split()[-5:]
    assert int(rows) == csv_rows + 1
    assert int(new_id) == csv_rows + 1
    announced = re.search(r"NEW_PASSENGER (\d+) (\w+) ([\d.]+)", run.stdout)
    assert announced, "the pipeline did not print the passenger it inserted"
    assert (int(new_id), sex, float(age)) == (int(announced[1]), announced[2], float(announced[3]))
    assert int(pclass) in (1, 2, 3)


def test_titanic_model_beats_a_constant_predictor(labs: LabSession) -> None:
    """The registered model, downloaded and scored again on its test split, has an F1 no constant guess reaches.

    Always guessing "survived" gives F1 = 2p / (1 + p) with p the survival rate (0.38): 0.55.
    Always guessing "died" gives 0. The floor sits above both.
    """
    run = labs.runs["titanic_training_pipeline.py"]
    assert run.returncode == 0, run.failure()
    survival_rate = pd.read_csv(TITANIC_CSV)["survived"].mean()
    constant_f1 = 2 * survival_rate / (1 + survival_rate)
    out = kit_query(labs, (
        "import joblib\n"
        "from sklearn.metrics import f1_score\n"
        "import fti as hopsworks\n"
        "project = hopsworks.login()\n"
        "model = project.get_model_registry().get_model('titanic', version=1)\n"
        "clf = joblib.load(model.download() + '/model.pkl')\n"
        "fv = project.get_feature_store().get_feature_view('titanic', version=1)\n"
        "X_train, X_test, y_train, y_test = fv.get_train_test_split(training_dataset_version=1)\n"
        "print(f1_score(y_test.values.ravel(), clf.predict(X_test)), model.training_metrics['f1 score'], len(X_test))\n"
    ))
    rescored_f1, recorded_f1, test_rows = out.split()[-3:]
    assert float(rescored_f1) > constant_f1 + 0.05, f"F1 {rescored_f1} is no better than a constant {constant_f1:.2f}"
    assert float(rescored_f1) == pytest.approx(float(recorded_f1), abs=1e-9), "the registered F1 is not the model's"
    assert 200 < int(test_rows) < 330, f"a 20% test split of ~1,310 passengers, got {test_rows}"


def test_read_log_has_one_row_per_predict_call(labs: LabSession) -> None:
    """Every ``deployment.predict`` call is logged once through the feature view, with its prediction."""
    run = labs.runs["fraud_online_inference.py"]
    assert run.returncode == 0, run.failure()
    calls = re.search(r"PREDICT_CALLS (\d+)", run.stdout)
    assert calls, "the online inference lab did not report its predict calls"
    out = kit_query(labs, (
        "import fti as hopsworks\n"
        "fv = hopsworks.login().get_feature_store().get_feature_view('fraud', version=1)\n"
        "log = fv.read_log()\n"
        "print('LOG', len(log), ' '.join(log.columns))\n"
    ))
    logged = re.search(r"LOG (\d+) (.*)", out)
    assert logged, out
    columns = logged[2].split()
    assert int(logged[1]) == int(calls[1]), f"{calls[1]} predict calls, {logged[1]} log rows"
    # Hopsworks names a logged prediction after its label with the prefix "predicted_".
    assert {"amount", "category", "avg_amount", "predicted_fraud_label"} <= set(columns), columns


def test_online_predictions_match_the_model_on_batch_features(labs: LabSession) -> None:
    """No training/serving skew: what the deployment answered is what the registered model says on the batch features.

    The batch side is computed here, independently of the predictor script: the model file
    from the registry, applied to ``get_batch_data`` (transformed as in training) of the same payments.
    """
    run = labs.runs["fraud_online_inference.py"]
    assert run.returncode == 0, run.failure()
    online = {int(tid): int(p) for tid, p in re.findall(r"PREDICTION (\d+) (\d+)", run.stdout)}
    assert len(online) == 5, f"the lab should score 5 payments, reported {online}"
    out = kit_query(labs, (
        "import glob, joblib\n"
        "import fti as hopsworks\n"
        "project = hopsworks.login()\n"
        "model = project.get_model_registry().get_model('fraud', version=1)\n"
        "clf = joblib.load(glob.glob(model.download() + '/**/fraud_model.pkl', recursive=True)[0])\n"
        "fv = project.get_feature_store().get_feature_view('fraud', version=1)\n"
        "fv.init_batch_scoring(training_dataset_version=1)\n"
        "batch = fv.get_batch_data(primary_key=True)\n"
        f"batch = batch[batch['tid'].isin({sorted(online)})]\n"
        "features = batch[clf.get_booster().feature_names]\n"
        "for tid, p in zip(batch['tid'], clf.predict(features)):\n"
        "    print('BATCH', int(tid), int(p))\n"
    ))
    batch = {int(tid): int(p) for tid, p in re.findall(r"BATCH (\d+) (\d+)", out)}
    assert batch == online, f"online {online} vs batch {batch}"


def test_online_service_was_stopped(labs: LabSession) -> None:
    """The lab stops its deployment: a fresh process finds it registered but not running."""
    run = labs.runs["fraud_online_inference.py"]
    assert run.returncode == 0, run.failure()
    out = kit_query(labs, (
        "import fti as hopsworks\n"
        "d = hopsworks.login().get_model_serving().get_deployment('fraudonline')\n"
        "print(d.name, d.is_running())\n"
    ))
    name, running = out.split()[-2:]
    assert name == "fraudonline"
    assert running == "False"
