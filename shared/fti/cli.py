"""The ``fti`` command: operate a system day by day, list its runs, execute notebooks in batches.

    fti run titanic --start 2026-01-05 --days 28   simulate four weeks
    fti run titanic --resume                       finish the last run after a failure
    fti run titanic --now                          what is due today (for cron / CI)
    fti run titanic --days 28 -p drift_start=2026-01-10   with a parameter for every notebook declaring it
    fti runs titanic                               the run log
    fti store                                      what a store holds (also: fti ls)
    fti store check                                read every file of a store, report damage
    fti store backup DEST                          copy a store to a new folder, consistently
    fti batch notebooks/ --workers 2               every notebook, a report of what passed
    fti batch nb.ipynb --grid alpha=0.1,1,10       one notebook over parameter values
    fti exercises build                            regenerate the student copies of the exercises
    fti exercises reset 01_feature_family_size     empty one exercise's own store
    fti grade submissions/                         grade a class, one report
    fti new energy_prices [--kind realtime]        a new system of your own, running at once
    fti check energy_prices                        is its shape sound? one line per thing to change
    fti serve fraud [--port 8000]                  its online inference over HTTP, with a page to try it

``fti run`` shows progress bars on a terminal and prints one line per notebook
run when its output goes to a log or CI.

Heavy modules (papermill, pandas) are imported by the subcommand that needs them,
so ``fti --help`` and argument errors answer at once.

Exit codes: 0 done, 1 a notebook failed, 2 bad input. Bad input is reported on
one line, ``fti COMMAND: error: ...``: argparse does so for malformed options,
and every `fti.exceptions.FTIError` the run layer raises (an unknown system, a
malformed schedule or date, a bad ``--grid``, a missing submissions folder) is
turned into the same line here. The store (``--store``) is opened once, here,
and handed to the run layer as a `fti.store.storage.Store`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fti.run.executors import Executor

EXIT_FAILED = 1
EXIT_USAGE = 2

def _whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse type for whole numbers of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least {minimum}")
        return value

    return parse


_positive_int = _whole_number(1)
_non_negative_int = _whole_number(0)


def _port(text: str) -> int:
    """An argparse type for a TCP port: 0 (any free one) to 65535."""
    port = _non_negative_int(text)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535)")
    return port


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


_EXECUTOR_HELP = ("where the {what} run: local (default: worker processes here), dask (a Dask LocalCluster of "
                  "--workers processes here), or dask://HOST:PORT (the workers of a running Dask scheduler)")


def build_parser() -> argparse.ArgumentParser:
    """The ``fti`` command's argument parser, one subparser per command."""
    parser = argparse.ArgumentParser(
        prog="fti",
        description=("Run the kit's pipeline notebooks on a schedule, list their runs, execute notebooks in "
                     "batches, build exercises and grade them, and create and check systems of your own."),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", help="run a system's due notebooks, day by day",
        description=(
            "Run the notebooks of SYSTEM that its pipelines.yml says are due, in order, for each day: "
            "simulated days (--start/--days), one real date (--date, --now), or the rest of the last run "
            "(--resume). Each notebook gets run_date; simulated days also fix the clock (FTI_NOW) at the "
            "day's 23:00 UTC plus a minute per position, so the same days give the same results. Executed "
            "notebooks go to RUNS_DIR/SYSTEM/DATE/; every run is recorded in the store with why it ran (see "
            "`fti runs`). A notebook may ask for a run of another (fti.request_run), as pipelines.yml allows "
            "(requested_by, on_request). Notebooks that already succeeded for a day are not run again unless "
            "--force."
        ),
    )
    # Usage errors found after parsing are reported with this subcommand's usage line.
    run.set_defaults(subparser=run)
    run.add_argument("system", metavar="SYSTEM",
                     help="a system name (notebooks/SYSTEM/pipelines.yml), its folder, or a schedule file")
    when = run.add_mutually_exclusive_group()
    when.add_argument("--date", metavar="DATE",
                      help="run what is due on this date (after catching up missed days, see --catch-up)")
    when.add_argument("--now", action="store_true",
                      help="like --date with today's date (UTC); today's notebooks use the real clock")
    when.add_argument("--resume", action="store_true",
                      help="continue the last `fti run` of SYSTEM from its first day not completed")
    run.add_argument("--start", metavar="DATE",
                     help="first simulated day (default: 'start:' in the schedule file)")
    run.add_argument("--days", type=_positive_int, metavar="N", help="number of days to simulate")
    run.add_argument("--catch-up", type=_non_negative_int, default=None, metavar="N",
                     help="with --date/--now: before the date, run the days up to N days back that did not "
                          "complete, never before the system's first recorded run (default: 7; 0: the date only)")
    run.add_argument("--force", action="store_true", help="run due notebooks again even if they already succeeded")
    run.add_argument("--store", metavar="DIR", help="store directory (default: FTI_STORE or data/store/)")
    run.add_argument("--runs-dir", metavar="DIR",
                     help="where executed notebooks go (default: runs/ at the repository root)")
    run.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                     help="override a parameter for every notebook whose parameters cell declares NAME "
                          "(repeatable); values are read as YAML (3, 0.5, true, text; dates stay text). "
                          "Recorded with each run; --resume reuses the overrides of the run it resumes")
    run.add_argument("--no-progress", action="store_true",
                     help="print nothing while it runs (default: progress bars on a terminal, otherwise one "
                          "line per notebook run)")
    run.add_argument("--no-kernel-pool", action="store_true",
                     help="start a new kernel for every notebook instead of taking one from a pool started "
                          "ahead of need (same as FTI_KERNEL_POOL=0)")

    runs = commands.add_parser("runs", help="list recorded runs",
                               description="List the run log kept in the store (the same table as fti.get_runs()).")
    runs.add_argument("system", metavar="SYSTEM", nargs="?", help="only this system (default: all)")
    runs.add_argument("--status", choices=["ok", "failed", "timeout", "skipped"], help="only runs with this status")
    runs.add_argument("--last", type=_positive_int, default=50, metavar="N", help="only the last N runs (default: 50)")
    runs.add_argument("--store", metavar="DIR", help="store directory (default: FTI_STORE or data/store/)")

    for name in ("store", "ls"):
        browse = commands.add_parser(
            name, help="what a store holds" + (" (same as fti store)" if name == "ls" else ""),
            description=("List what a store holds: feature groups with their commits and rows, feature views with "
                         "their training datasets, models with their versions, metrics and aliases, and the most "
                         "recent runs. It only reads."
                         + (" `fti store check` reads every file and reports damage; `fti store backup DEST` "
                            "copies the store to a new folder." if name == "store" else "")),
        )
        browse.add_argument("--store", metavar="DIR", help="store directory (default: FTI_STORE or data/store/)")
        browse.add_argument("--runs", type=_non_negative_int, default=10, metavar="N",
                            help="how many recent runs to list (default: 10; 0: none)")
        if name == "store":
            browse.add_argument(
                "action", nargs="?", choices=["check", "backup"], metavar="check|backup",
                help="check: read every file of the store (every offline table in full, SQLite's integrity check, "
                     "every model checksum) and exit non-zero if any is damaged; backup DEST: copy the store to "
                     "the new folder DEST while no other process writes (without an action: list the store)")
            browse.add_argument("destination", nargs="?", metavar="DEST", help="with backup: the new folder")

    batch = commands.add_parser(
        "batch", help="execute many notebooks, or one over a grid of parameters, in parallel",
        description=(
            "Execute notebooks with papermill in parallel worker processes and write report.csv and "
            "report.html (status, duration, error, link to each executed notebook) to the output folder. "
            "Each execution gets a fresh empty store unless --store is given. Exits non-zero if any failed."
        ),
    )
    batch.add_argument("paths", metavar="PATH", nargs="+", help="notebooks, or folders to search for notebooks")
    batch.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                       help="a parameter for every execution (repeatable); values are read as YAML "
                            "(3, 0.5, true, text)")
    batch.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2",
                       help="run every notebook once per value (repeatable: every combination)")
    batch.add_argument("--workers", type=_positive_int, metavar="N",
                       help="executions at once on this machine (default: number of cores)")
    batch.add_argument("--executor", default="local", metavar="KIND",
                       help=_EXECUTOR_HELP.format(what="executions"))
    batch.add_argument("--timeout", type=_seconds, default=600.0, metavar="SECONDS",
                       help="time limit of each execution, kernel start included (default: 600)")
    batch.add_argument("--store", metavar="DIR", help="one store shared by every execution (default: a fresh one each)")
    batch.add_argument("--cwd", metavar="DIR",
                       help="working directory of every execution (default: the notebook's folder)")
    batch.add_argument("--out", metavar="DIR",
                       help="output folder (default: runs/batch/NAME or runs/batch/<timestamp>)")
    batch.add_argument("--name", help="name of the output folder under runs/batch/")
    batch.add_argument("--no-progress", action="store_true", help="no progress bar")

    exercises = commands.add_parser(
        "exercises", help="build the student copies of the exercises, check they are current, or reset a store",
        description=("build: write exercises/student/ from the master copies in exercises/source/ (solutions "
                     "and hidden checks removed). check: exit non-zero if a student copy is missing or stale. "
                     "reset NAME...: empty those exercises' own stores (data/exercise-stores/NAME/, or under "
                     "FTI_EXERCISE_STORES); running an exercise's first cell again does the same."),
    )
    exercises.add_argument("action", choices=["build", "check", "reset"])
    exercises.add_argument("names", metavar="NAME", nargs="*",
                           help="with reset: the exercises, e.g. 01_feature_family_size")
    exercises.add_argument("--all", action="store_true", help="with reset: every exercise store")

    grade = commands.add_parser(
        "grade", help="grade a folder of exercise submissions",
        description=("Execute every submission (SUBMISSIONS/STUDENT/EXERCISE.ipynb or "
                     "SUBMISSIONS/EXERCISE/STUDENT.ipynb) with the master's checks restored, each in its own "
                     "working folder and store with a time limit, several at once; write grades.csv and "
                     "grades.html. Not a security sandbox: see exercises/README.md."),
    )
    grade.add_argument("submissions", metavar="SUBMISSIONS", help="the folder of submissions")
    grade.add_argument("--out", metavar="DIR", help="output folder (default: runs/grades/<timestamp>)")
    grade.add_argument("--timeout", type=_seconds, default=180.0, metavar="SECONDS",
                       help="time limit of each submission (default: 180)")
    grade.add_argument("--workers", type=_positive_int, metavar="N",
                       help="submissions at once on this machine (default: number of cores)")
    grade.add_argument("--executor", default="local", metavar="KIND",
                       help=_EXECUTOR_HELP.format(what="submissions"))
    grade.add_argument("--no-progress", action="store_true", help="no progress bar")

    new = commands.add_parser(
        "new", help="create a new ML system of your own, ready to run",
        description=("Write notebooks/NAME/ (numbered pipeline notebooks, pipelines.yml, story.yml, README.md), "
                     "shared/systems/NAME/ (the system's package: a source adapter with a recorded fixture, "
                     "features, expectations) and tests/systems/NAME/. It runs at once on a tiny built-in example "
                     "source: `fti run NAME --days 3`. Refuses, writing nothing, if NAME is taken or invalid. "
                     "docs/own-system.md is the guide."),
    )
    new.add_argument("name", metavar="NAME", help="the system's name: lower-case letters, digits and underscores")
    new.add_argument("--kind", choices=["batch", "realtime"], default="batch",
                     help="batch: daily batch inference and a dashboard (default); realtime: online inference "
                          "from the online store and a serving entry point")
    new.add_argument("--root", metavar="DIR", help="the project to write into (default: this checkout of the kit)")

    check = commands.add_parser(
        "check", help="check that a system's shape is sound",
        description=("Check a system: numbered notebooks with one parameters cell each, a valid pipelines.yml "
                     "naming them, no sys.path edits or package installs, feature groups with event times, a "
                     "training pipeline registering a model with its lineage, inference loading it by alias; "
                     "then run each notebook alone with papermill on its fixture (unless --static). One line per "
                     "finding, saying what to change. Exits 1 if there are findings."),
    )
    check.add_argument("systems", metavar="SYSTEM", nargs="*",
                       help="system names (in ROOT/notebooks/) or folders of notebooks (default: every system)")
    check.add_argument("--root", metavar="DIR",
                       help="the project whose notebooks/ holds the named systems (default: this checkout)")
    check.add_argument("--static", action="store_true", help="only read the files; run no notebook")
    check.add_argument("--out", metavar="DIR",
                       help="where executed notebooks go (default: runs/check/SYSTEM/)")
    check.add_argument("--timeout", type=_seconds, metavar="SECONDS",
                       help="time limit of each notebook (default: its schedule's, or 600)")

    serve = commands.add_parser(
        "serve", help="serve a system's online inference over HTTP, with a page to try it",
        description=("Serve SYSTEM's online inference pipeline (systems.SYSTEM.serving, or --module) with tornado: "
                     "GET / a page with a form, POST /predict JSON in and out, GET /health. The first line printed "
                     "is the URL. Ctrl-C or SIGTERM stops it cleanly: answers in flight finish, the service's "
                     "close() runs, exit code 0. See `help(fti.serve)` for what a serving module must offer."),
    )
    serve.add_argument("system", metavar="SYSTEM", nargs="?",
                       help="an example system with a serving module, e.g. fraud (systems/fraud/serving.py)")
    serve.add_argument("--module", metavar="MODULE",
                       help="instead of SYSTEM: any importable module with a service() function, e.g. "
                            "my_project.serving (on PYTHONPATH)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0: every interface)")
    serve.add_argument("--port", type=_port, default=8000, metavar="PORT",
                       help="port to listen on (default: 8000; 0: any free port)")
    serve.add_argument("--store", metavar="DIR", help="store directory (default: FTI_STORE or data/store/)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``fti`` command; returns the exit code (0 ok, 1 a notebook failed, 2 bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from fti.exceptions import FTIError

    try:
        if args.command == "run":
            return _run(args.subparser, args)
        if args.command == "runs":
            return _runs(args)
        if args.command in ("store", "ls"):
            return _store(args)
        if args.command == "exercises":
            return _exercises(args)
        if args.command == "grade":
            return _grade(args)
        if args.command == "new":
            return _new(args)
        if args.command == "check":
            return _check(args)
        if args.command == "serve":
            return _serve(args)
        return _batch(args)
    except FTIError as exc:
        print(f"fti {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"fti {args.command}: interrupted", file=sys.stderr)
        return 130


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from fti.paths import RUNS_DIR
    from fti.run import runner
    from fti.run.batch import parse_assignments
    from fti.run.executors import InProcessExecutor
    from fti.run.schedule import load_schedule, parse_date
    from fti.store.storage import Store

    simulated = args.start is not None or args.days is not None
    if (args.date or args.now or args.resume) and simulated:
        parser.error("--start/--days simulate days; they do not go with --date, --now or --resume")
    if args.resume and args.force:
        parser.error("--resume finishes what did not complete; it does not go with --force")
    if args.catch_up is not None and not (args.date or args.now):
        parser.error("--catch-up goes with --date or --now")
    if not (simulated or args.date or args.now or args.resume):
        parser.error("say which days: --start DATE --days N, --days N, --date DATE, --now or --resume")
    if simulated and args.days is None:
        parser.error("--start needs --days N (how many days to simulate)")
    if args.resume and args.param:
        parser.error("--resume continues with the -p values of the run it resumes; it does not take -p")

    # Dates are checked by the run layer, so `fti run` and Python callers get the same message.
    date = parse_date(args.date, "--date") if args.date else None
    start = parse_date(args.start, "--start") if args.start else None
    schedule = load_schedule(args.system)
    overrides = parse_assignments(args.param, many=False)
    store = Store(args.store)
    runs_dir = Path(args.runs_dir) if args.runs_dir else RUNS_DIR
    progress = False if args.no_progress else None
    # None: the runner makes its own executor (with a kernel pool for long runs) and closes it.
    executor = InProcessExecutor(kernel_pool=False) if args.no_kernel_pool else None
    try:
        if args.resume:
            summary = runner.resume(schedule, store=store, runs_dir=runs_dir, progress=progress, executor=executor)
        elif date or args.now:
            catch_up = runner.DEFAULT_CATCH_UP_DAYS if args.catch_up is None else args.catch_up
            summary = runner.run_date(schedule, date, catch_up=catch_up, store=store, runs_dir=runs_dir,
                                      force=args.force, progress=progress, overrides=overrides, executor=executor)
        else:
            summary = runner.simulate(schedule, args.days, start=start, store=store, runs_dir=runs_dir,
                                      force=args.force, progress=progress, overrides=overrides, executor=executor)
    finally:
        if executor is not None:
            executor.close()
    print(summary.table())
    return 0 if summary.ok else EXIT_FAILED


def _runs(args: argparse.Namespace) -> int:
    import pandas as pd

    from fti.run.overview import text_table
    from fti.run.runlog import get_runs
    from fti.store.storage import Store

    frame = get_runs(args.system, store=Store(args.store))
    if args.status:
        frame = frame[frame["status"] == args.status]
    frame = frame.tail(args.last)
    if frame.empty:
        print("no runs recorded" + (f" for {args.system}" if args.system else ""))
        return 0
    shown = frame.drop(columns=["parameters", "scheduled_at"]).copy()
    shown["run_date"] = pd.to_datetime(shown["run_date"]).dt.strftime("%Y-%m-%d")
    shown["started_at"] = pd.to_datetime(shown["started_at"]).dt.strftime("%Y-%m-%d %H:%M:%S")
    shown["duration_s"] = shown["duration_s"].round(1)
    shown["reason"] = shown["reason"].fillna("scheduled").str.slice(0, 70)
    # Only the -p values, and only when some run had any: most runs have none.
    overrides = [_assignments(text) for text in shown.pop("overrides")]
    if any(overrides):
        shown.insert(shown.columns.get_loc("reason") + 1, "overrides", overrides)
    shown["error"] = shown["error"].fillna("").str.slice(0, 60)
    # The executed notebook last: the longest column, the one to copy.
    shown["output_path"] = shown.pop("output_path").fillna("")
    print(text_table(shown))
    return 0


def _assignments(text: object) -> str:
    """``{"a": 1, "b": "x"}`` (JSON, as in the run log) as ``a=1 b=x``."""
    import json

    if not isinstance(text, str) or not text:
        return ""
    return " ".join(f"{name}={value}" for name, value in json.loads(text).items())


def _store(args: argparse.Namespace) -> int:
    action = getattr(args, "action", None)
    if action is not None:
        return _store_maintenance(args, action)
    from fti.run.overview import store_overview

    print(store_overview(args.store, runs=args.runs))
    return 0


def _store_maintenance(args: argparse.Namespace, action: str) -> int:
    """``fti store check`` and ``fti store backup DEST`` (see `fti.run.maintenance`)."""
    from fti.exceptions import ParameterError, StoreConfigError
    from fti.run.maintenance import PROBLEM, backup_store, check_store
    from fti.store.storage import OFFLINE_FILE, Store, default_store_path

    path = Path(args.store).expanduser().resolve() if args.store else default_store_path()
    if not (path / OFFLINE_FILE).exists():  # checked first: opening a Store creates its folder
        raise StoreConfigError(f"there is no store at {path} (no {OFFLINE_FILE}): nothing to {action}")
    store = Store(path)
    if action == "backup":
        if not args.destination:
            raise ParameterError("fti store backup needs a destination folder: fti store backup DEST")
        print(f"backed up {store.path} to {backup_store(store, args.destination)}")
        return 0
    if args.destination:
        raise ParameterError(f"fti store check takes no folder (got {args.destination!r}); use --store DIR")
    findings = check_store(store)
    for finding in findings:
        print(finding)
    problems = sum(finding.status == PROBLEM for finding in findings)
    print(f"{store.path}: " + (f"{problems} problem(s)" if problems else "no problems found"))
    return EXIT_FAILED if problems else 0


def _batch(args: argparse.Namespace) -> int:
    from fti.run.batch import BATCH_DIR, find_notebooks, parse_assignments, plan_batch, run_batch

    executor = _executor(args.executor, args.workers)
    notebooks = find_notebooks(args.paths)
    parameters = parse_assignments(args.param, many=False)
    grid = parse_assignments(args.grid, many=True)
    if args.out:
        out_dir = Path(args.out)
    else:
        stamp = dt.datetime.now().strftime("%Y-%m-%d_%H%M%S")
        out_dir = BATCH_DIR / (args.name or stamp)
    requests = plan_batch(notebooks, out_dir, parameters=parameters, grid=grid, timeout=args.timeout,
                          store=args.store, cwd=args.cwd)
    with executor:
        _connect_remote(executor)
        print(f"{len(requests)} execution(s) {_where(executor, len(requests))}; "
              f"report in {out_dir.resolve()}", file=sys.stderr)
        report = run_batch(requests, executor, out_dir, progress=False if args.no_progress else None)
    for result in report.results:
        if not result.ok:
            print(f"{result.status.upper()}: {result.request.label}: {result.error}\n"
                  f"  executed notebook: {result.output}", file=sys.stderr)
    counts = ", ".join(f"{count} {status}" for status, count in sorted(report.counts().items()))
    print(f"{len(report.results)} execution(s) in {report.wall_seconds:.1f} s: {counts}\n"
          f"report: {report.html_path}\n        {report.csv_path}")
    return 0 if report.ok and len(report.results) == len(requests) else EXIT_FAILED


def _executor(option: str, workers: int | None) -> Executor:
    """The executor ``--executor`` names; nothing starts before its first execution.

    Raises:
        ExecutorError: An unknown kind, a malformed ``dask://`` address, or ``--workers`` with one.
    """
    from fti.exceptions import ExecutorError
    from fti.run.executors import LocalExecutor

    if option == "local":
        return LocalExecutor(workers=workers)
    if option == "dask" or option.startswith("dask://"):
        # Imported only here: dask itself is imported when the executor first connects.
        from fti.run.dask_executor import DaskExecutor, scheduler_address

        if option == "dask":
            return DaskExecutor(workers=workers)
        address = scheduler_address(option)
        if workers is not None:
            raise ExecutorError(f"--workers: the scheduler at {option} has workers of its own; start more there "
                                f"with `dask worker {address} --nthreads 1`, or leave out --workers")
        return DaskExecutor(address=address)
    raise ExecutorError(f"--executor {option!r}: expected local, dask, or dask://HOST:PORT (a running Dask scheduler)")


def _connect_remote(executor: Executor) -> None:
    """Reach a running Dask scheduler now, so an unreachable one is reported before any work."""
    if getattr(executor, "address", None) is not None:
        executor.connect()  # type: ignore[attr-defined]


def _where(executor: Executor, executions: int) -> str:
    """Where a batch runs, for its first line: ``with 2 worker(s)``, ``on a Dask LocalCluster of 4 worker(s)``."""
    describe = getattr(executor, "describe", None)
    if describe is not None:
        return f"on {describe()}"
    workers = getattr(executor, "workers", 1)
    return f"with {min(workers, executions)} worker(s)"


def _exercises(args: argparse.Namespace) -> int:
    from fti.exceptions import ExerciseError
    from fti.teach import exercises

    if args.action != "reset" and (args.names or args.all):
        raise ExerciseError(f"`fti exercises {args.action}` takes no exercise names or --all; only reset does")
    if args.action == "reset":
        return _reset_exercises(args.names, args.all)
    if args.action == "build":
        for path in exercises.build():
            print(f"wrote {path.relative_to(exercises.EXERCISES_DIR.parent)}")
        return 0
    problems = exercises.outdated()
    for problem in problems:
        print(f"out of date: {problem}", file=sys.stderr)
    if problems:
        print("run `fti exercises build` and commit exercises/student/", file=sys.stderr)
    return EXIT_FAILED if problems else 0


def _reset_exercises(names: list[str], every: bool) -> int:
    from fti.exceptions import ExerciseError
    from fti.teach import exercises

    folder = exercises.exercise_stores_dir()
    known = {path.stem for path in exercises.masters()}
    if every:
        if names:
            raise ExerciseError("give exercise names or --all, not both")
        names = sorted(path.name for path in folder.iterdir() if path.is_dir() and not path.name.startswith(".")) \
            if folder.is_dir() else []
        if not names:
            print(f"no exercise stores in {folder}")
    elif not names:
        raise ExerciseError(f"name the exercise(s) to reset, e.g. `fti exercises reset {min(known, default='NAME')}`, "
                            "or give --all")
    for name in names:
        if name not in known and not exercises.exercise_store(name).exists():
            raise ExerciseError(f"there is no exercise {name!r}: the exercises are {', '.join(sorted(known))}")
    for name in names:
        store = exercises.exercise_store(name)
        print(f"reset {store}" if exercises.reset(name) else f"{store} is already empty")
    return 0


def _grade(args: argparse.Namespace) -> int:
    from fti.paths import RUNS_DIR
    from fti.teach import exercises

    out_dir = Path(args.out) if args.out else RUNS_DIR / "grades" / dt.datetime.now().strftime("%Y-%m-%d_%H%M%S")
    # Workers start with the first submission: a missing folder (an ExerciseError, reported by
    # `main`) is found before any of them.
    with _executor(args.executor, args.workers) as executor:
        _connect_remote(executor)
        grades = exercises.grade(Path(args.submissions), out_dir, timeout=args.timeout, executor=executor,
                                 progress=not args.no_progress)
    for grade in grades:
        if grade.status != "ok":
            print(f"{grade.status.upper()}: {grade.student}/{grade.exercise}: {grade.error}", file=sys.stderr)
    students = len({grade.student for grade in grades})
    print(f"graded {len(grades)} submission(s) of {students} student(s)\n"
          f"report: {out_dir / 'grades.html'}\n        {out_dir / 'grades.csv'}")
    return 0


def _new(args: argparse.Namespace) -> int:
    from fti.paths import REPO_ROOT
    from fti.teach import scaffold

    created = scaffold.create_system(args.name, args.kind, root=Path(args.root) if args.root else REPO_ROOT)
    print(created.summary())
    return 0


def _check(args: argparse.Namespace) -> int:
    from fti.paths import NOTEBOOKS_DIR
    from fti.teach import shape

    notebooks_dir = Path(args.root) / "notebooks" if args.root else NOTEBOOKS_DIR
    systems = args.systems or shape.all_systems(notebooks_dir)
    if not systems:
        print(f"no systems in {notebooks_dir}", file=sys.stderr)
        return EXIT_USAGE
    # Every name is looked up before any notebook runs, so a typo fails at once.
    located = [shape.locate(system, notebooks_dir) for system in systems]
    sound = True
    for folders in located:
        out = Path(args.out) / folders.name if args.out and len(located) > 1 else args.out
        report = shape.check_system(folders.notebooks, notebooks_dir=notebooks_dir, run=not args.static,
                                    work_dir=Path(out) if out else None, timeout=args.timeout)
        print(report.text())
        sound = sound and report.ok
    return 0 if sound else EXIT_FAILED


def _serve(args: argparse.Namespace) -> int:
    from fti.serve import load_service, serve_forever

    service = load_service(args.system, args.module, store=args.store)
    name = service.name

    def ready(url: str) -> None:
        print(f"serving {name} at {url} (Ctrl-C to stop)", flush=True)

    answered = serve_forever(service, host=args.host, port=args.port, on_ready=ready)
    print(f"stopped serving {name}: {answered} request(s) answered, service closed", flush=True)
    return 0
