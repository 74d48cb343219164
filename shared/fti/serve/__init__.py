"""Serving a system's online inference pipeline over HTTP, with a page to try it: ``fti serve NAME``.

The server is tornado (the async web framework Jupyter Server runs on). It answers

* ``GET /``: a page with a form built from the service's request fields (prefilled
  with their examples), a **Score** button, and the answer: the score, the decision,
  and a table of the features behind it (offline: no CDN, nothing from the network);
* ``POST /predict``: a JSON object in, the JSON answer out (200); 400
  ``{"error": ..., "field": ...}`` for a request that does not fit (a field missing,
  unknown or of the wrong kind, named in the message) or that ``predict`` refuses
  with an `fti.exceptions.FTIError`; 500 ``{"error": "TypeError: ...", "type": ...}``
  for a bug (never a traceback page). ``GET /predict?field=value&...`` does the same
  for curl and the browser's address bar;
* ``GET /health``: ``{"status": "ok", "service": NAME}``.

Predictions run on the server's event loop thread, one after another (``predict`` is
expected to take about a millisecond). Answers are made JSON-able (`fti.serve.jsonable`):
NaN and infinities become ``null``, NumPy numbers plain numbers, times ISO 8601 text.

The contract with a system
--------------------------
A system can be served if it has a module ``systems.<name>.serving`` (or any module,
served with ``fti serve --module package.module``: a project of your own) with a function
``service(store: str | Path | None = None) -> Service``. A service is any object with:

``name: str``
    Shown as the page's title.
``description: str``
    One paragraph for the page.
``request_fields: list[RequestField]``
    What a request carries: ``RequestField(name, kind, example, help)`` with ``kind`` one
    of ``int``, ``float``, ``bool``, ``datetime``, ``text``. The page builds its form from
    them; the server checks and converts every request with them before ``predict`` sees
    it (a ``datetime`` arrives as a `datetime.datetime`, read from ISO 8601 text).
``predict(request: dict) -> dict``
    One answer, JSON-able after the conversions above. The page shows ``score`` (a number,
    big), ``decision`` (text) and ``features`` (a dict name -> value, as a table), and any
    other key as it is. Raise an `FTIError` subclass for a request to refuse (-> 400).
``close() -> None``
    Flush logs, let go of resources; called once, when the server stops.

``fti serve NAME [--host 127.0.0.1] [--port 8000] [--store DIR]`` imports the module
(`importlib`: `fti` never imports a system statically), calls ``service(store)``, prints
the URL on its first line, and serves until Ctrl-C or SIGTERM; then it stops accepting,
lets answers in flight finish, calls ``service.close()``, prints one line and exits 0.
In Python: `serve_forever`, or `background` (a server on a thread, for a notebook or a test)::

    from fti.serve import background

    with background(my_service) as url:      # e.g. http://127.0.0.1:40123/, a free port
        ...                                  # send requests to url + "predict"
"""

from __future__ import annotations

from fti.serve.app import make_app
from fti.serve.fields import KINDS, RequestField, parse_request
from fti.serve.jsonable import to_jsonable
from fti.serve.loader import load_service, serving_module
from fti.serve.server import Server, background, serve_forever
from fti.serve.service import Service, check_service

__all__ = [
    "KINDS", "RequestField", "Server", "Service", "background", "check_service", "load_service", "make_app",
    "parse_request", "serve_forever", "serving_module", "to_jsonable",
]
