"""One notebook execution, and the record of how it went: the kit's only way to run a notebook.

`execute` runs one `ExecutionRequest` (notebook, output path, parameters,
environment variables, working directory, time limit) in a fresh kernel with
papermill and returns an `ExecutionResult`. It never raises because of the
notebook: an exception in a cell, a cell looping forever, a kernel that dies or
a notebook printing megabytes all end as a result with a status, a one-line
error and the failing cell's traceback, with the executed notebook written to
the output path.

The kernel is given its environment and working directory when it starts (the
kernel manager passes them to ``KernelManager.start_kernel``): this process's
environment and working directory are never changed, so nothing leaks from one
execution into the next or into the caller.

The time limit covers the whole execution, kernel start included, and is
enforced twice: papermill's per-cell timeout is set to the time left, and if
the kernel does not stop when that expires (a C loop holding the interpreter,
a wedged kernel), a timer kills the kernel's process group a few seconds later.

The kernel's own stdout and stderr (ipykernel's log lines, not the notebook's
outputs) go to a temporary file instead of the terminal, and are read when a
kernel dies. papermill shows no progress bar of its own, and its warnings are
collected in the result.

Given a `fti.run.kernel_pool.KernelPool`, the kernel process comes from the
pool instead: forked from a server that imported the heavy modules already,
given exactly this request's environment and working directory before ipykernel
starts, and ended with the execution like any other kernel. Everything above
(time limit, watchdog, output cap, statuses) is the same: only where the
kernel's process comes from changes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fti.exceptions import ExecutionRequestError, KernelNotReadyError
from fti.run import sweep

if TYPE_CHECKING:
    from fti.run.kernel_pool import KernelPool

STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_TIMEOUT = "timeout"
# Used by the runner for notebooks that did not run because one they depend on failed.
STATUS_SKIPPED = "skipped"

DEFAULT_KERNEL = "python3"
# After the time limit, how long papermill gets to stop the kernel itself before it is killed.
KILL_GRACE_SECONDS = 5.0
# A notebook printing in a loop for ten minutes makes gigabytes of output, all held in memory.
DEFAULT_MAX_OUTPUT_BYTES = 20_000_000
# Error messages and tracebacks are kept for people to read, not whole outputs.
MAX_ERROR_CHARS = 500
MAX_TRACEBACK_CHARS = 8000

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

# The watchdog of the execution running in this process, for `kill_active_kernel`.
_active_watchdog: _KernelWatchdog | None = None


def _skip_slow_optional_imports() -> None:
    """Keep the start of every `fti run` and batch worker fast.

    nbformat validates notebooks with jsonschema, whose optional checker for the
    "iri" string format imports ``rfc3987_syntax``, which builds a parser at import
    time: about 0.7 s, longer than a kernel takes to start. The notebook schema
    uses no such format, so jsonschema is told the module is absent (it then skips
    that one checker). A process that already imported it is left alone.
    """
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


_skip_slow_optional_imports()


@dataclass(frozen=True)
class ExecutionRequest:
    """What to execute and how.

    Attributes:
        notebook: The source notebook; never written to.
        output: Where the executed notebook goes (its folder is created).
        parameters: Values injected after the cell tagged ``parameters``.
        env: Environment variables for the kernel on top of this process's
            environment; ``None`` as a value removes a variable. Only the
            kernel sees them: this process's environment is not changed.
        cwd: The kernel's working directory; default: the notebook's folder, as
            in Jupyter, so relative paths in a notebook work the same.
        timeout: Seconds the whole execution may take, kernel start included;
            ``None`` for no limit.
        kernel_name: Kernel to use; default: the notebook's own, else ``python3``.
        label: A short name for progress bars and reports.
        max_output_bytes: Outputs kept in the executed notebook, in all (default:
            `DEFAULT_MAX_OUTPUT_BYTES`); later ones are dropped with a note, so a
            notebook printing in a loop cannot fill memory and disk. Errors are always kept.

    Raises:
        ExecutionRequestError: The output path is the notebook itself, or the time limit is not positive.
    """

    notebook: Path
    output: Path
    parameters: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str | None] = field(default_factory=dict)
    cwd: Path | None = None
    timeout: float | None = None
    kernel_name: str | None = None
    label: str = ""
    max_output_bytes: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "notebook", Path(self.notebook).expanduser().resolve())
        object.__setattr__(self, "output", Path(self.output).expanduser().resolve())
        if self.cwd is not None:
            object.__setattr__(self, "cwd", Path(self.cwd).expanduser().resolve())
        if self.output == self.notebook:
            raise ExecutionRequestError(
                f"{self.notebook}: the output path is the source notebook; executions never overwrite it")
        if self.timeout is not None and (isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float))
                                         or not self.timeout > 0):
            raise ExecutionRequestError(
                f"{self.notebook}: timeout must be a positive number of seconds, not {self.timeout!r}")
        if not self.label:
            object.__setattr__(self, "label", self.notebook.stem)


@dataclass(frozen=True)
class ExecutionResult:
    """How one execution went.

    Attributes:
        request: The request that was executed.
        status: ``"ok"``, ``"failed"`` or ``"timeout"``.
        started_at: Wall-clock start, UTC.
        duration: Seconds from start to end, kernel start and shutdown included.
        error: One line, e.g. ``"cell [4] ValueError: no rows for 2026-01-07"``; ``None`` when ok.
        traceback: Plain text of the failing cell's traceback (bounded), or ``None``.
        failed_cell: Execution count of the failing cell, when known.
        warnings: What papermill warned about, e.g. a parameter the notebook does not declare.
    """

    request: ExecutionRequest
    status: str
    started_at: dt.datetime
    duration: float
    error: str | None = None
    traceback: str | None = None
    failed_cell: int | None = None
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the notebook ran to its end without an error."""
        return self.status == STATUS_OK

    @property
    def output(self) -> Path:
        """The executed notebook."""
        return self.request.output


