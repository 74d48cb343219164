"""``fti serve fraud`` as a person and a program use it: a real server process, HTTP, and the page in Chromium.

The store is made once for the module: a short backfill, a small model in production.
Every answer over HTTP must equal what `FraudService.predict` answers in-process for the
same request, and stopping the server must write its buffered answers to the feature
view's log.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import fti
from browser import browser_page, require_chromium
from fti.serve.jsonable import to_jsonable
from systems import fraud
from systems.fraud.backfill import backfill, create_feature_view

pytestmark = pytest.mark.slow

HISTORY_END = fraud.FIRST_DAY + dt.timedelta(days=12)
NOW = f"{HISTORY_END}T06:00:00Z"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fraud-serving") / "store"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FTI_NOW", NOW)
        fs = fti.get_feature_store(path)
        backfill(fs, fraud.FIRST_DAY, HISTORY_END, labelled_at=fti.now(), true_labels=True)
        view = create_feature_view(fs)
        X_train, X_test, y_train, y_test = view.train_test_split(
            test_start=pd.Timestamp(HISTORY_END - dt.timedelta(days=3), tz="UTC"))
        model = fraud.train(X_train, y_train, fraud.ModelParams(n_estimators=40))
        model.threshold = fraud.alert_threshold(model.predict_proba(X_test)[:, 1])
        mr = fti.get_model_registry(path)
        registered = mr.python.create_model(fraud.MODEL, feature_view=view)
        registered.save(model)
        mr.set_alias(fraud.MODEL, "production", registered.version)
    return path


def request(**changes: object) -> dict:
    base = {"card_id": 500017, "merchant_id": 70003, "amount": 42.5, "latitude": 59.33, "longitude": 18.07,
            "ts": f"{HISTORY_END}T12:00:00Z", "card_present": True}
    return base | changes


@contextlib.contextmanager
def server(store: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """``fti serve fraud --port 0`` in a process of its own; yields its URL and the process."""
    env = os.environ | {"FTI_NOW": NOW}
    process = subprocess.Popen([sys.executable, "-m", "fti", "serve", "fraud", "--store", str(store), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = process.stdout.readline()
        assert line.startswith("serving "), line + process.stderr.read()
        url = line.split(" at ", 1)[1].split(" ", 1)[0].rstrip("/")
        yield url, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def post(url: str, body: dict) -> tuple[int, dict]:
    call = urllib.request.Request(f"{url}/predict", data=json.dumps(body).encode(), method="POST",
                                  headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(call, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def in_process(store: Path, body: dict) -> dict:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FTI_NOW", NOW)
        return fraud.FraudService(store, log=False).predict(body)


def test_http_answers_equal_in_process_answers_and_a_stop_writes_the_log(store):
    requests = [request(), request(card_id=500123, amount=900.0, latitude=40.4, longitude=-3.7, card_present=False),
                request(card_id=500999, ts=f"{HISTORY_END}T12:05:00+01:00")]
    with server(store) as (url, process):
        for body in requests:
            status, answer = post(url, body)
            assert status == 200, answer
            expected = in_process(store, body)
            assert answer["score"] == pytest.approx(expected["score"], abs=1e-6)
            assert answer["decision"] == expected["decision"]
            assert answer["features"] == to_jsonable(expected["features"])
        status, answer = post(url, request(card_id=123))
        assert status == 400 and "unknown card_id 123" in answer["error"]
        status, answer = post(url, request(ts="2026-01-13 12:00"))
        assert status == 400 and "ts" in answer["error"]
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "service closed" in out
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FTI_NOW", NOW)
        log = fti.get_model_registry(store).get_model(fraud.MODEL, alias="production").feature_view.read_log(
            transformed=True)
    assert sorted(log["card_id"].tolist()) == sorted(body["card_id"] for body in requests)


def test_a_person_scores_a_transaction_on_the_page(store, tmp_path):
    require_chromium()
    body = request(card_id=500042, amount=1250.0, latitude=48.86, longitude=2.35, card_present=False)
    expected = in_process(store, body)
    with server(store) as (url, _), browser_page(width=1200, height=1100) as page:
        page.goto(url + "/")
        assert page.title() == fraud.FraudService.name
        page.get_by_label("card_id").fill("500042")
        page.get_by_label("amount").fill("1250")
        page.get_by_label("latitude").fill("48.86")
        page.get_by_label("longitude").fill("2.35")
        page.get_by_label("ts").fill(body["ts"])
        page.get_by_label("card_present").select_option("false")
        page.get_by_role("button", name="Score").click()
        page.wait_for_selector("#score")
        assert page.inner_text("#score") == f"{expected['score']:.4f}"
        assert page.inner_text("#decision") == expected["decision"]
        shown = dict(zip(page.locator("#features tbody th").all_inner_texts(),
                         page.locator("#features tbody td").all_inner_texts(), strict=True))
        assert set(fraud.MODEL_INPUTS) <= set(shown)
        assert float(shown["amount"]) == 1250.0 and shown["card_present"] == "false"
        shot = tmp_path / "fraud_page.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")
        assert shot.stat().st_size > 30_000
        page.get_by_label("card_id").fill("7")
        page.get_by_role("button", name="Score").click()
        error = page.get_by_role("alert")
        error.wait_for()
        assert "unknown card_id 7" in error.inner_text()
