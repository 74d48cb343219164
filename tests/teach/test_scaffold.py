"""``fti new``: a new system is written whole or not at all, from the templates, and runs as written.

Every system here is generated into a temporary project (``tmp_path``), never
into this checkout. Its package is importable there once the temporary
``shared/`` comes first on ``PYTHONPATH``: kernels and subprocesses are given
that, this process is not (it already imported this checkout's ``systems``).
The slow tests run what a student runs first: the generated test, and
``fti run NAME --days 3`` followed by the serving entry point.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from fti.cli import EXIT_USAGE, main
from fti.exceptions import InvalidNameError, ScaffoldError
from fti.paths import REPO_ROOT
from fti.run.schedule import load_schedule
from fti.run.story import load_story
from fti.teach import scaffold, shape

PLACEHOLDER = re.compile(r"__(?:system|System|kind|inference|online)__")
BIN = Path(sys.executable).parent


def make_project(root: Path) -> Path:
    """An empty project: the kit's ``systems`` package and nothing else."""
    (root / "shared" / "systems").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "shared" / "systems" / "__init__.py", root / "shared" / "systems" / "__init__.py")
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


def project_env(root: Path) -> dict[str, str]:
    """This process's environment with the project's ``shared/`` first on the import path."""
    return {**os.environ, "PYTHONPATH": str(root / "shared")}


def files_under(root: Path) -> list[Path]:
    return sorted(path.relative_to(root) for path in root.rglob("*") if path.is_file())


# -- names and refusals: nothing is written ------------------------------------------------------


@pytest.mark.parametrize("name", ["Energy", "1prices", "energy-prices", "energy prices", "a__b", "_energy", "energy_",
                                  "class", "match", "fti", "systems", "x" * 41, "", "énergie"])
def test_an_invalid_name_is_refused_and_nothing_is_written(project: Path, name: str) -> None:
    before = files_under(project)
    with pytest.raises(InvalidNameError, match="system name"):
        scaffold.create_system(name, root=project)
    assert files_under(project) == before


def test_a_taken_name_is_refused_and_nothing_is_written(project: Path) -> None:
    (project / "tests" / "systems" / "energy_prices").mkdir(parents=True)
    before = files_under(project)
    with pytest.raises(ScaffoldError, match=r"exists already \(tests/systems/energy_prices\); nothing was written"):
        scaffold.create_system("energy_prices", root=project)
    assert files_under(project) == before
    assert not (project / "notebooks").exists()


def test_a_second_new_with_the_same_name_changes_nothing(project: Path) -> None:
    scaffold.create_system("energy_prices", root=project)
    before = {path: (project / path).read_bytes() for path in files_under(project)}
    with pytest.raises(ScaffoldError, match="exists already"):
        scaffold.create_system("energy_prices", kind="realtime", root=project)
    assert {path: (project / path).read_bytes() for path in files_under(project)} == before


def test_an_unknown_kind_or_a_folder_that_is_not_a_project_is_refused(project: Path, tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match="kind 'stream' is not one of batch, realtime"):
        scaffold.create_system("energy_prices", kind="stream", root=project)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(ScaffoldError, match="not a checkout of the kit"):
        scaffold.create_system("energy_prices", root=elsewhere)
    assert not any(elsewhere.iterdir()) and not (project / "notebooks").exists()


