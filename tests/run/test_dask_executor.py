"""The Dask executor: the same batch and the same grades as local workers, on a LocalCluster or a running scheduler.

Every test that starts a cluster or a kernel is marked slow (``pytest -m "not slow"`` leaves them out).
The clusters are real: a LocalCluster's worker processes, or ``dask scheduler`` and ``dask worker``
started as subprocesses, and each execution runs a real kernel.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from notebook_files import write_notebook

from fti import cli
from fti.exceptions import ExecutorError
from fti.run import dask_executor
from fti.run.batch import plan_batch, run_batch
from fti.run.dask_executor import DaskExecutor, scheduler_address
from fti.run.execute import ExecutionRequest, ExecutionResult
from fti.run.executors import LocalExecutor
from fti.teach import exercises

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"
DASK = Path(sys.executable).with_name("dask")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting to be reaped counts as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_until_gone(pids: list[int], seconds: float = 15.0) -> list[int]:
    """The processes of ``pids`` still running after up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.2)
    return [pid for pid in pids if alive(pid)]


def cell_outputs(path: Path) -> list[list[dict]]:
    """What each cell of an executed notebook showed (output type, stream name, text, error name and value)."""
    keep = ("output_type", "name", "text", "ename", "evalue", "data")
    return [[{key: output[key] for key in keep if key in output} for output in cell.get("outputs", [])]
            for cell in nbformat.read(path, as_version=4).cells]


# ---------------------------------------------------------------------------------------- choosing the executor


def test_executor_option_is_parsed_or_refused_clearly():
    assert isinstance(cli._executor("local", 2), LocalExecutor)
    local_cluster = cli._executor("dask", 3)
    assert isinstance(local_cluster, DaskExecutor) and local_cluster.address is None and local_cluster.workers == 3
    remote = cli._executor("dask://10.1.2.3:8786", None)
    assert remote.address == "tcp://10.1.2.3:8786"
    assert scheduler_address("dask://[::1]:8786") == "tcp://[::1]:8786"
    assert scheduler_address("dask://scheduler-host.example:9000") == "tcp://scheduler-host.example:9000"
    with pytest.raises(ExecutorError, match=r"--executor 'spark': expected local, dask, or dask://HOST:PORT"):
        cli._executor("spark", None)
    for bad in ("dask://", "dask://host", "dask://host:port", "dask://host:70000", "dask://a b:1"):
        with pytest.raises(ExecutorError, match=r"expected dask://HOST:PORT, the address of a running Dask scheduler"):
            cli._executor(bad, None)
    with pytest.raises(ExecutorError, match=r"--workers: the scheduler at dask://h:1 has workers of its own"):
        cli._executor("dask://h:1", 2)
    with pytest.raises(ExecutorError, match="workers: expected a whole number of at least 1, not 0"):
        DaskExecutor(workers=0)


