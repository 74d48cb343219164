#!/usr/bin/env python
"""Benchmarks of small commits: what a stream pipeline pays per micro-batch.

Run from the repository root::

    .venv/bin/python benchmarks/bench_commits.py            # full run: 10,000 commits of 100 rows
    .venv/bin/python benchmarks/bench_commits.py --quick    # smoke run: 1,000 commits

It prints a table and writes the same figures to ``benchmarks/results/commits.json``
(``commits-quick.json`` for ``--quick``). A measuring script, not a test: nothing
fails on a slow figure. The machine is shared and noisy, so each figure comes with
a baseline measured in the same run, interleaved with it, and the load average.

Sections:

1. **A 1,000-row commit into an existing group** (offline only, and online-enabled):
   ``fg.insert`` (opens and closes the store around each commit) and
   ``MicroBatchWriter.insert`` (holds it open), p50/p99, against the floor: the same
   rows appended by bare DuckDB on a held connection in one transaction with one
   commit row, plus (online) a bare SQLite upsert of them.
2. **10,000 commits of 100 rows** through one writer: p50/p99 per commit, and p50 per
   block of commits, so a cost that grows as commits accumulate shows as a rising
   curve (the last block's p50 over the first's is printed).
3. **Reading a group of 10,000 commits** against the same final rows written in one
   commit: ``fg.read()``, ``fg.read(as_of=...)`` at the middle commit, and a
   point-in-time join of 10,000 observations. Both results are compared first.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

import fti

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_store import load_average, machine, source_version  # noqa: E402 - the shared helpers of the benchmarks

RESULTS = Path(__file__).resolve().parent / "results" / "commits.json"
START = pd.Timestamp("2026-01-01", tz="UTC")


def batch(rng: np.random.Generator, index: int, rows: int, cards: int) -> pd.DataFrame:
    """Micro-batch ``index`` of a card stream: ``rows`` events one millisecond apart, after the previous batch's."""
    offset = index * rows
    return pd.DataFrame({
        "card_id": pd.array(rng.integers(0, cards, rows), dtype="Int64"),
        "event_time": START + pd.to_timedelta(offset + np.arange(rows), unit="ms"),
        "amount": rng.gamma(2.0, 30.0, rows),
        "tx_count_10m": pd.array(rng.integers(0, 20, rows), dtype="Int64"),
        "amount_sum_1h": rng.gamma(3.0, 50.0, rows),
    })


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p99) in milliseconds."""
    values = np.asarray(samples) * 1000
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def new_group(folder: Path, name: str, online: bool) -> Any:
    fs = fti.get_feature_store(folder)
    return fs.get_or_create_feature_group(name, 1, primary_key=["card_id"], event_time="event_time",
                                          online_enabled=online, description="benchmark stream")


class BareFloor:
    """The same rows appended by bare DuckDB (one transaction, one commit row) and upserted in bare SQLite."""

    def __init__(self, folder: Path, online: bool):
        self.con = duckdb.connect(str(folder / "floor.duckdb"))
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("CREATE TABLE t (card_id BIGINT, event_time TIMESTAMPTZ, amount DOUBLE, "
                         "tx_count_10m BIGINT, amount_sum_1h DOUBLE, c BIGINT, s BIGINT)")
        self.con.execute("CREATE TABLE commits (commit_id BIGINT PRIMARY KEY, rows BIGINT)")
        self.lite = None
        if online:
            self.lite = sqlite3.connect(folder / "floor.sqlite", isolation_level=None)
            self.lite.execute("PRAGMA journal_mode=WAL")
            self.lite.execute("PRAGMA synchronous=NORMAL")
            self.lite.execute("CREATE TABLE o (card_id INTEGER PRIMARY KEY, event_time TEXT, amount REAL, "
                              "tx_count_10m INTEGER, amount_sum_1h REAL)")
        self.commits = 0

    def insert(self, frame: pd.DataFrame) -> None:
        self.commits += 1
        floor_rows = frame  # noqa: F841 - read by name in the SQL (a DuckDB replacement scan)
        self.con.execute("BEGIN TRANSACTION")
        self.con.execute("INSERT INTO t SELECT *, $c, NULL FROM floor_rows", {"c": self.commits})
        self.con.execute("INSERT INTO commits VALUES (?, ?)", [self.commits, len(frame)])
        self.con.execute("COMMIT")
        if self.lite is not None:
            stamps = np.char.add(np.datetime_as_string(
                frame["event_time"].dt.tz_localize(None).to_numpy("datetime64[us]"), unit="us"), "+00:00")
            rows = list(zip(frame["card_id"].tolist(), stamps.tolist(), frame["amount"].tolist(),
                            frame["tx_count_10m"].tolist(), frame["amount_sum_1h"].tolist(), strict=True))
            self.lite.execute("BEGIN IMMEDIATE")
            self.lite.executemany(
                "INSERT INTO o VALUES (?, ?, ?, ?, ?) ON CONFLICT (card_id) DO UPDATE SET "
                "event_time = excluded.event_time, amount = excluded.amount, tx_count_10m = excluded.tx_count_10m, "
                "amount_sum_1h = excluded.amount_sum_1h WHERE excluded.event_time >= o.event_time", rows)
            self.lite.execute("COMMIT")

    def close(self) -> None:
        self.con.close()
        if self.lite is not None:
            self.lite.close()


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def section_one_commit(folder: Path, rows: int, commits: int, cards: int) -> dict[str, Any]:
    """Section 1: p50/p99 of a `rows`-row commit, plain insert and writer, against the bare floor."""
    results: dict[str, Any] = {}
    for online in (False, True):
        label = "online" if online else "offline"
        rng = np.random.default_rng(1)
        plain_fg = new_group(folder / f"plain-{label}", "stream", online)
        writer_fg = new_group(folder / f"writer-{label}", "stream", online)
        floor_dir = folder / f"floor-{label}"
        floor_dir.mkdir()
        floor = BareFloor(floor_dir, online)
        frames = [batch(rng, index, rows, cards) for index in range(commits + 1)]
        plain_fg.insert(frames[0])
        writer_fg.insert(frames[0])
        floor.insert(frames[0])
        plain, writer, bare = [], [], []
        plain_every = 5  # open/close per commit is slow: sample every fifth commit
        with writer_fg.micro_batch_writer() as stream:
            # Interleaved, so that a burst of load from elsewhere hits all three alike.
            for index, frame in enumerate(frames[1:], start=1):
                writer.append(timed(lambda frame=frame: stream.insert(frame)))
                bare.append(timed(lambda frame=frame: floor.insert(frame)))
                if index % plain_every == 0:
                    plain.append(timed(lambda frame=frame: plain_fg.insert(frame)))
        floor.close()
        w50, w99 = percentiles(writer)
        b50, b99 = percentiles(bare)
        p50, p99 = percentiles(plain)
        results[label] = {"writer_p50_ms": w50, "writer_p99_ms": w99, "floor_p50_ms": b50, "floor_p99_ms": b99,
                          "insert_p50_ms": p50, "insert_p99_ms": p99, "writer_over_floor": w50 / b50,
                          "commits": commits, "rows_per_commit": rows}
    return results


def section_many_commits(folder: Path, rows: int, commits: int, cards: int, blocks: int) -> dict[str, Any]:
    """Section 2 and 3: many small commits through one writer, then reads against a one-commit copy."""
    rng = np.random.default_rng(2)
    frames = [batch(rng, index, rows, cards) for index in range(commits)]
    fg = new_group(folder / "many", "stream", True)
    samples: list[float] = []
    gc.collect()
    with fg.micro_batch_writer() as stream:
        for frame in frames:
            samples.append(timed(lambda frame=frame: stream.insert(frame)))
    p50, p99 = percentiles(samples)
    size = len(samples) // blocks
    curve = [percentiles(samples[block * size:(block + 1) * size])[0] for block in range(blocks)]

    # The same final rows in one commit, and observations to join both with.
    single = new_group(folder / "single", "stream", False)
    single.insert(pd.concat(frames, ignore_index=True))
    observations = pd.DataFrame({
        "obs_id": pd.array(np.arange(10_000), dtype="Int64"),
        "card_id": pd.array(rng.integers(0, cards, 10_000), dtype="Int64"),
        "obs_time": START + pd.to_timedelta(rng.integers(0, commits * rows, 10_000), unit="ms"),
    })
    reads: dict[str, Any] = {}
    middle = int(fg.commit_details()["commit_id"].iloc[len(frames) // 2])
    single_middle_time = fg.commit_details()["committed_at"].iloc[len(frames) // 2]
    del single_middle_time  # the one-commit copy has no middle state; as_of is compared on the many-commit group
    for name, group in (("many", fg), ("single", single)):
        store = fti.get_feature_store(group_store(group))
        obs = store.get_or_create_feature_group("obs", 1, primary_key=["obs_id"], event_time="obs_time")
        if not obs.columns:
            obs.insert(observations)
        query = obs.select_all().join(group.select(["amount", "tx_count_10m"]), on=["card_id"])
        reads[name] = {
            "read_s": min(timed(group.read) for _ in range(3)),
            "pit_s": min(timed(query.read) for _ in range(3)),
            "rows": len(group.read()),
            "pit": query.read().sort_values("obs_id").reset_index(drop=True),
        }
    as_of_s = min(timed(lambda: fg.read(as_of=middle)) for _ in range(3))
    same_rows = fg.read().reset_index(drop=True).equals(single.read().reset_index(drop=True))
    same_pit = reads["many"]["pit"].equals(reads["single"]["pit"])
    return {
        "commits": commits, "rows_per_commit": rows, "p50_ms": p50, "p99_ms": p99, "curve_p50_ms": curve,
        "last_over_first_block": curve[-1] / curve[0],
        "read_many_s": reads["many"]["read_s"], "read_single_s": reads["single"]["read_s"],
        "read_ratio": reads["many"]["read_s"] / reads["single"]["read_s"],
        "pit_many_s": reads["many"]["pit_s"], "pit_single_s": reads["single"]["pit_s"],
        "pit_ratio": reads["many"]["pit_s"] / reads["single"]["pit_s"],
        "as_of_middle_s": as_of_s, "rows": reads["many"]["rows"],
        "same_rows": bool(same_rows), "same_point_in_time": bool(same_pit),
    }


def group_store(group: Any) -> Path:
    """The store folder a feature group handle belongs to."""
    return Path(group._engine.path)  # noqa: SLF001 - the benchmark reopens the same folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 small commits instead of 10,000")
    parser.add_argument("--rows", type=int, default=1000, help="rows per commit in section 1 (default 1000)")
    parser.add_argument("--commits", type=int, default=None, help="commits in section 2 (default 10000)")
    parser.add_argument("--dir", type=Path, default=None, help="where to make the temporary stores")
    args = parser.parse_args()
    commits = args.commits or (1000 if args.quick else 10_000)
    section_one_commits = 100 if args.quick else 300
    started = load_average()
    print(f"fti {source_version()} on {machine()['cpu']}; load average at start: {started}", flush=True)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        one = section_one_commit(folder, args.rows, section_one_commits, cards=5000)
        many = section_many_commits(folder, 100, commits, cards=5000, blocks=10)
    ended = load_average()

    print(f"\n1. A {args.rows:,}-row commit into an existing group ({section_one_commits} commits, interleaved)")
    print(f"   {'':10} {'writer p50/p99':>18} {'fg.insert p50/p99':>20} {'bare floor p50/p99':>20} "
          f"{'writer/floor':>13}")
    for label, row in one.items():
        print(f"   {label:10} {row['writer_p50_ms']:8.2f}/{row['writer_p99_ms']:<8.2f} ms "
              f"{row['insert_p50_ms']:9.2f}/{row['insert_p99_ms']:<8.2f} ms "
              f"{row['floor_p50_ms']:9.2f}/{row['floor_p99_ms']:<8.2f} ms {row['writer_over_floor']:10.2f}x")
    print(f"\n2. {many['commits']:,} commits of {many['rows_per_commit']} rows through one writer (online-enabled)")
    print(f"   per commit: p50 {many['p50_ms']:.2f} ms, p99 {many['p99_ms']:.2f} ms")
    print("   p50 per block of commits (ms): " + " ".join(f"{value:.2f}" for value in many["curve_p50_ms"]))
    print(f"   last block / first block: {many['last_over_first_block']:.2f}x")
    print(f"\n3. Reading {many['rows']:,} rows written in {many['commits']:,} commits vs in one commit")
    print(f"   fg.read():            {many['read_many_s'] * 1000:8.1f} ms vs {many['read_single_s'] * 1000:8.1f} ms "
          f"({many['read_ratio']:.2f}x)")
    print(f"   point-in-time join:   {many['pit_many_s'] * 1000:8.1f} ms vs {many['pit_single_s'] * 1000:8.1f} ms "
          f"({many['pit_ratio']:.2f}x) of 10,000 observations")
    print(f"   fg.read(as_of=middle commit): {many['as_of_middle_s'] * 1000:.1f} ms")
    print(f"   same rows: {many['same_rows']}, same point-in-time result: {many['same_point_in_time']}")
    print(f"\nload average at start {started}, at end {ended}")

    results = {"machine": machine(), "source": source_version(), "load_start": started, "load_end": ended,
               "one_commit": one, "many_commits": many}
    path = RESULTS.with_name("commits-quick.json") if args.quick else RESULTS
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str))
    if not (many["same_rows"] and many["same_point_in_time"]):
        print("DISAGREEMENT: the many-commit group reads differently from the one-commit copy", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.environ.pop("FTI_NOW", None)  # a benchmark writes on the real clock
    sys.exit(main())
