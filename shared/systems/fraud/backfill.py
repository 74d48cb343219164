"""The backfill and the feature view in one call each, for tests and benchmarks.

The notebooks ``01_feature_backfill`` and ``03_training_pipeline`` write these steps out
one by one, for students to read; tests and benchmarks that need a ready store call
`backfill` and `create_feature_view` instead. Both must stay what the notebooks do.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from fti.store.feature_store import FeatureStore
from fti.store.feature_view import FeatureView
from fti.stream import batch_windows

from .data import accounts, cards, merchants
from .features import ON_DEMAND_FEATURES, WINDOW_FEATURES, WINDOWS, card_profiles
from .generator import history
from .labels import mature_labels, matured_transactions, reports_between
from .serving import FEATURE_VIEW
from .stream import ledger

__all__ = ["backfill", "create_feature_view"]


def backfill(fs: FeatureStore, first: dt.date, end: dt.date, labelled_at: pd.Timestamp,
             true_labels: bool = False) -> pd.DataFrame:
    """Write the feature groups of ``01_feature_backfill`` with the days from ``first`` up to ``end``.

    Args:
        fs: An empty feature store.
        first: The first day of the history.
        end: The day after the last.
        labelled_at: When the labels are written.
        true_labels: Label every transaction with the generator's truth at once, instead of
            only the matured ones from the reports (for tests about features, not labels).

    Returns:
        The history's transactions (with the generator's truth).
    """
    transactions = history(first, end)
    groups = {
        "cards": fs.get_or_create_feature_group("cards", version=1, primary_key=["card_id"], event_time="issued_at",
                                                online_enabled=True),
        "merchants": fs.get_or_create_feature_group("merchants", version=1, primary_key=["merchant_id"],
                                                    event_time="opened_at", online_enabled=True),
        "transactions": fs.get_or_create_feature_group("transactions", version=1, primary_key=["tx_id"],
                                                       event_time="ts"),
        "card_windows": fs.get_or_create_feature_group("card_windows", version=1, primary_key=["card_id"],
                                                       event_time="ts", online_enabled=True),
        "fraud_reports": fs.get_or_create_feature_group("fraud_reports", version=1, primary_key=["tx_id"],
                                                        event_time="reported_at"),
        "transaction_labels": fs.get_or_create_feature_group(
            "transaction_labels", version=1, primary_key=["card_id", "merchant_id", "tx_id"], event_time="ts"),
    }
    groups["cards"].insert(card_profiles(cards(), accounts()))
    groups["merchants"].insert(merchants())
    groups["transactions"].insert(ledger(transactions))
    groups["card_windows"].insert(batch_windows(transactions, WINDOWS))
    reports = reports_between(first, end)
    groups["fraud_reports"].insert(reports)
    if true_labels:
        labels = transactions[["card_id", "merchant_id", "tx_id", "ts", "is_fraud"]].assign(
            labelled_at=pd.Timestamp(labelled_at))
    else:
        labels = mature_labels(matured_transactions(transactions, end - dt.timedelta(days=1)), reports, labelled_at)
    groups["transaction_labels"].insert(labels)
    return transactions


def create_feature_view(fs: FeatureStore) -> FeatureView:
    """The feature view of ``03_training_pipeline`` (see there why each join is as it is)."""
    labels = fs.get_feature_group("transaction_labels", version=1)
    query = (labels.select(["is_fraud"])
             .join(fs.get_feature_group("transactions", version=1).select(
                 ["amount", "latitude", "longitude", "card_present"]), on=["tx_id"])
             .join(fs.get_feature_group("cards", version=1).select(
                 ["credit_limit", "home_latitude", "home_longitude"]), on=["card_id"])
             .join(fs.get_feature_group("merchants", version=1).select(["category", "online"]), on=["merchant_id"])
             .join(fs.get_feature_group("card_windows", version=1).select(
                 WINDOW_FEATURES + ["last_ts", "last_latitude", "last_longitude", "last_card_present"]),
                   on=["card_id"], strictly_before=True))
    return fs.get_or_create_feature_view(
        FEATURE_VIEW, version=1, query=query, labels=["is_fraud"],
        transformation_functions={"category": "label_encoder"}, on_demand_features=ON_DEMAND_FEATURES,
        logging_enabled=True,
        description="Card transactions: profiles, stream windows before it, on-demand features")
