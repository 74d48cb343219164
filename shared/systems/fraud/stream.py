"""The streaming feature pipeline of one simulated day: transactions in arrival order, windows per card.

`stream_day` replays a day's transactions as the card network publishes them
(``arrived_at`` order: terminals that were offline send theirs minutes late) through
`fti.stream`'s window engine, and commits the cards' new states (``card_windows``) to the
offline history and the online store every few simulated minutes with a micro-batch
writer. Before each transaction enters the stream, an optional ``score`` function sees it:
the online inference service answering the authorization request, as the card network
asks it before the transaction is approved and published.

A card's earlier transactions are always committed before its next one is scored (the
replay flushes the micro-batch when a card comes back within it), so each score sees the
same ``card_windows`` row the training data joins for that transaction. In production the
stream processor's commit delay is the window of possible skew; the benchmark measures it.

Replaying a day again gives the same rows (the engine starts from the same week of stored
transactions), so the upserts change nothing: the pipeline is idempotent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from fti.exceptions import NotFoundError
from fti.store.feature_store import FeatureStore
from fti.stream import StreamReport, WindowEngine, run_stream

from .features import WINDOWS

__all__ = ["BATCH_EVERY", "LEDGER_COLUMNS", "OFFLINE_AFTER", "latest_state", "ledger", "request_of", "stream_day"]

BATCH_EVERY = "5min"
"""How often the replay commits a micro-batch of card states, in simulated time."""

OFFLINE_AFTER = pd.Timedelta("1min")
"""A transaction published this much after it happened came from an offline terminal: it was
approved without asking the inference service, so the replay does not score it."""

LEDGER_COLUMNS = ["tx_id", "card_id", "merchant_id", "ts", "arrived_at", "amount", "latitude", "longitude",
                  "card_present"]
"""The ``transactions`` feature group: what the card network publishes (no label: that comes later)."""


def ledger(transactions: pd.DataFrame) -> pd.DataFrame:
    """The published columns of transactions: the generator's truth (``is_fraud``) is not among them."""
    return transactions[LEDGER_COLUMNS].reset_index(drop=True)


def request_of(transaction: Mapping[str, Any]) -> dict[str, Any]:
    """The inference request a transaction makes (the fields of `systems.fraud.serving.REQUEST_FIELDS`)."""
    return {
        "card_id": int(transaction["card_id"]), "merchant_id": int(transaction["merchant_id"]),
        "amount": float(transaction["amount"]), "latitude": float(transaction["latitude"]),
        "longitude": float(transaction["longitude"]), "ts": transaction["ts"],
        "card_present": bool(transaction["card_present"]),
    }


def day_bounds(day: dt.date) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The first instant of ``day`` and of the day after, UTC."""
    start = pd.Timestamp(day, tz="UTC")
    return start, start + pd.Timedelta(days=1)


def warm_up_history(fs: FeatureStore, day: dt.date) -> pd.DataFrame:
    """The stored transactions the engine needs before ``day``: the longest window, plus the lateness allowed."""
    start, _ = day_bounds(day)
    longest = max(pd.Timedelta(length) for length in WINDOWS.windows.values())
    since = start - longest - pd.Timedelta(WINDOWS.allowed_lateness)
    return fs.get_feature_group("transactions", version=1).select_all().read(start_time=since, end_time=start)


def stream_day(fs: FeatureStore, transactions: pd.DataFrame, day: dt.date,
               score: Callable[[dict[str, Any]], Any] | None = None, batch_every: str = BATCH_EVERY,
               speed: float | None = None, engine: WindowEngine | None = None) -> StreamReport:
    """Replay one day's transactions through the window engine into ``card_windows``, then store the ledger.

    Args:
        fs: The feature store (with the backfill's feature groups).
        transactions: The day's transactions (`systems.fraud.transactions`).
        day: The simulated day.
        score: Called with each online-authorized transaction (as `request_of` makes it)
            just before it enters the stream; None scores nothing (no model yet).
        batch_every: Simulated time between micro-batch commits.
        speed: None replays as fast as possible; a number replays in real time, that many
            times faster than the simulated clock, and the report gives the lag.
        engine: A new `WindowEngine` of `WINDOWS` to use (by default one is made), e.g. to
            look at the events it left out (``engine.dropped``) afterwards.

    Returns:
        The replay's report: events, late and too-late ones, commits, events per second.
    """
    engine = engine or WindowEngine(WINDOWS)
    engine.warm_up(warm_up_history(fs, day))

    def before(event: dict[str, Any]) -> None:
        if score is not None and event["arrived_at"] - event["ts"] <= OFFLINE_AFTER:
            score(request_of(event))

    card_windows = fs.get_feature_group("card_windows", version=1)
    events = transactions.sort_values("arrived_at", kind="stable")
    with card_windows.micro_batch_writer() as writer:
        report = run_stream(events, engine, writer.insert, arrival="arrived_at", batch_every=batch_every,
                            before_event=before, speed=speed)
    # The ledger of the day (every transaction, also those too late for the windows): one commit.
    fs.get_feature_group("transactions", version=1).insert(ledger(transactions))
    return report


def latest_state(fs: FeatureStore, card_id: int) -> pd.Series:
    """The card's newest ``card_windows`` row (its state after its last transaction; the online row).

    Raises:
        NotFoundError: The card has no transaction yet.
    """
    rows = fs.get_feature_group("card_windows", version=1).read()
    rows = rows[rows["card_id"] == card_id]
    if rows.empty:
        raise NotFoundError(f"card {card_id} has no row in feature group card_windows yet: it has made no transaction")
    return rows.sort_values("ts", kind="stable").iloc[-1]
