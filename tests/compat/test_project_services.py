"""The project services labs call: ``get_secrets_api()`` and ``project.get_dataset_api()``.

Secrets come from an environment variable first, then from ``<store>/secrets.json``;
the file area is ``<store>/datasets/``. Real files and real processes throughout:
persistence is checked from a second Python process, not from this one's memory.
The conftest gives every test an empty store in ``FTI_STORE`` (fixture ``store_path``).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fti.exceptions import (
    DatasetExistsError,
    DatasetNotFoundError,
    DatasetPathError,
    FTIError,
    ParameterError,
    SecretExistsError,
    SecretNotFoundError,
    SecretsFileError,
)
from fti.project.datasets import DatasetApi
from fti.project.secrets import SECRETS_FILE, SecretsApi, environment_names

# Names no one's environment will have set.
NAME = "FTI_TEST_SERVICE_KEY"
LOWER_NAME = "fti-test-service-key"


@pytest.fixture
def secrets(store_path, monkeypatch) -> SecretsApi:
    for variable in {*environment_names(NAME), *environment_names(LOWER_NAME)}:
        monkeypatch.delenv(variable, raising=False)
    return SecretsApi(store_path)


@pytest.fixture
def datasets(store_path) -> DatasetApi:
    return DatasetApi(store_path, project="demo")


def run_python(code: str, store_path: Path, **env: str) -> str:
    """Run ``code`` in a fresh Python process on the same store; return its stdout (stderr shown on failure)."""
    environment = {**os.environ, "FTI_STORE": str(store_path), **env}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=environment, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path, with its bytes (folders show through their files)."""
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file()}


# region Secrets


def test_environment_variable_wins_over_the_secrets_file(secrets, monkeypatch):
    secrets.create_secret(NAME, "from-file")
    assert secrets.get_secret(NAME).value == "from-file"

    monkeypatch.setenv(NAME, "from-env")
    secret = secrets.get_secret(NAME)
    assert secret.value == "from-env"
    assert secret.source == f"environment variable {NAME}"
    assert secrets.get(NAME) == "from-env"
    assert [s.value for s in secrets.get_secrets()] == ["from-env"]


def test_a_lower_case_secret_is_found_in_its_upper_case_shell_variable(secrets, monkeypatch):
    monkeypatch.setenv("FTI_TEST_SERVICE_KEY", "exported")
    assert environment_names(LOWER_NAME) == [LOWER_NAME, "FTI_TEST_SERVICE_KEY"]
    assert secrets.get_secret(LOWER_NAME).value == "exported"


def test_an_empty_environment_variable_does_not_hide_the_file(secrets, monkeypatch):
    secrets.create_secret(NAME, "from-file")
    monkeypatch.setenv(NAME, "")
    assert secrets.get_secret(NAME).value == "from-file"


def test_a_created_secret_persists_for_another_process(secrets, store_path):
    written = run_python(f"""
        import fti.project.secrets as s
        secret = s.SecretsApi({str(store_path)!r}).create_secret({NAME!r}, "persisted value", project="other")
        print(secret.name)
    """, store_path)
    assert written.strip() == NAME
    secret = secrets.get_secret(NAME)
    assert (secret.value, secret.visibility, secret.scope) == ("persisted value", "PROJECT", "other")

    # ... and a deletion here is seen there.
    secret.delete()
    answer = run_python(f"""
        import fti.project.secrets as s
        try:
            s.SecretsApi({str(store_path)!r}).get_secret({NAME!r})
        except s.SecretNotFoundError:
            print("gone")
    """, store_path)
    assert answer.strip() == "gone"


def test_the_secrets_file_is_private_and_replaced_whole(secrets, store_path):
    secrets.create_secret(NAME, "one")
    secrets.create_secret(LOWER_NAME, "two")
    path = store_path / SECRETS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert {name: record["value"] for name, record in json.loads(path.read_text()).items()} == {
        NAME: "one", LOWER_NAME: "two"}
    assert not [p.name for p in store_path.iterdir() if p.name.endswith(".tmp")], "a temporary file was left"


def test_two_processes_creating_secrets_at_once_keep_all_of_them(secrets, store_path):
    code = """
        import sys
        import fti.project.secrets as s
        api = s.SecretsApi(sys.argv[1])
        for i in range(15):
            api.create_secret(f"{sys.argv[2]}_{i}", "x")
    """
    environment = {**os.environ, "FTI_STORE": str(store_path)}
    workers = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(store_path), prefix],
                                env=environment, stderr=subprocess.PIPE, text=True) for prefix in ("a", "b")]
    for worker in workers:
        assert worker.wait(timeout=120) == 0, worker.stderr.read()
    names = {secret.name for secret in secrets.get_secrets()}
    assert names == {f"{prefix}_{i}" for prefix in ("a", "b") for i in range(15)}


