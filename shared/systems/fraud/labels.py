"""Labels that arrive late: a transaction is known to be fraud only when its chargeback arrives.

A card holder disputes a fraudulent transaction days after it happened (a *chargeback*,
`systems.fraud.fraud_reports`); most arrive within a few days, the last within
`REPORT_DELAY_DAYS`. Until then, a transaction without a report is not yet known to be
legitimate. The label pipeline therefore writes a transaction's label only when its
reporting window has closed (it has *matured*): ``is_fraud`` 1 if a report arrived by then,
else 0. Training reads only matured labels, so it never learns "legitimate" from a fraud
whose report simply had not come yet.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from .data import REPORT_DELAY_DAYS
from .generator import fraud_reports

__all__ = ["mature_labels", "matured_day", "matured_transactions", "reports_between"]


def matured_day(day: dt.date) -> dt.date:
    """The transaction day whose labels mature at the end of ``day``."""
    return day - dt.timedelta(days=REPORT_DELAY_DAYS)


def mature_labels(transactions: pd.DataFrame, reports: pd.DataFrame, labelled_at: pd.Timestamp) -> pd.DataFrame:
    """The labels of ``transactions`` (whose reporting window has closed), from the reports received.

    Args:
        transactions: Transactions with ``tx_id``, ``card_id``, ``merchant_id``, ``ts``.
        reports: Every fraud report received so far (``tx_id``); reports of other
            transactions are ignored.
        labelled_at: When the labels are written (the label pipeline's clock).

    Returns:
        ``card_id``, ``merchant_id``, ``tx_id``, ``ts``, ``is_fraud`` (0/1) and ``labelled_at``,
        one row per transaction.
    """
    reported = transactions["tx_id"].isin(set(reports["tx_id"]))
    labels = transactions[["card_id", "merchant_id", "tx_id", "ts"]].copy()
    labels["is_fraud"] = reported.astype("int64").to_numpy()
    labels["labelled_at"] = pd.Timestamp(labelled_at).tz_convert("UTC")
    return labels.reset_index(drop=True)


def matured_transactions(transactions: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """The transactions whose labels have matured by the end of ``day`` (those of `matured_day` and before)."""
    end = pd.Timestamp(matured_day(day) + dt.timedelta(days=1), tz="UTC")
    return transactions[transactions["ts"] < end].reset_index(drop=True)


def reports_between(first: dt.date, end: dt.date) -> pd.DataFrame:
    """Every fraud report that arrives on the days from ``first`` up to (not including) ``end``."""
    days = [first + dt.timedelta(days=n) for n in range((end - first).days)]
    return pd.concat([fraud_reports(day) for day in days], ignore_index=True)
