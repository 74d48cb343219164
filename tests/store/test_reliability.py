"""The store under harsh conditions: killed processes, damaged files, hostile names and frames (issue 14).

Damage is real (files truncated, their header overwritten, replaced by text) and
so are the processes: a serving process that keeps running while others replace
the online file or die half-way through a commit, a model save killed outright.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fti
from fti.cli import main
from fti.exceptions import (
    NameClashError,
    OnlineCapacityError,
    OnlineStoreRebuiltWarning,
    SchemaError,
    ServingKeyError,
    StoreDamagedError,
)
from fti.store.liveness import current_owner
from fti.store.storage import OFFLINE_FILE, ONLINE_FILE

DAMAGES = ["truncate", "header", "text"]


def _damage(path: Path, how: str) -> None:
    """Damage a database file in place, the way a full disk, a stray write or a wrong copy would."""
    data = path.read_bytes()
    if how == "truncate":
        with path.open("r+b") as handle:
            handle.truncate(max(len(data) // 3, 1))
    elif how == "header":
        with path.open("r+b") as handle:
            handle.write(b"\xff" * 100)
    elif how == "blocks":  # a few bytes flipped inside every DuckDB block (256 KiB, after a 12 KiB header)
        data = bytearray(data)
        for start in range(12288, len(data), 262144):
            for index in range(start + 100, min(start + 200, len(data))):
                data[index] ^= 0xFF
        path.write_bytes(bytes(data))
    else:
        path.write_text("this is not a database\n")


def _serving_store(fs: fti.FeatureStore, rows: int = 200) -> fti.FeatureView:
    """An online feature group of cards with a view over it; every card's amount is its id times 10."""
    fg = fs.get_or_create_feature_group("cards", 1, primary_key=["card_id"], online_enabled=True)
    fg.insert(pd.DataFrame({"card_id": np.arange(rows), "amount": np.arange(rows) * 10.0}))
    return fs.get_or_create_feature_view("cards_view", 1, query=fg.select_all())


def _checkpoint_online(store: Path) -> None:
    """Fold the WAL into the file, so damaging the file damages the data (as on a quiet store)."""
    con = sqlite3.connect(store / ONLINE_FILE)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


# -- 1. a damaged online file is moved aside and rebuilt ------------------------------------------------------


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_online_file_is_moved_aside_rebuilt_and_reported_once(store_path, fs, how):
    fv = _serving_store(fs)
    assert fv.get_feature_vector({"card_id": 7}) == [70.0]
    _checkpoint_online(store_path)
    _damage(store_path / ONLINE_FILE, how)

    # A new process's view of the store: it opens the damaged file for the first time.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fresh = fti.get_feature_store(store_path).get_feature_view("cards_view", 1)
        vectors = [fresh.get_feature_vector({"card_id": card}) for card in (7, 150, 199)]
    assert vectors == [[70.0], [1500.0], [1990.0]]
    reports = [w for w in caught if issubclass(w.category, OnlineStoreRebuiltWarning)]
    assert len(reports) == 1
    assert str(store_path / ONLINE_FILE) in str(reports[0].message)
    kept = [path for path in store_path.glob(f"{ONLINE_FILE}.damaged-*") if not path.name.endswith(("-wal", "-shm"))]
    assert len(kept) == 1, "the damaged file is kept for inspection"
    assert sqlite3.connect(store_path / ONLINE_FILE).execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def test_inserts_go_on_after_the_online_file_is_damaged(store_path, fs):
    fv = _serving_store(fs)
    _checkpoint_online(store_path)
    _damage(store_path / ONLINE_FILE, "header")
    fs2 = fti.get_feature_store(store_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OnlineStoreRebuiltWarning)
        fs2.get_feature_group("cards", 1).insert(pd.DataFrame({"card_id": [3], "amount": [-1.0]}))
    fresh = fti.get_feature_store(store_path).get_feature_view("cards_view", 1)
    assert fresh.get_feature_vector({"card_id": 3}) == [-1.0]
    assert fresh.get_feature_vector({"card_id": 4}) == [40.0]  # rebuilt from the history, not just this commit
    del fv


# -- 2. a long-lived serving process follows replacements and dead writers ------------------------------------

