#!/usr/bin/env python
"""Benchmarks of `fti.stream`: how fast the window engine and a stream into a feature group run.

Run from the repository root::

    .venv/bin/python benchmarks/bench_stream.py            # 50,000 events, 2,000 keys, one simulated day
    .venv/bin/python benchmarks/bench_stream.py --quick    # 5,000 events, 200 keys

A measuring script, not a test: it prints figures, nothing fails on a slow one. The
machine is shared and noisy, so each throughput comes with a baseline measured in the
same run (and the load average is printed):

1. **The engine alone**: `WindowEngine.process` over the 60 s micro-batches
   (4 windows: 10 min, 1 h, 1 d, 7 d; count, sum and mean; the last amount), against
   `batch_windows` computing the same rows in one DuckDB statement.
2. **A stream into an online-enabled feature group**: `run_stream` with
   ``fg.micro_batch_writer().insert`` as the sink, against the baseline of the same
   final rows written by one ``fg.insert`` of the `batch_windows` output. The rows
   stored are compared first.
3. **Real-time replay**: a slice of the day replayed at a speed-up chosen so it lasts
   about ``--realtime-seconds``, with lag p50/p99/max from each event's (scaled)
   arrival to the end of the commit that made its row available. At a speed-up ``s``
   and batches of ``B`` simulated seconds, an event waits up to ``B / s`` wall seconds
   for its interval to close, so the lag is mostly that wait plus one commit.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import fti
from fti.stream import WindowEngine, WindowSpec, batch_windows, run_stream

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_store import load_average  # noqa: E402 - the shared helpers of the benchmarks

START = pd.Timestamp("2026-03-01", tz="UTC")
SPEC = WindowSpec(key="entity_id", time="ts", windows={"10m": "10min", "1h": "1h", "1d": "1D", "7d": "7D"},
                  aggregates={"n": ("entity_id", "count"), "amount_sum": ("amount", "sum"),
                              "amount_mean": ("amount", "mean")},
                  last=["amount"], allowed_lateness="2min")


def make_events(size: int, keys: int, seconds: int, seed: int = 0) -> pd.DataFrame:
    """Events spread over ``seconds``, 5 % arriving up to 5 minutes late (some beyond the lateness)."""
    rng = np.random.default_rng(seed)
    ts = START + pd.to_timedelta(np.sort(rng.integers(0, seconds * 1_000_000, size)), unit="us")
    delay = np.where(rng.random(size) < 0.05, rng.integers(0, 300_000_000, size), 0)
    return pd.DataFrame({"entity_id": rng.integers(0, keys, size), "ts": ts,
                         "amount": rng.gamma(2.0, 30.0, size).round(2),
                         "arrival": ts + pd.to_timedelta(delay, unit="us")})


def timed(function):
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def engine_alone(events: pd.DataFrame) -> None:
    ordered = events.sort_values("arrival", kind="stable")
    groups = [group for _, group in ordered.groupby(ordered["arrival"].dt.floor("60s"), sort=True)]
    engine = WindowEngine(SPEC)
    seconds, _ = timed(lambda: [engine.process(group) for group in groups])
    batch_seconds, _ = timed(lambda: batch_windows(events, SPEC))
    print(f"1. engine alone: {len(events):,} events in {len(groups):,} micro-batches: {seconds:.2f} s, "
          f"{len(events) / seconds:,.0f} events/s; batch_windows (DuckDB, one statement): {batch_seconds:.2f} s, "
          f"{len(events) / batch_seconds:,.0f} events/s; engine / batch time: x{seconds / batch_seconds:.1f}")
    print(f"   {engine!r}")


def stream_into_store(events: pd.DataFrame, store: Path) -> None:
    fs = fti.get_feature_store(store)
    fg = fs.get_or_create_feature_group("stream_windows", version=1, primary_key=["entity_id"],
                                        event_time="ts", online_enabled=True)
    engine = WindowEngine(SPEC)
    with fg.micro_batch_writer() as writer:
        report = run_stream(events, engine, writer.insert, arrival="arrival", batch_every="60s")

    accepted = events.drop(index=engine.dropped.index)
    baseline_fg = fs.get_or_create_feature_group("batch_windows", version=1, primary_key=["entity_id"],
                                                 event_time="ts", online_enabled=True)

    def backfill() -> None:
        rows = batch_windows(accepted, SPEC).drop_duplicates(["entity_id", "ts"], keep="last")
        baseline_fg.insert(rows)

    baseline_seconds, _ = timed(backfill)
    stored = fg.read().sort_values(["entity_id", "ts"]).reset_index(drop=True)
    expected = baseline_fg.read().sort_values(["entity_id", "ts"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(stored, expected, check_exact=False, rtol=1e-9)
    print(f"2. run_stream into an online-enabled group (micro-batch writer): {report.summary()}")
    print(f"   baseline, batch_windows + one fg.insert of the same {len(expected):,} rows: {baseline_seconds:.2f} s "
          f"({len(events) / baseline_seconds:,.0f} events/s); stream / baseline time: "
          f"x{report.wall_seconds / baseline_seconds:.1f}; stored rows equal: yes")


def real_time(events: pd.DataFrame, store: Path, wall_seconds: float, simulated_minutes: int) -> None:
    fs = fti.get_feature_store(store)
    fg = fs.get_or_create_feature_group("realtime_windows", version=1, primary_key=["entity_id"],
                                        event_time="ts", online_enabled=True)
    begin = events["arrival"].min() + pd.Timedelta("6h")  # past the first hours, so keys have history
    end = begin + pd.Timedelta(minutes=simulated_minutes)
    part = events[(events["arrival"] >= begin) & (events["arrival"] < end)]
    speed = simulated_minutes * 60 / wall_seconds
    for batch_every in ("60s", "5s"):
        with fg.micro_batch_writer() as writer:
            report = run_stream(part, _warm(events, begin), writer.insert,
                                arrival="arrival", batch_every=batch_every, speed=speed)
        print(f"3. real time, {simulated_minutes} simulated minutes at {speed:.0f}x, batches of {batch_every} "
              f"simulated ({pd.Timedelta(batch_every).total_seconds() / speed * 1000:.0f} ms wall):")
        print("   " + report.summary().replace("\n", "\n   "))


def _warm(events: pd.DataFrame, begin: pd.Timestamp) -> WindowEngine:
    """An engine holding every event that arrived before ``begin`` (what a stream running since then would)."""
    engine = WindowEngine(SPEC)
    engine.warm_up(events[events["arrival"] < begin])
    return engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 events, 200 keys, 5 s of real time")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--keys", type=int, default=2_000)
    parser.add_argument("--realtime-seconds", type=float, default=20.0)
    parser.add_argument("--realtime-minutes", type=int, default=20, help="simulated minutes replayed in real time")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.events, arguments.keys, arguments.realtime_seconds = 5_000, 200, 5.0
    events = make_events(arguments.events, arguments.keys, seconds=24 * 3600)
    print(f"{arguments.events:,} events, {arguments.keys:,} keys, one simulated day; load average "
          f"{load_average()}")
    with tempfile.TemporaryDirectory() as folder:
        engine_alone(events)
        stream_into_store(events, Path(folder) / "store")
        real_time(events, Path(folder) / "store", arguments.realtime_seconds, arguments.realtime_minutes)
    print(f"load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
