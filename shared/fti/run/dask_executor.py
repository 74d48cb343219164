"""An executor on Dask distributed: `fti batch` and `fti grade` on a cluster of one or many machines.

`DaskExecutor` hands each `ExecutionRequest` to a Dask worker, which runs it with
`fti.run.execute.execute` exactly as a `LocalExecutor` worker would: its own
kernel, store, working directory and time limit. Results, statuses and reports
are therefore the same; only where the kernels run changes.

    DaskExecutor(workers=4)                      a LocalCluster on this machine: 4 worker processes
    DaskExecutor(address="dask://host:8786")     a scheduler that is already running

On the command line: ``fti batch ... --executor dask --workers 4`` or
``--executor dask://HOST:PORT``. Workers of an existing cluster must be able to
import ``fti`` (the same environment) and see the notebooks and output folder
at the same paths (a shared file system), and run one task at a time:
``dask worker tcp://HOST:PORT --nthreads 1 --nworkers N``.

What `LocalExecutor` does with a worker process, this does with a Dask worker:

* at most one execution per worker thread is handed to the cluster at a time,
  so an execution starts as soon as it is submitted and a request still
  waiting in this process was never started anywhere;
* each worker says when it starts an execution (a Dask event); one still
  running `WORKER_KILL_GRACE_SECONDS` past its time limit (the execution stops
  its own kernel long before: this is for a worker that hangs) has its task
  cancelled and its worker process killed with its kernel (the worker's nanny
  starts a new one), and comes back as a ``timeout`` result;
* a worker that dies while executing gives a ``failed`` result (the LocalCluster's
  scheduler is told not to run it again elsewhere), and a LocalCluster that lost
  a worker for good is brought back to its size; a cluster left with no worker
  at all for `NO_WORKERS_SECONDS` raises `ExecutorError` instead of waiting forever;
* when the caller stops early (Ctrl-C, an error), the kernels of the running
  executions are killed and their tasks cancelled; `close` stops a LocalCluster's
  processes. Its workers ignore Ctrl-C (the terminal sends it to every process of
  the group) and kill their kernel when they are stopped: kernels run in a
  session of their own and would otherwise outlive them.

Dask is imported only when a `DaskExecutor` connects: ``import fti`` stays as fast.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import logging
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from fti.exceptions import ExecutorError
from fti.run.execute import STATUS_FAILED, STATUS_TIMEOUT, ExecutionRequest, ExecutionResult, execute
from fti.run.executors import WORKER_KILL_GRACE_SECONDS, Executor, default_workers

SCHEME = "dask://"
# Workers announce the start of an execution under this topic; the executor subscribes to it.
STARTED_TOPIC = "fti-execution-started"
# How long to wait for a scheduler to answer, and for it to have a worker.
CONNECT_TIMEOUT_SECONDS = 10.0
# How often the executor looks at its running executions when none finishes (deadlines, capacity).
_POLL_SECONDS = 1.0
# How long a killed worker may take to leave the scheduler before the executor goes on anyway.
_WORKER_GONE_SECONDS = 30.0
# A cluster with no worker at all for this long, with executions waiting, is given up on.
NO_WORKERS_SECONDS = 120.0
_ADDRESS = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>[0-9]{1,5})$")


def scheduler_address(option: str) -> str:
    """The Dask address (``tcp://HOST:PORT``) of a ``dask://HOST:PORT`` option.

    Raises:
        ExecutorError: The option is not ``dask://HOST:PORT`` with a port from 1 to 65535.
    """
    rest = option[len(SCHEME):] if option.startswith(SCHEME) else None
    match = _ADDRESS.match(rest or "")
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise ExecutorError(
            f"{option!r}: expected dask://HOST:PORT, the address of a running Dask scheduler "
            "(e.g. dask://127.0.0.1:8786, as `dask scheduler` prints it)")
    return f"tcp://{match['host']}:{int(match['port'])}"


# ---------------------------------------------------------------------------------------- on the worker

# The execution this worker process is running (workers run one at a time), so that a kill
# aimed at one execution can never hit the next one.
_running_output: str | None = None


def _execute_on_worker(request: ExecutionRequest) -> ExecutionResult:
    """The Dask task: announce the start, then execute as any worker does."""
    global _running_output
    from distributed import get_worker

    worker = get_worker()
    if worker.state.nthreads != 1:
        # Two executions at once in one worker would share its record of the running kernel.
        return ExecutionResult(
            request=request, status=STATUS_FAILED, started_at=dt.datetime.now(dt.UTC), duration=0.0,
            error=(f"the Dask worker {worker.address} runs {worker.state.nthreads} tasks at once; fti needs one "
                   f"thread per worker: start workers with `dask worker SCHEDULER --nthreads 1 --nworkers N`"))
    _running_output = str(request.output)
    worker.log_event(STARTED_TOPIC, {"key": str(worker.get_current_task()), "worker": worker.address})
    try:
        return execute(request)
    finally:
        _running_output = None


def _end_this_worker() -> bool:
    """Kill this worker's kernel, then this worker process (run by `Client.run` on a hung worker).

    A worker whose execution does not return cannot be freed otherwise: Python
    cannot stop a thread. Its nanny (a LocalCluster's, or ``dask worker``'s) starts
    a fresh one. The process ends a moment later so that the call can answer first.
    """
    from fti.run.execute import kill_active_kernel

    kill_active_kernel()
    threading.Timer(0.2, os.kill, args=(os.getpid(), signal.SIGKILL)).start()
    return True


def _kill_kernels_of(outputs: list[str]) -> bool:
    """Kill this worker's kernel if it belongs to one of these executions (run by `Client.run`)."""
    from fti.run.execute import kill_active_kernel

    if _running_output is not None and _running_output in outputs:
        kill_active_kernel()
        return True
    return False


class _AbandonedTaskFilter(logging.Filter):
    """Drops asyncio's "Task was destroyed but it is pending!" in a worker.

    When a cell runs past its time limit, nbclient stops waiting for the kernel's
    output and leaves that wait pending; the Dask worker's task thread later drops
    it and asyncio logs the line above on the terminal. The execution's result
    already says it timed out.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Task was destroyed but it is pending")


def _kernel_guard(ignore_interrupts: bool) -> Any:
    """A worker plugin: the worker kills its kernel when it is stopped, and ignores Ctrl-C if asked.

    Defined here, not at the top of the module, because its base class comes from
    ``distributed``, imported only when a `DaskExecutor` connects.
    """
    from distributed.diagnostics.plugin import WorkerPlugin

    class KernelGuard(WorkerPlugin):
        name = "fti-kernel-guard"

        def __init__(self, ignore_interrupts: bool):
            self.ignore_interrupts = ignore_interrupts

        def setup(self, worker: Any) -> None:
            logging.getLogger("asyncio").addFilter(_AbandonedTaskFilter())
            # Signal handlers can only be set from the main thread, where a worker runs its event loop.
            if threading.current_thread() is not threading.main_thread():
                return
            previous = signal.getsignal(signal.SIGTERM)

            def stop(signum: int, frame: object) -> None:
                _kill_kernels_of([_running_output or ""])
                signal.signal(signal.SIGTERM, previous if callable(previous) else signal.SIG_DFL)
                os.kill(os.getpid(), signum)

            signal.signal(signal.SIGTERM, stop)
            if self.ignore_interrupts:
                # Ctrl-C reaches every process of the terminal's group; the executor decides what stops.
                signal.signal(signal.SIGINT, signal.SIG_IGN)

        def teardown(self, worker: Any) -> None:
            # A worker closing (a restart, the cluster closing) takes its kernel along.
            _kill_kernels_of([_running_output or ""])

    return KernelGuard(ignore_interrupts)


# ---------------------------------------------------------------------------------------- in this process


@dataclass
class _Task:
    request: ExecutionRequest
    future: Any  # distributed.Future
    started: float | None = None  # time.monotonic() when its worker announced the start
    started_at: dt.datetime | None = None
    worker: str | None = None

    @property
    def kill_at(self) -> float | None:
        if self.started is None or self.request.timeout is None:
            return None
        return self.started + self.request.timeout + WORKER_KILL_GRACE_SECONDS


class DaskExecutor(Executor):
    """Executes requests on Dask distributed workers, one execution per worker at a time.

    The cluster is started or connected to when the first request comes, and
    kept until `close`.

    Args:
        address: A running scheduler, as ``dask://HOST:PORT`` (or an address as Dask
            writes it, such as ``tcp://HOST:PORT``); default: start a LocalCluster on this machine.
        workers: Worker processes of the LocalCluster (default: one per core);
            not for a running scheduler, whose workers are its own.

    Raises:
        ExecutorError: A malformed address, or ``workers`` given with an address.
        ExecutionRequestError: ``workers`` is not a whole number of at least 1.
    """

    def __init__(self, address: str | None = None, workers: int | None = None):
        if address is not None and workers is not None:
            raise ExecutorError(
                f"workers: a running scheduler ({address}) has workers of its own; give workers only for a "
                "LocalCluster, or start more workers on the cluster with `dask worker`")
        if address is not None and (address.startswith(SCHEME) or "://" not in address):
            address = scheduler_address(address)
        if address is None:
            workers = workers if workers is not None else default_workers()
            if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
                raise ExecutorError(f"workers: expected a whole number of at least 1, not {workers!r}")
        self.address = address
        self.workers = workers
        self._client: Any = None
        self._cluster: Any = None
        self._wake = threading.Event()
        # task key -> (monotonic time, UTC time, worker address) of announced starts;
        # written by the client's event thread, read by `map_unordered`.
        self._starts: dict[str, tuple[float, dt.datetime, str]] = {}
        self._starts_lock = threading.Lock()
        self._no_workers_since: float | None = None

    @property
    def dashboard_link(self) -> str | None:
        """The cluster's dashboard, if it has one (a LocalCluster started here has none)."""
        return getattr(self._client, "dashboard_link", None) if self._client is not None else None

    def describe(self) -> str:
        """One line for the terminal: where executions run."""
        if self.address is None:
            return f"a Dask LocalCluster of {self.workers} worker(s)"
        return f"the Dask scheduler at {self.address}"

    # ------------------------------------------------------------------ connecting

    def connect(self) -> Any:
        """Start the LocalCluster or connect to the scheduler (once); return the Dask client.

        Raises:
            ExecutorError: The scheduler cannot be reached, has no worker, or its workers run
                more than one task at a time.
        """
        if self._client is not None:
            return self._client
        import dask
        import distributed

        # Dask logs every connection and worker start at INFO on stderr, between the progress bars.
        logging.getLogger("distributed").setLevel(logging.ERROR)
        if self.address is None:
            # Our own scheduler logs an ERROR for a task whose worker died: the result says so already.
            logging.getLogger("distributed.scheduler").setLevel(logging.CRITICAL)
        if self.address is None:
            with dask.config.set({
                # A worker dying during an execution is that execution's failure, as with
                # LocalExecutor, not a reason to run the notebook again on another worker.
                "distributed.scheduler.allowed-failures": 0,
                # Never send a worker a second task while it runs one.
                "distributed.scheduler.worker-saturation": 1.0,
            }):
                self._cluster = distributed.LocalCluster(
                    n_workers=self.workers, threads_per_worker=1, processes=True,
                    # No dashboard: it needs bokeh, and a port that may be taken.
                    dashboard_address=None, silence_logs=logging.ERROR,
                )
            self._client = distributed.Client(self._cluster, set_as_default=False)
        else:
            try:
                self._client = distributed.Client(self.address, timeout=CONNECT_TIMEOUT_SECONDS,
                                                  set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise ExecutorError(
                    f"cannot reach the Dask scheduler at {self.address} ({type(exc).__name__}) within "
                    f"{CONNECT_TIMEOUT_SECONDS:g} s: start one there with `dask scheduler --port PORT` and workers "
                    f"with `dask worker {self.address} --nthreads 1`, or check the host and port "
                    "(or use --executor local)") from None
            try:
                self._client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_SECONDS)
            except (OSError, TimeoutError):
                self.close()
                raise ExecutorError(
                    f"the Dask scheduler at {self.address} has no workers: start some with "
                    f"`dask worker {self.address} --nthreads 1 --nworkers N`") from None
            threads = self._client.nthreads()
            crowded = sorted(address for address, count in threads.items() if count != 1)
            if crowded:
                self.close()
                raise ExecutorError(
                    f"the Dask workers {', '.join(crowded)} of {self.address} run several tasks at once; fti runs "
                    "one notebook per worker: start them with `dask worker SCHEDULER --nthreads 1 --nworkers N`")
        self._client.subscribe_topic(STARTED_TOPIC, self._on_started)
        self._client.register_plugin(_kernel_guard(ignore_interrupts=self._cluster is not None),
                                     name="fti-kernel-guard")
        return self._client

    def _on_started(self, event: tuple[float, dict]) -> None:
        """A worker started an execution (called on the client's event thread)."""
        _, message = event
        with self._starts_lock:
            self._starts[message["key"]] = (time.monotonic(), dt.datetime.now(dt.UTC), message["worker"])
        self._wake.set()

    def _capacity(self) -> int:
        """Executions the cluster can run at once now: one per worker thread (at least one).

        Raises:
            ExecutorError: The cluster has had no worker for `NO_WORKERS_SECONDS`.
        """
        try:
            threads = self._client.nthreads()
        except (OSError, TimeoutError):
            threads = {}
        now = time.monotonic()
        if threads:
            self._no_workers_since = None
        elif self._no_workers_since is None:
            self._no_workers_since = now
        elif now - self._no_workers_since > NO_WORKERS_SECONDS:
            where = "the Dask LocalCluster" if self.address is None else f"the Dask scheduler at {self.address}"
            advice = ("try again, or use --executor local" if self.address is None else
                      f"start workers with `dask worker {self.address} --nthreads 1`, or use --executor local")
            raise ExecutorError(f"{where} has had no worker for {NO_WORKERS_SECONDS:g} s; the executions not "
                                f"finished did not run: {advice}")
        if self._cluster is not None and len(threads) < (self.workers or 0):
            # Dask's LocalCluster drops a worker that took long to come back after dying (a busy
            # machine); asking for its size again starts it anew (and does nothing while one restarts).
            with contextlib.suppress(Exception):
                self._cluster.scale(self.workers)
        return max(1, sum(threads.values()))

    # ------------------------------------------------------------------ executing

    def map_unordered(self, requests: Iterable[ExecutionRequest]) -> Iterator[ExecutionResult]:
        pending = collections.deque(requests)
        running: dict[str, _Task] = {}
        if not pending:
            return
        client = self.connect()
        try:
            while pending or running:
                capacity = self._capacity()
                while pending and len(running) < capacity:
                    request = pending.popleft()
                    future = client.submit(_execute_on_worker, request, key=f"fti-execute-{uuid.uuid4().hex}",
                                           pure=False)
                    future.add_done_callback(lambda _: self._wake.set())
                    running[future.key] = _Task(request=request, future=future)
                self._wake.wait(timeout=self._time_to_next_look(running))
                self._wake.clear()
                yield from self._collect(running)
        except BaseException:
            # The caller stopped early (Ctrl-C, an error, a closed generator): nothing may keep running.
            self._abandon(list(running.values()))
            raise

    def _time_to_next_look(self, running: dict[str, _Task]) -> float:
        deadlines = [task.kill_at for task in running.values() if task.kill_at is not None]
        until_kill = min(deadlines) - time.monotonic() if deadlines else _POLL_SECONDS
        return max(0.0, min(_POLL_SECONDS, until_kill))

    def _collect(self, running: dict[str, _Task]) -> Iterator[ExecutionResult]:
        for key, task in list(running.items()):
            self._note_start(task)
            if task.future.done():
                del running[key]
                yield self._result_of(task)
            elif task.kill_at is not None and time.monotonic() >= task.kill_at:
                del running[key]
                yield self._stop_hung(task)

    def _note_start(self, task: _Task) -> None:
        if task.started is not None:
            return
        with self._starts_lock:
            start = self._starts.pop(task.future.key, None)
        if start is not None:
            task.started, task.started_at, task.worker = start

    def _result_of(self, task: _Task) -> ExecutionResult:
        """The execution's own result, or a failed one saying what happened to its task."""
        future = task.future
        if future.status == "finished":
            try:
                return future.result()
            except Exception as exc:  # noqa: BLE001 - a result that cannot be fetched is that execution's failure
                return self._lost(task, f"its result could not be fetched from the cluster: {exc}", STATUS_FAILED)
        if future.status == "cancelled":
            return self._lost(task, "the cluster cancelled it (its scheduler or worker went away)", STATUS_FAILED)
        exc = future.exception()
        if type(exc).__name__ == "KilledWorker":
            where = f" ({task.worker})" if task.worker else ""
            return self._lost(task, f"the Dask worker process died while running it{where}", STATUS_FAILED)
        return self._lost(task, f"the cluster could not run it: {type(exc).__name__}: {exc}", STATUS_FAILED)

    def _stop_hung(self, task: _Task) -> ExecutionResult:
        """A result for an execution whose worker did not stop it in time, after making sure it is gone."""
        task.future.cancel()
        assert task.worker is not None and task.request.timeout is not None  # it started: it has a deadline
        with contextlib.suppress(Exception):  # a worker already gone has nothing left to kill
            self._client.run(_end_this_worker, workers=[task.worker], on_error="ignore")
        # Nothing new goes to the cluster until the scheduler knows that worker is gone:
        # an execution sent to it now would die with it.
        deadline = time.monotonic() + _WORKER_GONE_SECONDS
        while time.monotonic() < deadline:
            try:
                if task.worker not in self._client.nthreads():
                    break
            except (OSError, TimeoutError):
                break
            time.sleep(0.2)
        return self._lost(task, f"stopped after {task.request.timeout:g} s (the time limit); its worker did not stop "
                                "by itself and was killed", STATUS_TIMEOUT)

    def _lost(self, task: _Task, error: str, status: str) -> ExecutionResult:
        started = task.started if task.started is not None else time.monotonic()
        return ExecutionResult(request=task.request, status=status,
                               started_at=task.started_at or dt.datetime.now(dt.UTC),
                               duration=time.monotonic() - started, error=error)

    def _kill_kernels(self, tasks: list[_Task]) -> None:
        outputs = [str(task.request.output) for task in tasks]
        workers = sorted({task.worker for task in tasks if task.worker is not None})
        if not outputs or self._client is None:
            return
        with contextlib.suppress(Exception):  # a worker that is gone has no kernel left to kill
            # Every worker when the start of one was not heard of yet: it may be running anywhere.
            everywhere = any(task.worker is None for task in tasks)
            self._client.run(_kill_kernels_of, outputs, workers=None if everywhere else workers, on_error="ignore")

    def _abandon(self, tasks: list[_Task]) -> None:
        if not tasks or self._client is None:
            return
        for task in tasks:
            self._note_start(task)
        with contextlib.suppress(Exception):
            self._client.cancel([task.future for task in tasks], force=True)
        self._kill_kernels(tasks)

    def close(self) -> None:
        """Disconnect; stop the LocalCluster's processes (and with them any kernel still running)."""
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        if client is not None:
            with contextlib.suppress(Exception):
                client.unsubscribe_topic(STARTED_TOPIC)
            if cluster is not None:
                # Workers still executing (an interrupted batch) kill their kernels before they go.
                with contextlib.suppress(Exception):
                    client.run(_kill_kernels_of_any, on_error="ignore")
            client.close()
        if cluster is not None:
            cluster.close()


def _kill_kernels_of_any() -> bool:
    """Kill this worker's kernel, whatever it runs (the LocalCluster is closing)."""
    return _kill_kernels_of([_running_output] if _running_output else [])
