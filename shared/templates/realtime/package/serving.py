"""The serving entry point of the __System__ system: one prediction per request, from the online store.

The feature pipeline keeps each station's newest row in the online store (the
readings feature group is ``online_enabled``). `Predictor` loads the model behind
the ``production`` alias once, then answers each request with an online lookup
and the model's own transformations. Run it as a small HTTP service::

    python -m systems.__system__.serving --port 8000
    curl 'http://127.0.0.1:8000/predict?station_id=3'

It reads the store in ``FTI_STORE`` (default: ``data/store/``). Restart it after a
new model is promoted: it keeps the version it loaded.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import fti
from fti.exceptions import FTIError, ParameterError, ServingError

from .source import KEY

__all__ = ["MODEL", "Predictor", "serve"]

MODEL = "__system__"
"""The model's name in the registry."""


class Predictor:
    """Answers prediction requests with the production model and the online store.

    Args:
        store: The store folder (default: ``FTI_STORE`` or ``data/store/``).
        alias: The alias whose model version answers.
        threshold: Probability from which a reading is predicted to go up.

    Raises:
        ModelNotFoundError: No model behind ``alias`` yet (run the training pipeline).
    """

    def __init__(self, store: str | Path | None = None, alias: str = "production", threshold: float = 0.5):
        self.threshold = threshold
        self.production = fti.get_model_registry(store).get_model(MODEL, alias=alias)
        self.model = self.production.load()
        self.feature_view = self.production.feature_view
        # Once, here: the lookup plan and the transformations of the model's own training data.
        self.feature_view.init_serving(self.production.training_dataset_version)

    def __repr__(self) -> str:
        return f"Predictor(model {MODEL} v{self.production.version}, threshold {self.threshold})"

    def predict(self, station_id: int) -> dict[str, Any]:
        """The prediction for one station, from its newest row in the online store.

        Raises:
            ServingError: The online store has no complete row for this station.
        """
        vector = self.feature_view.get_feature_vector({KEY: station_id}, return_type="pandas")
        # An unknown station comes back with missing values (the transformations fill in only some).
        if vector.isna().any(axis=None):
            raise ServingError(f"no features for {KEY} {station_id} in the online store")
        probability = float(self.model.predict_proba(vector)[0, 1])
        return {
            KEY: station_id,
            "probability_up": round(probability, 4),
            "predicted_goes_up": int(probability >= self.threshold),
            "model_version": self.production.version,
        }


def _handler(predictor: Predictor) -> type[BaseHTTPRequestHandler]:
    class PredictionHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            url = urlparse(self.path)
            if url.path != "/predict":
                self._answer(HTTPStatus.NOT_FOUND, {"error": f"unknown path {url.path}; use /predict?{KEY}=N"})
                return
            values = parse_qs(url.query).get(KEY, [])
            try:
                if len(values) != 1 or not values[0].lstrip("-").isdigit():
                    raise ParameterError(f"give one whole number: /predict?{KEY}=3")
                self._answer(HTTPStatus.OK, predictor.predict(int(values[0])))
            except FTIError as exc:
                self._answer(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            except Exception as exc:  # noqa: BLE001 - a client gets an answer even when the server has a bug
                self._answer(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(exc).__name__}: {exc}"})

        def _answer(self, status: HTTPStatus, body: dict[str, Any]) -> None:
            payload = json.dumps(body, allow_nan=False, default=_plain).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
            pass  # one line per request would drown the terminal

    return PredictionHandler


def _plain(value: Any) -> Any:
    """NumPy numbers as plain JSON numbers."""
    number = float(value)
    return None if math.isnan(number) else number


def serve(predictor: Predictor, port: int = 8000, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """An HTTP server answering ``GET /predict?station_id=N`` with JSON; call ``serve_forever()`` on it."""
    return ThreadingHTTPServer((host, port), _handler(predictor))


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m systems.__system__.serving [--port N] [--host H] [--store DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m systems.__system__.serving",
                                     description="Serve __system__ predictions over HTTP.")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000; 0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--store", help="store folder (default: FTI_STORE or data/store/)")
    args = parser.parse_args(argv)
    server = serve(Predictor(args.store), args.port, args.host)
    host, port = server.server_address[:2]
    print(f"serving model {MODEL} on http://{host}:{port}/predict?{KEY}=1 (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
