"""The card-fraud system: card payments scored in real time, with labels that arrive days later.

Every transaction is scored by an online inference service before it is approved, then
joins a stream from which a streaming feature pipeline keeps each card's recent activity
(windowed counts and sums, the previous transaction's time and place) fresh in the online
store. Fraud reports (chargebacks) arrive 1 to 7 days later and become the labels.
Notebooks, schedule (``pipelines.yml``) and story are in ``notebooks/fraud/``. One module
per concern:

* `systems.fraud.data`: the fixed world (accounts, cards, merchants) and the constants.
* `systems.fraud.generator`: the seeded transactions of each day, their frauds, and the
  chargebacks (`fraud_reports`) that report the frauds days later.
* `systems.fraud.features`: the stream windows (`WINDOWS`), the on-demand features, card profiles.
* `systems.fraud.stream`: the streaming feature pipeline of one day (`stream_day`).
* `systems.fraud.labels`: labels written once a transaction's reporting window has closed.
* `systems.fraud.model`: `FraudModel` (booster, inputs, threshold), PR-AUC, alert budget, rule baseline.
* `systems.fraud.serving`: `FraudService.predict`, the online inference pipeline (``fti serve fraud``).
* `systems.fraud.monitoring`: precision and recall by day as reports arrive, and the verdict.

The generic parts are in ``fti``: the window engine and replay in `fti.stream`, the HTTP
server and page in `fti.serve`, the strict point-in-time join and the feature view's log
in `fti.store`.
"""

from __future__ import annotations

from .data import (
    CARDS,
    CITIES,
    FIRST_DAY,
    FRAUD_PATTERNS,
    FRAUD_RATE,
    HISTORY_DAYS,
    NEVER_REPORTED_SHARE,
    REPORT_DELAY_DAYS,
    SEED,
    START,
    accounts,
    cards,
    merchants,
)
from .features import (
    MODEL_INPUTS,
    ON_DEMAND_FEATURES,
    WINDOW_FEATURES,
    WINDOWS,
    amount_to_day_mean,
    card_profiles,
    distance_from_home_km,
    seconds_since_previous,
    travel_speed_kmh,
)
from .generator import COLUMNS, REPORT_COLUMNS, fraud_reports, history, transactions
from .labels import mature_labels, matured_day, matured_transactions, reports_between
from .model import (
    ALERT_BUDGET,
    FraudModel,
    ModelParams,
    alert_threshold,
    pr_auc,
    precision_recall_table,
    recall_at_budget,
    rule_scores,
    train,
)
from .monitoring import MIN_FRAUDS, answer_drift, daily_performance, fraud_verdict, scored_transactions
from .serving import (
    FEATURE_VIEW,
    MODEL,
    REQUEST_FIELDS,
    FraudService,
    parse_request,
    production_service,
    service,
    timed_predict,
)
from .stream import BATCH_EVERY, LEDGER_COLUMNS, OFFLINE_AFTER, latest_state, ledger, request_of, stream_day

__all__ = [
    "ALERT_BUDGET", "BATCH_EVERY", "CARDS", "CITIES", "COLUMNS", "FEATURE_VIEW", "FIRST_DAY", "FRAUD_PATTERNS",
    "FRAUD_RATE", "HISTORY_DAYS", "LEDGER_COLUMNS", "MIN_FRAUDS", "MODEL", "MODEL_INPUTS", "NEVER_REPORTED_SHARE",
    "OFFLINE_AFTER", "ON_DEMAND_FEATURES", "REPORT_COLUMNS", "REPORT_DELAY_DAYS", "REQUEST_FIELDS", "SEED", "START",
    "WINDOWS", "WINDOW_FEATURES", "FraudModel", "FraudService", "ModelParams", "accounts", "alert_threshold",
    "amount_to_day_mean", "answer_drift", "card_profiles", "cards", "daily_performance", "distance_from_home_km",
    "fraud_reports", "fraud_verdict", "history", "latest_state", "ledger", "mature_labels", "matured_day",
    "matured_transactions", "merchants", "parse_request", "pr_auc", "precision_recall_table", "production_service",
    "recall_at_budget", "reports_between", "request_of", "rule_scores", "scored_transactions",
    "seconds_since_previous", "service", "stream_day", "timed_predict", "train", "transactions", "travel_speed_kmh",
]
