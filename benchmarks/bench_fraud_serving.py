#!/usr/bin/env python
"""Benchmarks of the card-fraud system's real-time paths: predict in-process, over HTTP, and the stream.

Run from the repository root::

    .venv/bin/python benchmarks/bench_fraud_serving.py            # 10,000 requests; HTTP; a day's stream
    .venv/bin/python benchmarks/bench_fraud_serving.py --quick    # 2,000 requests, 1 s HTTP measurements

A measuring script, not a test: it prints figures and fails on no slow one. It builds a
store of its own first (a 14-day backfill and a production model of the notebooks' size,
200 trees), then:

1. **predict in-process**: `FraudService.predict` on ``--requests`` warm requests made
   from a day of transactions after the history, p50 and p99, with a breakdown measured
   separately on the same requests: checking the request, the online lookups (the three
   SQLite reads), the on-demand features, the transformations, the model. Baselines in the
   same run: a bare SQLite primary-key read of the same table (the floor of one lookup) and
   XGBoost's own ``inplace_predict`` of one row (what `FraudModel.score_vector` replaces by
   walking the trees with NumPy).
2. **over HTTP**: ``benchmarks/bench_http.py`` against ``fti serve fraud`` on this store
   (1, 8 and 32 clients, with ``GET /health`` as the baseline in the same run).
3. **the stream**: `systems.fraud.stream_day` of the day after the history, every
   transaction scored first: events per second as fast as possible (5-minute micro-batches,
   as the notebooks run it); then the day's busiest hour in real time, ``--speed`` times
   faster than the clock with a micro-batch per simulated second: the lag from each
   event's arrival to the commit that put its card's new state online.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import fti
from systems import fraud
from systems.fraud.backfill import backfill, create_feature_view

HISTORY_DAYS = 14
HISTORY_END = fraud.FIRST_DAY + dt.timedelta(days=HISTORY_DAYS)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def build_store(path: Path) -> None:
    """Backfill, train a production model of the notebooks' size, as the story's first day does."""
    fs = fti.get_feature_store(path)
    backfill(fs, fraud.FIRST_DAY, HISTORY_END, labelled_at=fti.now(), true_labels=True)
    view = create_feature_view(fs)
    X_train, X_test, y_train, y_test = view.train_test_split(
        test_start=pd.Timestamp(HISTORY_END - dt.timedelta(days=4), tz="UTC"))
    model = fraud.train(X_train, y_train, fraud.ModelParams())
    model.threshold = fraud.alert_threshold(model.predict_proba(X_test)[:, 1])
    mr = fti.get_model_registry(path)
    registered = mr.python.create_model(fraud.MODEL, feature_view=view)
    registered.save(model)
    mr.set_alias(fraud.MODEL, "production", registered.version)


def requests_of(day: dt.date, count: int) -> list[dict]:
    """Requests from a day's transactions, repeated to ``count``, all after the history."""
    rows = [fraud.request_of(row) for row in fraud.transactions(day).to_dict("records")]
    return [rows[i % len(rows)] for i in range(count)]


def time_each(function, items: list, warm: int = 300) -> list[float]:
    for item in items[:warm]:
        function(item)
    out = []
    for item in items:
        started = time.perf_counter()
        function(item)
        out.append((time.perf_counter() - started) * 1e3)
    return out


