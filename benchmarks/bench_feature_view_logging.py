#!/usr/bin/env python
"""Benchmark of feature logging: what ``fv.log`` of one batch of served requests costs.

Run from the repository root::

    .venv/bin/python benchmarks/bench_feature_view_logging.py            # 40 rounds
    .venv/bin/python benchmarks/bench_feature_view_logging.py --quick    # 10 rounds

An inference service buffers requests and logs ~100-1,000 at a time. The baseline,
measured in the same run and interleaved with it, is ``fg.insert`` of the same number
of rows (the same columns, appended in event time order into an offline group): one
``fv.log`` should cost about what that insert costs. Printed as p50/p90 in ms and as
the ratio of medians. A measuring script, not a test: nothing fails on a slow figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_store import load_average  # noqa: E402 - the shared helpers of the benchmarks

START = pd.Timestamp("2026-01-01", tz="UTC")


def requests(rng: np.random.Generator, index: int, rows: int) -> dict[str, pd.DataFrame]:
    """Batch ``index`` of served requests: keys, event times, features and predictions."""
    offset = index * rows
    tx_id = np.arange(offset, offset + rows)
    return {
        "keys": pd.DataFrame({"tx_id": tx_id}),
        "ts": pd.Series(START + pd.to_timedelta(tx_id, unit="ms")),
        "features": pd.DataFrame({"cc_num": rng.integers(0, 5000, rows), "amount": rng.random(rows) * 500,
                                  "category": rng.choice(["food", "travel", "shop"], rows)}),
        "predictions": rng.random(rows) < 0.01,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--quick", action="store_true", help="10 rounds instead of 40")
    parser.add_argument("--rows", type=int, default=1000, help="rows per call (default 1000)")
    args = parser.parse_args()
    rounds = 10 if args.quick else 40

    with tempfile.TemporaryDirectory() as folder:
        os.environ["FTI_STORE"] = folder
        os.environ["FTI_NOW"] = "2026-01-02T00:00:00Z"
        import fti  # after FTI_STORE is set

        fs = fti.get_feature_store()
        rng = np.random.default_rng(0)
        tx = fs.get_or_create_feature_group("tx", 1, primary_key=["tx_id"], event_time="ts")
        first = requests(rng, 0, 10)
        tx.insert(pd.concat([first["keys"], first["ts"].rename("ts"), first["features"],
                             pd.DataFrame({"is_fraud": first["predictions"]})], axis=1))
        fv = fs.get_or_create_feature_view("fraud", 1, query=tx.select(["cc_num", "amount", "category", "is_fraud"]),
                                           labels=["is_fraud"], logging_enabled=True)
        # The baseline: the same rows, as a feature group of the same columns.
        baseline = fs.get_or_create_feature_group("baseline", 1, primary_key=["tx_id"], event_time="ts")
        log_ms, insert_ms = [], []
        for index in range(1, rounds + 1):
            batch = requests(rng, index, args.rows)
            frame = pd.concat([batch["keys"], batch["ts"].rename("ts"), batch["features"],
                               pd.DataFrame({"is_fraud": batch["predictions"]})], axis=1)
            start = time.perf_counter()
            fv.log(batch["features"], predictions=batch["predictions"], serving_keys=batch["keys"],
                   event_time=batch["ts"], request_id=[f"r{i}" for i in batch["keys"]["tx_id"]],
                   model_name="fraud", model_version=1)
            log_ms.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            baseline.insert(frame)
            insert_ms.append((time.perf_counter() - start) * 1000)
        logged = len(fv.read_log())

    def p(values: list[float], q: int) -> float:
        return float(np.percentile(values, q))

    print(f"{rounds} rounds of {args.rows} rows; load average {load_average()}")
    print(f"{'':24}{'p50 ms':>10}{'p90 ms':>10}")
    print(f"{'fv.log':24}{p(log_ms, 50):10.1f}{p(log_ms, 90):10.1f}")
    print(f"{'fg.insert (baseline)':24}{p(insert_ms, 50):10.1f}{p(insert_ms, 90):10.1f}")
    print(f"fv.log / fg.insert, ratio of medians: {statistics.median(log_ms) / statistics.median(insert_ms):.2f}")
    print(f"rows read back by read_log: {logged} (expected {rounds * args.rows})")


if __name__ == "__main__":
    main()