def test_a_bad_executor_is_a_one_line_usage_error(capsys):
    code = cli.main(["batch", str(NOTEBOOKS / "square.ipynb"), "--executor", "dask://:8786", "--no-progress"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE
    assert err == ("fti batch: error: 'dask://:8786': expected dask://HOST:PORT, the address of a running Dask "
                   "scheduler (e.g. dask://127.0.0.1:8786, as `dask scheduler` prints it)\n")
    code = cli.main(["grade", "nowhere", "--executor", "threads"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE and err.startswith("fti grade: error: --executor 'threads': expected local, dask")


def test_importing_fti_and_the_cli_does_not_import_dask():
    code = ("import sys, fti, fti.cli, fti.run.dask_executor, fti.run.batch, fti.teach.exercises\n"
            "print(sorted(name for name in ('dask', 'distributed') if name in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"


def test_an_unreachable_scheduler_names_the_address_and_what_to_do(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(dask_executor, "CONNECT_TIMEOUT_SECONDS", 2.0)
    port = free_port()  # nothing listens there
    executor = DaskExecutor(address=f"dask://127.0.0.1:{port}")
    request = ExecutionRequest(NOTEBOOKS / "square.ipynb", tmp_path / "out.ipynb")
    with pytest.raises(ExecutorError) as caught, executor:
        executor.run([request])
    message = str(caught.value)
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in message
    assert "dask scheduler --port PORT" in message and "--executor local" in message
    assert not request.output.exists()
    # The command reports it on one line, before running anything.
    code = cli.main(["batch", str(NOTEBOOKS / "square.ipynb"), "--executor", f"dask://127.0.0.1:{port}",
                     "--out", str(tmp_path / "batch"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE
    assert f"fti batch: error: cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in err
    assert not (tmp_path / "batch").exists()


# ---------------------------------------------------------------------------------------- the same batch


def the_batch(out: Path, pid_file: Path) -> list[ExecutionRequest]:
    """A grid of a working notebook, a failing one, and one that loops past its time limit."""
    forever = plan_batch([NOTEBOOKS / "forever.ipynb"], out, parameters={"pid_file": str(pid_file)}, timeout=5)
    others = plan_batch([NOTEBOOKS / "square.ipynb", NOTEBOOKS / "raises.ipynb"], out, grid={"x": [2, 3, 4]},
                        timeout=180)
    # Distinct output names: plan_batch numbers from 1 in each call.
    return forever + [dataclasses.replace(r, output=r.output.with_name("b" + r.output.name)) for r in others]


def comparable_error(result: ExecutionResult) -> str | None:
    """The error, but of a timeout only its first part: what nbclient adds after it depends on the machine's load."""
    if result.status == "timeout" and result.error is not None:
        return result.error.split(";")[0]
    return result.error


def comparable_rows(report_csv: Path) -> list[dict[str, str]]:
    """The report's rows without what differs from run to run (times, durations)."""
    with report_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    return [{key: value for key, value in row.items() if key not in ("duration_s", "started_at")} for row in rows]


@pytest.mark.slow
def test_the_same_batch_gives_the_same_results_with_local_and_dask_workers(tmp_path):
    reports = {}
    for name, executor in (("local", LocalExecutor(workers=2)), ("dask", DaskExecutor(workers=2))):
        out = tmp_path / name
        pid_file = tmp_path / "forever.pid"  # the same parameter for both: the executors run one after the other
        pid_file.unlink(missing_ok=True)
        with executor:
            reports[name] = run_batch(the_batch(out, pid_file), executor, out, progress=False)
        # The looping kernel was stopped, not left running on a worker.
        assert not wait_until_gone([int(pid_file.read_text())]), name
    local, dask = reports["local"], reports["dask"]

    assert [r.status for r in dask.results] == ["timeout"] + ["ok"] * 3 + ["failed"] * 3
    assert [(r.request.label, r.status, dict(r.request.parameters), comparable_error(r)) for r in dask.results] == [
        (r.request.label, r.status, dict(r.request.parameters), comparable_error(r)) for r in local.results]
    assert dask.results[0].error.startswith("stopped after 5 s (the time limit)")
    for at_dask, at_local in zip(dask.results[1:], local.results[1:], strict=True):
        assert cell_outputs(at_dask.output) == cell_outputs(at_local.output), at_dask.request.label
        assert at_dask.traceback == at_local.traceback
    assert [nbformat.read(r.output, as_version=4).cells[-1].outputs[0]["text"] for r in dask.results[1:4]] == [
        "4\n", "9\n", "16\n"]
    assert [{**row, "error": row["error"].split(";")[0]} for row in comparable_rows(dask.csv_path)] == [
        {**row, "error": row["error"].split(";")[0]} for row in comparable_rows(local.csv_path)]


# ---------------------------------------------------------------------------------------- the same grades

EXERCISE = exercises.SOURCE_DIR / "01_feature_family_size.ipynb"


def submit(folder: Path, student: str, notebook: nbformat.NotebookNode) -> None:
    target = folder / student / EXERCISE.name
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)


def first_solution(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    return next(cell for cell in notebook.cells if exercises.BEGIN_SOLUTION in cell.source)


def comparable_grades(grades: list[exercises.Grade]) -> list[tuple]:
    return [(g.student, g.exercise, g.points, g.max_points, g.status, g.failed_checks, g.error, g.messages,
             g.notebook, g.html) for g in grades]


@pytest.mark.slow
def test_a_class_gets_the_same_grades_with_local_and_dask_workers(tmp_path):
    submissions, loopers = tmp_path / "submissions", tmp_path / "loopers"
    master = nbformat.read(EXERCISE, as_version=4)
    submit(submissions, "teacher", master)
    submit(submissions, "untouched", nbformat.read(exercises.STUDENT_DIR / EXERCISE.name, as_version=4))
    broken = nbformat.read(EXERCISE, as_version=4)
    first_solution(broken).source += "\nraise RuntimeError('half done')\n"
    submit(submissions, "broken", broken)
    looping = nbformat.read(EXERCISE, as_version=4)
    first_solution(looping).source += "\nwhile True:\n    pass\n"
    submit(loopers, "looper", looping)

    graded = {}
    for name, executor in (("local", LocalExecutor(workers=2)), ("dask", DaskExecutor(workers=2))):
        with executor:
            graded[name] = comparable_grades(
                exercises.grade(submissions, tmp_path / name / "class", timeout=240, executor=executor,
                                progress=False)
                + exercises.grade(loopers, tmp_path / name / "loopers", timeout=20, executor=executor,
                                  progress=False))
    assert graded["dask"] == graded["local"]
    by_student = {grade[0]: grade for grade in graded["dask"]}
    assert by_student["teacher"][2] == by_student["teacher"][3] > 0 and by_student["teacher"][4] == "ok"
    assert by_student["untouched"][2] < by_student["untouched"][3]
    assert by_student["broken"][4] == "error" and "half done" in by_student["broken"][6]
    assert by_student["looper"][4] == "timeout" and by_student["looper"][2] == 0
    with (tmp_path / "dask" / "class" / "grades.csv").open() as dask_csv, \
            (tmp_path / "local" / "class" / "grades.csv").open() as local_csv:
        assert list(csv.reader(dask_csv)) == list(csv.reader(local_csv))


# ---------------------------------------------------------------------------------------- a running scheduler


@pytest.fixture
def running_scheduler(tmp_path):
    """``dask scheduler`` and ``dask worker --nthreads 1 --nworkers 2``, started as a user would; its address."""
    scheduler_file = tmp_path / "scheduler.json"
    logs = (tmp_path / "scheduler.log").open("w"), (tmp_path / "worker.log").open("w")
    scheduler = subprocess.Popen(
        [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
         "--scheduler-file", str(scheduler_file)], stdout=logs[0], stderr=subprocess.STDOUT, start_new_session=True)
    worker = None
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        worker = subprocess.Popen(
            [str(DASK), "worker", address, "--nthreads", "1", "--nworkers", "2", "--no-dashboard"],
            stdout=logs[1], stderr=subprocess.STDOUT, start_new_session=True)
        yield address
    finally:
        for process in (worker, scheduler):
            if process is not None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
        for log in logs:
            log.close()


@pytest.mark.slow
def test_fti_batch_on_a_running_scheduler(running_scheduler, tmp_path):
    host_port = running_scheduler.removeprefix("tcp://")
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "fti", "batch", str(NOTEBOOKS / "square.ipynb"), str(NOTEBOOKS / "raises.ipynb"),
         "--grid", "x=2,3", "--executor", f"dask://{host_port}", "--timeout", "120", "--out", str(out),
         "--no-progress"],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stderr
    assert f"4 execution(s) on the Dask scheduler at tcp://{host_port}" in done.stderr
    assert "FAILED: raises" in done.stderr and "4 execution(s)" in done.stdout
    # Nothing of Dask's own logging reaches the terminal: every stderr line is fti's.
    assert all(line.startswith(("4 execution(s)", "FAILED", "  executed notebook")) for line in
               done.stderr.splitlines()), done.stderr
    with (out / "report.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["label"], row["status"]) for row in rows] == [
        ('square {"x": 2}', "ok"), ('square {"x": 3}', "ok"),
        ('raises {"x": 2}', "failed"), ('raises {"x": 3}', "failed")]
    assert nbformat.read(out / rows[1]["output"], as_version=4).cells[-1].outputs[0]["text"] == "9\n"


@pytest.mark.slow
def test_workers_running_several_tasks_at_once_are_refused(tmp_path):
    import distributed

    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) \
            as cluster, DaskExecutor(address=cluster.scheduler_address) as executor:
        with pytest.raises(ExecutorError, match=r"run several tasks at once; fti runs one notebook per worker: "
                                                r"start them with `dask worker SCHEDULER --nthreads 1"):
            executor.run([ExecutionRequest(NOTEBOOKS / "square.ipynb", tmp_path / "out.ipynb")])


# ---------------------------------------------------------------------------------------- workers that die or hang


# Run on a worker (by `exec`, so the worker needs nothing from this test module): from then on its
# executions never return, as if one hung in a way the execution's own time limit cannot stop.
MAKE_EXECUTIONS_HANG = (
    "import time\nimport fti.run.dask_executor\n"
    "def hang(request):\n    while True:\n        time.sleep(0.1)\n"
    "fti.run.dask_executor.execute = hang\n")


@pytest.mark.slow
def test_a_dead_or_hung_worker_comes_back_as_a_result_and_the_next_execution_runs(tmp_path, monkeypatch):
    killer = write_notebook(
        tmp_path / "killer.ipynb", f"pid_file = {str(tmp_path / 'killer.pid')!r}",
        "import os, pathlib, signal\npathlib.Path(pid_file).write_text(str(os.getpid()))\n"
        "os.kill(os.getppid(), signal.SIGKILL)",
        "import time\ntime.sleep(600)")
    square = NOTEBOOKS / "square.ipynb"
    with DaskExecutor(workers=1) as executor:
        died, after_death = executor.run([ExecutionRequest(killer, tmp_path / "died.ipynb", timeout=120),
                                          ExecutionRequest(square, tmp_path / "after_death.ipynb", timeout=120)])
        assert died.status == "failed" and died.error.startswith("the Dask worker process died while running it")
        assert after_death.ok, after_death.error
        assert not wait_until_gone([int((tmp_path / "killer.pid").read_text())]), "the orphaned kernel must not stay"

        # An execution that does not return past its time limit and the grace: its worker is killed
        # (and its nanny starts a new one).
        client = executor.connect()
        [hung_worker_pid] = client.run(os.getpid).values()
        client.run(exec, MAKE_EXECUTIONS_HANG, {})
        monkeypatch.setattr(dask_executor, "WORKER_KILL_GRACE_SECONDS", 1.0)
        hung, after_hang = executor.run([ExecutionRequest(square, tmp_path / "hung.ipynb", timeout=2),
                                         ExecutionRequest(square, tmp_path / "after_hang.ipynb", timeout=120)])
        assert hung.status == "timeout"
        assert hung.error == "stopped after 2 s (the time limit); its worker did not stop by itself and was killed"
        assert after_hang.ok, after_hang.error
        assert not wait_until_gone([hung_worker_pid])
        assert list(client.run(os.getpid).values()) != [hung_worker_pid]


@pytest.mark.slow
def test_ctrl_c_stops_the_batch_and_leaves_no_process_behind(tmp_path):
    pid_file = tmp_path / "kernel.pid"
    fti = subprocess.Popen(
        [sys.executable, "-m", "fti", "batch", str(NOTEBOOKS / "forever.ipynb"), "-p", f"pid_file={pid_file}",
         "--executor", "dask", "--workers", "1", "--timeout", "600", "--out", str(tmp_path / "out"), "--no-progress"],
        start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            assert fti.poll() is None, fti.communicate()
            time.sleep(0.2)
        kernel = int(pid_file.read_text())
        family = [child.pid for child in psutil.Process(fti.pid).children(recursive=True)]
        assert kernel in family and len(family) >= 3  # at least the nanny's worker, the kernel, and Dask's helpers
        # What a terminal does on Ctrl-C: SIGINT to every process of the foreground group.
        os.killpg(fti.pid, signal.SIGINT)
        _, err = fti.communicate(timeout=120)
    finally:
        if fti.poll() is None:
            os.killpg(fti.pid, signal.SIGKILL)
    assert fti.returncode == 130
    # fti's own lines only: nothing from Dask's logging or the workers' shutdown.
    lines = err.splitlines()
    assert len(lines) == 2 and lines[0].startswith("1 execution(s) on a Dask LocalCluster of 1 worker(s)"), err
    assert lines[1] == "fti batch: interrupted"
    assert not wait_until_gone(family), "the LocalCluster's workers and the kernel must stop with the batch"
    assert (tmp_path / "out" / "report.csv").exists()
