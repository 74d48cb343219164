"""Card fraud lab, part 1: backfill online feature groups from a month of transactions.

The transactions are synthetic (seeded): 100 cards, 3,000 card payments in January
2024, event times in epoch milliseconds as the card network sends them.
"""

# %% Cell 1: imports and login
from datetime import UTC, datetime

import numpy as np
import pandas as pd

import fti as hopsworks

project = hopsworks.login()
fs = project.get_feature_store()

# %% Cell 2: the card network's API key (a project secret)
api_key = hopsworks.get_secrets_api().get_secret("FRAUD_API_KEY").value
assert api_key, "set the FRAUD_API_KEY secret in the project"
print(f"using an API key of {len(api_key)} characters")

# %% Cell 3: generate the transactions
rng = np.random.default_rng(7)
categories = ["grocery", "restaurant", "fuel", "travel", "online_retail"]
n_cards, n_transactions = 100, 3000
cards = rng.integers(4_000_000_000_000_000, 4_999_999_999_999_999, size=n_cards)
start_ms = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
month_ms = 31 * 24 * 3600 * 1000
transactions = pd.DataFrame({
    "tid": np.arange(1, n_transactions + 1, dtype="int64"),
    "cc_num": rng.choice(cards, size=n_transactions),
    "datetime": np.sort(start_ms + rng.integers(0, month_ms, size=n_transactions)).astype("int64"),
    "amount": np.round(rng.lognormal(mean=3.5, sigma=1.1, size=n_transactions), 2),
    "category": rng.choice(categories, size=n_transactions, p=[0.35, 0.25, 0.15, 0.1, 0.15]),
})
# Fraud is rare, and far more likely for large online or travel payments.
risky = transactions["category"].isin(["online_retail", "travel"]) & (transactions["amount"] > 80)
fraud_probability = np.where(risky, 0.8, 0.005)
transactions["fraud_label"] = (rng.random(n_transactions) < fraud_probability).astype("int64")
print(transactions.head())
print(f"fraud rate {transactions['fraud_label'].mean():.3f}")

# %% Cell 4: per-card aggregates as of each payment (count, mean and max amount so far)
transactions = transactions.sort_values(["cc_num", "datetime"])
by_card = transactions.groupby("cc_num")["amount"]
card_aggs = pd.DataFrame({
    "cc_num": transactions["cc_num"],
    "datetime": transactions["datetime"],
    "txn_count": by_card.cumcount().astype("int64") + 1,
    "avg_amount": by_card.expanding().mean().reset_index(level=0, drop=True).round(2),
    "max_amount": by_card.cummax(),
})
transactions = transactions.sort_values("tid").reset_index(drop=True)
print(card_aggs.head())

# %% Cell 5: the transactions feature group, online for real-time scoring
trans_fg = fs.get_or_create_feature_group(
    name="transactions",
    version=1,
    description="Card payments: amount, merchant category and the fraud label",
    primary_key=["tid"],
    event_time="datetime",
    online_enabled=True,
)
trans_fg.insert(transactions, write_options={"wait_for_job": True})

# %% Cell 6: the per-card aggregates feature group
card_fg = fs.get_or_create_feature_group(
    name="card_aggs",
    version=1,
    description="Per-card payment history as of each payment",
    primary_key=["cc_num"],
    event_time="datetime",
    online_enabled=True,
)
card_fg.insert(card_aggs, write_options={"wait_for_job": True})
card_fg.update_feature_description("avg_amount", "Mean payment amount of the card so far")
card_fg.update_feature_description("txn_count", "Number of payments of the card so far")

# %% Cell 7: check what landed
assert len(trans_fg.read()) == n_transactions
assert len(card_fg.read()) == n_transactions
print(trans_fg.read().head())
