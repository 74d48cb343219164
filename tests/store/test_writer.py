"""The micro-batch writer and the fast commit path: same results as `fg.insert`, commit by commit.

The writer holds the store open and takes shortcuts a plain insert does not (a pure
append skips the upsert join; the online copy is updated from the commit's own rows).
These tests run the same random streams (appends, late events, corrections,
repeats) through a writer in one store and through ``fg.insert`` of the previous
release's semantics in another, and compare every state; then the hold, the closed
writer, and a writer killed in the middle of a stream.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fti

START = pd.Timestamp("2026-01-01", tz="UTC")


def stream(seed: int, batches: int, rows: int, keys: int) -> list[pd.DataFrame]:
    """Random micro-batches: mostly appends in time order, some late events, corrections and exact repeats."""
    rng = np.random.default_rng(seed)
    frames: list[pd.DataFrame] = []
    clock = 0
    for _ in range(batches):
        kind = rng.choice(["append", "late", "correct", "repeat"], p=[0.55, 0.2, 0.15, 0.1])
        if kind == "repeat" and frames:
            frames.append(frames[int(rng.integers(len(frames)))].copy())
            continue
        if kind == "correct" and frames:
            # New values for (key, event time) pairs already written, plus one new row.
            old = frames[int(rng.integers(len(frames)))].sample(frac=0.5, random_state=int(rng.integers(1 << 30)))
            old = old.assign(amount=rng.normal(size=len(old)).round(3))
            frames.append(old.reset_index(drop=True))
            continue
        if kind == "late" and clock > 0:
            offsets = rng.choice(clock, size=min(rows, clock), replace=False)  # before the newest stored time
        else:
            offsets = clock + np.arange(rows)
            clock += rows
        frames.append(pd.DataFrame({
            "card_id": pd.array(rng.integers(0, keys, len(offsets)), dtype="Int64"),
            "event_time": START + pd.to_timedelta(np.sort(offsets), unit="s"),
            "amount": rng.normal(size=len(offsets)).round(3),
            "merchant": pd.array(rng.choice(["a", "b", "c", None], len(offsets)), dtype="str"),
        }).drop_duplicates(["card_id", "event_time"]).reset_index(drop=True))
    return frames


def make(path: Path, online: bool = True):
    fs = fti.get_feature_store(path)
    return fs.get_or_create_feature_group("cards", 1, primary_key=["card_id"], event_time="event_time",
                                          online_enabled=online)


def online_rows(path: Path, table: str) -> list[tuple]:
    with sqlite3.connect(path / "online.sqlite") as con:
        return sorted(con.execute(f'SELECT * FROM "{table}"').fetchall())


class Oracle:
    """The upsert semantics in plain Python: (key, event time) -> values; what each commit did."""

    def __init__(self):
        self.rows: dict[tuple, tuple] = {}

    def commit(self, frame: pd.DataFrame) -> tuple[int, int, int]:
        counts = [0, 0, 0]
        for key, when, amount, merchant in frame.itertuples(index=False):
            values = (amount, None if pd.isna(merchant) else merchant)
            old = self.rows.get((key, when))
            counts[0 if old is None else 2 if old == values else 1] += 1
            self.rows[(key, when)] = values
        return tuple(counts)

    def state(self) -> pd.DataFrame:
        items = sorted(self.rows.items())
        return pd.DataFrame({
            "card_id": pd.array([k for (k, _), _ in items], dtype="Int64"),
            "event_time": pd.array([t for (_, t), _ in items], dtype="datetime64[us, UTC]"),
            "amount": [v[0] for _, v in items],
            "merchant": pd.array([v[1] for _, v in items], dtype="str"),
        })


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_writer_and_plain_inserts_give_the_states_and_counts_of_the_upsert_rules(tmp_path, seed):
    frames = stream(seed, batches=40, rows=30, keys=12)
    plain = make(tmp_path / "plain")
    written = make(tmp_path / "writer")
    oracle = Oracle()
    expected_counts, states = [], []
    for frame in frames:
        expected_counts.append(oracle.commit(frame))
        states.append(oracle.state())
    assert any(c[1] for c in expected_counts) and any(c[2] for c in expected_counts), (
        "the stream must exercise corrections and repeats, not only appends")
    plain_commits = [plain.insert(frame) for frame in frames]
    with written.micro_batch_writer() as writer:
        writer_commits = [writer.insert(frame) for frame in frames]
    for commits in (plain_commits, writer_commits):
        assert [(c.rows_inserted, c.rows_updated, c.rows_unchanged) for c in commits] == expected_counts
    for fg, commits in ((plain, plain_commits), (written, writer_commits)):
        for commit, state in zip(commits, states, strict=True):  # every past state, not only the last
            pd.testing.assert_frame_equal(fg.read(as_of=commit.commit_id).reset_index(drop=True), state,
                                          check_dtype=False)
    newest = states[-1].sort_values("event_time").groupby("card_id").tail(1).sort_values("card_id")
    for folder, fg in ((tmp_path / "plain", plain), (tmp_path / "writer", written)):
        got = online_rows(folder, fg.table)
        assert [row[0] for row in got] == newest["card_id"].tolist()
        assert [row[2] for row in got] == newest["amount"].tolist()


def test_the_online_copy_keeps_the_newest_event_when_a_late_one_arrives(tmp_path):
    fg = make(tmp_path)
    newest = pd.DataFrame({"card_id": pd.array([1], dtype="Int64"), "event_time": [START + pd.Timedelta("1h")],
                           "amount": [5.0], "merchant": pd.array(["new"], dtype="str")})
    late = newest.assign(event_time=[START], amount=[1.0], merchant=pd.array(["old"], dtype="str"))
    with fg.micro_batch_writer() as writer:
        writer.insert(newest)
        writer.insert(late)
    (row,) = online_rows(tmp_path, fg.table)
    assert row[2:] == (5.0, "new")
    # The same answer as a rebuild of the online copy from the offline history.
    (tmp_path / "online.sqlite").unlink()
    fti.get_feature_store(tmp_path).get_feature_group("cards", 1).insert(late)  # unchanged rows, then a rebuild
    assert online_rows(tmp_path, fg.table)[0][2:] == (5.0, "new")


def test_the_online_copy_is_rebuilt_when_it_missed_a_commit(tmp_path):
    fg = make(tmp_path)
    frames = stream(7, batches=6, rows=20, keys=5)
    with fg.micro_batch_writer() as writer:
        writer.insert(frames[0])
        (tmp_path / "online.sqlite").unlink()  # the online copy is lost in the middle of a stream
        for frame in frames[1:]:
            writer.insert(frame)
    expected = fg.read().sort_values("event_time").groupby("card_id").tail(1)
    got = online_rows(tmp_path, fg.table)
    assert [row[0] for row in got] == sorted(expected["card_id"].tolist())
    assert [row[2] for row in got] == expected.sort_values("card_id")["amount"].tolist()


def test_a_closed_writer_refuses_to_insert(tmp_path):
    fg = make(tmp_path, online=False)
    writer = fg.micro_batch_writer()
    writer.insert(stream(1, 1, 5, 3)[0])
    writer.close()
    writer.close()  # harmless
    with pytest.raises(fti.FTIError, match="closed"):
        writer.insert(stream(2, 1, 5, 3)[0])
    assert "closed" in repr(writer) and "commits=1" in repr(writer)


_OTHER_PROCESS = textwrap.dedent(
    """
    import sys
    import pandas as pd
    import fti
    try:
        fg = fti.get_feature_store(sys.argv[1]).get_feature_group("cards", 1)
        fg.insert(pd.DataFrame({"card_id": pd.array([99], dtype="Int64"),
                                "event_time": [pd.Timestamp("2030-01-01", tz="UTC")], "amount": [1.0],
                                "merchant": pd.array(["z"], dtype="str")}))
    except fti.FTIError as exc:
        print(type(exc).__name__)
        sys.exit(3)
    print("INSERTED")
    """
)


def test_other_processes_wait_while_a_writer_is_open_and_write_after_it_closes(tmp_path):
    fg = make(tmp_path, online=False)
    script = tmp_path / "other.py"
    script.write_text(_OTHER_PROCESS)
    env = {**os.environ, "FTI_LOCK_TIMEOUT": "1"}
    with fg.micro_batch_writer() as writer:
        writer.insert(stream(3, 1, 5, 3)[0])
        blocked = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True,
                                 env=env, timeout=120)
    assert blocked.returncode == 3 and "StoreBusyError" in blocked.stdout, blocked.stderr[-2000:]
    after = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, env=env,
                           timeout=120)
    assert after.returncode == 0 and "INSERTED" in after.stdout, after.stderr[-2000:]
    assert 99 in fg.read()["card_id"].tolist()


_KILLED_STREAM = textwrap.dedent(
    """
    import sys
    import numpy as np
    import pandas as pd
    import fti
    fg = fti.get_feature_store(sys.argv[1]).get_feature_group("cards", 1)
    start = pd.Timestamp("2026-01-01", tz="UTC")
    with fg.micro_batch_writer() as writer:
        for batch in range(100_000):
            frame = pd.DataFrame({
                "card_id": pd.array(np.arange(200) % 7, dtype="Int64"),
                "event_time": start + pd.to_timedelta(batch * 200 + np.arange(200), unit="s"),
                "amount": np.full(200, float(batch)),
                "merchant": pd.array(["m"] * 200, dtype="str"),
            })
            commit = writer.insert(frame)
            print("COMMITTED", commit.commit_id, flush=True)
    """
)


def test_a_writer_killed_in_the_middle_of_a_stream_leaves_whole_commits(tmp_path):
    fg = make(tmp_path)
    fg.insert(stream(4, 1, 5, 3)[0].assign(event_time=lambda f: f["event_time"] - pd.Timedelta(days=365)))
    script = tmp_path / "stream.py"
    script.write_text(_KILLED_STREAM)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    seen = 0
    deadline = time.monotonic() + 120
    while seen < 15 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line.startswith("COMMITTED")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert seen >= 15, proc.stderr.read()[-2000:]

    details = fg.commit_details()
    stream_commits = details.iloc[1:]
    # Every recorded commit has all of its 200 rows, and no rows belong to an unrecorded commit.
    assert (stream_commits["rows_inserted"] == 200).all()
    streamed = fg.read().query("merchant == 'm'")
    per_batch = streamed.groupby("amount").size()
    assert per_batch.index.tolist() == [float(b) for b in range(len(stream_commits))]
    assert (per_batch == 200).all()
    # The online copy is at the last commit (or rebuilt to it by the next write or serve).
    fti.get_feature_store(tmp_path).get_feature_group("cards", 1).insert(stream(5, 1, 3, 3)[0])
    newest = fg.read().sort_values("event_time").groupby("card_id").tail(1).sort_values("card_id")
    assert [row[2] for row in online_rows(tmp_path, fg.table)] == newest["amount"].tolist()


def test_a_batch_starting_at_the_newest_stored_time_still_upserts(tmp_path):
    """The append shortcut applies only to rows strictly newer than everything stored."""
    fg = make(tmp_path, online=False)
    first = pd.DataFrame({"card_id": pd.array([1, 2], dtype="Int64"),
                          "event_time": [START, START + pd.Timedelta("1min")], "amount": [1.0, 2.0],
                          "merchant": pd.array(["a", "b"], dtype="str")})
    again = pd.DataFrame({"card_id": pd.array([2, 3], dtype="Int64"),
                          "event_time": [START + pd.Timedelta("1min"), START + pd.Timedelta("2min")],
                          "amount": [20.0, 3.0], "merchant": pd.array(["b", "c"], dtype="str")})
    with fg.micro_batch_writer() as writer:
        writer.insert(first)
        commit = writer.insert(again)
    assert (commit.rows_inserted, commit.rows_updated, commit.rows_unchanged) == (1, 1, 0)
    assert fg.read()["amount"].tolist() == [1.0, 20.0, 3.0]
