#!/usr/bin/env python
"""Benchmarks of the notebook runner: per-execution overhead of `fti run`, `fti batch` throughput.

Run from the repository root::

    .venv/bin/python benchmarks/bench_runner.py            # 5 repeats, 8 executions per batch
    .venv/bin/python benchmarks/bench_runner.py --quick    # smoke run

It prints a table and writes the same figures to ``benchmarks/results/runner.json``.
A measuring script, not a test: it never fails on a slow figure. Machines are
shared and noisy, so the figures compared are measured side by side, alternating,
in the same run; each is the median of ``--repeats`` runs.

1. Overhead per execution. The same small pipeline notebook (it imports fti and
   pandas, writes one row to a feature group and reads it back) is run
   a) as a plain script: its cells, parameters already filled in, in one
      ``python`` process (the least any way of running it can cost), and
   b) through ``fti run SYSTEM --date D`` (a fresh process: argument parsing,
      schedule, run log, papermill, a kernel), and
   c) through ``fti run SYSTEM --days N`` (a simulation; the figure is per notebook).
   Overhead = (b or c per notebook) - a. Target: under 1.5 s.
2. ``fti batch`` throughput with 1 and 2 workers: executions per second of a
   notebook that computes for about a second, the same grid each time.
   Target: 2 workers at least 1.7x the throughput of 1 (on 2 or more cores).
   For reference, the same measurement for two bare Python processes burning
   CPU (one after the other, then side by side) says how much parallelism the
   machine offered at that moment: on a shared machine, other people's work
   takes its share of the cores, and no executor can do better than that.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "runner.json"
RUN_DATE = "2026-01-05"

PIPELINE_CELLS = [
    "import pandas as pd\nimport fti",
    "fs = fti.get_feature_store()\n"
    "fg = fs.get_or_create_feature_group('bench_rows', version=1, primary_key=['day'], event_time='ts')",
    "day = pd.Timestamp(run_date, tz='UTC')\n"
    "commit = fg.insert(pd.DataFrame({'day': [run_date], 'ts': [day], 'value': [len(run_date)]}))\n"
    "print(commit)",
    "print(len(fg.read()), 'rows')",
]
WORK_CELLS = [
    "import time\nstarted = time.process_time()\ntotal = 0\n"
    "while time.process_time() - started < work_seconds:\n    total += sum(range(10_000))\nprint(seed, total > 0)",
]


def write_notebook(path: Path, parameters: str, cells: list[str]) -> None:
    notebook = nbformat.v4.new_notebook()
    first = nbformat.v4.new_code_cell(parameters)
    first.metadata["tags"] = ["parameters"]
    notebook.cells = [first] + [nbformat.v4.new_code_cell(source) for source in cells]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode not in (0,):
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return seconds


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def bench_overhead(work: Path, repeats: int, days: int) -> dict:
    system = work / "bench_system"
    system.mkdir()
    write_notebook(system / "01_pipeline.ipynb", f'run_date: str = "{RUN_DATE}"', PIPELINE_CELLS)
    (system / "pipelines.yml").write_text(
        "system: bench\npipelines:\n  - notebook: 01_pipeline\n    schedule: daily\n")
    script = work / "cells.py"
    script.write_text(f'run_date = "{RUN_DATE}"\n' + "\n".join(PIPELINE_CELLS) + "\n")
    python = sys.executable
    plain, single, simulated = [], [], []
    for repeat in range(repeats):
        # Alternate the three so that a burst of load on a shared machine hits all of them.
        env = {"FTI_STORE": str(work / f"plain-{repeat}"), "FTI_NOW": f"{RUN_DATE}T23:00:00+00:00"}
        plain.append(timed([python, str(script)], env))
        single.append(timed([python, "-m", "fti", "run", str(system), "--date", RUN_DATE, "--catch-up", "0",
                             "--store", str(work / f"single-{repeat}"), "--runs-dir", str(work / f"runs-{repeat}"),
                             "--no-progress"], {}))
        simulated.append(timed([python, "-m", "fti", "run", str(system), "--start", RUN_DATE, "--days", str(days),
                                "--store", str(work / f"sim-{repeat}"), "--runs-dir", str(work / f"sim-runs-{repeat}"),
                                "--no-progress"], {}) / days)
    base = statistics.median(plain)
    return {
        "plain_script_s": round(base, 3),
        "fti_run_date_s": round(statistics.median(single), 3),
        "fti_run_days_per_notebook_s": round(statistics.median(simulated), 3),
        "overhead_fti_run_date_s": round(statistics.median(single) - base, 3),
        "overhead_per_notebook_in_simulation_s": round(statistics.median(simulated) - base, 3),
        "days_simulated": days,
        "repeats": repeats,
        "samples": {"plain": [round(x, 3) for x in plain], "fti_run_date": [round(x, 3) for x in single],
                    "fti_run_days_per_notebook": [round(x, 3) for x in simulated]},
    }


BURN = ("import time\nstarted = time.process_time()\n"
        "while time.process_time() - started < {seconds}:\n    sum(range(10_000))")


def reference_speedup(seconds: float) -> tuple[float, float]:
    """Wall time of two CPU-bound Python processes one after the other, and side by side."""
    command = [sys.executable, "-c", BURN.format(seconds=seconds)]
    started = time.perf_counter()
    for _ in range(2):
        subprocess.run(command, check=True)
    serial = time.perf_counter() - started
    started = time.perf_counter()
    processes = [subprocess.Popen(command) for _ in range(2)]
    for process in processes:
        process.wait()
    return serial, time.perf_counter() - started


def bench_batch(work: Path, repeats: int, executions: int, work_seconds: float) -> dict:
    notebook = work / "work.ipynb"
    write_notebook(notebook, f"seed = 0\nwork_seconds = {work_seconds}", WORK_CELLS)
    grid = "seed=" + ",".join(str(seed) for seed in range(executions))
    times: dict[int, list[float]] = {1: [], 2: []}
    reference: list[float] = []
    for repeat in range(repeats):
        for workers in (1, 2):
            seconds = timed([sys.executable, "-m", "fti", "batch", str(notebook), "--grid", grid,
                             "--workers", str(workers), "--out", str(work / f"batch-{workers}-{repeat}"),
                             "--no-progress"], {})
            times[workers].append(seconds)
        serial, parallel = reference_speedup(2.0)
        reference.append(serial / parallel)
    one, two = statistics.median(times[1]), statistics.median(times[2])
    return {
        "executions": executions,
        "work_seconds_per_execution": work_seconds,
        "wall_1_worker_s": round(one, 3),
        "wall_2_workers_s": round(two, 3),
        "throughput_1_worker_per_s": round(executions / one, 3),
        "throughput_2_workers_per_s": round(executions / two, 3),
        "speedup_2_over_1": round(one / two, 3),
        "per_execution_overhead_1_worker_s": round(one / executions - work_seconds, 3),
        "reference_speedup_bare_processes": round(statistics.median(reference), 3),
        "repeats": repeats,
        "samples": {"1": [round(x, 3) for x in times[1]], "2": [round(x, 3) for x in times[2]],
                    "reference_speedup": [round(x, 3) for x in reference]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repeat, small batch")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"python {platform.python_version()}, {cores} cores, load average before: {load_average()}")
    with tempfile.TemporaryDirectory(prefix="fti-bench-runner-") as folder:
        work = Path(folder)
        overhead = bench_overhead(work, repeats, days=3 if args.quick else 5)
        batch = bench_batch(work, repeats if not args.quick else 1, executions=4 if args.quick else 8,
                            work_seconds=1.0)
    results = {"overhead": overhead, "batch": batch, "cores": cores, "load_average_after": load_average(),
               "python": platform.python_version(), "when": time.strftime("%Y-%m-%dT%H:%M:%S")}

    print("\n1. Overhead per notebook execution (median of {} runs)".format(overhead["repeats"]))
    print(f"   notebook's cells as one python script     {overhead['plain_script_s']:6.2f} s")
    print(f"   fti run SYSTEM --date D (one notebook)    {overhead['fti_run_date_s']:6.2f} s   "
          f"overhead {overhead['overhead_fti_run_date_s']:+.2f} s  (target < 1.5 s)")
    print(f"   fti run SYSTEM --days {overhead['days_simulated']}, per notebook     "
          f"{overhead['fti_run_days_per_notebook_s']:6.2f} s   "
          f"overhead {overhead['overhead_per_notebook_in_simulation_s']:+.2f} s")
    print("\n2. fti batch throughput, {} executions of ~{:.0f} s of CPU each (median of {} runs)".format(
        batch["executions"], batch["work_seconds_per_execution"], batch["repeats"]))
    print(f"   1 worker    {batch['wall_1_worker_s']:6.2f} s   {batch['throughput_1_worker_per_s']:.2f} executions/s")
    print(f"   2 workers   {batch['wall_2_workers_s']:6.2f} s   {batch['throughput_2_workers_per_s']:.2f} executions/s")
    print(f"   speed-up    {batch['speedup_2_over_1']:.2f}x  (target >= 1.7x)")
    print(f"   per execution beyond its work, 1 worker: {batch['per_execution_overhead_1_worker_s']:.2f} s")
    print(f"   reference: two bare CPU-bound processes side by side: {batch['reference_speedup_bare_processes']:.2f}x "
          "(the parallelism the machine offered meanwhile)")
    print(f"\nload average after: {results['load_average_after']}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
