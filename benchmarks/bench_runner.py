#!/usr/bin/env python
"""Benchmarks of the notebook runner: overhead per notebook with and without the kernel pool, `fti batch` throughput.

Run from the repository root::

    .venv/bin/python benchmarks/bench_runner.py                      # everything: 5 repeats, a 28-day Titanic run
    .venv/bin/python benchmarks/bench_runner.py --quick              # smoke run (3 Titanic days)
    .venv/bin/python benchmarks/bench_runner.py --sections pool,titanic --days 7

It prints a table and writes the same figures to ``benchmarks/results/runner.json``
(``runner-quick.json`` for ``--quick``).
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
3. Kernel pool off vs on (``pool``): the same notebooks, in the same run,
   alternating, through `InProcessExecutor(kernel_pool=False)` (a kernel started
   for each notebook, as before the pool) and `InProcessExecutor(kernel_pool=True)`
   (a kernel forked from the warm fork server). Overhead of one execution = its
   wall time minus the sum of its cells' own times (papermill records each
   cell's duration in the cell's metadata). Printed per notebook: median
   overhead off and on, and their ratio. Target: at most 0.3 s with the pool.
   The pool's one-time start (the server's imports) is printed apart.
4. A Titanic month (``titanic``): ``fti run titanic --start 2026-01-05 --days N``
   (default 28; 3 with ``--quick``) in a fresh store and runs folder, with
   ``FTI_KERNEL_POOL=0`` and ``=1``, one after the other. Printed: wall time,
   and where it went: the notebooks' own cell time, the per-notebook overhead
   (execution time minus cells: kernel start and stop, papermill), and the
   runner's own work between notebooks (planning, run log: wall minus
   executions). Target: the pool run within 60 s on an idle machine.
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


def write_notebook(path: Path, parameters: str, cells: list[str]) -> Path:
    notebook = nbformat.v4.new_notebook()
    first = nbformat.v4.new_code_cell(parameters)
    first.metadata["tags"] = ["parameters"]
    notebook.cells = [first] + [nbformat.v4.new_code_cell(source) for source in cells]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)
    return path


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


HEAVY_CELLS = [
    "import pandas as pd\nimport sklearn.linear_model\nimport xgboost\nimport great_expectations as gx",
    "print(pd.DataFrame({'x': [1, 2, 3]}).x.sum())",
]
TRIVIAL_CELLS = ["print(1 + 1)"]


def cell_seconds(notebook: Path) -> float:
    """The sum of the notebook's cells' own execution times, as papermill recorded them."""
    executed = nbformat.read(notebook, as_version=4)
    return sum(float(cell.metadata.get("papermill", {}).get("duration") or 0.0) for cell in executed.cells
               if cell.cell_type == "code")


def bench_pool(work: Path, repeats: int) -> dict:
    """Overhead per notebook (wall minus cells), kernel pool off vs on, same notebooks, alternating."""
    from fti.run.execute import ExecutionRequest
    from fti.run.executors import InProcessExecutor

    folder = work / "pool"
    folder.mkdir()
    notebooks = {
        "trivial (print)": (TRIVIAL_CELLS, ""),
        "pipeline (fti + pandas, one insert)": (PIPELINE_CELLS, f'run_date: str = "{RUN_DATE}"'),
        "heavy imports (pandas, sklearn, xgboost, GX)": (HEAVY_CELLS, ""),
    }
    paths = {}
    for index, (name, (cells, parameters)) in enumerate(notebooks.items()):
        paths[name] = folder / f"nb{index}.ipynb"
        write_notebook(paths[name], parameters or "x = 0", cells)
    overhead: dict[str, dict[str, list[float]]] = {name: {"off": [], "on": []} for name in notebooks}
    wall: dict[str, dict[str, list[float]]] = {name: {"off": [], "on": []} for name in notebooks}
    started = time.perf_counter()
    off, on = InProcessExecutor(kernel_pool=False), InProcessExecutor(kernel_pool=True)
    try:
        assert on.kernel_pool is not None
        ready = on.kernel_pool.wait_ready()
        pool_start = time.perf_counter() - started
        if not ready:
            raise SystemExit(f"the kernel pool did not start: {on.kernel_pool.failed}")
        for repeat in range(repeats + 1):  # the first round warms files and caches; not counted
            for name, path in paths.items():
                for mode, executor in (("off", off), ("on", on)):
                    env = {"FTI_STORE": str(folder / f"store-{mode}-{repeat}"),
                           "FTI_NOW": f"{RUN_DATE}T23:00:00+00:00"}
                    request = ExecutionRequest(path, folder / "out" / f"{mode}-{repeat}-{path.name}", env=env,
                                               timeout=600)
                    result = executor.run_one(request)
                    if not result.ok:
                        raise SystemExit(f"{name} ({mode}) failed: {result.error}\n{result.traceback}")
                    if repeat:
                        overhead[name][mode].append(result.duration - cell_seconds(result.output))
                        wall[name][mode].append(result.duration)
        stats = dict(on.kernel_pool.stats)
    finally:
        off.close()
        on.close()
    rows = {}
    for name in notebooks:
        median_off, median_on = (statistics.median(overhead[name][mode]) for mode in ("off", "on"))
        rows[name] = {"overhead_off_s": round(median_off, 3), "overhead_on_s": round(median_on, 3),
                      "ratio_on_over_off": round(median_on / median_off, 3) if median_off > 0 else None,
                      "wall_off_s": round(statistics.median(wall[name]["off"]), 3),
                      "wall_on_s": round(statistics.median(wall[name]["on"]), 3),
                      "samples_overhead": {mode: [round(x, 3) for x in overhead[name][mode]] for mode in ("off", "on")}}
    return {"notebooks": rows, "pool_start_s": round(pool_start, 2), "repeats": repeats, "pool_stats": stats}


def bench_titanic(work: Path, days: int) -> dict:
    """``fti run titanic --days N`` with the pool off, then on, each in a fresh store and runs folder."""
    results = {}
    for mode, value in (("off", "0"), ("on", "1")):
        store, runs = work / f"titanic-store-{mode}", work / f"titanic-runs-{mode}"
        seconds = timed([sys.executable, "-m", "fti", "run", "titanic", "--start", "2026-01-05", "--days", str(days),
                         "--store", str(store), "--runs-dir", str(runs), "--no-progress"],
                        {"FTI_KERNEL_POOL": value})
        executed = [path for path in runs.rglob("*.ipynb") if ".attempt-" not in path.name]
        cells = sum(cell_seconds(path) for path in executed)
        durations = sum(float(nbformat.read(path, as_version=4).metadata.get("papermill", {}).get("duration") or 0)
                        for path in executed)
        by_notebook: dict[str, list[float]] = {}
        for path in executed:
            by_notebook.setdefault(path.stem, []).append(cell_seconds(path))
        results[mode] = {
            "wall_s": round(seconds, 1), "notebooks": len(executed), "cells_s": round(cells, 1),
            "overhead_per_notebook_s": round((durations - cells) / max(1, len(executed)), 3),
            "runner_between_notebooks_s": round(seconds - durations, 1),
            "cells_mean_per_notebook_s": {name: round(statistics.mean(values), 2)
                                          for name, values in sorted(by_notebook.items())},
        }
    results["days"] = days
    results["speedup_on_over_off"] = round(results["off"]["wall_s"] / results["on"]["wall_s"], 2)
    return results


def print_pool(pool: dict) -> None:
    print(f"\n3. Kernel pool off vs on: overhead per notebook = wall - its cells' own time "
          f"(median of {pool['repeats']} runs each, alternating)")
    print(f"   {'notebook':46s} {'off':>8s} {'on':>8s} {'on/off':>7s}   wall off / on")
    for name, row in pool["notebooks"].items():
        ratio = f"{row['ratio_on_over_off']:.2f}" if row["ratio_on_over_off"] is not None else "n/a"
        print(f"   {name:46s} {row['overhead_off_s']:7.2f}s {row['overhead_on_s']:7.2f}s {ratio:>7s}   "
              f"{row['wall_off_s']:.2f} s / {row['wall_on_s']:.2f} s")
    print(f"   target: overhead with the pool <= 0.3 s; the pool's one-time start (server imports): "
          f"{pool['pool_start_s']:.1f} s; {pool['pool_stats']}")


def print_titanic(titanic: dict) -> None:
    print(f"\n4. fti run titanic --days {titanic['days']} (fresh store each)")
    print(f"   {'':10s} {'wall':>8s} {'notebooks':>10s} {'cells':>8s} {'overhead/nb':>12s} {'runner':>8s}")
    for mode in ("off", "on"):
        row = titanic[mode]
        print(f"   pool {mode:5s} {row['wall_s']:7.1f}s {row['notebooks']:10d} {row['cells_s']:7.1f}s "
              f"{row['overhead_per_notebook_s']:11.2f}s {row['runner_between_notebooks_s']:7.1f}s")
    print(f"   speed-up with the pool: {titanic['speedup_on_over_off']:.2f}x  (target: pool run <= 60 s, idle machine)")
    print(f"   mean cell time per notebook (pool on): {titanic['on']['cells_mean_per_notebook_s']}")


SECTIONS = ("overhead", "batch", "pool", "titanic")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repeat, small batch, 3 Titanic days")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--days", type=int, help="days of the Titanic run (default 28, 3 with --quick)")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated, of {', '.join(SECTIONS)} (default: all)")
    args = parser.parse_args()
    sections = [name.strip() for name in args.sections.split(",") if name.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"--sections: unknown {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    repeats = 1 if args.quick else args.repeats
    days = args.days or (3 if args.quick else 28)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"python {platform.python_version()}, {cores} cores, load average before: {load_average()}")
    results: dict = {"cores": cores, "python": platform.python_version(), "load_average_before": load_average()}
    with tempfile.TemporaryDirectory(prefix="fti-bench-runner-") as folder:
        work = Path(folder)
        if "overhead" in sections:
            results["overhead"] = bench_overhead(work, repeats, days=3 if args.quick else 5)
            print_overhead(results["overhead"])
        if "batch" in sections:
            results["batch"] = bench_batch(work, repeats, executions=4 if args.quick else 8, work_seconds=1.0)
            print_batch(results["batch"])
        if "pool" in sections:
            results["pool"] = bench_pool(work, repeats if not args.quick else 2)
            print_pool(results["pool"])
        if "titanic" in sections:
            results["titanic"] = bench_titanic(work, days)
            print_titanic(results["titanic"])
    results.update({"load_average_after": load_average(), "when": time.strftime("%Y-%m-%dT%H:%M:%S")})
    print(f"\nload average after: {results['load_average_after']}")
    path = RESULTS.with_name("runner-quick.json") if args.quick else RESULTS
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {path.relative_to(REPO)}")


def print_overhead(overhead: dict) -> None:
    print("\n1. Overhead per notebook execution (median of {} runs)".format(overhead["repeats"]))
    print(f"   notebook's cells as one python script     {overhead['plain_script_s']:6.2f} s")
    print(f"   fti run SYSTEM --date D (one notebook)    {overhead['fti_run_date_s']:6.2f} s   "
          f"overhead {overhead['overhead_fti_run_date_s']:+.2f} s  (target < 1.5 s)")
    print(f"   fti run SYSTEM --days {overhead['days_simulated']}, per notebook     "
          f"{overhead['fti_run_days_per_notebook_s']:6.2f} s   "
          f"overhead {overhead['overhead_per_notebook_in_simulation_s']:+.2f} s")


def print_batch(batch: dict) -> None:
    print("\n2. fti batch throughput, {} executions of ~{:.0f} s of CPU each (median of {} runs)".format(
        batch["executions"], batch["work_seconds_per_execution"], batch["repeats"]))
    print(f"   1 worker    {batch['wall_1_worker_s']:6.2f} s   {batch['throughput_1_worker_per_s']:.2f} executions/s")
    print(f"   2 workers   {batch['wall_2_workers_s']:6.2f} s   {batch['throughput_2_workers_per_s']:.2f} executions/s")
    print(f"   speed-up    {batch['speedup_2_over_1']:.2f}x  (target >= 1.7x)")
    print(f"   per execution beyond its work, 1 worker: {batch['per_execution_overhead_1_worker_s']:.2f} s")
    print(f"   reference: two bare CPU-bound processes side by side: {batch['reference_speedup_bare_processes']:.2f}x "
          "(the parallelism the machine offered meanwhile)")


if __name__ == "__main__":
    main()
