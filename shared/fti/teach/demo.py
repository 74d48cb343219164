"""A two-minute tour of the store and registry: ``python -m fti.teach.demo`` (what ``make run`` runs).

It plays the three pipelines of a tiny card-fraud system on synthetic data:

1. feature pipeline: writes card profiles (twice: they change) and transactions;
2. training pipeline: a feature view joins them point-in-time, splits, trains,
   registers the model and promotes it;
3. inference pipeline: loads the production model and scores a new transaction
   from online features.

It writes to the default store (``FTI_STORE`` or ``data/store/``) under names
starting with ``demo_``, and can be run again: inserts are idempotent, and each
run registers one more model version.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score

import fti

SEED = 7
CARDS = 200
TRANSACTIONS = 3000
START = pd.Timestamp("2026-01-01", tz="UTC")


def make_profiles(rng: np.random.Generator, day: int) -> pd.DataFrame:
    """Card profiles as known on ``day`` (days after START): limits change over time."""
    return pd.DataFrame({
        "card_id": np.arange(CARDS, dtype="int64"),
        "updated_at": START + pd.Timedelta(days=day),
        "credit_limit": rng.choice([500.0, 1000.0, 2500.0, 5000.0], size=CARDS),
        "home_country": rng.choice(["SE", "NO", "DK", "FI"], size=CARDS),
    })


def make_transactions(rng: np.random.Generator, early: pd.DataFrame, late: pd.DataFrame) -> pd.DataFrame:
    """Transactions over 30 days; amounts large for the card's limit *at that time* are more often fraud."""
    cards = rng.integers(0, CARDS, size=TRANSACTIONS)
    amount = np.round(rng.gamma(2.0, 60.0, size=TRANSACTIONS), 2)
    ts = START + pd.to_timedelta(np.sort(rng.uniform(0, 30 * 86400, size=TRANSACTIONS)).round(), unit="s")
    limit = np.where(ts < late["updated_at"].iloc[0], early["credit_limit"].to_numpy()[cards],
                     late["credit_limit"].to_numpy()[cards])
    risk = 1 / (1 + np.exp(-(8 * amount / limit - 3.0)))
    return pd.DataFrame({
        "tx_id": np.arange(TRANSACTIONS, dtype="int64"),
        "ts": ts,
        "card_id": cards.astype("int64"),
        "amount": amount,
        "is_fraud": (rng.uniform(size=TRANSACTIONS) < risk).astype("int64"),
    })


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="store directory (default: FTI_STORE or data/store/)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(SEED)

    fs = fti.get_feature_store(args.store)
    mr = fti.get_model_registry(args.store)
    print(f"store: {fs.path}\n")

    print("1. Feature pipeline: write feature groups, one commit per insert")
    profiles = fs.get_or_create_feature_group(
        "demo_card_profiles", version=1, primary_key=["card_id"], event_time="updated_at",
        description="Card limits and home country, as they change", online_enabled=True,
    )
    transactions = fs.get_or_create_feature_group(
        "demo_transactions", version=1, primary_key=["tx_id"], event_time="ts",
        description="Card transactions with the fraud label",
    )
    early, late = make_profiles(rng, 0), make_profiles(rng, 15)
    print("  ", profiles.insert(early))
    print("  ", profiles.insert(late))
    frame = make_transactions(rng, early, late)
    print("  ", transactions.insert(frame))
    print("   the same insert again changes nothing (idempotent):")
    print("  ", transactions.insert(frame))

    print("\n2. Training pipeline: a feature view joins the profile valid at each transaction's time")
    query = transactions.select(["card_id", "amount", "is_fraud"]).join(
        profiles.select(["credit_limit", "home_country"]), on=["card_id"]
    )
    fv = fs.get_or_create_feature_view(
        "demo_fraud", version=1, query=query, labels=["is_fraud"],
        transformation_functions={"home_country": "one_hot_encoder", "amount": "standard_scaler",
                                  "credit_limit": "min_max_scaler"},
    )
    X_train, X_test, y_train, y_test = fv.train_test_split(test_size=0.25, seed=SEED)
    print(f"   {len(X_train)} training rows, {len(X_test)} test rows, columns {list(X_train.columns)}")
    model = LogisticRegression(max_iter=1000).fit(X_train.drop(columns=["card_id"]), y_train)
    scores = model.predict_proba(X_test.drop(columns=["card_id"]))[:, 1]
    metrics = {"accuracy": round(float(accuracy_score(y_test, scores > 0.5)), 4),
               "roc_auc": round(float(roc_auc_score(y_test, scores)), 4)}
    entry = mr.sklearn.create_model("demo_fraud", metrics=metrics, feature_view=fv,
                                    input_example=X_train.head(3), description="Logistic regression")
    entry.save(model)
    print(f"   registered {entry.name} v{entry.version} with {metrics}, trained on commit {entry.trained_on_commit}")
    best = mr.get_best_model("demo_fraud", "roc_auc", direction="max")
    mr.set_alias("demo_fraud", "production", best.version)
    versions = len(mr.get_models("demo_fraud"))
    print(f"   'production' now points to v{best.version} (best roc_auc of {versions} versions)")

    print("\n3. Online inference: the production model scores a new transaction from online features")
    production = mr.get_model("demo_fraud", alias="production")
    serving_view = production.feature_view
    serving_view.init_serving(production.training_dataset_version)
    classifier = production.load()
    vector = serving_view.get_feature_vector({"card_id": 42}, passed_features={"amount": 900.0}, return_type="dict")
    shown = {k: round(v, 3) if isinstance(v, float) else v for k, v in vector.items()}
    print(f"   feature vector for card 42: {shown}")
    inputs = pd.DataFrame([vector]).drop(columns=["card_id"])
    print(f"   fraud probability of a 900.00 payment: {classifier.predict_proba(inputs)[0, 1]:.3f}")
    started = time.perf_counter()
    for card in range(CARDS):
        serving_view.get_feature_vector({"card_id": card}, passed_features={"amount": 50.0})
    per_lookup = (time.perf_counter() - started) / CARDS * 1000
    print(f"   {CARDS} online lookups: {per_lookup:.3f} ms each")

    print("\n4. Time travel: the profiles as of the first commit")
    first = profiles.commit_details()["commit_id"].iloc[0]
    then, now = profiles.read(as_of=int(first)), profiles.read()
    print(f"   {len(then)} rows then, {len(now)} rows now (each card has two profile versions)")
    print("\nDone. Open the notebooks with `make lab`; the store is in", fs.path)


if __name__ == "__main__":
    main()
