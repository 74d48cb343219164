#!/usr/bin/env python
"""Benchmark of `fti serve`: throughput and latency over loopback at 1, 8 and 32 concurrent clients.

Run from the repository root::

    .venv/bin/python benchmarks/bench_http.py                       # a fake service busy 0.5 ms per prediction
    .venv/bin/python benchmarks/bench_http.py --busy-ms 2           # a slower fake
    .venv/bin/python benchmarks/bench_http.py --service-module systems.fraud.serving --store data/store
    .venv/bin/python benchmarks/bench_http.py --quick               # smoke run: 1 s per measurement

A measuring script, not a test: it prints figures and never fails on a slow one. The
figures are also written to ``benchmarks/results/http.json`` (``http-quick.json``).

One server, the real ``fti serve --module MODULE --port 0`` in a process of its own,
serves the module's ``service()``; by default this file's own `BusyService`, whose
``predict`` spins for ``--busy-ms`` (on the CPU, like a model, not asleep). The request
sent is the one the service's page is prefilled with (its fields' examples), read from
``GET /``, so any served module works without a request of its own (``--request`` gives one).

The clients run in another process (so they do not take the server's GIL): ``N`` threads,
each with one keep-alive ``http.client`` connection, sending requests back to back for
``--seconds``. For each N in ``--clients``:

* ``health``: ``GET /health``, which makes no prediction: the baseline, what the HTTP
  layer (tornado, loopback, the client) costs per request, measured in the same run;
* ``predict``: ``POST /predict`` with the JSON request.

For each: requests per second, p50 and p99 latency (ms, as the client sees it), and the
server's CPU time per request (µs, from the OS; less noisy than wall time on a shared
machine). ``predict/health`` is the throughput ratio; ``extra CPU`` is what a prediction
adds per request on the server (its CPU per request minus health's). The two endpoints
alternate within each N, so a burst of load from another process hits both.

Predictions run one after another on the server's event loop: more clients do not add
throughput, they add queueing (p50 grows with N), which is the figure to look at when
deciding whether one server process is enough. On a 2-core machine the clients' process
takes one core: the ``client CPU`` column says how busy it was (near 100% of a core: the
clients, not the server, were the limit).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
BUSY_ENV = "FTI_BENCH_BUSY_MS"


# -- the default service: busy for a chosen time per prediction --------------------------------------------------

class BusyService:
    """A `fti.serve` service whose ``predict`` keeps the CPU busy for ``FTI_BENCH_BUSY_MS`` milliseconds."""

    name = "Busy benchmark service"
    description = "Spins for a fixed time per prediction, like a small model; for benchmarks/bench_http.py."

    def __init__(self) -> None:
        from fti.serve import RequestField

        self.busy_seconds = float(os.environ.get(BUSY_ENV, "0.5")) / 1000
        self.request_fields = [
            RequestField("entity_id", "int", 17, "an id"),
            RequestField("amount", "float", 42.5, "an amount"),
            RequestField("flag", "bool", True, "a flag"),
            RequestField("ts", "datetime", "2026-03-01T12:00:00Z", "a time"),
        ]

    def predict(self, request: dict[str, Any]) -> dict[str, Any]:
        end = time.perf_counter() + self.busy_seconds
        spins = 0
        while time.perf_counter() < end:
            spins += 1
        features = {"amount": request["amount"], "hour": request["ts"].hour, "spins": spins}
        return {"score": 0.25, "decision": "approve", "features": features}

    def close(self) -> None:
        pass


def service(store: str | Path | None = None) -> BusyService:
    """What ``fti serve --module bench_http`` serves."""
    return BusyService()


# -- the request, from the page's form ----------------------------------------------------------------------------

class _FormReader(HTMLParser):
    """The prefilled values of the page's form: ``{name: (kind, text)}``."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, tuple[str, str]] = {}
        self._select: tuple[str, str] | None = None
        self._option: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and "data-kind" in found:
            self.values[found["name"]] = (found["data-kind"], found.get("value") or "")
        elif tag == "select" and "data-kind" in found:
            self._select = (found["name"], found["data-kind"])
        elif tag == "option" and self._select is not None and "selected" in found:
            self.values[self._select[0]] = (self._select[1], found.get("value") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def request_from_page(url: str) -> dict[str, Any]:
    """The JSON request the page would send with its prefilled values."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("GET", "/")
    reader = _FormReader()
    reader.feed(connection.getresponse().read().decode())
    connection.close()
    typed = {"int": int, "float": float, "bool": lambda text: text == "true"}
    return {name: typed.get(kind, str)(text) for name, (kind, text) in reader.values.items()}


# -- the clients (in their own process) ---------------------------------------------------------------------------

def _client_process(url: str, method: str, path: str, body: bytes | None, clients: int, seconds: float,
                    results: multiprocessing.Queue) -> None:
    """``clients`` threads sending requests back to back for ``seconds``; puts the latencies and errors."""
    parts = urllib.parse.urlsplit(url)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    barrier = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def worker(index: int) -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        connection.connect()
        barrier.wait()
        mine = latencies[index]
        while True:
            started = time.perf_counter()
            if started >= stop_at[0]:
                break
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            if response.status != 200:
                errors[index] += 1
        connection.close()

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(clients)]
    for thread in threads:
        thread.start()
    cpu_before = time.process_time()
    stop_at[0] = time.perf_counter() + seconds
    wall_started = time.perf_counter()
    barrier.wait()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - wall_started
    results.put({"latencies": [value for mine in latencies for value in mine], "errors": sum(errors), "wall": wall,
                 "client_cpu": time.process_time() - cpu_before})


def measure(url: str, server: psutil.Process, method: str, path: str, body: bytes | None, clients: int,
            seconds: float) -> dict[str, float]:
    """One measurement: requests/s, latency percentiles, server and client CPU."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=_client_process, args=(url, method, path, body, clients, seconds, results))
    process.start()
    # The server's CPU is read around the whole client run; the clients' start-up is idle time for it.
    cpu = server.cpu_times()
    outcome = results.get(timeout=seconds + 120)
    after = server.cpu_times()
    process.join()
    latencies = sorted(outcome["latencies"])
    count = len(latencies)
    server_cpu = (after.user + after.system) - (cpu.user + cpu.system)
    return {
        "requests": count, "errors": outcome["errors"], "per_second": count / outcome["wall"],
        "p50_ms": statistics.median(latencies) * 1e3,
        "p99_ms": latencies[min(count - 1, int(0.99 * count))] * 1e3,
        "server_cpu_us": server_cpu / count * 1e6,
        "client_cpu_share": outcome["client_cpu"] / outcome["wall"],
    }


# -- the run ------------------------------------------------------------------------------------------------------

def start_server(module: str, store: str | None, busy_ms: float) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, BUSY_ENV: str(busy_ms),
           "PYTHONPATH": os.pathsep.join([str(REPO / "benchmarks"), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "fti", "serve", "--module", module, "--port", "0"]
    if store:
        command += ["--store", store]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    line = server.stdout.readline()
    found = re.search(r"http://\S+/", line)
    if found is None:
        server.kill()
        sys.exit(f"the server did not start: {line!r} (exit code {server.wait()})")
    return server, found.group(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--service-module", default="bench_http",
                        help="the module fti serve serves (default: this file's BusyService)")
    parser.add_argument("--store", help="--store for the server (a service that reads a store)")
    parser.add_argument("--busy-ms", type=float, default=0.5, help="the default service's time per prediction")
    parser.add_argument("--request", help="the JSON request to send (default: the page's prefilled values)")
    parser.add_argument("--clients", default="1,8,32", help="concurrent clients, comma-separated")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each measurement")
    parser.add_argument("--quick", action="store_true", help="1 s per measurement")
    args = parser.parse_args()
    seconds = 1.0 if args.quick else args.seconds
    counts = [int(text) for text in args.clients.split(",")]

    server, url = start_server(args.service_module, args.store, args.busy_ms)
    try:
        request = json.loads(args.request) if args.request else request_from_page(url)
        body = json.dumps(request).encode()
        process = psutil.Process(server.pid)
        print(f"server: fti serve --module {args.service_module} at {url} (pid {server.pid})"
              + (f", busy {args.busy_ms} ms per prediction" if args.service_module == "bench_http" else ""))
        print(f"request: {body.decode()}")
        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; "
              f"{seconds:g} s per measurement\n")
        # Warm up both paths (imports, first-call caches) before measuring.
        measure(url, process, "GET", "/health", None, 1, 0.3)
        measure(url, process, "POST", "/predict", body, 1, 0.3)
        rows = []
        header = (f"{'clients':>7} {'endpoint':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'server CPU µs/req':>18} "
                  f"{'client CPU':>10} {'errors':>6}")
        print(header)
        print("-" * len(header))
        for clients in counts:
            health = measure(url, process, "GET", "/health", None, clients, seconds)
            predict = measure(url, process, "POST", "/predict", body, clients, seconds)
            for name, figures in (("health", health), ("predict", predict)):
                print(f"{clients:>7} {name:>8} {figures['per_second']:>8.0f} {figures['p50_ms']:>8.2f} "
                      f"{figures['p99_ms']:>8.2f} {figures['server_cpu_us']:>18.0f} "
                      f"{figures['client_cpu_share']:>9.0%} {figures['errors']:>6}")
            ratio = predict["per_second"] / health["per_second"]
            extra = predict["server_cpu_us"] - health["server_cpu_us"]
            print(f"{'':>7} predict/health throughput {ratio:.2f}; a prediction adds {extra:.0f} µs of server CPU")
            rows.append({"clients": clients, "health": health, "predict": predict, "throughput_ratio": ratio,
                         "extra_server_cpu_us": extra})
        print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / ("http-quick.json" if args.quick else "http.json")
    out.write_text(json.dumps({"service_module": args.service_module, "busy_ms": args.busy_ms, "seconds": seconds,
                               "url": url, "rows": rows}, indent=2))
    print(f"figures written to {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
