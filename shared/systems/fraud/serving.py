"""The card-fraud online inference pipeline: one transaction in, a score and a decision out, in about a millisecond.

`FraudService.predict` takes a transaction as it arrives (card, merchant, amount, place,
time, card present or not) and

1. looks up the card's profile, its stream features (the online ``card_windows`` row: the
   card's state after its previous transaction) and the merchant's profile by key;
2. computes the on-demand features from the request (`systems.fraud.features`);
3. applies the feature view's transformations fitted with the model's training data;
4. scores the row with the production model and compares it with the model's threshold.

Steps 1 to 3 are one call, ``feature_view.get_feature_vector``, the same feature view the
training pipeline read, so training and serving compute every feature alike. Each answer
is logged to the feature view's log (buffered, written every few seconds by a background
thread, so logging never delays an answer) for the monitoring pipeline.

Served over HTTP by ``fti serve fraud`` (`fti.serve`: a page to type a transaction into,
and ``POST /predict``). It reads the store in ``FTI_STORE`` (default ``data/store/``) and
keeps the model version it loaded: restart it after a new model is promoted.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

import fti
from fti.exceptions import ModelNotFoundError, ParameterError, ServingError
from fti.serve import RequestField

from .features import MODEL_INPUTS
from .model import FraudModel

__all__ = ["FEATURE_VIEW", "MODEL", "REQUEST_FIELDS", "FraudService", "parse_request", "production_service", "service",
           "timed_predict"]

MODEL = "card_fraud"
"""The model's name in the registry."""

FEATURE_VIEW = "card_fraud"
"""The feature view the model was trained from (and whose log keeps the predictions)."""

REQUEST_FIELDS = [
    RequestField("card_id", "int", 500017, "the card's number (500000 to 500999)"),
    RequestField("merchant_id", "int", 70003, "the merchant's number in the store"),
    RequestField("amount", "float", 42.5, "the amount, in euros"),
    RequestField("latitude", "float", 59.33, "where the card was used (card present: the shop; online: the device)"),
    RequestField("longitude", "float", 18.07, "longitude of the same place"),
    RequestField("ts", "datetime", "2026-03-01T12:00:00Z", "when, with a time zone"),
    RequestField("card_present", "bool", True, "true for a card read in a shop, false for an online purchase"),
]
"""What a request carries: the page's form and the HTTP server's checks are built from it."""

# A server writes its log every 2 s: one small commit, never on a request's path.
_FLUSH_SECONDS = 2.0