def execute(request: ExecutionRequest, *, kernel_pool: KernelPool | None = None) -> ExecutionResult:
    """Execute one notebook with papermill and report how it went.

    Args:
        request: The notebook, output path, parameters, environment, working
            directory and time limit.
        kernel_pool: Where to take a fresh, already warm kernel from (see
            `fti.run.kernel_pool`); ``None``: start the kernel directly. Either way
            the kernel is new, has exactly the request's environment and working
            directory, and ends with this execution.

    Returns:
        The result; a failing, looping or crashing notebook gives a result with
        status ``"failed"`` or ``"timeout"``, not an exception. Interrupting this
        process (Ctrl-C) still raises ``KeyboardInterrupt``.
    """
    global _active_watchdog
    started_at = dt.datetime.now(dt.UTC)
    started = time.monotonic()
    deadline = started + request.timeout if request.timeout is not None else None
    watchdog = _KernelWatchdog(deadline, request.env.get(sweep.EXECUTION_TAG_VARIABLE))
    log = _CapturedLog()
    error: str | None = None
    traceback: str | None = None
    failed_cell: int | None = None
    status = STATUS_OK
    try:
        request.output.parent.mkdir(parents=True, exist_ok=True)
        with watchdog, log:
            _active_watchdog = watchdog
            _run_papermill(request, deadline, watchdog, kernel_pool)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure becomes a result, that is the contract
        status, error, traceback, failed_cell = _describe_failure(exc, watchdog.deadline_passed())
        if traceback is None:
            # No cell traceback (the kernel died, was stopped, or never started): what the
            # kernel process itself printed is the best clue.
            kernel_output = watchdog.kernel_output()
            traceback = f"kernel output:\n{kernel_output}" if kernel_output else None
    finally:
        _active_watchdog = None
        watchdog.close()
        # Processes the notebook started in a session of their own escape the kill of the kernel's
        # process group; an execution tagged by its caller (grading) ends them here, where it ran.
        tag = request.env.get(sweep.EXECUTION_TAG_VARIABLE)
        if tag:
            sweep.sweep(tag)
    duration = time.monotonic() - started
    if status == STATUS_TIMEOUT:
        error = f"stopped after {request.timeout:g} s (the time limit); {error}" if error else (
            f"stopped after {request.timeout:g} s (the time limit)")
    return ExecutionResult(
        request=request, status=status, started_at=started_at, duration=duration,
        error=_shorten(error, MAX_ERROR_CHARS) if error else None,
        traceback=_tail(traceback, MAX_TRACEBACK_CHARS) if traceback else None,
        failed_cell=failed_cell, warnings=tuple(log.messages),
    )


def kill_active_kernel() -> None:
    """Kill the kernel of the execution running in this process, if any.

    For a worker process that is being stopped: the kernel runs in a session of
    its own and would otherwise outlive the worker by up to a second.
    """
    watchdog = _active_watchdog
    if watchdog is not None:
        watchdog.kill_kernel()


