"""Running the HTTP server: in the foreground until a signal (``fti serve``), or on a background thread.

A clean stop, in order: stop accepting connections; wait (up to ``grace_seconds``) until
every request already being answered has its answer handed to the socket; close the
connections kept alive between requests; then the caller closes the service. A request
whose body had not fully arrived when the stop began is cut off with its connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator

import tornado.httpserver
import tornado.netutil

from fti.exceptions import ServeError
from fti.serve.app import RequestCounter, make_app
from fti.serve.service import Service

__all__ = ["Server", "background", "serve_forever"]

GRACE_SECONDS = 10.0
"""How long a stop waits for answers in flight before closing their connections anyway."""


class Server:
    """One HTTP server for one service, on one host and port.

    Args:
        service: What to serve (see `fti.serve`).
        host: The address to listen on (``127.0.0.1``: this machine only; ``0.0.0.0``: every interface).
        port: The port; 0 picks a free one (`url` then says which).
        grace_seconds: How long `stop` waits for answers in flight.

    Raises:
        ServeError: ``service`` lacks part of the contract.
    """

    def __init__(self, service: Service, host: str = "127.0.0.1", port: int = 8000,
                 grace_seconds: float = GRACE_SECONDS):
        self.service = service
        self.host = host
        self.port = port
        self.grace_seconds = grace_seconds
        self.counter = RequestCounter()
        self._app = make_app(service, self.counter)
        self._http: tornado.httpserver.HTTPServer | None = None
        self.url: str | None = None

    async def start(self) -> str:
        """Listen (on the running event loop); returns the base URL, e.g. ``http://127.0.0.1:8000/``.

        Raises:
            ServeError: The address cannot be listened on (the port is taken, the host is not this machine's).
        """
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            # The socket layer would take 70000 as 4464 (modulo 65536) without a word.
            raise ServeError(f"port {self.port!r} is not a port: give a whole number from 0 (any free port) to 65535")
        try:
            sockets = tornado.netutil.bind_sockets(self.port, address=self.host, family=socket.AF_UNSPEC)
        except OSError as problem:
            reason = problem.strerror or problem
            raise ServeError(f"cannot listen on {self.host} port {self.port}: {reason}; "
                             "choose another with --port (0: any free port) or --host") from None
        self._http = tornado.httpserver.HTTPServer(self._app, xheaders=False)
        self._http.add_sockets(sockets)
        port = sockets[0].getsockname()[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{host}:{port}/"
        return self.url

    async def stop(self) -> None:
        """Stop accepting, let answers in flight finish (up to ``grace_seconds``), close every connection."""
        if self._http is None:
            return
        self._http.stop()
        deadline = time.monotonic() + self.grace_seconds
        while self.counter.in_flight > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await self._http.close_all_connections()
        self._http = None


def serve_forever(service: Service, host: str = "127.0.0.1", port: int = 8000,
                  on_ready: Callable[[str], None] | None = None) -> int:
    """Serve until Ctrl-C (SIGINT) or SIGTERM, stop cleanly, close the service; returns the requests answered.

    Args:
        service: What to serve; its ``close()`` is called once, after the server stopped (also on a failure).
        host: The address to listen on.
        port: The port (0: any free one).
        on_ready: Called with the base URL once the server listens (``fti serve`` prints it).

    Raises:
        ServeError: The address cannot be listened on.
    """
    server = Server(service, host, port)

    async def run() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(number, stopping.set)
            except (NotImplementedError, RuntimeError):  # Windows: no signal handlers on the event loop
                signal.signal(number, lambda *_: loop.call_soon_threadsafe(stopping.set))
        url = await server.start()
        if on_ready is not None:
            on_ready(url)
        await stopping.wait()
        await server.stop()

    try:
        asyncio.run(run())
    finally:
        service.close()
    return server.counter.answered


@contextlib.contextmanager
def background(service: Service, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve on a background thread while the ``with`` block runs; yields the base URL.

    For notebooks and tests: the server has an event loop of its own on its thread, so it
    works next to Jupyter's. The caller keeps the service: it is not closed here.

    Raises:
        ServeError: The address cannot be listened on.
    """
    server = Server(service, host, port)
    loop = asyncio.new_event_loop()
    started: dict[str, object] = {}
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            started["url"] = loop.run_until_complete(server.start())
        except BaseException as problem:  # handed to the caller's thread
            started["error"] = problem
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(server.stop())

    thread = threading.Thread(target=run, name="fti-serve", daemon=True)
    thread.start()
    ready.wait()
    if "error" in started:
        thread.join()
        loop.close()
        raise started["error"]  # type: ignore[misc]
    try:
        yield str(started["url"])
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