def test_a_missing_secret_names_itself_and_both_ways_to_provide_it(secrets, store_path):
    with pytest.raises(SecretNotFoundError) as info:
        secrets.get_secret(LOWER_NAME)
    message = str(info.value)
    assert f"'{LOWER_NAME}'" in message
    assert "environment variable" in message and "FTI_TEST_SERVICE_KEY" in message
    assert f"create_secret({LOWER_NAME!r}" in message
    assert str(store_path / SECRETS_FILE) in message
    with pytest.raises(SecretNotFoundError):
        secrets.get(LOWER_NAME)  # no interactive prompt: notebooks also run unattended


def test_a_secret_value_never_shows_in_its_repr(secrets, monkeypatch):
    value = "s3cr3t-value-xyz"
    created = secrets.create_secret(NAME, value)
    monkeypatch.setenv(LOWER_NAME, value)
    shown = [repr(created), str(created), repr(secrets.get_secret(NAME)), repr(secrets.get_secrets()),
             repr(secrets.get_secret(LOWER_NAME)), created.get_url()]
    assert all(value not in text for text in shown), shown
    assert NAME in repr(created)


def test_creating_an_existing_secret_is_refused_and_changes_nothing(secrets, store_path):
    secrets.create_secret(NAME, "first")
    before = (store_path / SECRETS_FILE).read_bytes()
    with pytest.raises(SecretExistsError, match=r"delete\(\)"):
        secrets.create_secret(NAME, "second")
    assert (store_path / SECRETS_FILE).read_bytes() == before
    assert secrets.get_secret(NAME).value == "first"


def test_a_secret_from_the_environment_cannot_be_deleted_here(secrets, monkeypatch):
    monkeypatch.setenv(NAME, "env")
    with pytest.raises(SecretsFileError, match=f"environment variable {NAME}"):
        secrets.get_secret(NAME).delete()


def test_a_damaged_secrets_file_is_reported_without_its_contents(secrets, store_path):
    (store_path / SECRETS_FILE).write_text('{"KEY": {"value": "leaked-if-shown"')
    with pytest.raises(SecretsFileError) as info:
        secrets.get_secret("KEY")
    assert "not valid JSON" in str(info.value) and "leaked-if-shown" not in str(info.value)
    with pytest.raises(SecretsFileError):
        secrets.create_secret(NAME, "x")  # refuses rather than overwrite what it cannot read


def test_bad_secret_arguments_are_fti_errors(secrets):
    with pytest.raises(ParameterError):
        secrets.get_secret("")
    with pytest.raises(ParameterError):
        secrets.create_secret(NAME, 1234)


# region Datasets


@pytest.mark.parametrize("path", [
    "../outside.txt",
    "Resources/../../outside.txt",
    "/tmp/outside.txt",
    "/Projects/another/Resources",
    "hdfs:///Projects/another/Resources",
    "Resources\\..\\..\\outside.txt",
    "Models/my_model/1",
    "demo_Training_Datasets/td_1",
])
def test_paths_that_leave_the_file_area_are_refused(datasets, store_path, tmp_path, path):
    local = tmp_path / "outside.txt"
    local.write_text("data")
    for call in (lambda: datasets.exists(path), lambda: datasets.upload(str(local), path),
                 lambda: datasets.download(path, str(tmp_path / "got")), lambda: datasets.remove(path),
                 lambda: datasets.mkdir(path)):
        with pytest.raises(DatasetPathError):
            call()
    assert not (store_path / "outside.txt").exists() and not (tmp_path / "got").exists()