def kernel_environment(changes: Mapping[str, str | None]) -> dict[str, str]:
    """The environment a kernel starts with: this process's, with ``changes`` applied.

    Args:
        changes: Variables to set; ``None`` as a value removes the variable.

    Returns:
        A new mapping; ``os.environ`` itself is only read.
    """
    env = dict(os.environ)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = str(value)
    return env


def _run_papermill(request: ExecutionRequest, deadline: float | None, watchdog: _KernelWatchdog,
                   kernel_pool: KernelPool | None = None) -> None:
    # Imported here, not at the top: listing runs or parsing a schedule needs none of it.
    import papermill

    def time_left(cell: object = None) -> int | None:
        if deadline is None:
            return None
        # nbclient wants whole seconds and treats 0 as "no limit", hence at least 1.
        return max(1, math.ceil(deadline - time.monotonic()))

    kernel_manager_class = _kernel_manager_class(
        watchdog, env=kernel_environment(request.env), cwd=request.cwd or request.notebook.parent,
        kernel_pool=kernel_pool)
    papermill.execute_notebook(
        str(request.notebook),
        str(request.output),
        engine_name=_engine_name(),
        parameters=dict(request.parameters),
        kernel_name=request.kernel_name or _kernel_name(request.notebook),
        # No ``cwd`` here: papermill would chdir this whole process into it for the execution.
        # The kernel manager starts the kernel in the working directory instead.
        cwd=None,
        # Our own progress bars show days and notebooks; papermill's would interleave with them.
        progress_bar=False,
        log_output=False,
        start_timeout=min(60, time_left()) if deadline is not None else 60,
        # Engine options, handed to nbclient's NotebookClient:
        timeout_func=time_left,
        # Per-cell wall-clock stamps would make two runs of the same day differ for no reader's benefit.
        record_timing=False,
        kernel_manager_class=kernel_manager_class,
        max_output_bytes=request.max_output_bytes or DEFAULT_MAX_OUTPUT_BYTES,
    )


_ENGINE = "fti"
INJECTED_CELL_ID = "injected-parameters"
_engine_registered = False


def _engine_name() -> str:
    """Register (once) and name the papermill engine used for every execution.

    It is papermill's own nbclient engine with two changes that papermill's public
    API cannot make, and this is all that depends on papermill's internals (2.7.0):

    * the injected parameters cell gets a fixed id: papermill gives it a random
      one, the only thing besides timing metadata that would make two executions
      of the same notebook with the same parameters differ. Done in
      ``execute_notebook`` before calling papermill's own; no code copied.
    * outputs are capped at ``max_output_bytes`` by a client class of our own
      (`_output_capped_client`, which extends papermill's client and copies
      none of it), and the output notebook is rewritten at most once a second
      while the notebook runs (`_fewer_saves`). papermill creates its client inside
      ``execute_managed_notebook`` with no way to choose the class, so that
      method is the one piece adapted from papermill: see the marked lines.
    """
    global _engine_registered
    if _engine_registered:
        return _ENGINE
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.log import logger

    client_class = _output_capped_client()

    class FTIEngine(NBClientEngine):
        @classmethod
        def execute_notebook(cls, nb: Any, kernel_name: str, **kwargs: Any) -> Any:
            # The injected cell exists by now (papermill parameterizes before it calls the engine).
            for cell in nb.cells:
                if "id" in cell and INJECTED_CELL_ID in cell.get("metadata", {}).get("tags", []):
                    cell["id"] = INJECTED_CELL_ID
            return super().execute_notebook(nb, kernel_name, **kwargs)

        # ---- Adapted from papermill 2.7.0, papermill/engines.py, NBClientEngine.execute_managed_notebook ----
        # papermill builds its notebook client there and offers no option to choose its class, and
        # the output cap needs a client of our own (OutputCappedClient). The body below is papermill's
        # with that one change, reduced to the arguments `_run_papermill` passes: papermill's copy
        # also renames ``execution_timeout``/``timeout`` (we pass ``timeout_func`` instead) and merges
        # caller and engine arguments with a warning on conflicts (ours cannot conflict).
        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, log_output: bool = False,
                                     stdout_file: Any = None, stderr_file: Any = None, start_timeout: int = 60,
                                     input_path: str | None = None, max_output_bytes: int | None = None,
                                     **client_options: Any) -> Any:
            with _fewer_saves(nb_man):
                return client_class(
                    nb_man, max_output_bytes=max_output_bytes, startup_timeout=start_timeout,
                    kernel_name=kernel_name, log=logger, log_output=log_output, stdout_file=stdout_file,
                    stderr_file=stderr_file, **client_options,
                ).execute()
        # ---- End of the lines adapted from papermill ----

    papermill_engines.register(_ENGINE, FTIEngine)
    _engine_registered = True
    return _ENGINE