def _number(request: Mapping[str, Any], name: str, low: float, high: float) -> float:
    value = request[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParameterError(f"transaction: {name} must be a number, got {value!r:.80}")
    value = float(value)
    if not (low <= value <= high):
        raise ParameterError(f"transaction: {name} {value} is outside [{low}, {high}]")
    return value


def _whole(request: Mapping[str, Any], name: str) -> int:
    value = request[name]
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ParameterError(f"transaction: {name} must be a whole number, got {value!r:.80}")
    return int(value)


def _time(value: Any) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ParameterError(f"transaction: ts '{value!s:.80}' is not a time such as '2026-03-01T12:00:00Z'") from None
    if ts is pd.NaT:
        raise ParameterError("transaction: ts is missing")
    if ts.tzinfo is None:
        raise ParameterError(f"transaction: ts '{value!s:.80}' has no time zone; add one, e.g. 'Z' for UTC")
    return ts.tz_convert("UTC")


def parse_request(request: Mapping[str, Any]) -> dict[str, Any]:
    """A request's fields, checked and typed.

    Raises:
        ParameterError: A field is missing, unknown, of the wrong type or out of range.
    """
    if not isinstance(request, Mapping):
        raise ParameterError(f"transaction: a request is a dict of fields, got {type(request).__name__}")
    names = [field.name for field in REQUEST_FIELDS]
    missing = [name for name in names if name not in request]
    extra = [name for name in request if name not in names]
    if missing or extra:
        problem = f"missing {missing}" if missing else f"unknown field(s) {extra}"
        raise ParameterError(f"transaction: {problem}; a request has exactly {names}")
    present = request["card_present"]
    if not isinstance(present, bool):
        raise ParameterError(f"transaction: card_present must be true or false, got {present!r:.80}")
    amount = _number(request, "amount", -math.inf, 1e7)
    if amount <= 0:
        raise ParameterError(f"transaction: amount must be above 0, got {amount}")
    return {
        "card_id": _whole(request, "card_id"), "merchant_id": _whole(request, "merchant_id"), "amount": amount,
        "latitude": _number(request, "latitude", -90.0, 90.0),
        "longitude": _number(request, "longitude", -180.0, 180.0),
        "ts": _time(request["ts"]), "card_present": present,
    }


class FraudService:
    """Scores transactions with the production model, features from the online store.

    Args:
        store: The store folder (default: ``FTI_STORE`` or ``data/store/``).
        alias: The alias whose model version answers.
        log: Log every answer to the feature view's log (buffered until `flush`).
        flush_seconds: Write the buffered answers every so many seconds from a background
            thread (a server); None writes them only on `flush` or `close` (a replay in a
            notebook, which writes to the store itself between predictions).

    Raises:
        ModelNotFoundError: No model behind ``alias`` yet (run the training pipeline).
    """

    name = "Card fraud"
    description = ("Type a card transaction as it arrives; the online inference pipeline looks up the card's and "
                   "the merchant's features, computes the on-demand ones, and scores it with the production model.")
    request_fields = REQUEST_FIELDS

    def __init__(self, store: str | Path | None = None, alias: str = "production", log: bool = True,
                 flush_seconds: float | None = None):
        self.production = fti.get_model_registry(store).get_model(MODEL, alias=alias)
        self.model: FraudModel = self.production.load()
        self.feature_view = self.production.feature_view
        self.feature_view.init_serving(self.production.training_dataset_version)
        self._log = log
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self._flush_seconds = flush_seconds

    @property
    def threshold(self) -> float:
        """The probability from which a transaction raises an alert: the one saved with the model."""
        return self.model.threshold

    def __repr__(self) -> str:
        return f"FraudService(model {MODEL} v{self.production.version}, threshold {self.threshold:.4f})"

    def features(self, transaction: Mapping[str, Any]) -> dict[str, Any]:
        """The feature vector of a checked transaction (`parse_request`), by name, as the model sees it.

        Raises:
            ServingError: The card or the merchant is unknown to the online store.
        """
        vector = self.feature_view.get_feature_vector(
            {"card_id": transaction["card_id"], "merchant_id": transaction["merchant_id"]},
            request_parameters={name: transaction[name] for name in ("ts", "amount", "latitude", "longitude")},
            passed_features={name: transaction[name] for name in ("amount", "latitude", "longitude", "card_present")},
            return_type="dict",
        )
        if vector.get("credit_limit") is None:
            raise ServingError(f"transaction: unknown card_id {transaction['card_id']} (no card profile online)")
        if vector.get("category") is None:
            raise ServingError(f"transaction: unknown merchant_id {transaction['merchant_id']}")
        return vector

    def predict(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Score one transaction: ``score``, ``decision`` (``alert`` or ``approve``) and the ``features`` used.

        Raises:
            ParameterError: A bad request (see `parse_request`).
            ServingError: The card or merchant is unknown.
        """
        transaction = parse_request(request)
        vector = self.features(transaction)
        score = self.model.score_vector([vector[name] for name in MODEL_INPUTS])
        decision = "alert" if score >= self.threshold else "approve"
        if self._log:
            self._remember(transaction, vector, score, decision)
        return {
            "score": round(score, 6), "decision": decision, "threshold": round(self.threshold, 6),
            "model_version": self.production.version,
            # As looked up and computed (NaN, times, NumPy numbers): the HTTP server makes them JSON.
            "features": vector,
        }

    # -- the prediction log ---------------------------------------------------------------------

    def _remember(self, transaction: dict[str, Any], vector: dict[str, Any], score: float, decision: str) -> None:
        row = {"card_id": transaction["card_id"], "merchant_id": transaction["merchant_id"], "ts": transaction["ts"],
               **vector, "score": score, "alert": decision == "alert"}
        with self._lock:
            self._pending.append(row)
            start = self._flusher is None and self._flush_seconds is not None
        if start:
            self._start_flusher()

    def _start_flusher(self) -> None:
        with self._lock:
            if self._flusher is not None:
                return
            self._flusher = threading.Thread(target=self._flush_loop, name="fraud-log", daemon=True)
        self._flusher.start()

    def _flush_loop(self) -> None:
        while not self._stop.wait(self._flush_seconds or _FLUSH_SECONDS):
            self.flush()

    def flush(self) -> int:
        """Write the buffered answers to the feature view's log now; returns how many."""
        with self._lock:
            rows, self._pending = self._pending, []
        if not rows:
            return 0
        frame = pd.DataFrame(rows)
        features = frame[list(self.feature_view_columns(frame))]
        predictions = frame[["score", "alert"]]
        keys = frame[["card_id", "merchant_id"]]
        self.feature_view.log(transformed_features=features, predictions=predictions, serving_keys=keys,
                              event_time=frame["ts"], model=self.production)
        return len(rows)

    @staticmethod
    def feature_view_columns(frame: pd.DataFrame) -> list[str]:
        """The logged feature columns: everything but keys, time and the prediction."""
        return [name for name in frame.columns if name not in ("card_id", "merchant_id", "ts", "score", "alert")]

    def close(self) -> None:
        """Stop the background writer and write what is left (called once at shutdown)."""
        self._stop.set()
        flusher = self._flusher
        if flusher is not None:
            flusher.join(timeout=30)
        self.flush()


def production_service(store: str | Path | None = None) -> FraudService | None:
    """The service of the production model, logging its answers until `FraudService.flush`; None when
    no model is in production yet (the first day, before the first training), with a line saying so."""
    try:
        return FraudService(store)
    except ModelNotFoundError:
        print(f"No model '{MODEL}' in production yet: today's transactions stream in without scores.")
        return None


def service(store: str | Path | None = None) -> FraudService:
    """What ``fti serve fraud`` serves: the production model's service, logging every answer."""
    return FraudService(store, flush_seconds=_FLUSH_SECONDS)


def timed_predict(service_: FraudService, request: Mapping[str, Any]) -> dict[str, float]:
    """Milliseconds of each step of one prediction: parse, features (lookup, on-demand, transform), model."""
    started = time.perf_counter()
    transaction = parse_request(request)
    parsed = time.perf_counter()
    vector = service_.features(transaction)
    featured = time.perf_counter()
    service_.model.score_vector([vector[name] for name in MODEL_INPUTS])
    scored = time.perf_counter()
    return {"parse": (parsed - started) * 1e3, "features": (featured - parsed) * 1e3,
            "model": (scored - featured) * 1e3, "total": (scored - started) * 1e3}