def test_a_link_out_of_the_file_area_is_refused(datasets, store_path, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (store_path / "datasets" / "Resources" / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(DatasetPathError, match="link"):
        datasets.mkdir("Resources/link/new")
    assert list(outside.iterdir()) == []


def test_the_project_own_absolute_paths_are_accepted(datasets, tmp_path):
    local = tmp_path / "a.txt"
    local.write_text("a")
    datasets.upload(str(local), "/Projects/demo/Resources")
    assert datasets.exists("Resources/a.txt")
    assert datasets.exists("hdfs:///Projects/demo/Resources/a.txt")
    assert datasets.mkdir("Resources/sub") == "/Projects/demo/Resources/sub"


def test_a_folder_makes_the_round_trip_upload_then_download(datasets, tmp_path):
    source = tmp_path / "reports"
    (source / "daily" / "deep").mkdir(parents=True)
    (source / "summary.csv").write_text("day,count\n1,2\n")
    (source / "daily" / "deep" / "model.bin").write_bytes(bytes(range(256)) * 10)
    (source / "empty.txt").write_bytes(b"")

    assert datasets.upload(str(source), "Resources") == "Resources/reports"
    assert datasets.exists("Resources/reports/daily/deep/model.bin")
    count, inodes = datasets.list_files("/Projects/demo/Resources/reports", 0, 100)
    assert (count, [(i.name, i.dir) for i in inodes]) == (3, [("daily", True), ("empty.txt", False),
                                                            ("summary.csv", False)])

    into = tmp_path / "downloads"
    into.mkdir()
    got = datasets.download("Resources/reports", str(into))
    assert got == str(into / "reports")
    assert tree(Path(got)) == tree(source)
    assert datasets.download("Resources/reports/summary.csv", str(tmp_path / "one.csv")) == str(tmp_path / "one.csv")
    assert (tmp_path / "one.csv").read_text() == "day,count\n1,2\n"


def test_download_defaults_to_the_working_directory(datasets, tmp_path, monkeypatch):
    local = tmp_path / "src" / "a.txt"
    local.parent.mkdir()
    local.write_text("a")
    datasets.upload(str(local), "Resources")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert datasets.download("Resources/a.txt") == str(work / "a.txt")
    assert (work / "a.txt").read_text() == "a"


def test_an_existing_target_is_refused_unless_overwrite(datasets, store_path, tmp_path):
    source = tmp_path / "model"
    source.mkdir()
    (source / "weights.txt").write_text("v1")
    datasets.upload(str(source), "Resources")
    (source / "weights.txt").write_text("v2")
    (source / "extra.txt").write_text("new")

    with pytest.raises(DatasetExistsError, match="overwrite=True"):
        datasets.upload(str(source), "Resources")
    uploaded = store_path / "datasets" / "Resources" / "model"
    assert tree(uploaded) == {"weights.txt": b"v1"}

    datasets.upload(str(source), "Resources", overwrite=True)
    assert tree(uploaded) == {"weights.txt": b"v2", "extra.txt": b"new"}

    local = tmp_path / "local.txt"
    local.write_text("mine")
    with pytest.raises(OSError):  # Hopsworks raises an IOError here: code catching it keeps working
        datasets.download("Resources/model/weights.txt", str(local))
    assert local.read_text() == "mine"
    datasets.download("Resources/model/weights.txt", str(local), overwrite=True)
    assert local.read_text() == "v2"


def test_a_failed_upload_leaves_neither_half_a_folder_nor_leftovers(datasets, store_path, tmp_path, monkeypatch):
    source = tmp_path / "data"
    source.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (source / name).write_text(name)
    datasets.upload(str(source), "Resources")
    (source / "a.txt").write_text("changed")
    copied = []
    real_copy = shutil.copyfile  # what copytree's copy2 calls for each file's bytes

    def failing_copy(src, dst, **kwargs):
        if copied:
            raise OSError(28, "No space left on device")
        copied.append(src)
        return real_copy(src, dst, **kwargs)

    monkeypatch.setattr(shutil, "copyfile", failing_copy)
    with pytest.raises(OSError, match="No space"):
        datasets.upload(str(source), "Resources", overwrite=True)
    resources = store_path / "datasets" / "Resources"
    assert tree(resources / "data") == {"a.txt": b"a.txt", "b.txt": b"b.txt", "c.txt": b"c.txt"}
    assert sorted(p.name for p in resources.iterdir()) == ["data"], "a staging folder was left behind"


def test_copy_move_remove_and_listing(datasets, tmp_path):
    local = tmp_path / "f.txt"
    local.write_text("12345")
    datasets.upload(str(local), "Resources")
    datasets.copy("Resources/f.txt", "Logs/g.txt")
    with pytest.raises(DatasetExistsError):
        datasets.move("Resources/f.txt", "Logs/g.txt")
    datasets.move("Resources/f.txt", "Logs/h.txt")
    assert not datasets.exists("Resources/f.txt")
    listing = datasets.list("Logs", sort_by="NAME:desc")
    assert listing["count"] == 2
    assert [item["attributes"]["name"] for item in listing["items"]] == ["h.txt", "g.txt"]
    assert listing["items"][0]["attributes"]["size"] == 5
    datasets.remove("Logs/g.txt")
    assert not datasets.exists("Logs/g.txt")
    with pytest.raises(DatasetNotFoundError):
        datasets.remove("Logs/g.txt")
    with pytest.raises(ParameterError, match="ID"):
        datasets.list("Logs", sort_by="ID:asc")


@pytest.mark.parametrize("call", [
    lambda api, tmp: api.upload(str(tmp / "missing.txt"), "Resources"),
    lambda api, tmp: api.download("Resources/missing.txt", str(tmp)),
    lambda api, tmp: api.upload(str(tmp), ""),
    lambda api, tmp: api.remove(""),
    lambda api, tmp: api.list("Resources/missing"),
    lambda api, tmp: api.upload(str(tmp), "Resources", overwrite="yes"),
])
def test_bad_dataset_calls_are_fti_errors(datasets, tmp_path, call):
    with pytest.raises(FTIError):
        call(datasets, tmp_path)
