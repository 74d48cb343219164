"""The fork server of the kernel pool: imports the heavy modules once, then forks one fresh kernel per notebook.

`fti.run.kernel_pool` starts it as ``python -m fti.run.kernel_forkserver FD MODULE...``
with FD one end of a Unix socket pair. It imports the MODULEs (pandas,
scikit-learn, XGBoost, Great Expectations, ipykernel ...), says it is ready,
then answers each ``fork`` request with a new child process and one end of a
socket pair to it. The child waits, having run no notebook and imported nothing
more, until the pool assigns it a notebook's kernel: the exact environment,
working directory, output file and ipykernel arguments of that execution. It
then becomes an ipykernel kernel exactly as ``python -m ipykernel_launcher``
would, and says ``started`` once the kernel's sockets are bound. A child runs
one kernel and exits; nothing is ever reused.

Why fork: importing those modules costs 5 to 8 s of CPU per process (Great
Expectations alone about 3 s). Doing it in a separate process per kernel would
still cost that CPU once per notebook; forking copies the imported modules in
milliseconds, and every kernel still starts from the same untouched state.

Lifetimes: the server exits when the pool's end of its socket closes (the pool
closed, or its process died); an idle child exits the same way; a running
kernel's ipykernel watches its parent (this server) and exits within a second
of it. The server ignores SIGCHLD, so the system reaps its children at once.

Only the standard library is imported here before the preload.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import json
import os
import signal
import socket
import sys
import threading
import traceback
from collections.abc import Sequence
from typing import Any

READY = "ready"
FORK = "fork"
FORKED = "forked"
START = "start"
STARTED = "started"
MAX_MESSAGE_BYTES = 1 << 20
# The variable ipykernel reads, when its module is imported, to know which process to watch.
PARENT_PID_VARIABLE = "JPY_PARENT_PID"

# What the preloaded modules changed in the environment when imported (None: removed).
_preload_changes: dict[str, str | None] = {}


def send(sock: socket.socket, message: dict[str, Any], fds: Sequence[int] = ()) -> None:
    """Send one JSON message (one line), with file descriptors attached if any."""
    data = json.dumps(message).encode() + b"\n"
    if fds:
        sent = socket.send_fds(sock, [data], list(fds))
        sock.sendall(data[sent:])
    else:
        sock.sendall(data)


def receive(sock: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    """One JSON message and the file descriptors that came with it; ``(None, [])`` when the other end closed."""
    try:
        data, fds, _flags, _address = socket.recv_fds(sock, MAX_MESSAGE_BYTES, 4)
        while data and not data.endswith(b"\n"):
            more = sock.recv(MAX_MESSAGE_BYTES)
            if not more:
                return None, fds
            data += more
    except (ConnectionError, OSError):
        return None, []
    if not data:
        return None, fds
    return json.loads(data), fds


def preload(modules: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Import ``modules``; a module that is missing or fails is left out (a kernel imports it itself)."""
    loaded, failed = [], {}
    for name in modules:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except Exception as exc:  # noqa: BLE001 - a broken optional module must not stop the pool
            failed[name] = f"{type(exc).__name__}: {exc}"
    return loaded, failed


def serve(control: socket.socket, modules: Sequence[str]) -> None:
    """Preload, say ready, then fork a child for each request until the pool's end closes."""
    # As ipykernel_launcher does: the starting folder is not a place to import from.
    if sys.path and (sys.path[0] == "" or os.path.realpath(sys.path[0]) == os.path.realpath(os.getcwd())):
        del sys.path[0]
    # ipykernel reads this when imported (its parent poller's default): point it at this
    # server, the kernels' real parent, so a kernel exits when the server is gone. Each
    # kernel's own environment still gets the value a directly started kernel would have.
    os.environ[PARENT_PID_VARIABLE] = str(os.getpid())
    before = dict(os.environ)
    loaded, failed = preload(modules)
    # Variables the imports set or removed (debugpy sets PYDEVD_USE_FRAME_EVAL): a kernel that
    # imported them itself would have the same changes on top of its environment.
    _preload_changes.update({name: value for name, value in os.environ.items() if before.get(name) != value})
    _preload_changes.update({name: None for name in before if name not in os.environ})
    # Everything imported so far lives as long as the server: the collector need not look at
    # it again, neither here nor in the children, where looking would copy every page it touches.
    gc.collect()
    gc.freeze()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    send(control, {"op": READY, "pid": os.getpid(), "loaded": loaded, "failed": failed,
                   "environment_changes": sorted(_preload_changes)})
    while True:
        message, _ = receive(control)
        if message is None:
            return
        if message.get("op") != FORK:
            continue
        ours, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            control.close()
            ours.close()
            _child(theirs)  # never returns
        theirs.close()
        send(control, {"op": FORKED, "pid": pid}, [ours.fileno()])
        ours.close()


def _child(sock: socket.socket) -> None:
    """A forked child: wait for its assignment, then run one kernel and exit."""
    # Its own session, as a directly started kernel has: the watchdog kills the whole
    # group, and Ctrl-C in the terminal does not reach it.
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    message, fds = receive(sock)
    if message is None or message.get("op") != START:
        # The pool closed before giving this child a notebook: nothing ran, nothing to clean.
        os._exit(0)
    try:
        _become_kernel(message, fds, sock)
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:  # noqa: BLE001 - reported in the kernel's own output, like a crashing kernel
        traceback.print_exc()
        code = 1
    _exit(code)


def _exit(code: int) -> None:
    """End the kernel as an interpreter exit would, without tearing down the preloaded modules.

    A normal exit frees every object of the hundreds of megabytes the server
    imported, one by one: 2 to 3 s per kernel, for nothing. What a notebook can
    see of an exit still happens, in the interpreter's order: waiting for its
    threads, the atexit handlers (IPython's clears the user namespace), then
    collecting what they released, so open files are flushed and closed.
    """
    with contextlib.suppress(BaseException):
        threading._shutdown()  # type: ignore[attr-defined] - what Py_Finalize calls first
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    with contextlib.suppress(BaseException):
        gc.collect()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(BaseException):
            if stream is not None:
                stream.flush()
    os._exit(code)


def _become_kernel(message: dict[str, Any], fds: list[int], sock: socket.socket) -> None:
    """Take on the execution's environment, folder and output, then run ipykernel as ipykernel_launcher would."""
    output = fds[0] if fds else os.open(os.devnull, os.O_WRONLY)
    for target in (1, 2):
        os.dup2(output, target)
    os.close(output)
    # A directly started kernel reads from a pipe nobody writes to; the nearest without one.
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.chdir(message["cwd"])
    os.environ.clear()
    os.environ.update(message["env"])
    for name, value in _preload_changes.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    sys.argv = [message["argv0"], *message["args"]]
    # Python's random reseeds itself in a forked child; numpy's global generator does not.
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(message["args"])
    # The kernel's sockets are bound: a client connecting now is answered at once.
    send(sock, {"op": STARTED, "pid": os.getpid()})
    app.start()


def main(argv: Sequence[str]) -> None:
    """Entry point: ``FD MODULE...``."""
    control = socket.socket(fileno=int(argv[0]))
    serve(control, argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
