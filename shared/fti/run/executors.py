"""Executors: what runs notebook executions, one at a time here or several at once in worker processes.

The runner and `fti batch` hand `ExecutionRequest` objects to an `Executor` and
get `ExecutionResult` objects back; they never start kernels themselves. Two
executors come with the kit:

`InProcessExecutor`
    runs each request in this process, one after another; the lowest overhead,
    used by `fti run` (a day's notebooks run in order anyway). Its kernels come
    from a pool of warm ones (`fti.run.kernel_pool`) unless ``FTI_KERNEL_POOL=0``.
`LocalExecutor`
    runs requests in N worker processes at once (default: one per core), used
    by `fti batch`. Each worker executes one notebook at a time; a worker that
    does not come back from an execution in time is killed and replaced.

To hand executions to a cluster instead, subclass `Executor` and implement
`Executor.map_unordered`: submit each request, yield each result as it arrives.
A request carries everything an execution needs (paths, parameters, environment
variables, working directory, time limit) and pickles, and results do too.
"""

from __future__ import annotations

import abc
import collections
import datetime as dt
import multiprocessing
import multiprocessing.connection
import os
import signal
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from fti.exceptions import ExecutionRequestError
from fti.run.execute import STATUS_FAILED, STATUS_TIMEOUT, ExecutionRequest, ExecutionResult, execute
from fti.run.kernel_pool import KernelPool, pool_wanted

# How long past its own time limit an execution may take before its worker process is
# killed. The worker stops the kernel itself well before (see fti.run.execute); this is for a
# worker that hangs.
WORKER_KILL_GRACE_SECONDS = 30.0


class Executor(abc.ABC):
    """Runs notebook executions and reports their results.

    Use as a context manager, or call `close` when done.
    """

    @abc.abstractmethod
    def map_unordered(self, requests: Iterable[ExecutionRequest]) -> Iterator[ExecutionResult]:
        """Execute every request and yield each result as soon as it is known (in any order).

        Failures of notebooks come back as results, never as exceptions.
        """

    def run(self, requests: Iterable[ExecutionRequest]) -> list[ExecutionResult]:
        """Execute every request and return the results in the order of the requests.

        Raises:
            ExecutionRequestError: Two requests write the same output notebook.
        """
        requests = list(requests)
        # Results may come back as copies (from another process), so requests are told apart
        # by their output path, which two executions must never share anyway.
        position: dict[Path, int] = {}
        for index, request in enumerate(requests):
            if request.output in position:
                raise ExecutionRequestError(
                    f"{request.output}: two requests write this output notebook; give each its own output path")
            position[request.output] = index
        results: list[ExecutionResult | None] = [None] * len(requests)
        for result in self.map_unordered(requests):
            results[position[result.request.output]] = result
        return [result for result in results if result is not None]

    def run_one(self, request: ExecutionRequest) -> ExecutionResult:
        """Execute one request and return its result."""
        return self.run([request])[0]

    def close(self) -> None:  # noqa: B027 - an optional hook: an executor holding nothing need not override it
        """Release workers or connections; the default has none."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


class InProcessExecutor(Executor):
    """Executes requests one after another in this process (each still gets its own, new kernel).

    With the kernel pool (`fti.run.kernel_pool`, on by default on Linux), the
    kernels come from a fork server that imported pandas, scikit-learn, XGBoost
    and Great Expectations once, so a notebook does not wait for a kernel to
    start and import them. The pool starts with the executor, so it warms up
    while the caller prepares its first request; `close` stops it.

    Args:
        kernel_pool: True: use the pool; False: start every kernel directly;
            None (default): as ``FTI_KERNEL_POOL`` says (``0`` turns it off),
            else on where supported (Linux).

    Raises:
        ExecutionRequestError: ``FTI_KERNEL_POOL`` has a value other than 0/1/on/off,
            or the pool is asked for on a system without ``fork``.
    """

    def __init__(self, kernel_pool: bool | None = None):
        self.kernel_pool: KernelPool | None = KernelPool().start() if pool_wanted(kernel_pool) else None

    def map_unordered(self, requests: Iterable[ExecutionRequest]) -> Iterator[ExecutionResult]:
        for request in requests:
            yield execute(request, kernel_pool=self.kernel_pool)

    def close(self) -> None:
        """Stop the kernel pool, if any, with every process it started."""
        if self.kernel_pool is not None:
            self.kernel_pool.close()


def default_workers() -> int:
    """One worker per core this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@dataclass
class _Worker:
    process: Any  # multiprocessing.Process of the spawn context
    connection: multiprocessing.connection.Connection
    request: ExecutionRequest | None = None
    started: float = 0.0
    started_at: dt.datetime | None = None
    kill_at: float | None = None


