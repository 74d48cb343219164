"""`fti.serve` answering real HTTP requests: a server on a free port, on a thread of this process."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterator

import pytest
from fake_serving import LemonadeStand, expected_score

from fti.exceptions import ServeError
from fti.serve import background

GOOD = {"cups": 20, "price": 2.0, "sunny": False, "opens_at": "2026-06-01T14:30:00+02:00", "note": "by the park"}


@pytest.fixture
def stand() -> LemonadeStand:
    return LemonadeStand()


@pytest.fixture
def url(stand: LemonadeStand) -> Iterator[str]:
    with background(stand) as base:
        yield base


def call(base: str, method: str, path: str, body: bytes | None = None) -> tuple[int, str, str]:
    """One request; returns the status, the Content-Type and the body text."""
    parts = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read().decode()
    finally:
        connection.close()


def post(base: str, request: object) -> tuple[int, dict]:
    status, kind, text = call(base, "POST", "/predict", json.dumps(request).encode())
    assert kind.startswith("application/json"), (kind, text)
    return status, json.loads(text)


def test_a_json_request_is_converted_and_answered(url, stand):
    status, answer = post(url, GOOD)
    assert status == 200, answer
    score = expected_score(20, 2.0, False)
    assert answer["score"] == score and answer["decision"] == ("make more" if score >= 0.5 else "enough")
    # NumPy values as plain JSON, NaN as null, the datetime as ISO text with its zone kept.
    assert answer["features"] == {"cups": 20, "price": 2.0, "sunny": False, "opening_hour": 14,
                                  "opens_at": "2026-06-01T14:30:00+02:00", "rain_mm": None}
    assert answer["note"] == "by the park"
    received = stand.requests[-1]
    assert received["opens_at"].utcoffset().total_seconds() == 7200
    assert isinstance(received["price"], float) and isinstance(received["cups"], int)


def test_a_get_request_reads_the_query_text_by_kind(url, stand):
    query = urllib.parse.urlencode({**GOOD, "cups": "8", "price": "0.5", "sunny": "yes",
                                    "opens_at": "2026-06-01T09:00Z"})
    status, _, text = call(url, "GET", f"/predict?{query}")
    assert status == 200, text
    assert json.loads(text)["score"] == expected_score(8, 0.5, True)
    assert stand.requests[-1]["sunny"] is True and stand.requests[-1]["cups"] == 8


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"cups": "20"}, "cups", "must be a whole number"),
    ({"cups": 2.5}, "cups", "must be a whole number"),
    ({"price": True}, "price", "must be a number"),
    ({"sunny": "true"}, "sunny", "must be true or false"),
    ({"opens_at": "next tuesday"}, "opens_at", "must be a date and time in ISO 8601"),
    ({"note": 7}, "note", "must be text"),
    ({"tip": 1}, "tip", "unknown field 'tip'"),
])
def test_a_bad_field_is_a_400_naming_it(url, stand, change, field, words):
    status, answer = post(url, {**GOOD, **change})
    assert status == 400
    assert answer["field"] == field and words in answer["error"] and repr(field) in answer["error"]
    assert stand.requests == [], "predict must not see a request that does not fit"


def test_a_missing_field_is_a_400_listing_the_fields(url):
    request = dict(GOOD)
    del request["price"]
    status, answer = post(url, request)
    assert status == 400 and answer["field"] == "price"
    assert "'price' is missing" in answer["error"] and "cups, price, sunny, opens_at, note" in answer["error"]


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b""])
def test_a_body_that_is_no_json_object_is_a_400(url, body):
    status, _, text = call(url, "POST", "/predict", body)
    assert status == 400 and json.loads(text)["error"]


def test_a_request_predict_refuses_is_a_400_with_its_message(url):
    status, answer = post(url, {**GOOD, "cups": -3})
    assert status == 400
    assert answer == {"error": "cups must be 0 or more, got -3", "type": "ParameterError"}


def test_a_bug_in_predict_is_a_500_without_a_traceback_and_the_server_goes_on(url, capfd):
    status, _, text = call(url, "POST", "/predict", json.dumps({**GOOD, "note": "crash"}).encode())
    assert status == 500
    assert json.loads(text) == {"error": "ZeroDivisionError: the stand divided by zero", "type": "ZeroDivisionError"}
    assert "Traceback" not in text
    assert "Traceback" in capfd.readouterr().err, "the traceback belongs on the server's stderr"
    assert post(url, GOOD)[0] == 200


def test_an_answer_json_cannot_hold_is_a_500_naming_where(url, stand, monkeypatch):
    monkeypatch.setattr(stand, "predict", lambda request: {"score": 0.1, "features": {"model": object()}})
    status, answer = post(url, GOOD)
    assert status == 500 and answer["type"] == "TypeError"
    assert "answer.features.model is a builtins.object" in answer["error"]


def test_health_names_the_service(url):
    status, kind, text = call(url, "GET", "/health")
    assert status == 200 and json.loads(text) == {"status": "ok", "service": "Lemonade stand"}


def test_unknown_paths_and_methods_answer_json(url):
    status, kind, text = call(url, "GET", "/nope")
    assert status == 404 and "'/nope'" in json.loads(text)["error"]
    status, kind, text = call(url, "DELETE", "/predict")
    assert status == 405 and kind.startswith("application/json") and "DELETE /predict" in json.loads(text)["error"]


def test_the_page_has_a_labelled_input_per_field_prefilled(url):
    status, kind, text = call(url, "GET", "/")
    assert status == 200 and kind.startswith("text/html")
    assert "<title>Lemonade stand</title>" in text and "Will the stand sell out today?" in text
    for name, example in [("cups", "40"), ("price", "1.5"), ("opens_at", "2026-06-01T09:00:00+00:00")]:
        assert f'<label for="field-{name}">' in text
        assert f'id="field-{name}" name="{name}"' in text and f'value="{example}"' in text
    assert '<option value="true" selected>true</option>' in text
    assert 'aria-describedby="field-note-help"' in text
    # Offline: nothing fetched from another server.
    assert "http://" not in text and "https://" not in text and "src=" not in text


def test_a_service_missing_part_of_the_contract_is_refused():
    class Half:
        name = "half"
        request_fields = ["cups"]

        def predict(self, request):
            return {}

    with pytest.raises(ServeError) as caught:
        with background(Half()):
            pass
    message = str(caught.value)
    assert "description (a str)" in message and "request_fields (a list of fti.serve.RequestField)" in message
    assert "close() (a method)" in message and "predict" not in message.split("needs", 1)[1]


def test_a_port_in_use_is_a_serve_error(url):
    port = urllib.parse.urlsplit(url).port
    with pytest.raises(ServeError, match=f"cannot listen on 127.0.0.1 port {port}"):
        with background(LemonadeStand(), port=port):
            pass


@pytest.mark.parametrize("port", [70000, -1])
def test_a_port_out_of_range_is_refused_not_wrapped_around(port):
    # The socket layer would listen on 70000 - 65536 = 4464 without a word.
    with pytest.raises(ServeError, match=f"port {port} is not a port"):
        with background(LemonadeStand(), port=port):
            pass
