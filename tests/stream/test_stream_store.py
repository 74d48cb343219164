"""A stream into a real online-enabled feature group through a micro-batch writer.

Afterwards the offline history equals the batch answer over the accepted events,
and the online store serves each key's latest row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fti.stream import WindowEngine, WindowSpec, batch_windows, run_stream

START = pd.Timestamp("2026-03-01", tz="UTC")
SPEC = WindowSpec(key="user_id", time="ts", windows={"10m": "10min", "1h": "1h"},
                  aggregates={"n": ("user_id", "count"), "amount_sum": ("amount", "sum")},
                  last=["amount"], allowed_lateness="5min")


def events(seed: int = 0, size: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = START + pd.to_timedelta(np.sort(rng.integers(0, 6 * 3600, size)), unit="s")
    delay = pd.to_timedelta(np.where(rng.random(size) < 0.2, rng.integers(0, 600, size), 0), unit="s")
    amount = rng.gamma(2.0, 30.0, size).round(2)
    return pd.DataFrame({"user_id": rng.integers(0, 20, size), "ts": ts, "amount": amount, "arrival": ts + delay})


def test_stream_into_an_online_feature_group(fs):
    stream = events()
    fg = fs.get_or_create_feature_group("user_windows", version=1, primary_key=["user_id"], event_time="ts",
                                        online_enabled=True)
    engine = WindowEngine(SPEC)
    with fg.micro_batch_writer() as writer:
        report = run_stream(stream, engine, writer.insert, arrival="arrival", batch_every="60s")
    assert report.batches == writer.commits > 1
    assert report.late > 0 and report.too_late > 0

    accepted = stream.drop(index=engine.dropped.index)
    expected = (batch_windows(accepted, SPEC).drop_duplicates(["user_id", "ts"], keep="last")
                .sort_values(["user_id", "ts"]).reset_index(drop=True))
    stored = fg.read().sort_values(["user_id", "ts"]).reset_index(drop=True)[SPEC.output_columns]
    pd.testing.assert_frame_equal(stored, expected, check_dtype=False, check_exact=False, rtol=1e-9)

    view = fs.get_or_create_feature_view("user_windows_online", version=1, query=fg.select_all())
    latest = expected.groupby("user_id").tail(1).set_index("user_id")
    for user_id, row in latest.iterrows():
        vector = view.get_feature_vector({"user_id": int(user_id)}, return_type="dict")
        assert vector["n_1h"] == row["n_1h"], user_id
        assert vector["last_amount"] == row["last_amount"], user_id