# While a notebook runs, its output file is rewritten at most this often (it is always written at the end).
SAVE_EVERY_SECONDS = 1.0


@contextlib.contextmanager
def _fewer_saves(nb_man: Any) -> Any:
    """Let papermill rewrite the output notebook at most every `SAVE_EVERY_SECONDS` while it runs.

    papermill writes the whole notebook before and after every cell: 3 to 8 ms
    each for a notebook with figures, up to 0.4 s per notebook, a large part of
    the time between two notebooks of ``fti run``. The executed notebook is still
    written when the execution ends, however it ends (papermill's final save runs
    after this), and a long-running notebook's file still shows its progress.
    """
    save = nb_man.save
    last_save = time.monotonic()  # papermill has just saved (notebook_start)

    def save_now_and_then(**kwargs: Any) -> None:
        nonlocal last_save
        # ``nb=`` replaces the notebook papermill holds: never skipped.
        if "nb" in kwargs or time.monotonic() - last_save >= SAVE_EVERY_SECONDS:
            save(**kwargs)
            last_save = time.monotonic()

    nb_man.save = save_now_and_then
    try:
        yield
    finally:
        del nb_man.save  # papermill's own again, for the final save


def _output_capped_client() -> type:
    """papermill's notebook client, keeping at most ``max_output_bytes`` of outputs per execution.

    Past the budget, outputs are dropped and the cell gets one note saying so.
    Errors are always kept: they say why a notebook failed.
    """
    import nbformat
    from papermill.clientwrap import PapermillNotebookClient

    class OutputCappedClient(PapermillNotebookClient):
        def __init__(self, nb_man: Any, max_output_bytes: int | None = None, **kwargs: Any):
            super().__init__(nb_man, **kwargs)
            self.max_output_bytes = max_output_bytes
            self.output_bytes = 0
            self.capped_cells: set[int] = set()

        def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> Any:
            if self.max_output_bytes is None or msg["msg_type"] == "error":
                return super().output(outs, msg, display_id, cell_index)
            content = msg.get("content", {})
            size = len(content["text"]) if "text" in content else len(json.dumps(content.get("data", {})))
            room = self.max_output_bytes - self.output_bytes
            self.output_bytes += size
            if size <= room:
                return super().output(outs, msg, display_id, cell_index)
            out = None
            if "text" in content and room > 0:
                # Printed text arrives in chunks of up to a few megabytes: keep the part that fits.
                out = super().output(outs, {**msg, "content": {**content, "text": content["text"][:room]}},
                                     display_id, cell_index)
            if cell_index not in self.capped_cells:
                self.capped_cells.add(cell_index)
                outs.append(nbformat.v4.new_output(
                    "stream", name="stderr",
                    text=f"\n[fti: more output was dropped: the notebook's outputs passed "
                         f"{self.max_output_bytes / 1e6:g} MB]\n"))
            return out

    return OutputCappedClient


def _kernel_name(notebook: Path) -> str:
    """The notebook's kernel, or ``python3`` for notebooks saved without one (generated ones often are)."""
    try:
        with notebook.open(encoding="utf-8") as handle:
            name = json.load(handle).get("metadata", {}).get("kernelspec", {}).get("name")
    except (OSError, ValueError, AttributeError):
        # papermill will report an unreadable notebook properly.
        return DEFAULT_KERNEL
    return name or DEFAULT_KERNEL