_SERVER = textwrap.dedent("""
    import json, sys, warnings
    import fti
    warnings.simplefilter("ignore")
    fv = fti.get_feature_store(sys.argv[1]).get_feature_view("cards_view", 1)
    print("ready", flush=True)
    for line in sys.stdin:
        print(json.dumps(fv.get_feature_vector({"card_id": int(line)})), flush=True)
""")

_DYING_WRITER = textwrap.dedent("""
    import os, signal, sys
    import pandas as pd
    import fti
    from fti.store.online import OnlineStore

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)  # after the offline commit, before the online update

    OnlineStore.apply_commit = die
    OnlineStore.write = die
    fg = fti.get_feature_store(sys.argv[1]).get_feature_group("cards", 1)
    fg.insert(pd.DataFrame({"card_id": [5], "amount": [-5.0]}))
""")


class _Server:
    def __init__(self, store: Path):
        self.proc = subprocess.Popen([sys.executable, "-c", _SERVER, str(store)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready", self.proc.stderr.read()

    def ask(self, card: int) -> list:
        self.proc.stdin.write(f"{card}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, self.proc.stderr.read()
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def test_a_serving_process_follows_an_online_file_replaced_by_another_process(store_path, fs):
    _serving_store(fs)
    server = _Server(store_path)
    try:
        assert server.ask(9) == [90.0]
        (store_path / ONLINE_FILE).unlink()  # the store folder cleaned while the server runs
        for suffix in ("-wal", "-shm"):
            (store_path / (ONLINE_FILE + suffix)).unlink(missing_ok=True)
        writer = fti.get_feature_store(store_path).get_feature_group("cards", 1)
        writer.insert(pd.DataFrame({"card_id": [9], "amount": [-9.0]}))  # creates and fills a new file
        assert server.ask(9) == [-9.0]
        assert server.ask(10) == [100.0]
    finally:
        server.close()


def test_a_serving_process_catches_up_after_a_writer_died_between_offline_commit_and_online_update(store_path, fs):
    _serving_store(fs)
    server = _Server(store_path)
    try:
        assert server.ask(5) == [50.0]
        died = subprocess.run([sys.executable, "-c", _DYING_WRITER, str(store_path)], capture_output=True,
                              text=True, timeout=120)
        assert died.returncode == -signal.SIGKILL, died.stderr
        assert fti.get_feature_store(store_path).get_feature_group("cards", 1).read().set_index(
            "card_id").loc[5, "amount"] == -5.0, "the offline commit happened"
        assert server.ask(5) == [-5.0]
    finally:
        server.close()


def test_lookups_recover_when_the_file_they_read_is_damaged_under_them(store_path, fs):
    fv = _serving_store(fs, rows=20_000)
    assert fv.get_feature_vector({"card_id": 7}) == [70.0]
    _checkpoint_online(store_path)
    # A long-running server's page cache may hold the whole of a small file, and serve it
    # correctly; a one-page cache makes every lookup read the file, as for a large one.
    fs._engine.online._local.con.execute("PRAGMA cache_size = 1")
    _damage(store_path / ONLINE_FILE, "truncate")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert [fv.get_feature_vector({"card_id": card}) for card in (19_990, 15_000, 7)] == [
            [199_900.0], [150_000.0], [70.0]]
    assert sum(issubclass(w.category, OnlineStoreRebuiltWarning) for w in caught) == 1
    assert [path for path in store_path.glob(f"{ONLINE_FILE}.damaged-*") if path.name.endswith("Z")]


# -- 3. a damaged offline file: a clear error, `fti store check` and `fti store backup` ------------------------


@pytest.mark.parametrize("how", [*DAMAGES, "blocks"])
def test_a_damaged_offline_file_raises_an_error_naming_it(store_path, fs, how):
    _serving_store(fs)
    _damage(store_path / OFFLINE_FILE, how)
    with pytest.raises(StoreDamagedError) as caught:
        fti.get_feature_store(store_path).get_feature_groups()
    message = str(caught.value)
    assert str(store_path / OFFLINE_FILE) in message and "backup" in message
    assert main(["store", "check", "--store", str(store_path)]) != 0


def test_store_check_passes_a_sound_store_and_fails_a_damaged_one(store_path, fs, capsys):
    _serving_store(fs)
    assert main(["store", "check", "--store", str(store_path)]) == 0
    assert "no problems found" in capsys.readouterr().out
    _checkpoint_online(store_path)
    _damage(store_path / ONLINE_FILE, "truncate")
    assert main(["store", "check", "--store", str(store_path)]) != 0
    out = capsys.readouterr().out
    assert "PROBLEM" in out and ONLINE_FILE in out


def test_store_backup_makes_a_copy_that_opens_with_the_same_data(store_path, fs, tmp_path):
    fv = _serving_store(fs)
    fv.get_feature_vector({"card_id": 1})
    destination = tmp_path / "copy"
    assert main(["store", "backup", str(destination), "--store", str(store_path)]) == 0
    copy = fti.get_feature_store(destination)
    pd.testing.assert_frame_equal(copy.get_feature_group("cards", 1).read(),
                                  fs.get_feature_group("cards", 1).read())
    assert copy.get_feature_view("cards_view", 1).get_feature_vector({"card_id": 42}) == [420.0]
    assert main(["store", "backup", str(destination), "--store", str(store_path)]) != 0, "never overwrites"


# -- 4. staging folders of killed saves -----------------------------------------------------------------------

_KILLED_SAVE = textwrap.dedent("""
    import os, signal, sys
    import fti
    from fti.store import model_engine

    def die(folder):
        os.kill(os.getpid(), signal.SIGKILL)  # the artifact is written, the save not finished

    model_engine.artifacts.checksum = die
    mr = fti.get_model_registry(sys.argv[1])
    mr.python.create_model("big").save({"weights": bytes(5_000_000)})
""")


def test_a_killed_save_leaves_a_staging_folder_that_the_next_registry_removes(store_path, fs):
    died = subprocess.run([sys.executable, "-c", _KILLED_SAVE, str(store_path)], capture_output=True, text=True,
                          timeout=120)
    assert died.returncode == -signal.SIGKILL, died.stderr
    left = list((store_path / "models" / "big").glob(".staging-*"))
    assert len(left) == 1 and any(left[0].iterdir())
    pid, started = current_owner()
    alive = store_path / "models" / "big" / f".staging-{pid}-{started}-0123abcd"  # a save under way here
    alive.mkdir()
    fti.get_model_registry(store_path)
    assert not left[0].exists()
    assert alive.exists(), "a live process's staging folder is left alone"


# -- 5. names that differ only in case -------------------------------------------------------------------------


def test_feature_groups_views_and_models_differing_only_in_case_are_refused(fs, mr):
    fg = fs.get_or_create_feature_group("Cards", 1, primary_key=["id"])
    fg.insert(pd.DataFrame({"id": [1], "Amount": [2.0]}))
    with pytest.raises(NameClashError, match="'cards'.*'Cards'"):
        fs.get_or_create_feature_group("cards", 1, primary_key=["id"])
    fs.get_or_create_feature_view("View", 1, query=fg.select_all())
    with pytest.raises(NameClashError, match="'view'.*'View'"):
        fs.get_or_create_feature_view("view", 1, query=fg.select_all())
    mr.python.create_model("Model").save({"a": 1})
    with pytest.raises(NameClashError, match="'model'.*'Model'"):
        mr.python.create_model("model").save({"a": 1})
    assert list(fs.get_feature_group("Cards", 1).read().columns) == ["id", "Amount"], "mixed case kept as given"


def test_columns_differing_only_in_case_are_refused(fs):
    fg = fs.get_or_create_feature_group("cards", 1, primary_key=["id"])
    with pytest.raises(NameClashError, match="'a' and 'A'"):
        fg.insert(pd.DataFrame({"id": [1], "a": [1.0], "A": [2.0]}))


def test_a_feature_view_whose_columns_differ_only_in_case_is_refused(fs):
    left = fs.get_or_create_feature_group("left", 1, primary_key=["id"])
    left.insert(pd.DataFrame({"id": [1], "x": [1.0]}))
    right = fs.get_or_create_feature_group("right", 1, primary_key=["id"])
    right.insert(pd.DataFrame({"id": [1], "X": [2.0]}))
    query = left.select_all().join(right.select_all(), on=["id"])
    with pytest.raises(NameClashError, match="'x' and 'X'"):
        fs.get_or_create_feature_view("both", 1, query=query)
    joined = left.select_all().join(right.select_all(), on=["id"], prefix="right_")
    assert fs.get_or_create_feature_view("both", 1, query=joined).get_batch_data()["right_X"].tolist() == [2.0]


# -- 6. all or nothing across offline and online ---------------------------------------------------------------


def test_an_online_group_wider_than_sqlite_allows_is_refused_before_anything_is_written(fs):
    fg = fs.get_or_create_feature_group("wide", 1, primary_key=["id"], online_enabled=True)
    frame = pd.DataFrame(np.zeros((1, 2001)), columns=[f"c{i}" for i in range(2001)]).assign(id=1)
    with pytest.raises(OnlineCapacityError, match="2002 columns.*2000"):
        fg.insert(frame)
    groups = fs.get_feature_groups().set_index("name")
    assert groups.loc["wide", "commits"] == 0 and groups.loc["wide", "rows"] == 0


# -- 7, 8. hostile frames ------------------------------------------------------------------------------------


def test_duplicate_column_names_on_the_first_insert_are_a_schema_error(fs):
    fg = fs.get_or_create_feature_group("cards", 1, primary_key=["id"])
    frame = pd.DataFrame([[1, 2.0, 3.0]], columns=["id", "x", "x"])
    with pytest.raises(SchemaError, match=r"duplicate column names \['x'\]"):
        fg.insert(frame)


def test_event_times_with_nanoseconds_are_refused_naming_the_column_and_a_value(fs):
    fg = fs.get_or_create_feature_group("obs", 1, primary_key=["id"], event_time="seen_at")
    observed = pd.Timestamp("2026-01-01")
    stamps = pd.Series([observed, observed + pd.Timedelta(800, "ns")])
    with pytest.raises(SchemaError, match=r"'seen_at'.*nanoseconds.*00:00:00\.000000800"):
        fg.insert(pd.DataFrame({"id": [1, 1], "seen_at": stamps, "v": [1.0, 2.0]}))
    fg.insert(pd.DataFrame({"id": [1], "seen_at": stamps[:1], "v": [1.0]}))  # whole microseconds are kept
    assert len(fg.read()) == 1


# -- 9. serving keys -----------------------------------------------------------------------------------------


def test_a_key_of_the_wrong_type_is_refused_naming_the_key_and_both_types(fs):
    fv = _serving_store(fs, rows=5)
    with pytest.raises(ServingKeyError, match=r"'card_id' is '2' of type str.*whole numbers"):
        fv.get_feature_vector({"card_id": "2"})
    assert fv.get_feature_vector({"card_id": np.int32(2)}) == [20.0]


def test_a_uint64_key_beyond_the_signed_range_is_refused_naming_the_key(fs):
    fv = _serving_store(fs, rows=5)
    with pytest.raises(ServingKeyError, match="'card_id'.*64-bit"):
        fv.get_feature_vector({"card_id": np.uint64(2**64 - 1)})


def test_a_uint64_column_beyond_the_signed_range_is_refused_on_insert_naming_it(fs):
    fg = fs.get_or_create_feature_group("cards", 1, primary_key=["card_id"])
    frame = pd.DataFrame({"card_id": np.array([1, 2**64 - 1], dtype="uint64"), "amount": [1.0, 2.0]})
    with pytest.raises(SchemaError, match="'card_id'.*64-bit"):
        fg.insert(frame)
    fg.insert(frame.iloc[:1])  # a uint64 that fits is kept
    assert fg.read()["card_id"].tolist() == [1]


def test_a_time_key_with_nanoseconds_is_refused(fs):
    fg = fs.get_or_create_feature_group("forecasts", 1, primary_key=["valid_time"], online_enabled=True)
    hour = pd.Timestamp("2026-01-01 10:00", tz="UTC")
    fg.insert(pd.DataFrame({"valid_time": [hour], "load": [5.0]}))
    fv = fs.get_or_create_feature_view("forecasts_view", 1, query=fg.select_all())
    assert fv.get_feature_vector({"valid_time": hour}) == [5.0]
    with pytest.raises(ServingKeyError, match="'valid_time'.*nanoseconds"):
        fv.get_feature_vector({"valid_time": hour + pd.Timedelta(800, "ns")})


def test_an_unknown_key_serves_missing_values(fs):
    """The chosen behaviour: a key with no row is served as missing values (None), not an error."""
    fv = _serving_store(fs, rows=5)
    assert fv.get_feature_vector({"card_id": 12345}) == [None]
