"""Replay events as a stream on the simulated clock: `run_stream` and its `StreamReport`.

There is no broker here: the events are a DataFrame with an arrival time per
event (when the stream processor receives it, which may be after its event
time). `run_stream` hands them to a `WindowEngine` in micro-batches and gives
the emitted rows to a sink, e.g. ``writer.insert`` of ``fg.micro_batch_writer()``:

- Events are taken in arrival order (ties keep their order in the frame).
- A micro-batch is the events whose arrival falls in one ``batch_every``
  interval of the clock (intervals start at multiples of ``batch_every`` since
  1970); it is processed, and its rows given to the sink, when the interval closes.
- ``before_event(event)`` is called with each event (a dict) just before it
  enters the stream: a system that scores an event before it is published (a
  payment network asking for a decision) does so there.
- With ``fresh_keys=True``, an event whose key still has rows not given to the
  sink first closes the pending micro-batch, so ``before_event`` sees every
  earlier event of its key in the sink. That is what a stream processor
  partitioned by key, with the online store as its state store, guarantees; the
  freshness lag of a real deployment is a separate measurement.
- ``speed=None`` replays as fast as possible. ``speed=60.0`` replays in real time
  at 60x the simulated clock (sleeping until each event's arrival and each
  interval's end), and the report gives the lag of every event: wall-clock time
  from its scaled arrival to the end of the sink call that made its row available.

If the sink raises, the run stops with that error: the micro-batch is not given
to the sink again, and the engine's state already includes it (start a new
engine, warmed up from what the sink holds, to resume).
"""

from __future__ import annotations

import time as wallclock
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fti.exceptions import StreamError, StreamInputError
from fti.stream.windows import WindowEngine, epoch_us


@dataclass(frozen=True)
class StreamReport:
    """What a `run_stream` did.

    Attributes:
        events: Events replayed.
        batches: Sink calls.
        emitted: Rows given to the sink.
        late: Events accepted although older than their key's latest event.
        too_late: Events dropped (older than the watermark).
        corrections: Rows given again, corrected by a late event.
        wall_seconds: Wall-clock duration of the run.
        events_per_second: ``events / wall_seconds``.
        lag_p50, lag_p99, lag_max: Seconds from an event's scaled arrival to the end of the sink call
            that made its row available (None unless replayed in real time).
    """

    events: int
    batches: int
    emitted: int
    late: int
    too_late: int
    corrections: int
    wall_seconds: float
    events_per_second: float
    lag_p50: float | None = None
    lag_p99: float | None = None
    lag_max: float | None = None

    def summary(self) -> str:
        """A few readable lines."""
        text = (f"{self.events:,} events in {self.wall_seconds:.2f} s ({self.events_per_second:,.0f} events/s), "
                f"{self.batches:,} micro-batches, {self.emitted:,} rows emitted "
                f"({self.corrections:,} corrections); {self.late:,} late, {self.too_late:,} too late (dropped)")
        if self.lag_p50 is not None:
            text += (f"\nlag from arrival to sink: p50 {self.lag_p50 * 1000:.1f} ms, "
                     f"p99 {self.lag_p99 * 1000:.1f} ms, max {self.lag_max * 1000:.1f} ms")
        return text

    def __repr__(self) -> str:
        return f"StreamReport({self.summary()})"