class LocalExecutor(Executor):
    """Executes requests in worker processes on this machine, several at once.

    Workers are started when first needed and reused until `close`. Each worker
    imports papermill once, so an execution costs a kernel start, not a Python start.

    Args:
        workers: How many executions run at once (default: the number of cores).

    Raises:
        ExecutionRequestError: ``workers`` is not a whole number of at least 1.
    """

    def __init__(self, workers: int | None = None):
        self.workers = workers if workers is not None else default_workers()
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise ExecutionRequestError(f"workers: expected a whole number of at least 1, not {self.workers!r}")
        # spawn, not fork: a fork would copy this process's threads (progress bars, DuckDB)
        # in whatever state they are in; spawn behaves the same on Linux, macOS and Windows.
        self._context = multiprocessing.get_context("spawn")
        self._idle: list[_Worker] = []
        self._busy: list[_Worker] = []

    def map_unordered(self, requests: Iterable[ExecutionRequest]) -> Iterator[ExecutionResult]:
        pending = collections.deque(requests)
        try:
            while pending or self._busy:
                while pending and len(self._busy) < self.workers:
                    self._assign(pending.popleft())
                yield from self._collect(timeout=self._time_to_next_kill())
        except BaseException:
            # The caller stopped early (Ctrl-C, an error): nothing may keep running.
            self._kill_busy()
            raise

    def close(self) -> None:
        """Stop every worker (and with it any kernel still running)."""
        self._kill_busy()
        for worker in self._idle:
            try:
                worker.connection.send(None)
            except OSError:
                pass
        for worker in self._idle:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                _stop_process(worker.process)
            worker.connection.close()
        self._idle.clear()

    def _assign(self, request: ExecutionRequest) -> None:
        worker = self._idle.pop() if self._idle else self._start_worker()
        try:
            worker.connection.send(request)
        except OSError:
            # The worker died while idle (killed from outside, out of memory): replace it.
            _stop_process(worker.process)
            worker.connection.close()
            worker = self._start_worker()
            worker.connection.send(request)
        worker.request = request
        worker.started = time.monotonic()
        worker.started_at = dt.datetime.now(dt.UTC)
        worker.kill_at = (worker.started + request.timeout + WORKER_KILL_GRACE_SECONDS
                          if request.timeout is not None else None)
        self._busy.append(worker)

    def _start_worker(self) -> _Worker:
        parent_end, child_end = self._context.Pipe()
        process = self._context.Process(target=_worker_main, args=(child_end,), daemon=True,
                                        name="fti-notebook-worker")
        process.start()
        child_end.close()
        return _Worker(process=process, connection=parent_end)

    def _time_to_next_kill(self) -> float | None:
        deadlines = [worker.kill_at for worker in self._busy if worker.kill_at is not None]
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    def _collect(self, timeout: float | None) -> Iterator[ExecutionResult]:
        waitables = [worker.connection for worker in self._busy] + [worker.process.sentinel for worker in self._busy]
        multiprocessing.connection.wait(waitables, timeout=timeout)
        now = time.monotonic()
        for worker in list(self._busy):
            result = self._poll(worker)
            if result is None and not worker.process.is_alive():
                result = self._lost(worker, f"the worker process died (exit code {worker.process.exitcode})",
                                    STATUS_FAILED)
            elif result is None and worker.kill_at is not None and now >= worker.kill_at:
                assert worker.request is not None
                result = self._lost(worker, f"stopped after {worker.request.timeout:g} s (the time limit); "
                                            "its worker did not stop by itself and was killed", STATUS_TIMEOUT)
            if result is not None:
                yield result

    def _poll(self, worker: _Worker) -> ExecutionResult | None:
        try:
            if not worker.connection.poll():
                return None
            result = worker.connection.recv()
        except (EOFError, OSError):
            return None
        self._busy.remove(worker)
        worker.request = None
        self._idle.append(worker)
        return result

    def _lost(self, worker: _Worker, error: str, status: str) -> ExecutionResult:
        """A result for a worker that will not answer, after making sure it is gone."""
        self._busy.remove(worker)
        _stop_process(worker.process)
        worker.connection.close()
        assert worker.request is not None and worker.started_at is not None
        return ExecutionResult(request=worker.request, status=status, started_at=worker.started_at,
                               duration=time.monotonic() - worker.started, error=error)

    def _kill_busy(self) -> None:
        for worker in self._busy:
            _stop_process(worker.process)
            worker.connection.close()
        self._busy.clear()


def _stop_process(process: Any) -> None:
    """SIGTERM (the worker then kills its kernel), then SIGKILL if it is still there."""
    if process.is_alive():
        process.terminate()
        process.join(timeout=3)
    if process.is_alive():
        process.kill()
        process.join(timeout=3)


def _worker_main(connection: multiprocessing.connection.Connection) -> None:
    """A worker process: execute requests from the pipe until told to stop (``None``)."""
    import papermill  # noqa: F401 - imported once here so the first execution is not slower

    from fti.run import execute as execute_module

    def stop(signum: int, frame: object) -> None:
        # Killed by the parent (time limit, Ctrl-C): take the kernel along, it has its own session.
        execute_module.kill_active_kernel()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    # Ctrl-C in a terminal reaches every process in the group; the parent decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        connection.send(execute_module.execute(request))
