"""The window engine against the SQL batch oracle, the window bounds, replays, and bad input.

The central test generates random streams (several keys, several events at one
instant, nulls, random arrival delays, some beyond the allowed lateness), feeds
them to the engine in random micro-batch splits, applies the emitted rows as an
upsert on (key, time), and requires exactly the rows `batch_windows` computes
in DuckDB over the accepted events.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fti.exceptions import FTIError, StreamInputError, WindowSpecError
from fti.stream import WindowEngine, WindowSpec, batch_windows

START = pd.Timestamp("2026-03-01", tz="UTC")
SPEC = WindowSpec(key="user", time="ts", windows={"10m": "10min", "1h": "1h", "1d": "1D"},
                  aggregates={"n": ("user", "count"), "x_n": ("x", "count"), "x_sum": ("x", "sum"),
                              "x_mean": ("x", "mean"), "x_max": ("x", "max"), "x_min": ("x", "min")},
                  last=["x", "ts", "label"], allowed_lateness="20min")
COUNTS = [column for column in SPEC.aggregate_columns if column.startswith(("n_", "x_n_"))]
FLOATS = [column for column in SPEC.aggregate_columns if column not in COUNTS]


def random_events(seed: int, size: int = 300) -> pd.DataFrame:
    """Events with ties, nulls, and arrival delays of up to 40 minutes (lateness allows 20)."""
    rng = np.random.default_rng(seed)
    # Whole minutes over two days, so many events share an instant and land exactly on window edges.
    minutes = rng.integers(0, 2 * 24 * 60, size)
    ts = START + pd.to_timedelta(minutes, unit="min")
    delay = pd.to_timedelta(np.where(rng.random(size) < 0.2, rng.integers(0, 40 * 60, size), 0), unit="s")
    x = rng.normal(50, 20, size).round(2)
    x[rng.random(size) < 0.15] = np.nan
    events = pd.DataFrame({"user": rng.integers(0, 5, size), "ts": ts, "x": x,
                           "label": rng.choice(["a", "b", "c"], size), "arrival": ts + delay})
    return events.sort_values("arrival", kind="stable").reset_index(drop=True)


def split(events: pd.DataFrame, cuts) -> list[pd.DataFrame]:
    """Consecutive micro-batches cut at the given row positions."""
    bounds = [0, *cuts, len(events)]
    return [events.iloc[start:end] for start, end in zip(bounds[:-1], bounds[1:], strict=True)]


def upsert(rows: list[pd.DataFrame]) -> pd.DataFrame:
    """What a table keyed on (user, ts) holds after upserting the emitted rows in order."""
    table: dict = {}
    for frame in rows:
        for record in frame.to_dict("records"):
            table[(record["user"], record["ts"])] = record
    return pd.DataFrame(list(table.values())).sort_values(["user", "ts"]).reset_index(drop=True)


def assert_same_rows(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert len(got) == len(expected)
    for column in ["user", "ts", "last_ts", "last_label", *COUNTS]:
        assert got[column].tolist() == expected[column].tolist(), column
    for column in [*FLOATS, "last_x"]:
        np.testing.assert_allclose(got[column].to_numpy(float), expected[column].to_numpy(float),
                                   rtol=1e-9, equal_nan=True, err_msg=column)


@pytest.mark.parametrize("seed", range(25))
def test_engine_upserted_equals_batch_over_accepted_events(seed):
    events = random_events(seed)
    rng = np.random.default_rng(1000 + seed)
    cuts = sorted(rng.choice(np.arange(1, len(events)), size=rng.integers(0, 30), replace=False))
    engine = WindowEngine(SPEC)
    emitted = [engine.process(part) for part in split(events, cuts)]

    dropped = engine.dropped
    assert engine.too_late == len(dropped)
    assert engine.late > 0 and engine.too_late > 0  # the generator does make both kinds
    accepted = events.drop(index=dropped.index)
    expected = batch_windows(accepted, SPEC).drop_duplicates(["user", "ts"], keep="last").reset_index(drop=True)
    assert_same_rows(upsert(emitted), expected)
    assert engine.events == len(events)
    assert engine.emitted == sum(len(frame) for frame in emitted)


def test_dtypes_are_stable_across_batches():
    events = random_events(1, size=60)
    engine = WindowEngine(SPEC)
    first, second, empty = engine.process(events[:30]), engine.process(events[30:]), engine.process(events[:0])
    assert list(first.columns) == SPEC.output_columns
    assert first.dtypes.equals(second.dtypes) and first.dtypes.equals(empty.dtypes)
    assert {str(first[column].dtype) for column in COUNTS} == {"int64"}
    assert {str(first[column].dtype) for column in FLOATS} == {"float64"}
    assert first["last_ts"].dtype == events["ts"].dtype


def test_late_event_corrects_the_later_rows_of_its_key():
    engine = WindowEngine(SPEC)
    on_time = pd.DataFrame({"user": [1, 1], "ts": [START, START + pd.Timedelta("5min")], "x": [1.0, 2.0],
                            "label": ["a", "b"]})
    engine.process(on_time)
    late = pd.DataFrame({"user": [1], "ts": [START + pd.Timedelta("1min")], "x": [10.0], "label": ["c"]})
    rows = engine.process(late)
    # Its own row, then the 5-minute event's row corrected to include it.
    assert rows["ts"].tolist() == [START + pd.Timedelta("1min"), START + pd.Timedelta("5min")]
    assert rows["x_sum_10m"].tolist() == [11.0, 13.0]
    assert rows["last_label"].tolist() == ["c", "b"]
    assert (engine.late, engine.corrections, engine.too_late) == (1, 1, 0)


def test_too_late_event_is_dropped_and_recorded():
    engine = WindowEngine(SPEC)
    engine.process(pd.DataFrame({"user": [1], "ts": [START + pd.Timedelta("1h")], "x": [1.0], "label": ["a"]}))
    assert engine.watermark == START + pd.Timedelta("40min")
    old = pd.DataFrame({"user": [2, 2], "ts": [START + pd.Timedelta("39min"), START + pd.Timedelta("40min")],
                        "x": [5.0, 6.0], "label": ["b", "c"]})
    rows = engine.process(old)
    assert rows["ts"].tolist() == [START + pd.Timedelta("40min")]  # at the watermark is still accepted
    assert engine.dropped["x"].tolist() == [5.0]
    assert engine.too_late == 1


@pytest.mark.parametrize("offset, inside", [(pd.Timedelta("10min"), False),
                                            (pd.Timedelta("10min") - pd.Timedelta(microseconds=1), True)])
def test_window_bounds_exclude_exactly_length_earlier(offset, inside):
    spec = WindowSpec(key="user", time="ts", windows={"10m": "10min"}, aggregates={"n": ("user", "count")})
    t = START + pd.Timedelta("1h")
    # A third event at the same instant as the second: both instants' events are in.
    events = pd.DataFrame({"user": [7, 7, 7], "ts": [t - offset, t, t]})
    expected = 3 if inside else 2
    assert WindowEngine(spec).process(events)["n_10m"].tolist()[-1] == expected
    assert batch_windows(events, spec)["n_10m"].tolist()[-2:] == [expected, expected]


def test_empty_windows_are_zero_counts_and_null_aggregates():
    events = pd.DataFrame({"user": [1], "ts": [START], "x": [np.nan], "label": ["a"]})
    for rows in (WindowEngine(SPEC).process(events), batch_windows(events, SPEC)):
        assert rows.loc[0, "n_10m"] == 1 and rows.loc[0, "x_n_10m"] == 0
        assert rows[[f"x_sum_{suffix}" for suffix in ("10m", "1h", "1d")]].isna().all(axis=None)


def test_memory_is_bounded_by_the_longest_window():
    spec = WindowSpec(key="user", time="ts", windows={"1h": "1h"}, aggregates={"n": ("user", "count")})
    engine = WindowEngine(spec)
    times = START + pd.to_timedelta(np.arange(0, 24 * 60, 5), unit="min")
    engine.process(pd.DataFrame({"user": np.arange(len(times)) % 3, "ts": times}))
    retained = sum(len(state.times) for state in engine._states.values())
    assert retained <= 2 * 3 * 12 + 3  # at most two hours of events per key (eviction runs once an hour)


def history_and_day(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    events = random_events(seed, size=400)
    ordered = events.sort_values("ts", kind="stable")
    split = START + pd.Timedelta("1D")
    return ordered[ordered["ts"] < split], events[events["ts"] >= split + pd.Timedelta("20min")]


def test_replay_from_the_same_warm_up_emits_identical_rows():
    history, day = history_and_day(3)
    runs = []
    for _ in range(2):
        engine = WindowEngine(SPEC)
        engine.warm_up(history)
        runs.append(pd.concat([engine.process(part) for part in split(day, [50, 51, 120, 180])]))
    pd.testing.assert_frame_equal(runs[0], runs[1])
    assert len(runs[0]) > 0


def test_warm_up_gives_the_rows_a_continuous_stream_gives():
    history, day = history_and_day(4)
    continuous = WindowEngine(SPEC)
    continuous.process(history)
    replayed = WindowEngine(SPEC)
    replayed.warm_up(history)
    assert replayed.events == 0 and replayed.emitted == 0
    pd.testing.assert_frame_equal(continuous.process(day), replayed.process(day))


# -- bad input ------------------------------------------------------------------------------------


def good_batch() -> pd.DataFrame:
    return pd.DataFrame({"user": [1, 2], "ts": [START, START], "x": [1.0, 2.0], "label": ["a", "b"]})


@pytest.mark.parametrize("spoil, column", [
    (lambda frame: frame.drop(columns=["x"]), "'x'"),
    (lambda frame: frame.drop(columns=["label"]), "'label'"),
    (lambda frame: frame.assign(user=[1, None]), "'user'"),
    (lambda frame: frame.assign(ts=[START, pd.NaT]), "'ts'"),
    (lambda frame: frame.assign(ts=frame["ts"].dt.tz_localize(None)), "'ts'"),
    (lambda frame: frame.assign(x=["1", "2"]), "'x'"),
])
def test_bad_batch_is_refused_naming_the_column_and_changes_nothing(spoil, column):
    engine = WindowEngine(SPEC)
    before = engine.process(good_batch().assign(ts=START - pd.Timedelta("1min")))
    state = repr(engine)
    with pytest.raises(StreamInputError, match=column):
        engine.process(spoil(good_batch()))
    assert repr(engine) == state
    # The next good batch is answered as if the refused one never came.
    fresh = WindowEngine(SPEC)
    fresh.process(good_batch().assign(ts=START - pd.Timedelta("1min")))
    pd.testing.assert_frame_equal(engine.process(good_batch()), fresh.process(good_batch()))
    assert len(before) == 2


@pytest.mark.parametrize("arguments, words", [
    ({"aggregates": {"x": ("x", "median")}}, ["'x'", "median"]),
    ({"windows": {"0": "0s"}}, ["'0'", "longer than 0"]),
    ({"windows": {"neg": "-1min"}}, ["'neg'"]),
    ({"windows": {"soon": "later"}}, ["'soon'", "duration"]),
    ({"windows": {"ns": pd.Timedelta(1)}}, ["'ns'", "microseconds"]),
    ({"allowed_lateness": "-1s"}, ["allowed_lateness"]),
    ({"aggregates": {"x": ("x", "sum"), "x_sum": ("x", "sum")}, "windows": {"1h": "1h", "sum_1h": "1h"}},
     ["'x_sum_1h'"]),
    ({"aggregates": {"x": ("user", "sum")}}, ["'x'", "key"]),
    ({"aggregates": {}, "windows": {}, "last": []}, ["nothing"]),
])
def test_bad_spec_is_refused(arguments, words):
    base = {"key": "user", "time": "ts", "windows": {"1h": "1h"}, "aggregates": {"n": ("user", "count")}}
    with pytest.raises(WindowSpecError) as info:
        WindowSpec(**{**base, **arguments})
    assert isinstance(info.value, FTIError)
    for word in words:
        assert word in str(info.value)
