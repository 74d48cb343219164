"""Monitoring a fraud model whose labels arrive days late.

The online service logs every answer (`FraudService`); fraud reports arrive 1 to
`REPORT_DELAY_DAYS` days later. So a day's precision and recall can be computed at once
but keep changing until the day has *matured*: until then, a fraud not yet reported counts
as legitimate, precision looks worse and recall better than they will be. `daily_performance`
says which days have matured, and `fraud_verdict` judges only those.

Drift of the stream features needs no labels: the logged feature vectors of the last day
are compared with the training data (`fti.teach.monitoring.drift_table`, PSI).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from fti.teach.monitoring import Verdict, drift_table

from .data import REPORT_DELAY_DAYS

__all__ = ["MIN_FRAUDS", "answer_drift", "daily_performance", "fraud_verdict", "scored_transactions"]

MIN_FRAUDS = 20
"""The fewest reported frauds on matured days the verdict judges recall on: fewer is mostly luck."""


def scored_transactions(log: pd.DataFrame, ledger: pd.DataFrame, reports: pd.DataFrame) -> pd.DataFrame:
    """Each logged answer with its transaction and whether a fraud report has arrived for it so far.

    Args:
        log: The feature view's log (``card_id``, ``ts``, ``predicted_score``, ``predicted_alert``, ...).
        ledger: The ``transactions`` feature group (``tx_id``, ``card_id``, ``ts``).
        reports: The ``fraud_reports`` received so far (``tx_id``).

    Returns:
        ``tx_id``, ``ts``, ``day``, ``score``, ``alert`` and ``reported`` (0/1); one row per
        transaction (a transaction answered twice, by a repeated replay, keeps its last answer).
    """
    columns = ["tx_id", "card_id", "ts", "day", "score", "alert", "reported"]
    if log.empty:
        return pd.DataFrame(columns=columns)
    answers = log.sort_values("log_time", kind="stable") if "log_time" in log else log
    answers = answers.drop_duplicates(["card_id", "ts"], keep="last").rename(
        columns={"predicted_score": "score", "predicted_alert": "alert"})
    scored = answers[["card_id", "ts", "score", "alert"]].merge(ledger[["tx_id", "card_id", "ts"]],
                                                                on=["card_id", "ts"], how="inner")
    scored["reported"] = scored["tx_id"].isin(set(reports["tx_id"])).astype("int64")
    scored["day"] = scored["ts"].dt.tz_convert("UTC").dt.date
    return scored.sort_values("ts", kind="stable").reset_index(drop=True)[columns]


def answer_drift(reference: pd.DataFrame, log: pd.DataFrame, day: dt.date, features: list[str],
                 threshold: float) -> pd.DataFrame:
    """PSI of each feature between the training data and the day's logged answers (empty: none that day)."""
    today = log[log["ts"].dt.tz_convert("UTC").dt.date == day] if len(log) else log
    if today.empty:
        return pd.DataFrame({"feature": pd.Series(dtype="str"), "psi": pd.Series(dtype="float64"),
                             "rows": pd.Series(dtype="int64"), "drifted": pd.Series(dtype="boolean")})
    return drift_table(reference, today, features, threshold=threshold)


def daily_performance(scored: pd.DataFrame, today: dt.date) -> pd.DataFrame:
    """Per day: answers, alerts, reported frauds, caught frauds, precision, recall, and whether it has matured.

    A day has matured when its reports' window has closed by the end of ``today``.
    """
    if scored.empty:
        return pd.DataFrame(columns=["day", "answers", "alerts", "alert_rate", "frauds", "caught", "precision",
                                     "recall", "matured"])
    alerted = scored["alert"].astype(bool)
    table = scored.assign(alerts=alerted.astype("int64"), caught=(alerted & (scored["reported"] == 1)).astype("int64"))
    daily = table.groupby("day").agg(answers=("score", "size"), alerts=("alerts", "sum"), frauds=("reported", "sum"),
                                     caught=("caught", "sum")).reset_index()
    daily["alert_rate"] = (daily["alerts"] / daily["answers"]).round(4)
    daily["precision"] = (daily["caught"] / daily["alerts"].where(daily["alerts"] > 0)).round(4)
    daily["recall"] = (daily["caught"] / daily["frauds"].where(daily["frauds"] > 0)).round(4)
    daily["matured"] = [day + dt.timedelta(days=REPORT_DELAY_DAYS) <= today for day in daily["day"]]
    return daily[["day", "answers", "alerts", "alert_rate", "frauds", "caught", "precision", "recall", "matured"]]


def fraud_verdict(daily: pd.DataFrame, drift: pd.DataFrame, min_recall: float, min_frauds: int = MIN_FRAUDS
                  ) -> Verdict:
    """Retrain when recall on the matured days falls below ``min_recall``, or a stream feature drifted.

    Args:
        daily: From `daily_performance`.
        drift: From `fti.teach.monitoring.drift_table` (the day's logged features against training).
        min_recall: Pooled recall on matured days below which to retrain (e.g. what the
            model reached on its validation split, less a margin).
        min_frauds: The fewest reported frauds on matured days to judge recall at all.
    """
    reasons: list[str] = []
    triggers: list[str] = []
    matured = daily[daily["matured"]] if len(daily) else daily
    frauds = int(matured["frauds"].sum()) if len(matured) else 0
    recall = float(matured["caught"].sum() / frauds) if frauds else None
    if recall is None:
        reasons.append(f"recall: no matured day with reported frauds yet (reports take up to {REPORT_DELAY_DAYS} "
                       "days)")
    elif frauds < min_frauds:
        reasons.append(f"recall: not enough data yet: {frauds} reported frauds on {len(matured)} matured day(s), "
                       f"at least {min_frauds} needed (so far {recall:.3f})")
    else:
        low = recall < min_recall
        reasons.append(f"recall on {len(matured)} matured day(s) is {recall:.3f} on {frauds} reported frauds, "
                       f"{'below' if low else 'at or above'} {min_recall:.3f}")
        if low:
            triggers.append(reasons[-1])
    rows = int(drift["rows"].max()) if len(drift) else 0
    drifted = drift.loc[drift["drifted"].fillna(False).astype(bool), "feature"].tolist() if len(drift) else []
    if drifted:
        reasons.append(f"drift in {', '.join(drifted)} (PSI above threshold, {rows} answers)")
        triggers.append(reasons[-1])
    else:
        reasons.append(f"no stream or on-demand feature drifted beyond the threshold ({rows} answers)")
    return Verdict(retrain=bool(triggers), reasons=reasons, triggers=triggers,
                   enough_data=recall is not None and frauds >= min_frauds,
                   accuracy=None if recall is None else round(recall, 4), predictions=frauds, rows=rows,
                   psi={str(n): float(p) for n, p in zip(drift["feature"], drift["psi"], strict=True)},
                   min_rows=min_frauds)
