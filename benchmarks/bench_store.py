#!/usr/bin/env python
"""Benchmarks of the fti feature store: point-in-time joins, online lookups, inserts.

Run from the repository root::

    .venv/bin/python benchmarks/bench_store.py            # full run: 1M observations, 10M feature rows
    .venv/bin/python benchmarks/bench_store.py --quick    # smoke run, a few seconds
    .venv/bin/python benchmarks/bench_store.py --only pit # section 1 only: 10k, 100k and 1M observations

It prints a table and writes the same figures to ``benchmarks/results/store.json``.
This is a measuring script, not a test: it never fails on a slow figure. Machines
are shared and noisy, so every comparison is a ratio of two things measured side
by side in the same run, each the best (minimum) of ``--repeats`` runs.

Sections:

1. Point-in-time training data: ``query.read()`` of an observations feature group
   joined (ASOF, in DuckDB) with two feature groups, against ``pandas.merge_asof``
   on the same data already in memory (sorting included), at each of ``--pit-sizes``
   (10k, 100k and 1M observations by default). The two results are compared row by
   row first, so the race is between equal answers. Each size is raced idle and
   again under a fixed synthetic load (``--load`` busy-loop processes, one per core
   by default), with CPU seconds; the peak RSS of each side is measured once, each
   in its own fresh process (``--pit-child``).
2. Online ``get_feature_vector`` latency (p50/p99) with and without a
   transformation, against a bare SQLite primary-key read of the same row; and
   ``get_feature_vectors`` in batches.
3. Insert throughput: plain, with a Great Expectations suite, and upserts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import resource
import sqlite3
import subprocess
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
from fti.store.storage import Store

RESULTS = Path(__file__).resolve().parent / "results" / "store.json"
QUICK_RESULTS = RESULTS.with_name("store-quick.json")  # a smoke run does not overwrite the full figures
START = np.datetime64("2024-01-01T00:00:00", "s")
SPAN_S = 365 * 24 * 3600  # feature event times spread over one year


# ----------------------------------------------------------------------------------- helpers


def clock(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``fn`` once after a garbage collection; return (seconds, result)."""
    gc.collect()
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def clock_cpu(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Like `clock`, also returning the CPU seconds of the whole process (every thread)."""
    gc.collect()
    c0, t0 = time.process_time(), time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, time.process_time() - c0, result


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def rss_mib() -> float:
    """Peak resident memory of this process so far, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def high_water_mib() -> float:
    """Peak resident memory of this process image, MiB: VmHWM, which starts afresh at exec.

    (``ru_maxrss`` does not: a child started from a large parent begins with the parent's peak.)
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return rss_mib()


def percentile_ms(samples_ns: np.ndarray, q: float) -> float:
    return float(np.percentile(samples_ns, q)) / 1e6


def source_version() -> str:
    """The commit of the fti source measured, and whether its files differ from it."""
    package = Path(fti.__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=package, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=package, capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not commit:
        return "unknown (not a git checkout)"
    return f"{commit} + uncommitted changes in {len(dirty.splitlines())} file(s)" if dirty else commit


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    with duckdb.connect() as con:
        duckdb_threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": mem_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "duckdb_threads": duckdb_threads,
        "pandas": pd.__version__,
        "numpy": np.__version__,
        "sqlite": sqlite3.sqlite_version,
        "fti_source": source_version(),
    }


class Report:
    """Rows of the printed table, kept for the JSON file as well."""

    def __init__(self) -> None:
        self.sections: dict[str, dict[str, Any]] = {}
        self.lines: list[tuple[str, str, str]] = []  # (section header or "", metric, value)

    def section(self, title: str) -> None:
        self.lines.append((title, "", ""))
        print(f"\n== {title}", flush=True)

    def row(self, section: str, key: str, label: str, value: Any, unit: str = "", fmt: str = "{:,.3f}",
            note: str = "") -> None:
        self.sections.setdefault(section, {})[key] = value
        text = "n/a" if value is None else (fmt.format(value) if isinstance(value, (int, float)) else str(value))
        shown = f"{text} {unit}".rstrip()
        if note:
            shown += f"   ({note})"
        self.lines.append(("", label, shown))
        print(f"   {label:<58} {shown}", flush=True)

    def info(self, section: str, key: str, value: Any) -> None:
        """Kept in the JSON, not printed as a row."""
        self.sections.setdefault(section, {})[key] = value

    def table(self) -> str:
        width = max((len(label) for _, label, _ in self.lines), default=10) + 2
        out = []
        for header, label, value in self.lines:
            if header:
                out.append(f"\n{header}\n{'-' * len(header)}")
            else:
                out.append(f"  {label:<{width}} {value}")
        return "\n".join(out)


# ------------------------------------------------------------------------------------ data


def to_utc(seconds: np.ndarray) -> pd.Series:
    """Seconds since START as a datetime64[us, UTC] series (the store's own dtype)."""
    stamps = (START + seconds.astype("timedelta64[s]")).astype("datetime64[us]")
    return pd.Series(pd.DatetimeIndex(stamps).tz_localize("UTC"))


def feature_frame(seed: int, n_rows: int, n_entities: int, names: tuple[str, str]) -> tuple[pd.DataFrame, np.ndarray]:
    """``n_rows`` rows for ``n_entities`` entities, each with event times spread over a year.

    Row i is event k = i // n_entities of entity i % n_entities, at a random second
    inside slot k of the year, so (entity, event time) never repeats and the rows
    come roughly in time order, as a pipeline appends them. Also returns the event
    seconds, to plant observations at exactly a feature's event time.
    """
    rng = np.random.default_rng(seed)
    index = np.arange(n_rows, dtype=np.int64)
    per_entity = -(-n_rows // n_entities)
    slot = SPAN_S // per_entity
    seconds = (index // n_entities) * slot + rng.integers(0, slot, n_rows)
    frame = pd.DataFrame({
        "entity_id": index % n_entities,
        "event_time": to_utc(seconds),
        names[0]: rng.normal(0.0, 1.0, n_rows),
        names[1]: rng.uniform(0.0, 100.0, n_rows),
    })
    return frame, seconds


def observation_frame(seed: int, n_obs: int, n_entities: int, a_seconds: np.ndarray,
                      exact_share: float = 0.05) -> tuple[pd.DataFrame, int]:
    """Observations at random times from a week before the first feature to a week after the last.

    A share of them is put exactly at an event time of the same entity in feature
    group A, to exercise the "not after" (>=) edge of the point-in-time join. Some
    fall before any feature row and must come back with nulls.
    """
    rng = np.random.default_rng(seed)
    entity = rng.integers(0, n_entities, n_obs)
    week = 7 * 24 * 3600
    seconds = rng.integers(-week, SPAN_S + week, n_obs)
    n_a = len(a_seconds)
    per_entity = -(-n_a // n_entities)
    planted = rng.random(n_obs) < exact_share
    k = rng.integers(0, per_entity, n_obs)
    row = k * n_entities + entity
    planted &= row < n_a
    seconds[planted] = a_seconds[row[planted]]
    frame = pd.DataFrame({
        "obs_id": np.arange(n_obs, dtype=np.int64),
        "event_time": to_utc(seconds),
        "entity_id": entity.astype(np.int64),
        "label": rng.integers(0, 2, n_obs).astype(np.int64),
    })
    return frame, int(planted.sum())


# ------------------------------------------------------------------- 1. point-in-time joins


def merge_asof_baseline(obs: pd.DataFrame, fa: pd.DataFrame, fb: pd.DataFrame) -> pd.DataFrame:
    """The same point-in-time join in plain pandas: sort as merge_asof requires, one merge per group."""
    left = obs.sort_values("event_time", kind="stable")
    out = pd.merge_asof(left, fa.sort_values("event_time"), on="event_time", by="entity_id",
                        direction="backward", allow_exact_matches=True)
    out = pd.merge_asof(out, fb.sort_values("event_time"), on="event_time", by="entity_id",
                        direction="backward", allow_exact_matches=True)
    return out


def compare(fti_frame: pd.DataFrame, base: pd.DataFrame) -> dict[str, Any]:
    """Compare both results on every row, aligned on obs_id; return the disagreements.

    Exact equality: both sides copy the same stored float, so nothing is rounded.
    Missing values (no earlier feature row) must be missing on both sides.
    """
    base = base.sort_values("obs_id", kind="stable").reset_index(drop=True)
    ours = fti_frame.reset_index(drop=True)
    problems: list[str] = []
    if len(ours) != len(base):
        problems.append(f"row counts differ: fti {len(ours):,} vs merge_asof {len(base):,}")
        return {"rows_compared": 0, "mismatches": len(problems), "problems": problems}
    for name in ["obs_id", "entity_id", "label", "event_time", "a1", "a2", "b1", "b2"]:
        if name not in ours.columns:
            problems.append(f"fti result has no column {name!r}: {list(ours.columns)}")
            continue
        if name == "event_time":
            left = ours[name].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]")
            right = base[name].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]")
        else:
            left, right = ours[name].to_numpy(), base[name].to_numpy()
        if left.dtype.kind == "f" or right.dtype.kind == "f":
            left, right = left.astype("float64"), right.astype("float64")
            bad = ~((left == right) | (np.isnan(left) & np.isnan(right)))
        else:
            bad = left != right
        count = int(np.count_nonzero(bad))
        if count:
            first = int(np.flatnonzero(bad)[0])
            problems.append(f"{name}: {count:,} rows differ, e.g. obs_id {ours['obs_id'].iloc[first]}: "
                            f"fti {left[first]!r} vs merge_asof {right[first]!r}")
    return {"rows_compared": len(ours), "mismatches": len(problems), "problems": problems,
            "rows_without_feature_a": int(ours["a1"].isna().sum()),
            "rows_without_feature_b": int(ours["b1"].isna().sum())}


def size_label(n: int) -> str:
    """A row count as people say it: 10000 -> '10k', 1000000 -> '1M'."""
    for unit, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= unit and n % unit == 0:
            return f"{n // unit}{suffix}"
    return f"{n:,}"


class BusyLoad:
    """``processes`` bare Python busy loops, one per core: the fixed synthetic load of "under load".

    Each child only spins (no I/O, no memory), so what it takes from the measured code is CPU
    time and nothing else. They are killed, each by its own handle, when the block ends.
    """

    def __init__(self, processes: int):
        self.processes = processes
        self._children: list[subprocess.Popen] = []

    def __enter__(self) -> BusyLoad:
        for _ in range(self.processes):
            self._children.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
        time.sleep(0.5)  # let them reach the run queue before the first timed run
        return self

    def __exit__(self, *exc_info: object) -> None:
        for child in self._children:
            child.kill()
        for child in self._children:
            child.wait()
        self._children.clear()


def pit_query(fs: Any) -> Any:
    """Section 1's query: observations joined point-in-time with feature groups A and B."""
    return (fs.get_feature_group("observations", 1).select(["entity_id", "label"])
            .join(fs.get_feature_group("features_a", 1).select(["a1", "a2"]), on=["entity_id"])
            .join(fs.get_feature_group("features_b", 1).select(["b1", "b2"]), on=["entity_id"]))


def pit_child(side: str, path: Path) -> int:
    """Run one side of section 1 once in this fresh process; print its peak RSS as JSON.

    ``fti``: ``path`` is the store; the data stays on disk until ``query.read()`` reads it.
    ``merge_asof``: ``path`` is the pickled frames; they must be in memory for pandas, so the
    peak includes them (the same frames the in-process race uses).
    """
    if side == "fti":
        query = pit_query(fti.FeatureStore(path))
        run = query.read
    else:
        obs, fa, fb = load_frames(path)
        run = lambda: merge_asof_baseline(obs, fa, fb)  # noqa: E731
    ready = high_water_mib()
    wall, cpu, result = clock_cpu(run)
    print(json.dumps({"side": side, "rows": len(result), "wall_s": wall, "cpu_s": cpu,
                      "ready_rss_mib": ready, "peak_rss_mib": high_water_mib()}))
    return 0


def save_frames(path: Path, frames: tuple[pd.DataFrame, ...]) -> None:
    """Write section 1's frames as plain numpy arrays (no pickle: its pandas objects depend on optional modules)."""
    arrays = {}
    for number, frame in enumerate(frames):
        for name in frame.columns:
            column = frame[name]
            if isinstance(column.dtype, pd.DatetimeTZDtype):
                arrays[f"{number}/utc/{name}"] = column.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
            else:
                arrays[f"{number}/plain/{name}"] = column.to_numpy()
    with path.open("wb") as file:
        np.savez(file, **arrays)


def load_frames(path: Path) -> tuple[pd.DataFrame, ...]:
    """Read what `save_frames` wrote: the same frames, column order and dtypes."""
    columns: dict[int, dict[str, Any]] = {}
    with np.load(path) as data:
        for key in data.files:
            number, kind, name = key.split("/", 2)
            values = data[key]
            columns.setdefault(int(number), {})[name] = (
                pd.Series(pd.DatetimeIndex(values).tz_localize("UTC")) if kind == "utc" else values)
    return tuple(pd.DataFrame(columns[number]) for number in sorted(columns))


def peak_memory(store: Path, frames: Path) -> dict[str, dict[str, Any]]:
    """Peak RSS of one ``query.read()`` and of one merge_asof baseline, each in its own fresh process."""
    out = {}
    for side, path in (("fti", store), ("merge_asof", frames)):
        done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--pit-child", side, str(path)],
                              capture_output=True, text=True, check=False)
        lines = done.stdout.strip().splitlines()
        if done.returncode or not lines:
            raise RuntimeError(f"peak-memory child {side} failed ({done.returncode}): {done.stderr[-2000:]}")
        out[side] = json.loads(lines[-1])
    return out


def race(query: Any, obs: pd.DataFrame, fa: pd.DataFrame, fb: pd.DataFrame,
         repeats: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(wall, CPU) of ``query.read()`` and of the merge_asof baseline, interleaved, ``repeats`` times each."""
    fti_runs, base_runs = [], []
    for _ in range(repeats):
        wall, cpu, result = clock_cpu(query.read)
        fti_runs.append((wall, cpu))
        del result
        wall, cpu, result = clock_cpu(lambda: merge_asof_baseline(obs, fa, fb))
        base_runs.append((wall, cpu))
        del result
    return fti_runs, base_runs


def runs_note(pairs: list[tuple[float, float]]) -> str:
    return "runs " + ", ".join(f"{w:.3f}" for w, _ in pairs) + f" s; CPU {min(c for _, c in pairs):.3f} s"


def bench_point_in_time(args: argparse.Namespace, report: Report, root: Path) -> None:
    """Section 1 at every size of ``--pit-sizes``; a summary of the ratios after the last one."""
    verification: dict[str, Any] = {"mismatches": 0, "by_size": {}}
    summary = []
    for index, (n_obs, n_features, n_entities) in enumerate(args.pit_sizes):
        last = index == len(args.pit_sizes) - 1
        figures = bench_point_in_time_size(args, report, root, n_obs, n_features, n_entities, feature_view=last)
        verification["by_size"][figures["label"]] = figures["verification"]
        verification["mismatches"] += figures["verification"]["mismatches"]
        summary.append(figures)
        if last:
            report.info("point_in_time", "bulk_loads", figures["bulk_loads"])  # printed in section 3
    report.info("point_in_time", "verification", verification)
    s = "point_in_time"
    report.section("1. Point-in-time summary: fti / merge_asof (target <= 1.0 from 100k observations, "
                   "<= 2.0 at 10k; peak memory <= 1.5)")
    for figures in summary:
        load = (f"under load ({args.load} busy) x{figures['ratio_load']:.2f}, CPU x{figures['cpu_ratio_load']:.2f}"
                if figures.get("ratio_load") is not None else "no load half (--load 0)")
        report.row(s, f"summary_{figures['label']}", f"{figures['label']} obs x {size_label(figures['features'])} rows",
                   f"idle x{figures['ratio_idle']:.2f} (CPU x{figures['cpu_ratio_idle']:.2f}); {load}; "
                   f"peak RSS x{figures['rss_ratio']:.2f}")


def bench_point_in_time_size(args: argparse.Namespace, report: Report, root: Path, n_obs: int, n_features: int,
                             n_entities: int, feature_view: bool) -> dict[str, Any]:
    label = size_label(n_obs)
    s = f"point_in_time_{label}"
    report.section(f"1. Point-in-time training data: {n_obs:,} observations x {n_features:,} feature rows "
                   f"({n_entities:,} entities)")
    n_a = n_features // 2
    n_b = n_features - n_a
    t0 = time.perf_counter()
    fa, a_seconds = feature_frame(args.seed + 1, n_a, n_entities, ("a1", "a2"))
    fb, _ = feature_frame(args.seed + 2, n_b, n_entities, ("b1", "b2"))
    obs, planted = observation_frame(args.seed + 3, n_obs, n_entities, a_seconds)
    del a_seconds
    report.row(s, "generate_s", "generate data in memory", time.perf_counter() - t0, "s")
    report.info(s, "sizes", {"observations": n_obs, "feature_group_a": n_a, "feature_group_b": n_b,
                             "entities": n_entities, "exact_time_observations": planted})
    print(f"   observations {n_obs:,} ({planted:,} planted exactly at a feature A event time), "
          f"feature groups A {n_a:,} + B {n_b:,} rows over {n_entities:,} entities", flush=True)

    fs = fti.FeatureStore(root / f"pit-{label}")
    fg_obs = fs.get_or_create_feature_group("observations", primary_key=["obs_id"], event_time="event_time")
    fg_a = fs.get_or_create_feature_group("features_a", primary_key=["entity_id"], event_time="event_time")
    fg_b = fs.get_or_create_feature_group("features_b", primary_key=["entity_id"], event_time="event_time")
    loads = {}
    for key, fg, frame in (("observations", fg_obs, obs), ("features_a", fg_a, fa), ("features_b", fg_b, fb)):
        seconds, commit = clock(lambda fg=fg, frame=frame: fg.insert(frame))
        loads[key] = {"rows": len(frame), "seconds": seconds, "rows_per_s": len(frame) / seconds,
                      "inserted": commit.rows_inserted}
    report.info(s, "bulk_loads", loads)
    query = pit_query(fs)

    # First the answers: both results compared on every row, so the race is between equal answers.
    result, base = query.read(), merge_asof_baseline(obs, fa, fb)
    verdict = compare(result, base)
    report.info(s, "fti_columns", list(result.columns))
    del result, base
    if verdict["mismatches"] == 0:
        report.row(s, "agreement", "fti == merge_asof (all rows, by obs_id)",
                   f"OK: {verdict['rows_compared']:,} rows x 8 columns equal "
                   f"({verdict['rows_without_feature_a']:,} rows with no earlier feature A row)")
    else:
        print("\n" + "!" * 90, file=sys.stderr)
        print(f"!!! MISMATCH at {label}: fti query.read() and pandas.merge_asof disagree; the timing below "
              "compares different answers", file=sys.stderr)
        for problem in verdict["problems"]:
            print(f"!!!   {problem}", file=sys.stderr)
        print("!" * 90 + "\n", file=sys.stderr)
        report.row(s, "agreement", "fti == merge_asof (all rows, by obs_id)",
                   f"MISMATCH ({verdict['mismatches']} problems, see stderr)")
    report.info(s, "verification", verdict)

    # Idle: fti, pandas, fti, pandas... side by side in this process.
    fti_runs, base_runs = race(query, obs, fa, fb, args.repeats)
    fti_best, base_best = min(w for w, _ in fti_runs), min(w for w, _ in base_runs)
    ratio_idle = fti_best / base_best
    cpu_ratio_idle = min(c for _, c in fti_runs) / min(c for _, c in base_runs)
    report.row(s, "fti_read_s", "idle: fti query.read() (DuckDB ASOF x2 -> pandas)", fti_best, "s",
               note=runs_note(fti_runs))
    report.row(s, "merge_asof_s", "idle: pandas sort + merge_asof x2 (in memory)", base_best, "s",
               note=runs_note(base_runs))
    target = 2.0 if n_obs < 100_000 else 1.0
    report.row(s, "ratio_fti_over_merge_asof", f"RATIO idle fti / merge_asof, wall (target <= {target:g})",
               ratio_idle, "", note="OK" if ratio_idle <= target else "ABOVE TARGET")
    report.row(s, "cpu_ratio_fti_over_merge_asof", "ratio idle fti / merge_asof, CPU seconds", cpu_ratio_idle, "",
               note=f"DuckDB uses {report.sections.get('machine', {}).get('duckdb_threads', '?')} threads, "
                    "pandas one")

    # The fti time split: the same SQL materialised inside DuckDB (the engine's join), and
    # opening + closing the store file (the fixed cost of every operation); the rest is
    # fetching the result into pandas and fti's own Python.
    # The statements query.read() runs: one joined feature group per statement.
    *steps, (sql, params) = query.plan.stages(None, None, None, "_bench_stage_")
    steps.append((f"CREATE TEMP TABLE _bench_stage_result AS {sql}", params))
    store = Store(fs.path)
    engine_runs, open_runs = [], []

    def engine(con: duckdb.DuckDBPyConnection) -> None:
        for step, step_params in steps:
            con.execute(step, step_params)

    for _ in range(args.repeats):
        with store.connect() as con:
            wall, cpu, _ = clock_cpu(lambda con=con: engine(con))
            engine_runs.append((wall, cpu))
            for number in [*range(1, len(steps)), "result"]:
                con.execute(f"DROP TABLE _bench_stage_{number}")

        def open_close() -> None:
            with store.connect():
                pass

        open_runs.append(clock_cpu(open_close)[:2])
    engine_best, open_best = min(w for w, _ in engine_runs), min(w for w, _ in open_runs)
    report.row(s, "engine_only_s", "  of fti: same SQL into DuckDB temp tables", engine_best, "s",
               note=runs_note(engine_runs) + f"; {engine_best / fti_best:.0%} of query.read")
    report.row(s, "open_close_s", "  of fti: open + close the store file", open_best, "s",
               note=f"{open_best / fti_best:.0%} of query.read")
    report.row(s, "ratio_engine_over_merge_asof", "  ratio DuckDB join alone / merge_asof", engine_best / base_best)

    # Under load: the same race while `--load` busy loops take a core each.
    ratio_load = cpu_ratio_load = None
    if args.load:
        with BusyLoad(args.load):
            load_fti, load_base = race(query, obs, fa, fb, args.repeats)
        ratio_load = min(w for w, _ in load_fti) / min(w for w, _ in load_base)
        cpu_ratio_load = min(c for _, c in load_fti) / min(c for _, c in load_base)
        report.row(s, "load_fti_read_s", f"under load ({args.load} busy loops): fti query.read()",
                   min(w for w, _ in load_fti), "s", note=runs_note(load_fti))
        report.row(s, "load_merge_asof_s", f"under load ({args.load} busy loops): merge_asof",
                   min(w for w, _ in load_base), "s", note=runs_note(load_base))
        report.row(s, "load_ratio_fti_over_merge_asof", "RATIO under load fti / merge_asof, wall", ratio_load, "")
        report.row(s, "load_cpu_ratio_fti_over_merge_asof", "ratio under load fti / merge_asof, CPU seconds",
                   cpu_ratio_load, "")
        report.info(s, "load_runs", {"fti": load_fti, "merge_asof": load_base, "busy_processes": args.load})
    report.info(s, "runs", {"fti": fti_runs, "merge_asof": base_runs, "engine": engine_runs, "open_close": open_runs})
    report.info(s, "sql", [step for step, _ in steps])

    # Peak memory of each side in its own fresh process.
    frames = root / f"pit-{label}.npz"
    save_frames(frames, (obs, fa, fb))
    memory = peak_memory(fs.path, frames)
    frames.unlink()
    rss_ratio = memory["fti"]["peak_rss_mib"] / memory["merge_asof"]["peak_rss_mib"]
    for side, text in (("fti", "fti query.read(), data on disk"), ("merge_asof", "merge_asof, frames in memory")):
        figures = memory[side]
        report.row(s, f"peak_rss_{side}_mib", f"peak RSS, own process: {text}", figures["peak_rss_mib"], "MiB",
                   "{:,.0f}", note=f"{figures['ready_rss_mib']:,.0f} MiB before the call")
    report.row(s, "peak_rss_ratio", "RATIO peak RSS fti / merge_asof (target <= 1.5)", rss_ratio, "",
               note="OK" if rss_ratio <= 1.5 else "ABOVE TARGET")
    report.info(s, "peak_memory", memory)

    if feature_view:
        # Feature view overhead: the same join through fv.training_data() (no transformations).
        fv = fs.get_or_create_feature_view("pit_view", query=query, labels=["label"])
        fv_times, read_times = [], []
        for _ in range(args.repeats):
            seconds, result = clock(fv.training_data)
            fv_times.append(seconds)
            del result
            seconds, result = clock(query.read)
            read_times.append(seconds)
            del result
        report.row(s, "fv_training_data_s", "fv.training_data() (same join, no transformation)", min(fv_times),
                   "s", note=f"runs {', '.join(f'{t:.2f}' for t in fv_times)}")
        report.row(s, "fv_overhead_ratio", "ratio fv.training_data / query.read (same run)",
                   min(fv_times) / min(read_times), "", note=f"query.read best {min(read_times):.2f} s")
        del fv
    figures = {"label": label, "features": n_features, "verification": verdict, "bulk_loads": loads,
               "ratio_idle": ratio_idle, "cpu_ratio_idle": cpu_ratio_idle, "ratio_load": ratio_load,
               "cpu_ratio_load": cpu_ratio_load, "rss_ratio": rss_ratio}
    del fa, fb, obs, fs, fg_obs, fg_a, fg_b, query
    gc.collect()
    return figures


# ---------------------------------------------------------------------------- 2. online


def lookup_latencies(call: Callable[[Any], Any], keys: list[Any], warmup: int) -> np.ndarray:
    for key in keys[:warmup]:
        call(key)
    samples = np.empty(len(keys), dtype=np.int64)
    clock_ns = time.perf_counter_ns
    gc.collect()
    for i, key in enumerate(keys):
        t0 = clock_ns()
        call(key)
        samples[i] = clock_ns() - t0
    return samples


def best_stats(rounds: list[np.ndarray], per: int = 1) -> dict[str, float]:
    """p50/p99/mean in ms per item for each round; the best (lowest) of the rounds for each."""
    stats = [{"p50": percentile_ms(r, 50) / per, "p99": percentile_ms(r, 99) / per,
              "mean": float(r.mean()) / 1e6 / per} for r in rounds]
    return {key: min(stat[key] for stat in stats) for key in ("p50", "p99", "mean")}


def bench_online(args: argparse.Namespace, report: Report, root: Path) -> None:
    s = "online"
    n = args.online_entities
    report.section(f"2. Online get_feature_vector: {n:,} entities, {args.lookups:,} lookups x {args.repeats} rounds")
    rng = np.random.default_rng(args.seed + 10)
    frame = pd.DataFrame({
        "entity_id": np.arange(n, dtype=np.int64),
        "event_time": to_utc(rng.integers(0, SPAN_S, n)),
        "f1": rng.normal(50.0, 10.0, n),
        "f2": rng.uniform(0.0, 1.0, n),
        "f3": rng.integers(0, 1000, n).astype(np.int64),
        "f4": rng.exponential(3.0, n),
    })
    fs = fti.FeatureStore(root / "online")
    fg = fs.get_or_create_feature_group("profiles", primary_key=["entity_id"], event_time="event_time",
                                        online_enabled=True)
    seconds, _ = clock(lambda: fg.insert(frame))
    report.info(s, "online_enabled_insert", {"rows": n, "seconds": seconds, "rows_per_s": n / seconds})
    # The same frame into a group that is not online enabled, to isolate the SQLite sync.
    fg_off = fs.get_or_create_feature_group("profiles_offline", primary_key=["entity_id"], event_time="event_time")
    off_seconds, _ = clock(lambda: fg_off.insert(frame))
    report.info(s, "offline_only_insert", {"rows": n, "seconds": off_seconds, "rows_per_s": n / off_seconds})

    features = ["f1", "f2", "f3", "f4"]
    plain = fs.get_or_create_feature_view("serve_plain", query=fg.select(features))
    scaled = fs.get_or_create_feature_view("serve_scaled", query=fg.select(features),
                                           transformation_functions={"f1": "standard_scaler",
                                                                     "f4": "standard_scaler"})
    scaled.training_data()  # fits the scaler state that serving applies
    plain.init_serving()
    scaled.init_serving()

    # Sanity: the online vector is the offline row (and the scaled one is (x - mean) / std).
    probe = int(rng.integers(0, n))
    row = frame.iloc[probe]
    got = plain.get_feature_vector({"entity_id": probe})
    expected = [float(row["f1"]), float(row["f2"]), int(row["f3"]), float(row["f4"])]
    if got != expected:
        print(f"!!! MISMATCH: online vector for entity {probe} is {got}, offline row is {expected}", file=sys.stderr)
    mean, std = float(frame["f1"].mean()), float(frame["f1"].std(ddof=0))
    scaled_f1 = scaled.get_feature_vector({"entity_id": probe})[0]
    if abs(scaled_f1 - (row["f1"] - mean) / std) > 1e-9:
        print(f"!!! MISMATCH: scaled f1 for entity {probe} is {scaled_f1}, expected {(row['f1'] - mean) / std}",
              file=sys.stderr)

    # A bare SQLite primary-key read of the same four columns: the floor fti adds to.
    table = fg.table
    raw_con = sqlite3.connect(Store(fs.path).online_path)
    raw_sql = f'SELECT "f1", "f2", "f3", "f4" FROM "{table}" WHERE "entity_id" = ?'

    def raw_one(key: int) -> Any:
        return raw_con.execute(raw_sql, (key,)).fetchone()

    batch = args.batch
    in_sql = f'SELECT "f1", "f2", "f3", "f4" FROM "{table}" WHERE "entity_id" IN ({", ".join("?" * batch)})'

    def raw_batch(keys: list[int]) -> Any:
        return raw_con.execute(in_sql, keys).fetchall()

    singles = {"plain": [], "scaled": [], "raw": []}
    batches = {"plain": [], "raw": []}
    warmup = min(1000, args.lookups)
    for _ in range(args.repeats):
        keys = rng.integers(0, n, args.lookups).tolist()  # plain Python ints, as a request would carry
        entries = [{"entity_id": key} for key in keys]
        singles["plain"].append(lookup_latencies(plain.get_feature_vector, entries, warmup))
        singles["scaled"].append(lookup_latencies(scaled.get_feature_vector, entries, warmup))
        singles["raw"].append(lookup_latencies(raw_one, keys, warmup))
        chunks = [entries[i:i + batch] for i in range(0, len(entries) - batch + 1, batch)]
        key_chunks = [keys[i:i + batch] for i in range(0, len(keys) - batch + 1, batch)]
        batches["plain"].append(lookup_latencies(plain.get_feature_vectors, chunks, max(1, len(chunks) // 10)))
        batches["raw"].append(lookup_latencies(raw_batch, key_chunks, max(1, len(key_chunks) // 10)))
    raw_con.close()

    plain_stats = best_stats(singles["plain"])
    scaled_stats = best_stats(singles["scaled"])
    raw_stats = best_stats(singles["raw"])
    note = "target p50 < 1 ms"
    report.row(s, "plain_p50_ms", "get_feature_vector p50, no transformation", plain_stats["p50"], "ms", "{:.4f}",
               note="OK, " + note if plain_stats["p50"] < 1 else "ABOVE TARGET, " + note)
    report.row(s, "plain_p99_ms", "get_feature_vector p99, no transformation", plain_stats["p99"], "ms", "{:.4f}")
    report.row(s, "scaled_p50_ms", "get_feature_vector p50, standard_scaler on 2 columns", scaled_stats["p50"],
               "ms", "{:.4f}", note="OK, " + note if scaled_stats["p50"] < 1 else "ABOVE TARGET, " + note)
    report.row(s, "scaled_p99_ms", "get_feature_vector p99, standard_scaler on 2 columns", scaled_stats["p99"],
               "ms", "{:.4f}")
    report.row(s, "raw_sqlite_p50_ms", "bare sqlite3 primary-key SELECT p50 (reference)", raw_stats["p50"], "ms",
               "{:.4f}")
    report.row(s, "raw_sqlite_p99_ms", "bare sqlite3 primary-key SELECT p99 (reference)", raw_stats["p99"], "ms",
               "{:.4f}")
    report.row(s, "ratio_plain_over_raw_p50", "ratio fti p50 / bare sqlite3 p50", plain_stats["p50"] / raw_stats["p50"])
    batch_stats = best_stats(batches["plain"], per=batch)
    raw_batch_stats = best_stats(batches["raw"], per=batch)
    report.row(s, "batch_per_entry_p50_ms", f"get_feature_vectors, {batch}/call: p50 per entry",
               batch_stats["p50"], "ms", "{:.4f}", note=f"{batch_stats['p50'] * batch:.2f} ms per call")
    report.row(s, "batch_per_entry_p99_ms", f"get_feature_vectors, {batch}/call: p99 per entry",
               batch_stats["p99"], "ms", "{:.4f}")
    report.row(s, "raw_batch_per_entry_p50_ms", f"bare sqlite3 IN ({batch} keys): p50 per entry (reference)",
               raw_batch_stats["p50"], "ms", "{:.4f}")
    report.row(s, "ratio_batch_over_raw_batch", "ratio get_feature_vectors / bare IN query, per entry",
               batch_stats["p50"] / raw_batch_stats["p50"])
    report.info(s, "rounds", args.repeats)
    report.info(s, "lookups_per_round", args.lookups)
    report.info(s, "batch_size", batch)
    del fs, fg, fg_off, plain, scaled
    gc.collect()


# ----------------------------------------------------------------------------- 3. inserts


def insert_frame(seed: int, n: int, n_entities: int) -> pd.DataFrame:
    """A typical feature group frame: key, event time, four reals, a count and a category."""
    rng = np.random.default_rng(seed)
    index = np.arange(n, dtype=np.int64)
    per_entity = -(-n // n_entities)
    slot = SPAN_S // per_entity
    return pd.DataFrame({
        "entity_id": index % n_entities,
        "event_time": to_utc((index // n_entities) * slot + rng.integers(0, slot, n)),
        "x1": rng.normal(0.0, 1.0, n),
        "x2": rng.uniform(0.0, 100.0, n),
        "x3": rng.normal(10.0, 2.0, n),
        "x4": rng.exponential(1.0, n),
        "count": rng.integers(0, 50, n).astype(np.int64),
        "segment": pd.Series(np.array(["bronze", "silver", "gold", "platinum"])[rng.integers(0, 4, n)],
                             dtype="str"),
    })


def changed(frame: pd.DataFrame, rows: np.ndarray, delta: float) -> pd.DataFrame:
    """A copy of ``frame`` with x1 of ``rows`` changed (same keys: these rows are updates)."""
    out = frame.copy()
    x1 = out["x1"].to_numpy().copy()
    x1[rows] += delta
    out["x1"] = x1
    return out


def suite():
    import great_expectations as gx

    e = gx.expectations
    return gx.ExpectationSuite(
        name="bench_suite",
        expectations=[
            e.ExpectColumnValuesToNotBeNull(column="entity_id"),
            e.ExpectColumnValuesToBeBetween(column="x2", min_value=0, max_value=100),
            e.ExpectColumnValuesToBeInSet(column="segment", value_set=["bronze", "silver", "gold", "platinum"]),
            e.ExpectColumnMeanToBeBetween(column="x3", min_value=5, max_value=15),
        ],
    )


def bench_inserts(args: argparse.Namespace, report: Report, root: Path) -> None:
    s = "insert"
    n = args.insert_rows
    n_upsert = max(1, n // 10)
    report.section(f"3. Insert throughput: {n:,}-row frames (8 columns), best of {args.repeats}")
    loads = report.sections.get("point_in_time", {}).get("bulk_loads", {})
    for key, load in loads.items():
        report.row(s, f"bulk_load_{key}_rows_per_s", f"section 1 load: {key} ({load['rows']:,} rows, new group)",
                   load["rows_per_s"], "rows/s", "{:,.0f}", note=f"{load['seconds']:.2f} s")
    online = report.sections.get("online", {})
    if "online_enabled_insert" in online:
        on, off = online["online_enabled_insert"], online["offline_only_insert"]
        report.row(s, "online_enabled_rows_per_s", f"section 2 load: online-enabled group ({on['rows']:,} rows)",
                   on["rows_per_s"], "rows/s", "{:,.0f}",
                   note=f"{on['seconds']:.2f} s vs {off['seconds']:.2f} s offline only: "
                        f"SQLite sync x{on['seconds'] / off['seconds']:.1f}")

    fs = fti.FeatureStore(root / "inserts")
    frame = insert_frame(args.seed + 20, n, args.entities)
    rng = np.random.default_rng(args.seed + 21)
    plain, upserts, reinserts = [], [], []
    for attempt in range(args.repeats):
        fg = fs.get_or_create_feature_group(f"plain_{attempt}", primary_key=["entity_id"], event_time="event_time")
        seconds, commit = clock(lambda: fg.insert(frame))
        plain.append(seconds)
        assert commit.rows_inserted == n, commit
        # Upsert: 10% of the rows again, same keys, new values.
        rows = np.sort(rng.choice(n, size=n_upsert, replace=False))
        current = changed(frame, rows, 1.0)
        update = current.iloc[rows].reset_index(drop=True)
        seconds, commit = clock(lambda: fg.insert(update))
        upserts.append(seconds)
        assert commit.rows_updated == n_upsert and commit.rows_inserted == 0, commit
        # Re-insert: the whole current state again, of which another 10% changed (a daily backfill).
        rows = np.sort(rng.choice(n, size=n_upsert, replace=False))
        again = changed(current, rows, 2.0)
        del current
        seconds, commit = clock(lambda: fg.insert(again))
        reinserts.append(seconds)
        assert commit.rows_updated == n_upsert and commit.rows_unchanged == n - n_upsert, commit
        del update, again, fg

    def runs(times: list[float]) -> str:
        return "runs " + ", ".join(f"{t:.2f}" for t in times) + " s"

    report.row(s, "plain_rows_per_s", f"insert {n:,} rows, new group, no suite", n / min(plain), "rows/s",
               "{:,.0f}", note=runs(plain))
    report.row(s, "upsert_rows_per_s", f"upsert {n_upsert:,} changed rows into {n:,}-row group",
               n_upsert / min(upserts), "rows/s", "{:,.0f}", note=runs(upserts))
    report.row(s, "reinsert_rows_per_s", f"re-insert all {n:,} rows, 10% changed",
               n / min(reinserts), "rows/s", "{:,.0f}", note=runs(reinserts))

    # With a Great Expectations suite.
    nv = args.validated_rows
    vframe = frame if nv == n else insert_frame(args.seed + 22, nv, args.entities)
    already = "great_expectations" in sys.modules
    import_s, _ = clock(lambda: __import__("great_expectations"))
    report.row(s, "ge_import_s", "import great_expectations (first time in process)", import_s, "s",
               note="already imported" if already else "")
    gx_suite = suite()
    first = None
    validated, unvalidated = [], []
    create_first = None
    for attempt in range(args.repeats + 1):
        seconds, fg = clock(lambda: fs.get_or_create_feature_group(
            f"checked_{attempt}", primary_key=["entity_id"], event_time="event_time", expectation_suite=gx_suite))
        if attempt == 0:
            create_first = seconds
        seconds, commit = clock(lambda: fg.insert(vframe))
        assert commit.validation == "success", commit
        if attempt == 0:
            first = seconds  # includes creating GX's ephemeral context
            continue
        validated.append(seconds)
        # The same frame without a suite, side by side, for the ratio.
        fg_plain = fs.get_or_create_feature_group(f"unchecked_{attempt}", primary_key=["entity_id"],
                                                  event_time="event_time")
        seconds, _ = clock(lambda: fg_plain.insert(vframe))
        unvalidated.append(seconds)
    smaller = f"; smaller than the {n:,}-row plain insert (--validated-rows)" if nv != n else ""
    report.row(s, "validated_create_first_s", "first get_or_create_feature_group with the suite", create_first, "s")
    report.row(s, "validated_first_insert_s", f"first validated insert, {nv:,} rows (GX context set-up)", first, "s",
               note=f"after the import above{smaller}")
    report.row(s, "validated_rows_per_s", f"validated insert, {nv:,} rows, 4 expectations, steady",
               nv / min(validated), "rows/s", "{:,.0f}", note=runs(validated))
    report.row(s, "validated_unchecked_rows_per_s", f"same {nv:,} rows without suite (side by side)",
               nv / min(unvalidated), "rows/s", "{:,.0f}", note=runs(unvalidated))
    report.row(s, "ratio_validated_over_plain", "ratio validated / unvalidated insert time",
               min(validated) / min(unvalidated))
    report.info(s, "validated_rows", nv)
    report.info(s, "insert_rows", n)
    report.info(s, "upsert_rows", n_upsert)
    del fs, frame, vframe
    gc.collect()


# ------------------------------------------------------------------------------------ main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (10k/100k), a few seconds")
    parser.add_argument("--obs", type=int,
                        help="observation rows: section 1 runs this one size instead of --pit-sizes "
                             "(default 1,000,000; quick 10,000)")
    parser.add_argument("--features", type=int,
                        help="feature rows in total, split over two groups (default 10,000,000; quick 100,000)")
    parser.add_argument("--entities", type=int, help="distinct entity ids (default 100,000; quick 1,000)")
    parser.add_argument("--online-entities", type=int, help="online group size (default 100,000; quick 10,000)")
    parser.add_argument("--lookups", type=int, help="single lookups per round (default 10,000; quick 2,000)")
    parser.add_argument("--batch", type=int, default=100, help="entries per get_feature_vectors call (default 100)")
    parser.add_argument("--insert-rows", type=int, help="rows per insert (default 1,000,000; quick 100,000)")
    parser.add_argument("--validated-rows", type=int,
                        help="rows per validated insert (default: --insert-rows; quick 100,000)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per measurement; the best is kept (default 5)")
    parser.add_argument("--only", default="pit,online,insert", help="comma-separated sections to run")
    parser.add_argument("--seed", type=int, default=20240101, help="seed of the generated data")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"JSON output file (default {RESULTS}; with --quick {QUICK_RESULTS})")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the temporary stores (default: $TMPDIR)")
    parser.add_argument("--pit-sizes", default=None,
                        help="section 1 sizes, OBSxFEATURESxENTITIES,... (default 10000x100000x1000,"
                             "100000x1000000x10000,1000000x10000000x100000; quick the first; "
                             "--obs/--features/--entities give one size)")
    parser.add_argument("--load", type=int, default=None,
                        help="busy-loop processes for section 1's 'under load' half (default: one per usable "
                             "core; 0 skips it)")
    parser.add_argument("--pit-child", nargs=2, metavar=("SIDE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = args.quick
    one_size = args.obs is not None or args.features is not None or args.entities is not None
    defaults = {
        "obs": (1_000_000, 10_000),
        "features": (10_000_000, 100_000),
        "entities": (100_000, 1_000),
        "online_entities": (100_000, 10_000),
        "lookups": (10_000, 2_000),
        "insert_rows": (1_000_000, 100_000),
    }
    for name, (full, small) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, small if quick else full)
    if args.out is None:
        args.out = QUICK_RESULTS if quick else RESULTS
    if args.validated_rows is None:
        args.validated_rows = args.insert_rows
    args.only = {part.strip() for part in args.only.split(",") if part.strip()}
    if args.pit_sizes:
        try:
            args.pit_sizes = [tuple(int(n) for n in size.lower().split("x")) for size in args.pit_sizes.split(",")]
        except ValueError:
            parser.error(f"--pit-sizes {args.pit_sizes!r}: expected OBSxFEATURESxENTITIES,...")
        if any(len(size) != 3 or min(size) < 1 for size in args.pit_sizes):
            parser.error(f"--pit-sizes {args.pit_sizes!r}: expected OBSxFEATURESxENTITIES,... of positive numbers")
    elif one_size:
        args.pit_sizes = [(args.obs, args.features, args.entities)]
    else:
        sizes = [(10_000, 100_000, 1_000), (100_000, 1_000_000, 10_000), (1_000_000, 10_000_000, 100_000)]
        args.pit_sizes = sizes[:1] if quick else sizes
    if args.load is None:
        try:
            args.load = len(os.sched_getaffinity(0))
        except AttributeError:
            args.load = os.cpu_count() or 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.pit_child:
        return pit_child(args.pit_child[0], Path(args.pit_child[1]))
    report = Report()
    info = machine()
    report.sections["machine"] = info
    info["load_average_start"] = load_average()
    started = dt.datetime.now(dt.UTC)
    print("fti feature store benchmark" + (" (--quick)" if args.quick else ""))
    print(f"machine: {info['cpu']}; {info['cores']} cores ({info['usable_cores']} usable, DuckDB threads "
          f"{info['duckdb_threads']}); {info['memory_gib']} GiB; {info['os']}")
    print(f"versions: Python {info['python']}, duckdb {info['duckdb']}, pandas {info['pandas']}, "
          f"numpy {info['numpy']}, sqlite {info['sqlite']}; load average {info['load_average_start']}")
    print(f"fti source: {Path(fti.__file__).resolve().parent} at {info['fti_source']}")
    pit_sizes = ", ".join(f"{o:,}x{f:,}x{e:,}" for o, f, e in args.pit_sizes)
    print(f"sizes: point-in-time (obs x feature rows x entities) {pit_sizes}, load {args.load} busy loops, "
          f"insert entities {args.entities:,}, "
          f"online entities {args.online_entities:,}, lookups {args.lookups:,}, insert rows {args.insert_rows:,}, "
          f"validated rows {args.validated_rows:,}, repeats {args.repeats}", flush=True)
    wall = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fti-bench-", dir=args.dir) as tmp:
        root = Path(tmp)
        if "pit" in args.only:
            bench_point_in_time(args, report, root)
        if "online" in args.only:
            bench_online(args, report, root)
        if "insert" in args.only:
            bench_inserts(args, report, root)
    elapsed = time.perf_counter() - wall
    info["load_average_end"] = load_average()
    try:
        import great_expectations as gx  # noqa: PLC0415 (imported by section 3 anyway)

        info["great_expectations"] = gx.__version__
    except ImportError:
        info["great_expectations"] = None

    print("\n" + "=" * 100)
    print("SUMMARY" + (" (--quick: sizes too small to mean much)" if args.quick else ""))
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB, Python {info['python']}, "
          f"duckdb {info['duckdb']}, pandas {info['pandas']}, numpy {info['numpy']}, "
          f"great_expectations {info['great_expectations']}")
    print(report.table())
    print(f"\nwall time {elapsed:.1f} s; peak RSS {rss_mib():,.0f} MiB; load average (1/5/15 min) "
          f"{info['load_average_start']} at start, {info['load_average_end']} at end")

    payload = {
        "benchmark": "fti store",
        "started_at": started.isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "quick": args.quick,
        "machine": info,
        "parameters": {key: (sorted(value) if isinstance(value, set) else str(value) if isinstance(value, Path)
                             else value) for key, value in vars(args).items()},
        "results": {key: value for key, value in report.sections.items() if key != "machine"},
        "wall_s": elapsed,
        "peak_rss_mib": rss_mib(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"figures written to {args.out}")
    verdict = report.sections.get("point_in_time", {}).get("verification")
    return 1 if verdict and verdict["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
