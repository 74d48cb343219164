#!/usr/bin/env python
"""Benchmark of the executors: the same batch and the same grading on local workers and on Dask.

Run from the repository root::

    .venv/bin/python benchmarks/bench_executors.py            # 12 notebooks, a class of 4, 3 repeats
    .venv/bin/python benchmarks/bench_executors.py --quick    # smoke run: 4 notebooks, a class of 2, 1 repeat

It prints a table and writes the same figures to ``benchmarks/results/executors.json``
(``executors-quick.json`` for ``--quick``). A measuring script, not a test: it
never fails on a slow figure.

Two workloads, each run by every executor:

1. ``fti batch``: one notebook over a grid of ``--notebooks`` points, each
   burning about ``--work`` seconds of CPU (`fti.run.batch.run_batch`).
2. ``fti grade``: a class of ``--students`` students who each handed in the
   master copy of exercise 01 (`fti.teach.exercises.grade`): a real exercise
   (pandas, the store, the checks), about a second of CPU and some I/O each.

Executors: `LocalExecutor` with one worker per core (today's default), and
`DaskExecutor` LocalClusters of 1, 2 and 4 worker processes. For each, the wall
time of the batch and of the grading (the executor already started: workers
warm), and the time to start it (a LocalCluster's scheduler and workers; the
local workers start with their first execution, so their start is inside the
batch time). Speed-ups are against the Dask cluster of 1 worker, measured in the
same run; the configurations alternate within each repeat so that a burst of
load on a shared machine hits all of them. Each figure is the median of
``--repeats`` runs.

For reference, two bare CPU-bound processes are timed one after the other and
side by side: the ratio is the parallelism the machine offered at that moment.
No executor can beat it, so on a 2-core machine 4 workers cannot be faster than
2; more workers only pay off on a cluster with more cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# The scripts of this folder run from it: bench_runner's notebook writer, load and machine reference.
from bench_runner import load_average, reference_speedup, write_notebook

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(__file__).resolve().parent / "results"
WORK_CELLS = [
    "import time\nstarted = time.process_time()\ntotal = 0\n"
    "while time.process_time() - started < work_seconds:\n    total += sum(range(10_000))\nprint(seed, total > 0)",
]


def executors() -> dict[str, Callable[[], object]]:
    from fti.run.dask_executor import DaskExecutor
    from fti.run.executors import LocalExecutor, default_workers

    return {
        f"local ({default_workers()} workers)": LocalExecutor,
        "dask, 1 worker": lambda: DaskExecutor(workers=1),
        "dask, 2 workers": lambda: DaskExecutor(workers=2),
        "dask, 4 workers": lambda: DaskExecutor(workers=4),
    }


def one_round(name: str, make: Callable[[], object], work: Path, notebook: Path, notebooks: int, work_seconds: float,
              submissions: Path) -> dict[str, float]:
    """Start the executor, run the batch, grade the class; the wall time of each and the statuses seen."""
    from fti.run.batch import plan_batch, run_batch
    from fti.teach import exercises

    out = Path(tempfile.mkdtemp(prefix="run-", dir=work))
    started = time.perf_counter()
    executor = make()
    connect = getattr(executor, "connect", None)
    if connect is not None:
        connect()
    start_s = time.perf_counter() - started
    with executor:  # type: ignore[attr-defined]
        requests = plan_batch([notebook], out / "batch", parameters={"work_seconds": work_seconds},
                              grid={"seed": list(range(notebooks))}, timeout=600)
        started = time.perf_counter()
        report = run_batch(requests, executor, out / "batch", progress=False)  # type: ignore[arg-type]
        batch_s = time.perf_counter() - started
        started = time.perf_counter()
        grades = exercises.grade(submissions, out / "grades", timeout=600, executor=executor,  # type: ignore[arg-type]
                                 progress=False)
        grade_s = time.perf_counter() - started
    if not report.ok or any(grade.points != grade.max_points for grade in grades):
        problems = [r.error for r in report.results if not r.ok] + [g.error for g in grades if g.error]
        raise SystemExit(f"{name}: the batch or the grading did not pass, the figures would mean nothing: {problems}")
    return {"start_s": start_s, "batch_s": batch_s, "grade_s": grade_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 4 notebooks, a class of 2, 1 repeat")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each configuration (default: 3)")
    parser.add_argument("--notebooks", type=int, default=12, help="executions in the batch (default: 12)")
    parser.add_argument("--work", type=float, default=1.0, help="CPU seconds of each batch execution (default: 1)")
    parser.add_argument("--students", type=int, default=4, help="submissions graded (default: 4)")
    args = parser.parse_args()
    repeats, notebooks, students = (1, 4, 2) if args.quick else (args.repeats, args.notebooks, args.students)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"python {platform.python_version()}, {cores} cores, load average before: {load_average()}")
    print(f"batch: {notebooks} notebooks of ~{args.work:g} s CPU; grade: {students} submissions of exercise 01; "
          f"{repeats} repeat(s)", flush=True)

    from fti.teach import exercises

    choices = executors()
    samples: dict[str, dict[str, list[float]]] = {name: {"start_s": [], "batch_s": [], "grade_s": []}
                                                  for name in choices}
    reference: list[float] = []
    with tempfile.TemporaryDirectory(prefix="fti-bench-executors-") as folder:
        work = Path(folder)
        notebook = write_notebook(work / "work.ipynb", f"seed = 0\nwork_seconds = {args.work}", WORK_CELLS)
        submissions = work / "submissions"
        master = exercises.SOURCE_DIR / "01_feature_family_size.ipynb"
        for student in range(students):
            (submissions / f"student{student:02d}").mkdir(parents=True)
            (submissions / f"student{student:02d}" / master.name).write_bytes(master.read_bytes())
        for repeat in range(repeats):
            for name, make in choices.items():
                figures = one_round(name, make, work, notebook, notebooks, args.work, submissions)
                for key, value in figures.items():
                    samples[name][key].append(value)
                print(f"  repeat {repeat + 1}: {name:<20} start {figures['start_s']:5.1f} s  batch "
                      f"{figures['batch_s']:6.1f} s  grade {figures['grade_s']:6.1f} s", flush=True)
            serial, side_by_side = reference_speedup(2.0)
            reference.append(serial / side_by_side)

    medians = {name: {key: statistics.median(values) for key, values in figures.items()}
               for name, figures in samples.items()}
    base = medians["dask, 1 worker"]
    print(f"\nMedian of {repeats} run(s); speed-up = the 1-worker Dask cluster's wall time / this one's")
    print(f"{'executor':<22}{'start':>8}{'batch':>9}{'speed-up':>10}{'grade':>9}{'speed-up':>10}")
    for name, figures in medians.items():
        print(f"{name:<22}{figures['start_s']:7.1f}s{figures['batch_s']:8.1f}s"
              f"{base['batch_s'] / figures['batch_s']:9.2f}x{figures['grade_s']:8.1f}s"
              f"{base['grade_s'] / figures['grade_s']:9.2f}x")
    machine = statistics.median(reference)
    print(f"\nreference: two bare CPU-bound processes side by side ran {machine:.2f}x as fast as one after the other:")
    print(f"the parallelism this {cores}-core machine offered meanwhile, the most any executor can reach here.")
    print(f"load average after: {load_average()}")
    results = {
        "cores": cores, "python": platform.python_version(), "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "notebooks": notebooks, "work_seconds": args.work, "students": students, "repeats": repeats,
        "medians": {name: {key: round(value, 3) for key, value in figures.items()}
                    for name, figures in medians.items()},
        "speedup_vs_dask_1_worker": {name: {"batch": round(base["batch_s"] / figures["batch_s"], 3),
                                            "grade": round(base["grade_s"] / figures["grade_s"], 3)}
                                     for name, figures in medians.items()},
        "reference_speedup_bare_processes": round(machine, 3),
        "samples": {name: {key: [round(v, 3) for v in values] for key, values in figures.items()}
                    for name, figures in samples.items()},
        "load_average_after": load_average(),
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / ("executors-quick.json" if args.quick else "executors.json")
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
