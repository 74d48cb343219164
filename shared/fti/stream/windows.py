"""Windowed aggregates per key, updated one event at a time: `WindowSpec` and `WindowEngine`.

A stream feature pipeline keeps, for every key (a user, a sensor, an account),
aggregates over sliding time windows ("how many events in the last 10 minutes,
what was their sum") and the values of the key's latest event. The engine here
does that in-process, on pandas micro-batches, with the decisions below. They
are the ones the course teaches; `fti.stream.batch.batch_windows` computes the
same rows in SQL, for a backfill and as the oracle the tests compare against.

**The row of an event is the key's state right AFTER it.** For an event of key
``k`` at time ``t``, a window of length ``L`` covers the events of ``k`` with time
in ``(t - L, t]``: the event itself is in, and so is every other event of ``k`` at
the same instant ``t``; an event exactly ``L`` earlier is out. ``last_<col>`` is
the column's value in the key's latest event at or before ``t``; among events at
the same instant, the one that arrived last is the latest. So every event of a key
at one instant has the same row, and the engine emits it once per (key, time).

**Missing values follow SQL.** ``count`` counts the events whose input column is
not null (use the key column as input to count every event); ``sum``, ``mean``,
``max`` and ``min`` skip nulls. An empty aggregate is 0 for ``count`` and null
(NaN) for the others, as in SQL, where the sum of no values is NULL, not 0.
Counts are int64, the other aggregates float64.

**Late events and the watermark.** The watermark is the largest event time seen
so far minus ``allowed_lateness``. An event whose time is before the watermark
when it arrives is *too late*: it enters no window, no row is emitted for it, and
it is kept in `WindowEngine.dropped`. An event older than its key's latest event
but not too late is *late*: it enters the windows, its row is emitted, and so are
the rows of the key's later events whose windows now include it, corrected. A
downstream table that upserts the emitted rows on (key, time) therefore ends with
exactly the batch answer over the accepted events.

**Cost and memory.** An event that arrives in order costs one pass over its key's
events in the longest window (a late one, one pass per corrected row). Events
older than ``watermark - longest window`` can never be in a window again (no
accepted event can be older than the watermark) and are evicted: every key is swept
each time the watermark has moved one longest window on, so the state holds at most
about two longest windows plus the allowed lateness of events (keys left with no
events are forgotten).

Times are handled at microsecond resolution (DuckDB's), so window lengths and
lateness must be whole microseconds.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fti.exceptions import StreamInputError, WindowSpecError

FUNCTIONS = ("count", "sum", "mean", "max", "min")
"""The aggregate functions a `WindowSpec` may use."""


def _as_timedelta(value: str | pd.Timedelta, what: str) -> pd.Timedelta:
    """Read a window length or lateness, refusing what is not a whole number of microseconds."""
    try:
        length = pd.Timedelta(value)
    except (TypeError, ValueError) as error:
        raise WindowSpecError(f"{what}: {value!r} is not a duration; use e.g. '10min', '1h', '7D'") from error
    if pd.isna(length):
        raise WindowSpecError(f"{what}: {value!r} is not a duration; use e.g. '10min', '1h', '7D'")
    if length.value % 1000:
        raise WindowSpecError(f"{what}: {value!r} is not a whole number of microseconds (the time resolution)")
    return length


@dataclass(frozen=True)
class WindowSpec:
    """What to aggregate, per key, over which windows.

    Args:
        key: The key column (one column).
        time: The event-time column (tz-aware datetimes; handled in UTC).
        windows: Output suffix -> window length, e.g. ``{"10m": "10min", "1d": "1D"}``.
        aggregates: Output prefix -> (input column, function), e.g. ``{"amount_sum": ("amount", "sum")}``;
            functions: ``count``, ``sum``, ``mean``, ``max``, ``min``.
        last: Columns whose value in the key's latest event is output as ``last_<col>``
            (the time column may be listed).
        allowed_lateness: How far behind the largest event time seen an event may be and still count.

    Raises:
        WindowSpecError: An unknown function, a non-positive window, a negative lateness,
            an empty spec, or two output columns with one name.
    """

    key: str
    time: str
    windows: Mapping[str, str | pd.Timedelta]
    aggregates: Mapping[str, tuple[str, str]]
    last: Sequence[str] = ()
    allowed_lateness: str | pd.Timedelta = "0s"
    # Derived in __post_init__, so every user of the spec reads checked values.
    lengths: dict[str, pd.Timedelta] = field(init=False, repr=False, compare=False)
    lateness: pd.Timedelta = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lengths = {suffix: _as_timedelta(value, f"window {suffix!r}") for suffix, value in self.windows.items()}
        for suffix, length in lengths.items():
            if length <= pd.Timedelta(0):
                raise WindowSpecError(f"window {suffix!r} has length {length}; a window must be longer than 0")
        lateness = _as_timedelta(self.allowed_lateness, "allowed_lateness")
        if lateness < pd.Timedelta(0):
            raise WindowSpecError(f"allowed_lateness is {lateness}; it must be 0 or more")
        if not lengths and not self.last:
            raise WindowSpecError("the spec has no windows and no last columns: it would output nothing")
        if self.aggregates and not lengths:
            raise WindowSpecError("the spec has aggregates but no windows; give windows={'1h': '1h', ...}")
        for prefix, pair in self.aggregates.items():
            if not (isinstance(pair, tuple) and len(pair) == 2):
                raise WindowSpecError(f"aggregate {prefix!r} is {pair!r}; give (input column, function)")
            column, function = pair
            if function not in FUNCTIONS:
                raise WindowSpecError(f"aggregate {prefix!r} uses unknown function {function!r}; "
                                      f"use one of {', '.join(FUNCTIONS)}")
            if column == self.time:
                raise WindowSpecError(f"aggregate {prefix!r} aggregates the time column {column!r}; "
                                      "count the key column instead")
            if column == self.key and function != "count":
                raise WindowSpecError(f"aggregate {prefix!r} takes the {function} of the key column; only count may")
        object.__setattr__(self, "lengths", lengths)
        object.__setattr__(self, "lateness", lateness)
        names = self.output_columns
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise WindowSpecError(f"output column(s) {', '.join(map(repr, repeated))} appear more than once; "
                                  "rename an aggregate prefix, a window suffix or a last column")

    @property
    def aggregate_columns(self) -> list[str]:
        """``<prefix>_<suffix>`` for each aggregate x window, aggregate by aggregate."""
        return [f"{prefix}_{suffix}" for prefix in self.aggregates for suffix in self.lengths]

    @property
    def output_columns(self) -> list[str]:
        """Every column of an emitted row: key, time, the aggregates, then ``last_<col>``."""
        return [self.key, self.time, *self.aggregate_columns, *(f"last_{col}" for col in self.last)]

    @property
    def input_columns(self) -> list[str]:
        """The columns an event must have, each once."""
        wanted = [self.key, self.time, *(column for column, _ in self.aggregates.values()), *self.last]
        return list(dict.fromkeys(wanted))

    @property
    def longest(self) -> pd.Timedelta:
        """The longest window (0 when there are only last columns)."""
        return max(self.lengths.values(), default=pd.Timedelta(0))

    def check_events(self, events: pd.DataFrame, where: str = "events") -> None:
        """Refuse a frame of events that does not fit the spec, naming the column at fault.

        Raises:
            StreamInputError: Not a DataFrame, a missing column, a null key or time, a time column that
                is not tz-aware datetimes, or a non-numeric column under sum, mean, max or min.
        """
        if not isinstance(events, pd.DataFrame):
            raise StreamInputError(f"{where} must be a pandas DataFrame, got {type(events).__name__}")
        missing = [column for column in self.input_columns if column not in events.columns]
        if missing:
            raise StreamInputError(f"{where} lack column(s) {', '.join(map(repr, missing))} the window spec needs")
        for column in (self.key, self.time):
            if events[column].isna().any():
                raise StreamInputError(f"{where} have null values in column {column!r}; every event needs a "
                                       "key and a time")
        time = events[self.time]
        if not isinstance(time.dtype, pd.DatetimeTZDtype):
            raise StreamInputError(f"{where}: column {self.time!r} has dtype {time.dtype}; the event time must be "
                                   "tz-aware datetimes (e.g. pd.to_datetime(..., utc=True))")
        for prefix, (column, function) in self.aggregates.items():
            dtype = events[column].dtype
            if function != "count" and not (pd.api.types.is_numeric_dtype(dtype)
                                            or pd.api.types.is_bool_dtype(dtype)):
                raise StreamInputError(f"{where}: column {column!r} has dtype {dtype}; aggregate {prefix!r} "
                                       f"({function}) needs numbers")


def epoch_us(times: pd.Series) -> list[int]:
    """Tz-aware datetimes as whole microseconds since 1970 in UTC (the engine's clock)."""
    return pd.DatetimeIndex(times).tz_convert("UTC").as_unit("us").asi8.tolist()


def _aggregate(function: str, values: list[float]) -> float | int | None:
    """One aggregate over the non-null values of a window (SQL: empty is 0 for count, NULL otherwise)."""
    if function == "count":
        return len(values)
    if not values:
        return None
    if function == "sum":
        return math.fsum(values)
    if function == "mean":
        return math.fsum(values) / len(values)
    return max(values) if function == "max" else min(values)


class _KeyState:
    """One key's retained events, sorted by (time, arrival): parallel lists, so bisect works on ``times``."""

    __slots__ = ("times", "events")

    def __init__(self) -> None:
        self.times: list[int] = []
        self.events: list[tuple[Any, ...]] = []

    def add(self, time_us: int, event: tuple[Any, ...]) -> int:
        """Insert after every event at the same instant (it arrived last); return its position."""
        position = bisect.bisect_right(self.times, time_us)
        self.times.insert(position, time_us)
        self.events.insert(position, event)
        return position

    def evict_until(self, cutoff_us: int) -> None:
        """Forget the events at or before ``cutoff_us``."""
        cut = bisect.bisect_right(self.times, cutoff_us)
        if cut:
            del self.times[:cut]
            del self.events[:cut]


class WindowEngine:
    """Keeps per-key windowed aggregates and emits the row of every event (see the module docstring).

    Args:
        spec: What to aggregate.

    Attributes:
        events: Events given to `process` so far (accepted and too late).
        emitted: Rows returned by `process` so far.
        late: Accepted events older than their key's latest event.
        too_late: Events dropped because they were older than the watermark.
        corrections: Rows emitted again for a key's later events because a late event entered their windows.
    """

    def __init__(self, spec: WindowSpec):
        self.spec = spec
        self._states: dict[Any, _KeyState] = {}
        self._max_time_us: int | None = None
        self._evicted_at_us: int | None = None
        self._dtypes: dict[str, Any] | None = None
        self._dropped: list[pd.DataFrame] = []
        self._lengths_us = [length.value // 1000 for length in spec.lengths.values()]
        self._longest_us = spec.longest.value // 1000
        self._lateness_us = spec.lateness.value // 1000
        # Where each aggregate's input sits in a stored event tuple: (function, index).
        inputs = [column for column, _ in spec.aggregates.values()]
        self._value_columns = list(dict.fromkeys(inputs))
        self._numeric = {column for column, function in spec.aggregates.values() if function != "count"}
        self._aggregates = [(function, self._value_columns.index(column))
                            for column, function in spec.aggregates.values()]
        self.events = self.emitted = self.late = self.too_late = self.corrections = 0

    # -- public state -----------------------------------------------------------------------------

    @property
    def watermark(self) -> pd.Timestamp | None:
        """Largest event time seen minus the allowed lateness (None before the first event)."""
        if self._max_time_us is None:
            return None
        return pd.Timestamp(self._max_time_us - self._lateness_us, unit="us", tz="UTC")

    @property
    def dropped(self) -> pd.DataFrame:
        """The too-late events as they were given (all their columns, their index), in arrival order."""
        if not self._dropped:
            return pd.DataFrame(columns=self.spec.input_columns)
        return pd.concat(self._dropped)

    @property
    def keys(self) -> int:
        """How many keys have events in the state (after eviction)."""
        return len(self._states)

    def __repr__(self) -> str:
        return (f"WindowEngine(keys={self.keys}, watermark={self.watermark}, events={self.events}, "
                f"emitted={self.emitted}, late={self.late}, too_late={self.too_late}, "
                f"corrections={self.corrections})")

    # -- feeding events ---------------------------------------------------------------------------

    def warm_up(self, history: pd.DataFrame) -> None:
        """Load earlier events into the state without emitting rows or counting them.

        The events are taken in time order (all accepted), so a replay that starts from the
        same history emits the same rows every time.

        Raises:
            StreamInputError: ``history`` does not fit the spec (nothing is loaded).
        """
        self.spec.check_events(history, "history")
        ordered = history.sort_values(self.spec.time, kind="stable")
        self._remember_dtypes(ordered)
        for key, time_us, event in self._event_tuples(ordered):
            self._states.setdefault(key, _KeyState()).add(time_us, event)
            self._max_time_us = time_us if self._max_time_us is None else max(self._max_time_us, time_us)
        self._evict()

    def process(self, events: pd.DataFrame) -> pd.DataFrame:
        """Feed a micro-batch, in arrival order; return the rows it emits (new and corrected).

        A (key, time) emitted more than once in the batch is returned once, with its final
        values, at the place of its last emission.

        Raises:
            StreamInputError: ``events`` do not fit the spec; the state is left unchanged.
        """
        self.spec.check_events(events)
        self._remember_dtypes(events)
        rows: dict[tuple[Any, int], tuple[Any, ...]] = {}
        too_late: list[int] = []
        for position, (key, time_us, event) in enumerate(self._event_tuples(events)):
            self.events += 1
            if self._max_time_us is not None and time_us < self._max_time_us - self._lateness_us:
                self.too_late += 1
                too_late.append(position)
                continue
            self._max_time_us = time_us if self._max_time_us is None else max(self._max_time_us, time_us)
            state = self._states.setdefault(key, _KeyState())
            if state.times and time_us < state.times[-1]:
                self.late += 1
            position_in_key = state.add(time_us, event)
            start = bisect.bisect_left(state.times, time_us, 0, position_in_key + 1)
            for row_time in self._affected_times(state, start, time_us):
                if row_time != time_us:
                    self.corrections += 1
                rows.pop((key, row_time), None)  # re-inserted last: the final version, at its last emission
                rows[(key, row_time)] = self._row(key, state, row_time)
        if too_late:
            self._dropped.append(events.iloc[too_late])
        self._evict()
        self.emitted += len(rows)
        return self._frame(list(rows.values()))

    # -- internals --------------------------------------------------------------------------------

    def _event_tuples(self, events: pd.DataFrame):
        """(key, time in µs, stored event) per row; a stored event is (time, values..., last values...)."""
        spec = self.spec
        times = epoch_us(events[spec.time])
        values = [self._values(events[column], column in self._numeric) for column in self._value_columns]
        lasts = [events[column].tolist() for column in spec.last]
        stamps = events[spec.time].tolist()
        for index, key in enumerate(events[spec.key].tolist()):
            event = (stamps[index], *(column[index] for column in values), *(column[index] for column in lasts))
            yield key, times[index], event

    @staticmethod
    def _values(column: pd.Series, numeric: bool) -> list[float | None]:
        """An input column as floats (or 1.0 when only counted), None where null."""
        missing = column.isna().tolist()
        if not numeric:
            return [None if null else 1.0 for null in missing]
        return [None if null else float(value) for value, null in zip(column.tolist(), missing, strict=True)]

    def _affected_times(self, state: _KeyState, start: int, time_us: int) -> list[int]:
        """The distinct times of the key whose windows include an event at ``time_us``: [t, t + longest)."""
        horizon = time_us + max(self._longest_us, 1)  # with only last columns, just the event's own time
        times = []
        for row_time in state.times[start:]:
            if row_time >= horizon:
                break
            if not times or times[-1] != row_time:
                times.append(row_time)
        return times

    def _row(self, key: Any, state: _KeyState, row_time: int) -> tuple[Any, ...]:
        """The key's state right after ``row_time``: key, time, aggregates, last values."""
        end = bisect.bisect_right(state.times, row_time)
        latest = state.events[end - 1]
        starts = [bisect.bisect_right(state.times, row_time - length, 0, end) for length in self._lengths_us]
        aggregates = []
        for function, index in self._aggregates:
            for start in starts:
                values = [event[1 + index] for event in state.events[start:end] if event[1 + index] is not None]
                aggregates.append(_aggregate(function, values))
        return (key, latest[0], *aggregates, *latest[1 + len(self._value_columns):])

    def _evict(self) -> None:
        """Drop events no window can reach; sweep every key once the watermark moved a longest window on."""
        if self._max_time_us is None:
            return
        cutoff = self._max_time_us - self._lateness_us - self._longest_us
        if self._evicted_at_us is not None and cutoff - self._evicted_at_us < max(self._longest_us, 1):
            return
        self._evicted_at_us = cutoff
        for key in list(self._states):
            state = self._states[key]
            state.evict_until(cutoff)
            if not state.times:
                del self._states[key]

    def _remember_dtypes(self, events: pd.DataFrame) -> None:
        """Output dtypes of key, time and last columns come from the first frame seen, so they stay stable."""
        if self._dtypes is None:
            spec = self.spec
            self._dtypes = {spec.key: events[spec.key].dtype, spec.time: events[spec.time].dtype}
            self._dtypes.update({f"last_{column}": events[column].dtype for column in spec.last})

    def _frame(self, rows: list[tuple[Any, ...]]) -> pd.DataFrame:
        """The emitted rows as a frame, column by column with the stable dtypes (cheaper than astype)."""
        spec = self.spec
        dtypes = dict(self._dtypes or {})
        for prefix, (_, function) in spec.aggregates.items():
            for suffix in spec.lengths:
                dtypes[f"{prefix}_{suffix}"] = "int64" if function == "count" else "float64"
        names = spec.output_columns
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
        data = {}
        for name, values in zip(names, columns, strict=True):
            dtype = dtypes.get(name)
            if dtype in ("int64", "float64"):  # numpy arrays: None becomes NaN; the frame builds fastest from them
                data[name] = np.array(values, dtype=dtype)
            else:
                data[name] = pd.array(list(values), dtype=dtype)
        return pd.DataFrame(data, copy=False)
