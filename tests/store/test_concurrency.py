"""Several processes on one store: a notebook kernel, a scheduled pipeline, a second notebook.

DuckDB lets one process at a time open the database file, so fti opens it per call and
retries while another process holds it. These tests run real OS processes (subprocess)
against one store and check that users never see the lock, that no commit is lost, and
that a store held for too long gives a clear StoreBusyError.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

import fti

# One worker: N inserts into the shared feature group, each followed by reads that
# check what this process just wrote. Its own keys are 1000*w + i; the shared keys
# 0..4 are written by both workers with event time i and the same values, so their
# final state does not depend on the interleaving; key 99 at a fixed event time is
# written by both with different values (last writer wins, either is fine).
WORKER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    import pandas as pd
    import fti

    worker = int(sys.argv[1])
    inserts = int(sys.argv[2])
    go = Path(sys.argv[3])

    def frame(rows):
        return pd.DataFrame({
            "id": [r[0] for r in rows],
            "ts": pd.to_datetime([r[1] for r in rows]),
            "value": [float(r[2]) for r in rows],
            "source": [r[3] for r in rows],
        })

    print("READY", flush=True)
    while not go.exists():
        time.sleep(0.01)

    fs = fti.get_feature_store()
    fg = fs.get_or_create_feature_group("events", version=1, primary_key=["id"], event_time="ts",
                                        online_enabled=True)
    seen_rows = 0
    for i in range(inserts):
        rows = [(1000 * worker + i, "2024-01-01", i, f"w{worker}"),      # own key
                (i % 5, f"2024-01-{1 + i:02d}", 10 * i, "shared"),       # shared keys, same values
                (99, "2024-06-01", worker, f"w{worker}")]                # shared key, values differ
        commit = fg.insert(frame(rows))
        assert commit.rows_inserted + commit.rows_updated + commit.rows_unchanged == 3, commit
        current = fg.read()
        assert 1000 * worker + i in set(current["id"]), f"worker {worker} lost its insert {i}"
        assert len(current) >= seen_rows, "rows disappeared"
        seen_rows = len(current)
        if i % 5 == 0:
            then = fg.read(as_of=commit.commit_id)
            assert (1000 * worker + i) in set(then["id"]), "time travel to own commit misses own row"
        if i % 10 == 0:
            assert commit.commit_id in set(fg.commit_details()["commit_id"])
    print("DONE", flush=True)
    """
)


def _start(script: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **(env or {})})


def _wait_for(proc: subprocess.Popen, word: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.strip() == word:
            return
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"child never said {word}: {proc.stderr.read() if proc.poll() is not None else ''}")


def _finish(proc: subprocess.Popen, timeout: float = 60) -> tuple[str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"child did not finish: {err}") from None
    return out, err


def test_two_processes_insert_and_read_at_once_without_errors_or_lost_commits(store_path, tmp_path):
    inserts = 30
    go = tmp_path / "go"
    workers = [_start(WORKER, str(w), str(inserts), str(go)) for w in (1, 2)]
    try:
        for proc in workers:
            _wait_for(proc, "READY")
        go.touch()
        results = [_finish(proc, timeout=120) for proc in workers]
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, (out, err) in zip(workers, results, strict=True):
        assert proc.returncode == 0, err
        assert "DONE" in out
        assert "Traceback" not in err and "Error" not in err, err

    fs = fti.get_feature_store()
    fg = fs.get_feature_group("events", 1)
    details = fg.commit_details()
    assert len(details) == 2 * inserts
    assert details["commit_id"].tolist() == list(range(1, 2 * inserts + 1))
    assert ((details["rows_inserted"] + details["rows_updated"] + details["rows_unchanged"]) == 3).all()

    current = fg.read()
    own = current[current["source"].str.startswith("w") & (current["id"] != 99)]
    assert sorted(own["id"]) == sorted(1000 * w + i for w in (1, 2) for i in range(inserts))
    assert all(row.value == row.id % 1000 for row in own.itertuples())
    shared = current[current["source"] == "shared"]
    assert sorted(zip(shared["id"], shared["value"], strict=True)) == sorted((i % 5, 10.0 * i) for i in range(inserts))
    contested = current[current["id"] == 99]
    assert len(contested) == 1 and contested["value"].item() in (1.0, 2.0)
    # Every row version was inserted by exactly one commit: nothing lost, nothing doubled.
    assert details["rows_inserted"].sum() == len(current)

    # The online copy agrees with the offline newest row per key.
    newest = current.sort_values("ts").groupby("id").tail(1)
    con = sqlite3.connect(store_path / "online.sqlite")
    try:
        online = dict(con.execute(f'SELECT id, value FROM "{fg.table}"').fetchall())
        applied = con.execute("SELECT applied_commit FROM fti_online_state").fetchall()
    finally:
        con.close()
    assert online == dict(zip(newest["id"], newest["value"], strict=True))
    assert applied == [(2 * inserts,)]


HOLDER = textwrap.dedent(
    """
    import sys, time
    import fti
    from fti.store.storage import Store
    fs = fti.get_feature_store()
    with Store(fs.path).connect():
        print("HOLDING", flush=True)
        time.sleep(float(sys.argv[1]))
    print("RELEASED", flush=True)
    """
)