def run_stream(events: pd.DataFrame, engine: WindowEngine, sink: Callable[[pd.DataFrame], object], *,
               arrival: str, batch_every: str | pd.Timedelta = "60s",
               before_event: Callable[[dict], None] | None = None, fresh_keys: bool = True,
               speed: float | None = None) -> StreamReport:
    """Replay ``events`` by arrival time through ``engine`` into ``sink`` (see the module docstring).

    Args:
        events: The events, with the engine spec's columns and an ``arrival`` column.
        engine: The window engine (possibly warmed up with earlier events).
        sink: Called with each micro-batch's emitted rows (never with an empty frame).
        arrival: The column of arrival times (tz-aware datetimes).
        batch_every: The micro-batch interval on the simulated clock.
        before_event: Called with each event as a dict just before it enters the stream.
        fresh_keys: Close the pending micro-batch before an event whose key has rows in it.
        speed: None for as fast as possible, or how many times faster than the simulated clock to replay.

    Raises:
        StreamInputError: A missing, null or naive ``arrival`` column, or events that do not fit the
            engine's spec (checked before anything runs).
        StreamError: A non-positive ``batch_every`` or ``speed``.
        Exception: Whatever ``sink`` or ``before_event`` raises stops the run.
    """
    every = _check(events, engine, arrival, batch_every, speed)
    ordered = events.sort_values(arrival, kind="stable")  # keeps its index, so engine.dropped points into events
    arrivals = epoch_us(ordered[arrival])
    every_us = every.value // 1000
    key_column = engine.spec.key
    records = ordered.to_dict("records")
    counts = (engine.late, engine.too_late, engine.corrections)
    start_wall = wallclock.perf_counter()
    first_us = arrivals[0] if arrivals else 0

    def wall_of(sim_us: int) -> float:
        """The wall-clock moment (perf_counter) of a simulated instant in a real-time replay."""
        return start_wall + (sim_us - first_us) / 1e6 / speed

    pending: list[int] = []  # row positions of the micro-batch being collected
    pending_keys: set = set()
    batches = emitted = 0
    lags: list[float] = []

    def flush() -> None:
        nonlocal batches, emitted
        if not pending:
            return
        batch = ordered.iloc[pending]
        rows = engine.process(batch)  # extra columns (the arrival time) are ignored, and kept in engine.dropped
        if len(rows):
            sink(rows)
            batches += 1
            emitted += len(rows)
        if speed is not None and len(rows):
            done = wallclock.perf_counter()
            made = set(zip(rows[key_column].tolist(), epoch_us(rows[engine.spec.time]), strict=True))
            batch_times = epoch_us(batch[engine.spec.time])
            for position, key, time_us in zip(pending, batch[key_column].tolist(), batch_times, strict=True):
                if (key, time_us) in made:  # a too-late event has no row, so no lag
                    lags.append(done - wall_of(arrivals[position]))
        pending.clear()
        pending_keys.clear()

    interval = None
    for position, record in enumerate(records):
        this_interval = arrivals[position] // every_us
        if pending and this_interval != interval:
            if speed is not None:
                _sleep_until(wall_of((interval + 1) * every_us))
            flush()
        interval = this_interval
        if speed is not None:
            _sleep_until(wall_of(arrivals[position]))
        if fresh_keys and record[key_column] in pending_keys:
            flush()
        if before_event is not None:
            before_event(record)
        pending.append(position)
        pending_keys.add(record[key_column])
    if pending and speed is not None:
        _sleep_until(wall_of((interval + 1) * every_us))
    flush()

    wall = wallclock.perf_counter() - start_wall
    lag = np.array(lags) if lags else None
    return StreamReport(
        events=len(records), batches=batches, emitted=emitted,
        late=engine.late - counts[0], too_late=engine.too_late - counts[1],
        corrections=engine.corrections - counts[2], wall_seconds=wall,
        events_per_second=len(records) / wall if wall > 0 else float("inf"),
        lag_p50=None if lag is None else float(np.percentile(lag, 50)),
        lag_p99=None if lag is None else float(np.percentile(lag, 99)),
        lag_max=None if lag is None else float(lag.max()),
    )


def _sleep_until(moment: float) -> None:
    remaining = moment - wallclock.perf_counter()
    if remaining > 0:
        wallclock.sleep(remaining)


def _check(events: pd.DataFrame, engine: WindowEngine, arrival: str, batch_every: str | pd.Timedelta,
           speed: float | None) -> pd.Timedelta:
    """Refuse a run that cannot work, before any event is replayed; return the interval."""
    engine.spec.check_events(events)
    if arrival not in events.columns:
        raise StreamInputError(f"events lack the arrival column {arrival!r}")
    if events[arrival].isna().any():
        raise StreamInputError(f"events have null values in the arrival column {arrival!r}")
    if not isinstance(events[arrival].dtype, pd.DatetimeTZDtype):
        raise StreamInputError(f"the arrival column {arrival!r} has dtype {events[arrival].dtype}; "
                               "it must be tz-aware datetimes")
    try:
        every = pd.Timedelta(batch_every)
    except (TypeError, ValueError) as error:
        raise StreamError(f"batch_every={batch_every!r} is not a duration; use e.g. '60s'") from error
    if pd.isna(every) or every < pd.Timedelta(microseconds=1):
        raise StreamError(f"batch_every={batch_every!r} must be at least one microsecond")
    if speed is not None and not speed > 0:
        raise StreamError(f"speed={speed!r} must be a positive number (or None for as fast as possible)")
    return every
