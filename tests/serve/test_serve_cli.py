"""``fti serve`` as a student runs it: a real process, a real port, stopped by a signal."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from fti.cli import EXIT_USAGE, main

HERE = Path(__file__).resolve().parent
REQUEST = {"cups": 10, "price": 1.0, "sunny": True, "opens_at": "2026-06-01T09:00:00Z", "note": "x"}


class Served:
    """``fti serve --module fake_serving --port 0`` running; `url` from its first line."""

    def __init__(self, store: Path):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fti", "serve", "--module", "fake_serving", "--port", "0", "--store", str(store)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.first_line = self.process.stdout.readline()
        found = re.search(r"http://\S+/", self.first_line)
        if found is None:
            self.process.kill()
            raise AssertionError(f"no URL in the first line {self.first_line!r}: {self.process.communicate()}")
        self.url = found.group(0)

    def post(self, request: dict) -> tuple[int, dict]:
        parts = urllib.parse.urlsplit(self.url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            connection.request("POST", "/predict", body=json.dumps(request),
                               headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    def stop(self, number: int = signal.SIGTERM) -> tuple[int, str, str]:
        self.process.send_signal(number)
        try:
            out, err = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
            raise AssertionError(f"fti serve did not stop on signal {number}: {out} {err}") from None
        return self.process.returncode, out, err


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
def test_serve_answers_then_stops_cleanly_on_a_signal(tmp_path, number):
    served = Served(tmp_path / "store")
    assert served.first_line.startswith("serving Lemonade stand at http://127.0.0.1:")
    assert served.post(REQUEST)[0] == 200
    assert served.post({**REQUEST, "cups": "ten"})[0] == 400
    code, out, err = served.stop(number)
    assert code == 0, err
    assert out.strip() == "stopped serving Lemonade stand: 2 request(s) answered, service closed"
    # close() ran exactly once, after both predictions were made (the 400 never reached predict).
    assert json.loads((tmp_path / "store" / "closed.json").read_text()) == {"closed": 1, "requests": 1}


def test_a_request_in_flight_is_answered_before_the_stop(tmp_path):
    served = Served(tmp_path / "store")
    answers: list = []
    client = threading.Thread(target=lambda: answers.append(served.post({**REQUEST, "note": "slow"})))
    client.start()
    started = tmp_path / "store" / "slow-started"
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert started.exists(), "the slow request never reached predict"
    code, out, err = served.stop()
    client.join(timeout=30)
    assert code == 0, err
    assert answers and answers[0][0] == 200 and answers[0][1]["note"] == "slow"
    assert json.loads((tmp_path / "store" / "closed.json").read_text())["closed"] == 1


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("fti serve: error: "), err
    return err


@pytest.mark.parametrize(("argv", "words"), [
    (["serve", "no_such_system"], "no system 'no_such_system' to serve: there is no module systems.no_such_system"),
    # titanic is a batch system: it has no serving module.
    (["serve", "titanic"], "no system 'titanic' to serve: there is no module systems.titanic.serving"),
    (["serve", "--module", "no_such_module_xyz"], "no module 'no_such_module_xyz': is it on PYTHONPATH"),
    (["serve", "--module", "json"], "json has no service() function"),
    (["serve"], "name a system (fti serve fraud) or a module"),
    (["serve", "fraud", "--module", "fake_serving"], "not both"),
    (["serve", "../fraud"], "'../fraud' is not a system name"),
])
def test_what_cannot_be_served_is_one_line_and_exit_2(capsys, argv, words):
    assert main(argv) == EXIT_USAGE
    assert words in one_line_error(capsys)


def test_a_port_out_of_range_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["serve", "--module", "fake_serving", "--port", "70000"])
    assert caught.value.code == EXIT_USAGE
    assert "argument --port: '70000' is not a port (0 to 65535)" in capsys.readouterr().err