def _describe_failure(exc: Exception, deadline_passed: bool) -> tuple[str, str, str | None, int | None]:
    """Status, one-line error, traceback text and failing cell for an exception from papermill."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        cell = exc.exec_count
        where = f"cell [{cell}] " if cell is not None else ""
        message = f"{where}{exc.ename}: {exc.evalue}".strip()
        traceback = _plain("\n".join(exc.traceback or []))
        status = STATUS_TIMEOUT if deadline_passed else STATUS_FAILED
        return status, _first_line(message), traceback or None, cell
    if isinstance(exc, CellTimeoutError):
        # nbclient's message shows the start of the cell that was running: which one looped.
        return STATUS_TIMEOUT, "", str(exc).strip() or None, None
    if isinstance(exc, DeadKernelError) and deadline_passed:
        return STATUS_TIMEOUT, "", None, None
    if isinstance(exc, DeadKernelError):
        return STATUS_FAILED, "the kernel died (it crashed, ran out of memory or the notebook exited it)", None, None
    if deadline_passed:
        return STATUS_TIMEOUT, f"{type(exc).__name__}: {exc}", None, None
    return STATUS_FAILED, _first_line(f"{type(exc).__name__}: {exc}"), None, None


def _plain(text: str) -> str:
    """A traceback without the terminal colour codes IPython puts in it."""
    return _ANSI_ESCAPE.sub("", text)


def _first_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return text.strip()
    return lines[0] if len(lines) == 1 else f"{lines[0]} ..."


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _tail(text: str, limit: int) -> str:
    # The end of a traceback says what went wrong; keep that part.
    return text if len(text) <= limit else "...\n" + text[-(limit - 4):]


class _CapturedLog(logging.Handler):
    """Collects papermill's warnings for the result instead of printing them between progress bars.

    The timeout and dead-kernel messages nbclient logs are left out: the result says so already.
    """

    _REDUNDANT = ("Timeout waiting for", "Kernel died while waiting")

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []
        self._logger = logging.getLogger("papermill")
        self._propagate = True

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if not message.startswith(self._REDUNDANT):
            self.messages.append(_shorten(message, MAX_ERROR_CHARS))

    def __enter__(self) -> _CapturedLog:
        self._propagate = self._logger.propagate
        self._logger.addHandler(self)
        self._logger.propagate = False
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._logger.removeHandler(self)
        self._logger.propagate = self._propagate


class _KernelWatchdog:
    """Watches one execution's kernel: kills it when the deadline is overrun, keeps its own output.

    The kill comes `KILL_GRACE_SECONDS` after the deadline: papermill's timeout
    normally stops a looping cell first; this is for kernels that do not answer
    any more. The kernel manager reports the kernel's process id here when it starts.
    """

    def __init__(self, deadline: float | None, tag: str | None = None):
        self.deadline = deadline
        self.tag = tag  # the execution's FTI_EXECUTION_TAG: every process carrying it dies with the kernel
        self.kernel_pid: int | None = None
        self._timer: threading.Timer | None = None
        # The kernel process's own stdout and stderr (not the notebook's outputs, which
        # travel as messages): ipykernel's log lines, crash messages. Kept out of the
        # terminal, where they would break progress bars, and read when a kernel dies.
        self.kernel_log = tempfile.TemporaryFile()

    def kernel_output(self, limit: int = 4000) -> str:
        """The end of what the kernel process printed itself."""
        try:
            self.kernel_log.seek(0, os.SEEK_END)
            size = self.kernel_log.tell()
            self.kernel_log.seek(max(0, size - limit))
            return self.kernel_log.read().decode("utf-8", errors="replace").strip()
        except (OSError, ValueError):
            return ""

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.kernel_log.close()

    def deadline_passed(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def __enter__(self) -> _KernelWatchdog:
        if self.deadline is not None:
            delay = max(0.0, self.deadline - time.monotonic()) + KILL_GRACE_SECONDS
            self._timer = threading.Timer(delay, self.kill_kernel)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def kill_kernel(self) -> None:
        pid = self.kernel_pid
        if pid is None:
            return
        with contextlib.suppress(OSError):
            if hasattr(os, "killpg"):
                # The kernel leads its own process group: this also stops processes the notebook started.
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGTERM)
        if self.tag:
            sweep.sweep(self.tag)


def _kernel_manager_class(watchdog: _KernelWatchdog, env: Mapping[str, str], cwd: Path,
                          kernel_pool: KernelPool | None = None) -> type:
    """A kernel manager that starts its kernel with ``env`` in ``cwd``, quietly, and reports it to `watchdog`.

    ``KernelManager.start_kernel`` takes the kernel's environment and working
    directory; nbclient calls it with neither (papermill would ``chdir`` this
    process instead), so this manager supplies them. The kernel's own output goes
    to the watchdog's log file rather than the terminal.

    ipykernel 7 warns at every start that it talks over TCP without encryption.
    The kernel manager can give the kernel CurveZMQ keys instead (when pyzmq has
    CurveZMQ and the kernelspec says it supports it, "auto"), or, where pyzmq has
    no CurveZMQ, talk to it over local IPC sockets; either silences the warning
    for the right reason.

    Args:
        watchdog: Told the kernel's process id; its log file receives the kernel's own output.
        env: The kernel's whole environment (see `kernel_environment`).
        cwd: The kernel's working directory.
        kernel_pool: Where to take the kernel process from, if it can (see `fti.run.kernel_pool`).
    """
    import zmq
    from jupyter_client.manager import AsyncKernelManager

    kernel_env = dict(env)
    kernel_cwd = str(cwd)

    class QuietTrackedKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any):
            super().__init__(**kwargs)
            self.client_factory = _quick_ready_client()
            if zmq.has("curve"):
                self.transport_encryption = "auto"
            elif os.name == "posix":
                self.transport = "ipc"

        async def start_kernel(self, **kwargs: Any) -> None:
            kwargs.setdefault("env", kernel_env)
            kwargs.setdefault("cwd", kernel_cwd)
            kwargs.setdefault("stdout", watchdog.kernel_log)
            kwargs.setdefault("stderr", subprocess.STDOUT)
            if kernel_pool is not None and self.provisioner is None:
                # jupyter_client makes a provisioner only when there is none yet: this one
                # takes the process from the pool (or starts it directly when it cannot).
                self.kernel_id = self.kernel_id or str(uuid.uuid4())
                self.provisioner = kernel_pool.provisioner(self)
            await super().start_kernel(**kwargs)
            provisioner = self.provisioner
            watchdog.kernel_pid = getattr(provisioner, "pid", None)

        async def shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
            # Past the deadline, a kernel stuck in a loop would not answer a polite
            # shutdown request: kill it at once instead of waiting for it.
            await super().shutdown_kernel(now=now or watchdog.deadline_passed(), restart=restart)

        async def _async_finish_shutdown(self, waittime: float | None = None, pollinterval: float = 0.1,
                                         restart: bool = False) -> None:
            # A kernel asked to shut down exits within milliseconds; jupyter_client would look
            # every 0.1 s, which is most of the time between two notebooks.
            await super()._async_finish_shutdown(waittime=waittime, pollinterval=min(pollinterval, 0.005),
                                                 restart=restart)

    return QuietTrackedKernelManager


_ready_client: type | None = None


def _quick_ready_client() -> type:
    """jupyter_client's kernel client, without the fixed 0.2 s wait once the kernel is ready.

    ``wait_for_ready`` ends by reading the IOPub channel until it has been quiet
    for 0.2 s, which every execution pays before its first cell. Messages left
    there are harmless (nbclient keeps only those answering its own requests), so
    this one takes what has arrived and goes on.
    """
    global _ready_client
    if _ready_client is not None:
        return _ready_client
    from queue import Empty

    from jupyter_client.asynchronous import AsyncKernelClient
    from jupyter_core.utils import ensure_async

    class QuickReadyClient(AsyncKernelClient):
        # ---- Adapted from jupyter_client 8.10, jupyter_client/client.py, KernelClient._async_wait_for_ready ----
        # The same loop for a client made by a kernel manager (nbclient's case), with the
        # final IOPub flush waiting 0.01 s instead of 0.2 s of silence.
        async def _async_wait_for_ready(self, timeout: float | None = None) -> None:
            abs_timeout = time.time() + (float("inf") if timeout is None else timeout)
            while True:
                self.kernel_info()
                try:
                    msg = await ensure_async(self.shell_channel.get_msg(timeout=1))
                except Empty:
                    pass
                else:
                    if msg["msg_type"] == "kernel_info_reply":
                        # Checking that IOPub is connected. If it is not connected, start over.
                        try:
                            await ensure_async(self.iopub_channel.get_msg(timeout=0.2))
                        except Empty:
                            pass
                        else:
                            self._handle_kernel_info_reply(msg)
                            break
                if not await self._async_is_alive():
                    raise KernelNotReadyError("Kernel died before replying to kernel_info")
                if time.time() > abs_timeout:
                    raise KernelNotReadyError(f"Kernel didn't respond in {timeout:g} seconds")
            while True:
                try:
                    await ensure_async(self.iopub_channel.get_msg(timeout=0.01))
                except Empty:
                    break
        # ---- End of the lines adapted from jupyter_client ----

        # AsyncKernelClient binds its public name to the original function, not to this override.
        wait_for_ready = _async_wait_for_ready

    _ready_client = QuickReadyClient
    return _ready_client
