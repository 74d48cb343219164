"""What the serving checks cost: `get_feature_vector` with and without them, in one run.

Each lookup now checks that the online file is still the one it opened (a ``stat``
of device and inode) and whether another connection committed since (``PRAGMA
data_version``); only when something changed does it read the pending-commit
markers. Without the checks, a lookup goes straight to its SQLite read (as before
issue 14). Both are timed on the same store, interleaved in rounds, so machine
noise hits both alike; the figure that matters is the ratio.

    .venv/bin/python benchmarks/bench_online_checks.py [--lookups 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings

import numpy as np
import pandas as pd

import fti
from fti.store.online import OnlineStore


def _time_lookups(fv: fti.FeatureView, keys: np.ndarray) -> np.ndarray:
    seconds = np.empty(len(keys))
    for index, key in enumerate(keys):
        start = time.perf_counter()
        fv.get_feature_vector({"card_id": int(key)})
        seconds[index] = time.perf_counter() - start
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lookups", type=int, default=20_000, help="lookups per round and variant")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, alternating the variants")
    parser.add_argument("--rows", type=int, default=100_000, help="cards in the feature group")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    with tempfile.TemporaryDirectory() as folder:
        fs = fti.get_feature_store(folder)
        fg = fs.get_or_create_feature_group("cards", 1, primary_key=["card_id"], online_enabled=True)
        rng = np.random.default_rng(0)
        fg.insert(pd.DataFrame({"card_id": np.arange(args.rows), "amount": rng.random(args.rows),
                                "country": rng.choice(["SE", "DE", "FR"], args.rows)}))
        fv = fs.get_or_create_feature_view("cards_view", 1, query=fg.select_all())
        keys = rng.integers(0, args.rows, args.lookups)
        fv.get_feature_vector({"card_id": 0})  # prepare the serving plan

        checked = OnlineStore._serving_connection

        def unchecked(self: OnlineStore):  # noqa: ANN202 - the lookup as it was: no stat, no data_version
            con = self._local.con
            return con if con is not None else self._connection()

        with_checks, without_checks = [], []
        for _ in range(args.rounds):
            OnlineStore._serving_connection = checked
            with_checks.append(_time_lookups(fv, keys))
            OnlineStore._serving_connection = unchecked
            without_checks.append(_time_lookups(fv, keys))
        OnlineStore._serving_connection = checked

    on, off = np.concatenate(with_checks) * 1e3, np.concatenate(without_checks) * 1e3
    print(f"get_feature_vector over {len(on)} lookups per variant ({args.rounds} interleaved rounds):")
    print(f"  {'':16}{'p50 ms':>10}{'p99 ms':>10}")
    print(f"  {'with checks':16}{np.percentile(on, 50):10.4f}{np.percentile(on, 99):10.4f}")
    print(f"  {'without checks':16}{np.percentile(off, 50):10.4f}{np.percentile(off, 99):10.4f}")
    print(f"  ratio with/without: p50 {np.percentile(on, 50) / np.percentile(off, 50):.2f}, "
          f"p99 {np.percentile(on, 99) / np.percentile(off, 99):.2f}")


if __name__ == "__main__":
    main()
