"""A pool of warm kernels: each notebook still gets a fresh kernel, without waiting for one.

A kernel started the usual way (``python -m ipykernel_launcher``) spends 3 to 8 s
importing pandas, scikit-learn, XGBoost and Great Expectations before a
notebook's first cell does anything; `fti run titanic --days 28` runs some 90
notebooks. The pool removes that wait and keeps the guarantee that matters:
every notebook runs in a new process that has run no other notebook.

How: one fork server process (`fti.run.kernel_forkserver`) imports the heavy
modules once, when the pool starts. For each execution the pool hands over a
child forked from it ahead of need (a copy of the server made in milliseconds,
that has run nothing) and tells it the execution's exact environment, working
directory and output file; the child applies them and only then starts
ipykernel, as ``ipykernel_launcher`` would. The kernel's process is never
reused: it ends with its notebook. Right after a hand-over the pool asks for the
next child, so it is forked while the current notebook runs.

The kernel manager sees an ordinary kernel process (`ForkedKernel` stands in
for the ``Popen`` object), so the time limit, the watchdog that kills a wedged
kernel's process group, output caps and result statuses work as for a kernel
started directly.

When the pool is not used, and a kernel is started directly instead (each case
is counted in `KernelPool.stats`):

* the request changes an environment variable other than the kit's own
  ``FTI_*`` ones (the server imported its modules under the other variables,
  and some libraries read theirs when imported; ``FTI_*`` are read only when
  called, which ``tests/run/test_kernel_pool.py`` checks for the preloaded modules);
* this process's environment changed since the server started (the server is
  then restarted for the next request);
* the notebook's kernel is not this Python's ``ipykernel_launcher``;
* the server failed, or is not ready within the execution's time limit.

Sizing: one server and one spare child. ``fti run`` executes one notebook at a
time, forking costs milliseconds, and each extra server would cost the imports'
memory (about 300 MB) again.

Turning it off: ``FTI_KERNEL_POOL=0`` in the environment, or
``InProcessExecutor(kernel_pool=False)``. It is on by default on Linux; on other
systems ``FTI_KERNEL_POOL=1`` turns it on where ``fork`` exists (macOS: some
system libraries do not survive ``fork``, hence not by default).

What differs from a directly started kernel, by design: the preloaded modules
are already in ``sys.modules``, and string hashing uses the server's random
seed (``PYTHONHASHSEED``), shared by the kernels of one pool.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import IO, Any

from fti.exceptions import ExecutionRequestError
from fti.run.kernel_forkserver import FORK, FORKED, PARENT_PID_VARIABLE, READY, START, STARTED, receive, send

POOL_VARIABLE = "FTI_KERNEL_POOL"
# ipykernel sets this in a kernel's environment when it starts, unless it is set already.
MPLBACKEND_VARIABLE = "MPLBACKEND"
IPYKERNEL_MPLBACKEND = "module://matplotlib_inline.backend_inline"
# The kit's own variables: the only ones a pooled kernel's environment may differ in from
# the server's, because nothing reads them when imported. And pytest's, which it changes
# around every test (a test suite would otherwise restart the server for each test).
PER_REQUEST_PREFIX = "FTI_"
PER_REQUEST_VARIABLES = frozenset({"PYTEST_CURRENT_TEST"})
# What the server imports once: the heavy modules of the example systems' notebooks.
DEFAULT_PRELOAD = (
    "numpy", "pandas", "pyarrow", "duckdb", "sklearn", "sklearn.linear_model", "sklearn.ensemble",
    "sklearn.metrics", "sklearn.model_selection", "sklearn.preprocessing", "xgboost",
    "great_expectations", "fti",
    # matplotlib reads MPLBACKEND when imported; the server has the value ipykernel gives
    # every kernel when it starts (see `server_environment`), so the import is the same.
    "matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg",
    # What ipykernel imports when a kernel starts (its debugger support alone takes 0.4 s).
    "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "ipykernel.debugger",
    "IPython.core.completerlib", "IPython.core.debugger", "IPython.core.oinspect", "IPython.extensions.storemagic",
    "IPython.utils.wildcard", "tornado.platform.asyncio",
)
# How long `KernelPool.wait_ready` waits by default (executions never wait: they start
# their kernel directly until the server is ready).
READY_WAIT_SECONDS = 300.0
# How long a child may take to bind its kernel's sockets before the execution goes on without
# waiting (the kernel manager's own start timeout then applies).
START_WAIT_SECONDS = 30.0
_OFF = {"0", "off", "no", "false"}
_ON = {"1", "on", "yes", "true"}

_open_pools: weakref.WeakSet[KernelPool] = weakref.WeakSet()


def supported() -> bool:
    """Whether this system can fork kernels and pass file descriptors between processes."""
    return hasattr(os, "fork") and hasattr(socket, "send_fds") and hasattr(socket, "AF_UNIX")


def pool_wanted(explicit: bool | None = None) -> bool:
    """Whether to use a kernel pool: ``explicit`` if given, else ``FTI_KERNEL_POOL``, else on Linux.

    Raises:
        ExecutionRequestError: ``FTI_KERNEL_POOL`` is not one of 0/1/on/off/yes/no/true/false, or a
            pool is asked for on a system without ``fork``.
    """
    if explicit is None:
        raw = os.environ.get(POOL_VARIABLE, "").strip().lower()
        if raw in _OFF:
            return False
        if raw in _ON:
            explicit = True
        elif raw:
            raise ExecutionRequestError(
                f"{POOL_VARIABLE}={raw!r}: expected 1 (use the kernel pool) or 0 (start each kernel directly)")
        else:
            return sys.platform.startswith("linux") and supported()
    if explicit and not supported():
        raise ExecutionRequestError(
            f"the kernel pool needs os.fork, which {sys.platform} lacks; set {POOL_VARIABLE}=0 or leave it unset")
    return bool(explicit)


class ForkedKernel:
    """The kernel process of one execution, forked by the server: stands in for ``subprocess.Popen``.

    It is not this process's child, so its exit is seen by signalling it (the
    server lets the system reap its children at once) and its exit code is not
    known: 0, or minus the signal this object sent.
    """

    def __init__(self, pid: int, channel: socket.socket):
        self.pid = pid
        self.returncode: int | None = None
        self.stdin = self.stdout = self.stderr = None
        self._channel = channel
        self._signal_sent: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                self.returncode = -self._signal_sent if self._signal_sent else 0
                self._channel.close()
            except PermissionError:
                pass  # alive, owned by someone else: cannot be ours, but do not call it dead
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        limit = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if limit is not None and time.monotonic() >= limit:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout or 0)
            time.sleep(0.005)
        return code

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            self._signal_sent = signum
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class KernelPool:
    """One fork server and a spare forked child, for executions run one at a time in this process.

    Start it with `start` (the server begins importing at once) and `close` it
    when done; `close` also runs when this process exits normally. Thread-safe.

    Args:
        preload: Modules the server imports once (missing ones are left out).
    """

    def __init__(self, preload: Sequence[str] = DEFAULT_PRELOAD):
        self.preload = tuple(preload)
        self.python = sys.executable
        self.stats: collections.Counter[str] = collections.Counter()
        self.loaded: list[str] = []
        self.failed: dict[str, str] = {}
        # Variables the preloaded modules set when imported; each kernel gets them too.
        self.environment_changes: list[str] = []
        self._lock = threading.RLock()
        self._server: subprocess.Popen | None = None
        self._control: socket.socket | None = None
        self._server_env: dict[str, str] = {}
        self._ready = False
        self._broken: str | None = None
        self._spare: collections.deque[ForkedKernel] = collections.deque()
        self._forks_asked = 0
        self._handed_out: list[ForkedKernel] = []
        self._log: IO[bytes] | None = None
        self._closed = False

    # ---- life cycle ----

    def start(self) -> KernelPool:
        """Start the fork server (it imports in the background); nothing happens if it runs already."""
        with self._lock:
            if self._closed:
                raise ExecutionRequestError("this kernel pool is closed; make a new one")
            if self._server is None and self._broken is None:
                self._start_server()
        return self

    def close(self) -> None:
        """Stop the server, its spare child and any kernel handed out that still runs. Idempotent."""
        with self._lock:
            self._closed = True
            self._stop_server()
            _open_pools.discard(self)

    def __enter__(self) -> KernelPool:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def processes(self) -> list[int]:
        """Process ids of the server, the spare children and the kernels handed out that still run."""
        with self._lock:
            pids = [self._server.pid] if self._server is not None and self._server.poll() is None else []
            return pids + [kernel.pid for kernel in [*self._spare, *self._handed_out] if kernel.poll() is None]

    # ---- hand-over ----

    def wait_ready(self, timeout: float | None = READY_WAIT_SECONDS) -> bool:
        """Wait until the server has imported its modules; whether it has (False: it failed or took longer)."""
        with self._lock:
            if self._server is None and self._broken is None and not self._closed:
                self._start_server()
            return self._wait_ready(timeout)

    def launch(self, cmd: Sequence[str], env: Mapping[str, str], cwd: str | os.PathLike[str] | None,
               stdout: Any) -> ForkedKernel | None:
        """Start a kernel for ``cmd`` with exactly ``env`` and ``cwd`` from a forked child, or say to start it directly.

        Args:
            cmd: The kernel command the kernel manager would run.
            env: The kernel's whole environment.
            cwd: Its working directory (default: this process's).
            stdout: Where the kernel's own output goes (a file object or descriptor), or None.

        Returns:
            The running kernel, or ``None`` when this execution should start its kernel directly.
        """
        with self._lock:
            reason = self._unusable(cmd, env)
            # Never wait for the server's imports: starting this kernel directly costs no more,
            # and the server goes on importing meanwhile, for the next executions.
            if reason is None and not self._wait_ready(0):
                reason = "warming up" if self._broken is None else "server failed"
            if reason is not None:
                self.stats[f"direct: {reason}"] += 1
                return None
            kernel = self._take_spare()
            if kernel is None:
                self.stats["direct: server failed"] += 1
                return None
            out_fd = stdout if isinstance(stdout, int) else (stdout.fileno() if stdout is not None else None)
            message = {"op": START, "env": dict(env), "cwd": os.fspath(cwd or os.getcwd()),
                       "argv0": _launcher_path(), "args": list(cmd[3:])}
            try:
                send(kernel._channel, message, [out_fd] if out_fd is not None else [])
            except OSError:
                with contextlib.suppress(OSError):
                    kernel.kill()
                self.stats["direct: server failed"] += 1
                return None
            self._handed_out = [running for running in self._handed_out if running.poll() is None] + [kernel]
            # The next notebook's child is forked now, while this one's kernel starts and runs.
            self._ask_fork()
            self.stats["pooled"] += 1
        _wait_started(kernel, START_WAIT_SECONDS)
        return kernel

    def provisioner(self, kernel_manager: Any) -> Any:
        """A kernel provisioner for ``kernel_manager`` that takes its kernel from this pool when it can."""
        return _provisioner_class()(kernel_id=kernel_manager.kernel_id, kernel_spec=kernel_manager.kernel_spec,
                                    parent=kernel_manager, pool=self)

    # ---- internals ----

    def _unusable(self, cmd: Sequence[str], env: Mapping[str, str]) -> str | None:
        if self._closed:
            return "pool closed"
        if list(cmd[1:3]) != ["-m", "ipykernel_launcher"] or os.path.realpath(cmd[0]) != os.path.realpath(
                self.python):
            return "another kernel"
        if self._server is None and self._broken is None:
            self._start_server()
        if _shared_part(server_environment()) != _shared_part(self._server_env) and self._broken is None:
            # This process's environment changed since the server started: it imported under
            # other variables. Start a new one for the next executions; this one starts directly.
            self._stop_server()
            self._start_server()
            return "environment changed"
        if _shared_part(env) != _shared_part(self._server_env):
            return "request changes variables other than FTI_*"
        return None

    def _start_server(self) -> None:
        parent, child = socket.socketpair()
        self._server_env = server_environment()
        self._log = tempfile.TemporaryFile()
        try:
            self._server = subprocess.Popen(
                [self.python, "-m", "fti.run.kernel_forkserver", str(child.fileno()), *self.preload],
                pass_fds=[child.fileno()], env=self._server_env, cwd=tempfile.gettempdir(),
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                # Its own session: Ctrl-C in the terminal is for this process, which then closes the pool.
                start_new_session=True)
        except OSError as exc:
            self._broken = f"cannot start the fork server: {exc}"
            parent.close()
            return
        finally:
            child.close()
        self._control = parent
        self._ready = False
        self._forks_asked = 0
        _open_pools.add(self)

    def _wait_ready(self, wait_limit: float | None) -> bool:
        if self._ready:
            return True
        if self._control is None:
            return False
        readable, _, _ = select.select([self._control], [], [], None if wait_limit is None else max(0.0, wait_limit))
        if not readable:
            return False
        message, _ = receive(self._control)
        if message is None or message.get("op") != READY:
            self._broken = f"the fork server stopped while importing: {self._server_log()}"
            self._stop_server()
            return False
        self.loaded, self.failed = message.get("loaded", []), message.get("failed", {})
        self.environment_changes = message.get("environment_changes", [])
        self._ready = True
        self._ask_fork()
        return True

    def _ask_fork(self) -> None:
        if self._control is None or len(self._spare) + self._forks_asked >= 1:
            return
        try:
            send(self._control, {"op": FORK})
            self._forks_asked += 1
        except OSError:
            self._broken = "the fork server stopped"

    def _take_spare(self) -> ForkedKernel | None:
        self._ask_fork()
        while not self._spare and self._forks_asked and self._control is not None:
            message, fds = receive(self._control)
            self._forks_asked -= 1
            if message is None or message.get("op") != FORKED or not fds:
                self._broken = f"the fork server stopped: {self._server_log()}"
                self._stop_server()
                return None
            self._spare.append(ForkedKernel(message["pid"], socket.socket(fileno=fds[0])))
        while self._spare:
            kernel = self._spare.popleft()
            if kernel.poll() is None:
                return kernel
        return None

    def _stop_server(self) -> None:
        for kernel in [*self._spare, *self._handed_out]:
            with contextlib.suppress(OSError):
                if kernel.poll() is None:
                    os.killpg(kernel.pid, signal.SIGKILL)
            kernel._channel.close()
        self._spare.clear()
        self._handed_out.clear()
        if self._control is not None:
            self._control.close()  # the server reads the end of its socket and exits
            self._control = None
        server, self._server = self._server, None
        if server is not None:
            try:
                server.wait(timeout=2)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None
        self._ready = False
        self._forks_asked = 0

    def _server_log(self) -> str:
        if self._log is None:
            return ""
        with contextlib.suppress(OSError, ValueError):
            self._log.seek(0)
            return self._log.read()[-2000:].decode("utf-8", errors="replace").strip()
        return ""


def server_environment() -> dict[str, str]:
    """The fork server's environment: this process's, without the per-execution ``FTI_*`` variables.

    Without them, a module that read one when imported would find nothing, rather than
    a value that belongs to no particular execution. ``MPLBACKEND`` gets the value
    ipykernel sets in every kernel that starts without one, before any notebook
    code runs: matplotlib, imported here, reads it when imported.
    """
    env = {name: value for name, value in os.environ.items() if not _per_request(name)}
    env[PARENT_PID_VARIABLE] = str(os.getpid())
    env.setdefault(MPLBACKEND_VARIABLE, IPYKERNEL_MPLBACKEND)
    return env


def _shared_part(env: Mapping[str, str]) -> dict[str, str]:
    """The variables that must be the same in the server and a kernel it forks.

    A kernel without ``MPLBACKEND`` gets ipykernel's when it starts, so that counts as the same.
    """
    shared = {name: value for name, value in env.items() if not _per_request(name) and name != PARENT_PID_VARIABLE}
    shared.setdefault(MPLBACKEND_VARIABLE, IPYKERNEL_MPLBACKEND)
    return shared


def _per_request(name: str) -> bool:
    return name.startswith(PER_REQUEST_PREFIX) or name in PER_REQUEST_VARIABLES


def _wait_started(kernel: ForkedKernel, limit: float) -> None:
    """Wait until the child has bound its kernel's sockets (or died, or ``limit`` passed).

    A client connecting before that would wait for ZeroMQ's reconnection delay.
    """
    channel = kernel._channel
    with contextlib.suppress(OSError, ValueError):
        readable, _, _ = select.select([channel], [], [], limit)
        if readable:
            message, _ = receive(channel)
            if message is None or message.get("op") != STARTED:
                kernel.poll()


_launcher: str | None = None


def _launcher_path() -> str:
    """``sys.argv[0]`` of a directly started kernel: the ``ipykernel_launcher`` script."""
    global _launcher
    if _launcher is None:
        import importlib.util

        spec = importlib.util.find_spec("ipykernel_launcher")
        _launcher = spec.origin if spec is not None and spec.origin else "ipykernel_launcher"
    return _launcher


_provisioner: type | None = None


def _provisioner_class() -> type:
    """jupyter_client's local provisioner, taking the kernel process from a pool instead of ``Popen`` when it can."""
    global _provisioner
    if _provisioner is not None:
        return _provisioner
    from jupyter_client.provisioning import LocalProvisioner

    class PooledProvisioner(LocalProvisioner):
        def __init__(self, pool: KernelPool, **kwargs: Any):
            super().__init__(**kwargs)
            self.pool = pool

        async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
            # What ``jupyter_client.launcher.launch_kernel`` would give a kernel it starts itself.
            env = dict(kwargs.get("env") or os.environ)
            env[PARENT_PID_VARIABLE] = str(os.getpid())
            kernel = self.pool.launch(cmd, env, kwargs.get("cwd"), kwargs.get("stdout"))
            if kernel is None:
                return await super().launch_kernel(cmd, **kwargs)
            self.process = kernel
            self.pid = self.pgid = kernel.pid
            return self.connection_info

    _provisioner = PooledProvisioner
    return _provisioner


@atexit.register
def _close_open_pools() -> None:
    """A pool nobody closed is closed when this process exits, with its processes."""
    for pool in list(_open_pools):
        pool.close()