def test_a_failure_half_way_leaves_nothing_behind(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = Path.write_text
    calls = []

    def failing_write(self: Path, *args: object, **kwargs: object) -> int:
        calls.append(self)
        if len(calls) == 12:  # well inside the second of the three folders
            raise OSError("disk full")
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", failing_write)
    before = files_under(project)
    with pytest.raises(OSError, match="disk full"):
        scaffold.create_system("energy_prices", root=project)
    assert files_under(project) == before
    assert not [path for path in project.rglob("*") if "fti-new" in path.name]


# -- what is written -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", scaffold.KINDS)
def test_the_new_system_has_the_shape_of_the_example_systems(project: Path, kind: str) -> None:
    created = scaffold.create_system("energy_prices", kind=kind, root=project)
    inference = "04_batch_inference" if kind == "batch" else "04_online_inference"
    notebooks = project / "notebooks" / "energy_prices"
    package = project / "shared" / "systems" / "energy_prices"
    assert sorted(path.name for path in notebooks.glob("*.ipynb")) == [
        "01_feature_backfill.ipynb", "02_feature_pipeline.ipynb", "03_training_pipeline.ipynb",
        f"{inference}.ipynb", "05_monitoring.ipynb"]
    assert (package / "serving.py").exists() == (kind == "realtime")
    assert (project / "tests" / "systems" / "energy_prices" / "test_energy_prices_system.py").is_file()
    assert set(created.files) == set(files_under(project)) - {Path("shared/systems/__init__.py")}

    for path in created.files:
        text = (project / path).read_text(encoding="utf-8")
        assert not PLACEHOLDER.search(text), f"{path} keeps a placeholder: {PLACEHOLDER.search(text).group()}"
    for path in notebooks.glob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        assert sum("parameters" in cell.metadata.get("tags", []) for cell in notebook.cells) == 1
        assert not any(cell.get("outputs") for cell in notebook.cells), f"{path.name} is committed with outputs"
    backfill = (notebooks / "01_feature_backfill.ipynb").read_text()
    assert f"online_enabled={kind == 'realtime'}" in backfill
    assert [p.name for p in load_schedule(notebooks).pipelines][3] == inference
    assert [step.name for step in load_story(notebooks).steps][3] == inference
    report = shape.check_system(notebooks, run=False)
    assert report.ok, report.text()


def test_the_generated_code_passes_the_linter_and_imports(project: Path) -> None:
    scaffold.create_system("energy_prices", kind="realtime", root=project)
    python_files = [str(path) for path in (project / "shared" / "systems" / "energy_prices").rglob("*.py")]
    python_files += [str(path) for path in (project / "tests").rglob("*.py")]
    lint = subprocess.run([str(BIN / "ruff"), "check", "--config", str(REPO_ROOT / "pyproject.toml"), *python_files],
                          capture_output=True, text=True, timeout=120)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    imported = subprocess.run(
        [sys.executable, "-c", "from systems import energy_prices; from systems.energy_prices import serving; "
                               "print(energy_prices.__file__, serving.MODEL)"],
        env=project_env(project), capture_output=True, text=True, timeout=120, cwd=project)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.split() == [str(project / "shared/systems/energy_prices/__init__.py"), "energy_prices"]


def test_the_recorded_fixture_is_what_the_example_source_returns(project: Path) -> None:
    scaffold.create_system("energy_prices", root=project)
    path = project / "shared" / "systems" / "energy_prices" / "source.py"
    spec = importlib.util.spec_from_file_location("generated_energy_prices_source", path)
    source = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(source)
    recorded = source.backfill("2026-02-01", 123, data_source="fixture")
    assert recorded[source.EVENT_TIME].min() == pd.Timestamp("2025-10-01", tz="UTC")
    pd.testing.assert_frame_equal(recorded, source.backfill("2026-02-01", 123, data_source="live"))
    with pytest.raises(Exception, match=r"covers 2025-10-01 to 2026-01-31, not 2026-01-31 to 2026-02-02"):
        source.pull(pd.Timestamp("2026-01-30", tz="UTC"), "2026-02-02", data_source="fixture")
    with pytest.raises(Exception, match="data_source must be one of fixture, live, got 'api'"):
        source.backfill("2026-01-05", 3, data_source="api")


def test_fti_new_on_the_command_line(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", "energy_prices", "--root", str(project)]) == 0
    out = capsys.readouterr().out
    assert "created the batch system energy_prices" in out and "fti run energy_prices --days 3" in out
    assert main(["new", "energy_prices", "--root", str(project)]) == EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert err.startswith("fti new: error: a system called 'energy_prices' exists already") and "\n" not in err
    assert main(["new", "Energy-Prices", "--root", str(project)]) == EXIT_USAGE
    assert "(e.g. 'energy_prices')" in capsys.readouterr().err


# -- running it, as a student does first ---------------------------------------------------------


@pytest.mark.slow
def test_the_generated_test_passes_with_no_edits(project: Path) -> None:
    scaffold.create_system("energy_prices", root=project)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(REPO_ROOT / "pyproject.toml"), "--rootdir", str(project),
         "-p", "no:cacheprovider", "-q", "tests/systems/energy_prices"],
        cwd=project, env=project_env(project), capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"\b6 passed\b", result.stdout), result.stdout[-2000:]


@pytest.mark.slow
def test_a_realtime_system_runs_two_days_and_serves(project: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    scaffold.create_system("energy_live", kind="realtime", root=project)
    # Kernels inherit this process's environment: they import the project's systems package.
    monkeypatch.setenv("PYTHONPATH", str(project / "shared"))
    store = tmp_path / "store"
    assert main(["run", str(project / "notebooks" / "energy_live"), "--days", "2", "--store", str(store),
                 "--runs-dir", str(tmp_path / "runs"), "--no-progress"]) == 0
    stations = sorted(pd.read_csv(project / "shared/systems/energy_live/fixtures/readings.csv")["station_id"].unique())

    server = subprocess.Popen(
        [sys.executable, "-m", "systems.energy_live.serving", "--port", "0", "--store", str(store)],
        cwd=project, env=project_env(project), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/predict", line)
        assert match, line + server.stderr.read()
        base = f"http://127.0.0.1:{match.group(1)}"
        with urllib.request.urlopen(f"{base}/predict?station_id={stations[2]}", timeout=30) as response:
            answer = json.load(response)
        assert answer["station_id"] == stations[2] and 0 <= answer["probability_up"] <= 1
        assert answer["predicted_goes_up"] == int(answer["probability_up"] >= 0.5)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/predict?station_id=99999", timeout=30)
        assert refused.value.code == 400 and "no features for station_id 99999" in refused.value.read().decode()
    finally:
        server.terminate()
        deadline = time.monotonic() + 30
        while server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        if server.poll() is None:
            server.kill()
        server.stdout.close()
        server.stderr.close()