def predict_in_process(store: Path, count: int) -> None:
    service = fraud.FraudService(store, log=True)
    requests = requests_of(HISTORY_END, count)
    total = time_each(service.predict, requests)
    service._pending.clear()  # the log buffer: not written, so the store stays as built
    plan = service.feature_view._serving  # the prepared serving plan: its parts, timed one by one
    parsed = [fraud.parse_request(r) for r in requests]
    entries = [({"card_id": t["card_id"], "merchant_id": t["merchant_id"]}) for t in parsed]

    def lookups(entry: dict) -> dict:
        values = {}
        for step in plan.steps:
            if all(out in ("amount", "latitude", "longitude", "card_present") for out, _ in step.outputs):
                continue  # the transaction's own values: passed with the request, not looked up
            keys = [entry.get(left, values.get(left)) for left, _ in step.keys]
            row = step.lookup(keys)
            for out, src in step.outputs:
                values[out] = None if row is None else row[src]
        return values

    looked_up = [lookups(e) | {k: t[k] for k in ("amount", "latitude", "longitude", "card_present")}
                 for e, t in zip(entries, parsed, strict=True)]

    def on_demand(pair: tuple[dict, dict]) -> dict:
        values, transaction = pair
        for name, function, parameters in plan.on_demand:
            values[name] = function(**{p: transaction[p] if p in transaction else values[p] for p in parameters})
        return values

    pairs = list(zip(looked_up, parsed, strict=True))
    parts = {
        "check the request": time_each(fraud.parse_request, requests),
        "online lookups (3 SQLite reads)": time_each(lookups, entries),
        "on-demand features (4 functions)": time_each(on_demand, pairs),
    }
    full = [on_demand(p) for p in pairs]
    names = list(plan.feature_names)
    parts["transformations"] = time_each(lambda v: plan.fitted.transform_row(v, names), full)
    outputs = list(plan.output_columns)
    transformed = [dict(zip(outputs, plan.fitted.transform_row(v, names), strict=True)) for v in full]
    vectors = [[v[n] for n in fraud.MODEL_INPUTS] for v in transformed]
    parts["model (200 trees, one row)"] = time_each(service.model.score_vector, vectors)
    # Baselines: one bare SQLite read by primary key, and XGBoost on a ready NumPy row.
    online = sqlite3.connect(Path(store) / "online.sqlite")
    table = [name for (name,) in online.execute("SELECT name FROM sqlite_master WHERE type='table'")
             if name.startswith("fg_card_windows")][0]
    sql = f'SELECT * FROM "{table}" WHERE card_id = ?'
    bare_read = time_each(lambda e: online.execute(sql, (e["card_id"],)).fetchall(), entries)
    row = np.asarray([vectors[0]], dtype="float64")
    bare_model = time_each(lambda _: service.model.booster.inplace_predict(row), list(range(len(vectors))))
    print(f"\n1. predict in-process, {count:,} warm requests (load {os.getloadavg()[0]:.1f})")
    print(f"   predict: p50 {percentile(total, 50):.3f} ms, p99 {percentile(total, 99):.3f} ms, "
          f"mean {statistics.fmean(total):.3f} ms   (target: p50 <= 1 ms, p99 <= 5 ms)")
    for name, values in parts.items():
        print(f"   {name:>34}: p50 {percentile(values, 50):.3f} ms, p99 {percentile(values, 99):.3f} ms")
    lookups_p50 = percentile(parts["online lookups (3 SQLite reads)"], 50)
    model_p50 = percentile(parts["model (200 trees, one row)"], 50)
    print(f"   {'baseline: bare SQLite read by key':>34}: p50 {percentile(bare_read, 50):.3f} ms "
          f"(the lookups = {lookups_p50 / percentile(bare_read, 50):.1f}x)")
    print(f"   {'baseline: XGBoost inplace_predict':>34}: p50 {percentile(bare_model, 50):.3f} ms "
          f"(the model step, trees walked with NumPy = {model_p50 / percentile(bare_model, 50):.2f}x)")


def over_http(store: Path, quick: bool) -> None:
    print("\n2. over HTTP: benchmarks/bench_http.py against fti serve fraud", flush=True)
    command = [sys.executable, str(Path(__file__).with_name("bench_http.py")), "--service-module",
               "systems.fraud.serving", "--store", str(store)] + (["--quick"] if quick else [])
    subprocess.run(command, check=True)


def stream(store: Path, speed: float) -> None:
    fs = fti.get_feature_store(store)
    day = HISTORY_END
    transactions = fraud.transactions(day)
    service = fraud.FraudService(store)
    report = fraud.stream_day(fs, transactions, day, score=service.predict)
    print(f"\n3. the stream of {day}, each transaction scored first (load {os.getloadavg()[0]:.1f})")
    print(f"   as fast as possible: {report.summary()}")
    service._pending.clear()
    # Real time: the day's busiest hour, replayed at `speed` times the clock, a micro-batch per
    # simulated second. An event then waits at most 1 / speed s for its interval to close, so
    # the lag is mostly the commit that puts the card's new state online.
    hour = transactions["ts"].dt.hour.value_counts().index[0]
    busiest = transactions[transactions["ts"].dt.hour == hour]
    report = fraud.stream_day(fs, busiest, day, score=service.predict, speed=speed, batch_every="1s")
    print(f"   real time, the busiest hour ({hour}:00, {len(busiest)} events) at {speed:g}x, 1 s micro-batches: "
          f"{report.summary()}")
    service._pending.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000, help="warm in-process requests")
    parser.add_argument("--speed", type=float, default=60.0,
                        help="real-time replay speed-up of the busiest hour (60: the hour in a minute)")
    parser.add_argument("--quick", action="store_true", help="2,000 requests, short HTTP runs, a faster replay")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: http, stream")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    with tempfile.TemporaryDirectory(prefix="bench-fraud-") as folder:
        store = Path(folder) / "store"
        os.environ["FTI_NOW"] = f"{HISTORY_END}T00:30:00Z"  # the store holds a simulation
        started = time.perf_counter()
        build_store(store)
        print(f"store built in {time.perf_counter() - started:.1f} s: {HISTORY_DAYS} days of history, "
              "a production model of 200 trees")
        predict_in_process(store, 2_000 if args.quick else args.requests)
        if "http" not in skip:
            over_http(store, args.quick)
        if "stream" not in skip:
            os.environ["FTI_NOW"] = f"{HISTORY_END}T23:00:00Z"
            stream(store, args.speed * (4 if args.quick else 1))


if __name__ == "__main__":
    main()