def test_a_store_held_too_long_raises_store_busy_and_a_short_hold_is_waited_out(store_path, monkeypatch):
    fs = fti.get_feature_store()
    fg = fs.get_or_create_feature_group("events", primary_key=["id"])
    fg.insert(pd.DataFrame({"id": [1], "value": [1.0]}))
    holder = _start(HOLDER, "6")
    try:
        _wait_for(holder, "HOLDING")
        held_since = time.monotonic()
        monkeypatch.setenv("FTI_LOCK_TIMEOUT", "0.4")
        with pytest.raises(fti.StoreBusyError) as info:
            fg.insert(pd.DataFrame({"id": [2], "value": [2.0]}))
        waited = time.monotonic() - held_since
        assert 0.3 <= waited < 5.0, waited  # refused long before the holder lets go
        message = str(info.value)
        assert str(store_path) in message
        assert "FTI_LOCK_TIMEOUT" in message
        assert isinstance(info.value, fti.FTIError) and isinstance(info.value, TimeoutError)
        with pytest.raises(fti.StoreBusyError, match=str(store_path)):
            fg.read()
        # With a longer bound the same call waits for the holder instead of failing.
        monkeypatch.setenv("FTI_LOCK_TIMEOUT", "30")
        assert fg.read()["id"].tolist() == [1]  # the refused insert wrote nothing
        assert time.monotonic() - held_since >= 5.0, "the read should have waited for the holder"
    finally:
        _finish(holder)
    assert holder.returncode == 0
    # The same objects work once the store is free.
    assert fg.insert(pd.DataFrame({"id": [2], "value": [2.0]})).rows_inserted == 1
    assert fg.read()["id"].tolist() == [1, 2]
    assert len(fg.commit_details()) == 2


def test_an_insert_waits_for_a_short_hold_without_an_error(store_path, monkeypatch):
    fs = fti.get_feature_store()
    fg = fs.get_or_create_feature_group("events", primary_key=["id"])
    fg.insert(pd.DataFrame({"id": [1], "value": [1.0]}))
    holder = _start(HOLDER, "3")
    try:
        _wait_for(holder, "HOLDING")
        started = time.monotonic()
        commit = fg.insert(pd.DataFrame({"id": [2], "value": [2.0]}))  # default bound: 60 s
        waited = time.monotonic() - started
    finally:
        _finish(holder)
    assert waited >= 1.0, "the insert should have had to wait for the holder"
    assert commit.rows_inserted == 1
    assert fg.read()["id"].tolist() == [1, 2]


CHILD_PIPELINE = textwrap.dedent(
    """
    import pandas as pd
    import fti
    fs = fti.get_feature_store()
    fg = fs.get_or_create_feature_group("events", primary_key=["id"], event_time="ts", online_enabled=True)
    fg.insert(pd.DataFrame({"id": [1, 3], "ts": pd.to_datetime(["2024-02-01", "2024-02-01"]), "value": [10.0, 30.0]}))
    new = fs.get_or_create_feature_group("weather", primary_key=["city"])
    new.insert(pd.DataFrame({"city": ["Oslo"], "temp": [-3.5]}))
    mr = fti.get_model_registry()
    mr.create_model("forecast", metrics={"mae": 1.5}).save({"w": 1})
    print("WROTE", flush=True)
    """
)


@pytest.mark.parametrize("schema_first", ["parent", "child"])
def test_objects_made_before_another_process_wrote_keep_working(store_path, schema_first):
    """A notebook kernel keeps its FeatureStore for hours while pipelines write the store."""
    fs = fti.get_feature_store()
    mr = fti.get_model_registry()
    fg = fs.get_or_create_feature_group("events", primary_key=["id"], event_time="ts", online_enabled=True)
    if schema_first == "parent":
        fg.insert(pd.DataFrame({"id": [1, 2], "ts": pd.to_datetime(["2024-01-01", "2024-01-01"]),
                                "value": [1.0, 2.0]}))
        fv = fs.get_or_create_feature_view("events_view", query=fg.select(["value"]))
        fv.init_serving()
        assert fv.get_feature_vector({"id": 1}) == [1.0]
    with pytest.raises(fti.ModelNotFoundError):
        mr.get_model("forecast")

    child = _start(CHILD_PIPELINE)
    out, err = _finish(child)
    assert child.returncode == 0, err
    assert "WROTE" in out

    # The parent's old handles see the child's writes...
    current = fg.read()
    expected_ids = [1, 1, 2, 3] if schema_first == "parent" else [1, 3]
    assert current["id"].tolist() == expected_ids
    assert len(fg.commit_details()) == (2 if schema_first == "parent" else 1)
    assert fs.get_feature_group("weather").read()["temp"].tolist() == [-3.5]
    assert mr.get_model("forecast").load() == {"w": 1}
    if schema_first == "parent":
        assert fv.get_feature_vector({"id": 1}) == [10.0]  # online copy written by the child
        assert fv.get_feature_vector({"id": 3}) == [30.0]
    # ...and can still write, with the next commit id.
    commit = fg.insert(pd.DataFrame({"id": [4], "ts": pd.to_datetime(["2024-03-01"]), "value": [4.0]}))
    assert commit.commit_id == (4 if schema_first == "parent" else 3)
    assert fg.read()["id"].tolist() == expected_ids + [4]
    fv = fs.get_or_create_feature_view("events_view", query=fg.select(["value"]))
    fv.init_serving()
    assert fv.get_feature_vector({"id": 4}) == [4.0]
    assert fv.get_feature_vector({"id": 1}) == [10.0]


def test_threads_of_one_process_insert_without_conflicts(fs):
    """Threads share DuckDB's in-process database; their commits must queue, not collide."""
    import threading

    errors: list[str] = []

    def work(thread: int) -> None:
        try:
            fg = fs.get_or_create_feature_group("threaded", primary_key=["id"])
            for i in range(10):
                fg.insert(pd.DataFrame({"id": [thread * 100 + i], "value": [float(i)]}))
        except Exception as exc:  # collected, so the assertion below names it
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    fg = fs.get_feature_group("threaded")
    assert len(fg.read()) == 30
    assert fg.commit_details()["commit_id"].tolist() == list(range(1, 31))
