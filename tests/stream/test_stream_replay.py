"""`run_stream`: micro-batches by arrival interval, before_event, fresh keys, real-time lag, a failing sink."""

from __future__ import annotations

import pandas as pd
import pytest

from fti.exceptions import StreamError, StreamInputError
from fti.stream import StreamReport, WindowEngine, WindowSpec, run_stream

START = pd.Timestamp("2026-03-01", tz="UTC")
SPEC = WindowSpec(key="user", time="ts", windows={"1h": "1h"},
                  aggregates={"n": ("user", "count"), "x_sum": ("x", "sum")}, last=["x"])


def events_at(seconds: list[float], users: list[int]) -> pd.DataFrame:
    """One event per arrival second (event time = arrival time), x = its position."""
    arrival = START + pd.to_timedelta(seconds, unit="s")
    return pd.DataFrame({"user": users, "ts": arrival, "x": [float(i) for i in range(len(users))],
                         "arrival": arrival})


class Sink:
    """Records every call, optionally looking up what it holds."""

    def __init__(self) -> None:
        self.calls: list[pd.DataFrame] = []

    def __call__(self, rows: pd.DataFrame) -> None:
        self.calls.append(rows)

    def holds(self, user: int) -> list[float]:
        return [x for frame in self.calls for u, x in zip(frame["user"], frame["last_x"], strict=True) if u == user]


def test_events_are_batched_by_arrival_interval():
    # Intervals of 60 s: [0, 60) holds three events, [60, 120) one, [180, 240) two.
    events = events_at([0, 10, 59.9, 60, 200, 239], users=[1, 2, 3, 4, 5, 6])
    sink = Sink()
    report = run_stream(events, WindowEngine(SPEC), sink, arrival="arrival", batch_every="60s")
    assert [frame["user"].tolist() for frame in sink.calls] == [[1, 2, 3], [4], [5, 6]]
    assert (report.events, report.batches, report.emitted) == (6, 3, 6)
    assert report.lag_p50 is None


def test_arrival_order_not_event_time_order_decides():
    events = events_at([30, 10, 20], users=[1, 1, 1]).sample(frac=1, random_state=1)
    order = []
    run_stream(events, WindowEngine(SPEC), Sink(), arrival="arrival", fresh_keys=False,
               before_event=lambda event: order.append(event["arrival"]))
    assert order == sorted(order)


def test_before_event_sees_each_event_before_its_row_and_earlier_rows_of_its_key():
    events = events_at([0, 5, 10, 15], users=[1, 2, 1, 2])
    sink = Sink()
    seen = []
    run_stream(events, WindowEngine(SPEC), sink, arrival="arrival", batch_every="60s",
               before_event=lambda event: seen.append((event["user"], event["x"], sink.holds(event["user"]))))
    # The second event of user 1 (x=2) sees the first one's row: the pending batch was flushed for it.
    assert seen == [(1, 0.0, []), (2, 1.0, []), (1, 2.0, [0.0]), (2, 3.0, [1.0])]


def test_without_fresh_keys_a_key_waits_for_the_interval():
    events = events_at([0, 5, 10], users=[1, 2, 1])
    sink = Sink()
    seen = []
    report = run_stream(events, WindowEngine(SPEC), sink, arrival="arrival", fresh_keys=False,
                        before_event=lambda event: seen.append(sink.holds(event["user"])))
    assert seen == [[], [], []]
    assert report.batches == 1


def test_real_time_replay_reports_lag():
    # 30 s of simulated time at 300x: a tenth of a second.
    events = events_at([0, 3, 7, 12, 20, 29, 30], users=[1, 2, 1, 3, 2, 1, 3])
    report = run_stream(events, WindowEngine(SPEC), Sink(), arrival="arrival", batch_every="5s", speed=300.0)
    assert isinstance(report, StreamReport)
    assert 0 <= report.lag_p50 <= report.lag_p99 <= report.lag_max
    assert "lag" in report.summary() and "7 events" in report.summary()


def test_a_failing_sink_stops_the_run_and_gets_each_batch_once():
    events = events_at([0, 10, 70, 80, 140], users=[1, 2, 3, 4, 5])
    calls = []

    def sink(rows: pd.DataFrame) -> None:
        calls.append(rows["user"].tolist())
        if len(calls) == 2:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        run_stream(events, WindowEngine(SPEC), sink, arrival="arrival")
    assert calls == [[1, 2], [3, 4]]


def test_too_late_events_are_counted_not_sunk():
    spec = WindowSpec(key="user", time="ts", windows={"1h": "1h"}, aggregates={"n": ("user", "count")},
                      allowed_lateness="1min")
    events = events_at([0, 600, 601], users=[1, 2, 1])
    events.loc[2, "ts"] = START + pd.Timedelta("5min")  # arrives 10 min in, 5 min old: too late
    sink = Sink()
    engine = WindowEngine(spec)
    report = run_stream(events, engine, sink, arrival="arrival")
    assert report.too_late == 1 and report.emitted == 2
    assert engine.dropped["arrival"].tolist() == [events.loc[2, "arrival"]]


@pytest.mark.parametrize("arguments, error, words", [
    ({"arrival": "received"}, StreamInputError, "'received'"),
    ({"arrival": "ts", "batch_every": "0s"}, StreamError, "batch_every"),
    ({"arrival": "ts", "speed": 0}, StreamError, "speed"),
])
def test_bad_run_arguments_are_refused_before_anything_runs(arguments, error, words):
    sink = Sink()
    with pytest.raises(error, match=words):
        run_stream(events_at([0], users=[1]), WindowEngine(SPEC), sink, **arguments)
    assert sink.calls == []


def test_naive_arrival_is_refused():
    events = events_at([0], users=[1])
    events["arrival"] = events["arrival"].dt.tz_localize(None)
    with pytest.raises(StreamInputError, match="'arrival'"):
        run_stream(events, WindowEngine(SPEC), Sink(), arrival="arrival")
