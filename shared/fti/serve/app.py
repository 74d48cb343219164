"""The tornado application: ``/`` (the page), ``/predict`` (JSON in, JSON out) and ``/health``.

Handlers are synchronous: ``predict`` runs on the IOLoop thread itself (a prediction takes
about a millisecond; a hop to a thread pool would cost more than it saves), so one
server process answers concurrent clients in turn. Every answer is JSON, errors too:

* 400 ``{"error": ..., "field": ...}``: the request does not fit the request fields, or
  ``predict`` raised an `fti.exceptions.FTIError` (a request it refuses);
* 500 ``{"error": "TypeError: ...", "type": "TypeError"}``: any other exception, a bug in
  the service; its traceback goes to the server's stderr, never to the client;
* 404 and 405 for an unknown path or method.
"""

from __future__ import annotations

import asyncio
import json
import sys
import traceback
from typing import Any

import tornado.web

from fti.exceptions import FTIError, RequestFieldError
from fti.serve.fields import parse_request
from fti.serve.jsonable import dumps
from fti.serve.page import render_page
from fti.serve.service import Service, check_service

__all__ = ["RequestCounter", "make_app"]


class RequestCounter:
    """Requests answered and in flight, for a clean stop (wait until none is in flight) and the last line."""

    def __init__(self) -> None:
        self.answered = 0
        self.in_flight = 0

    def started(self) -> None:
        self.in_flight += 1

    def finished(self) -> None:
        self.in_flight -= 1
        self.answered += 1


class _JSONHandler(tornado.web.RequestHandler):
    """Answers in JSON, errors included; counts requests until their answer is sent."""

    def initialize(self, service: Service, counter: RequestCounter) -> None:
        self.service = service
        self.counter = counter
        self._counted = False

    def prepare(self) -> None:
        self.counter.started()
        self._counted = True

    def finish(self, chunk: Any = None) -> asyncio.Future[None]:
        future = super().finish(chunk)
        if self._counted:
            self._counted = False
            # In flight until the last byte is handed to the socket, so a stop waits for it.
            future.add_done_callback(lambda _: self.counter.finished())
        return future

    def on_connection_close(self) -> None:
        if self._counted:
            self._counted = False
            self.counter.finished()

    def send_json(self, status: int, body: Any) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(body if isinstance(body, str) else json.dumps(body, ensure_ascii=False))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # tornado's own errors (405, a malformed request): JSON like ours, never an HTML traceback page.
        message = f"{status_code} {self._reason}: {self.request.method} {self.request.path}"
        self.send_json(status_code, {"error": message})


class PredictHandler(_JSONHandler):
    """``POST /predict`` with a JSON object, or ``GET /predict?field=value&...``."""

    def post(self) -> None:
        try:
            values = json.loads(self.request.body or b"null")
        except (ValueError, UnicodeDecodeError) as problem:
            self.send_json(400, {"error": f"the request body is not JSON: {problem}", "field": None})
            return
        self._answer(values, from_text=False)

    def get(self) -> None:
        values = {name: self.get_query_argument(name) for name in self.request.query_arguments}
        self._answer(values, from_text=True)

    def _answer(self, values: Any, from_text: bool) -> None:
        try:
            request = parse_request(self.service.request_fields, values, from_text=from_text)
            answer = self.service.predict(request)
            if not isinstance(answer, dict):
                raise TypeError(f"predict returned a {type(answer).__name__}, not a dict")
            body = dumps(answer)
        except RequestFieldError as problem:
            self.send_json(400, {"error": str(problem), "field": problem.field})
        except FTIError as problem:
            self.send_json(400, {"error": str(problem), "type": type(problem).__name__})
        except Exception as problem:  # a bug in the service: reported, and the server keeps serving
            print(f"fti serve: predict failed on {values!r:.300}", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)
            kind = type(problem).__name__
            self.send_json(500, {"error": f"{kind}: {problem}", "type": kind})
        else:
            self.send_json(200, body)


class HealthHandler(_JSONHandler):
    """``GET /health``: ``{"status": "ok", "service": NAME}`` (no prediction: a baseline for benchmarks)."""

    def get(self) -> None:
        self.send_json(200, {"status": "ok", "service": self.service.name})


class PageHandler(_JSONHandler):
    """``GET /``: the page, rendered once."""

    def initialize(self, service: Service, counter: RequestCounter, page: str) -> None:
        super().initialize(service, counter)
        self.page = page

    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(self.page)


class NotFoundHandler(_JSONHandler):
    """Any other path: 404 in JSON, listing the paths there are."""

    def prepare(self) -> None:
        super().prepare()
        self.send_json(404, {"error": f"no such path {self.request.path!r}; try / , /predict or /health"})


def make_app(service: Service, counter: RequestCounter | None = None) -> tornado.web.Application:
    """The application serving ``service`` (checked first with `fti.serve.service.check_service`).

    Raises:
        ServeError: ``service`` lacks part of the contract.
    """
    check_service(service)
    counter = counter or RequestCounter()
    page = render_page(service.name, service.description, service.request_fields)
    common = {"service": service, "counter": counter}
    return tornado.web.Application(
        [
            (r"/", PageHandler, {**common, "page": page}),
            (r"/predict", PredictHandler, common),
            (r"/health", HealthHandler, common),
        ],
        default_handler_class=NotFoundHandler,
        default_handler_args=common,
        # Access lines for every request would flood a terminal under load; errors are printed by the handler.
        log_function=lambda handler: None,
        compress_response=False,
    )
