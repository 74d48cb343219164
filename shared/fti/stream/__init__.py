"""Stream feature pipelines in-process: windowed aggregates per key, late events, replay on the clock.

The map:

- `fti.stream.windows`: `WindowSpec` (key, event time, windows, aggregates, last values,
  allowed lateness) and `WindowEngine`, which turns micro-batches of events into the rows
  "this key's state right after this event", handling late events with a watermark. Its
  module docstring states the semantics (window bounds, nulls, lateness, memory).
- `fti.stream.batch`: `batch_windows`, the same rows for a whole frame of events in one
  DuckDB SQL statement: for backfills, and the oracle the engine is tested against.
- `fti.stream.replay`: `run_stream`, which replays events by their arrival time in
  micro-batches into a sink (e.g. ``fg.micro_batch_writer().insert``), as fast as
  possible or in real time, and returns a `StreamReport` (throughput, lag).

    spec = WindowSpec(key="user_id", time="ts", windows={"10m": "10min", "1d": "1D"},
                      aggregates={"n": ("user_id", "count"), "amount_sum": ("amount", "sum")},
                      last=["amount"], allowed_lateness="2min")
    engine = WindowEngine(spec)
    engine.warm_up(last_week)
    with fg.micro_batch_writer() as writer:
        report = run_stream(today, engine, writer.insert, arrival="received_at")
"""

from fti.stream.batch import batch_windows
from fti.stream.replay import StreamReport, run_stream
from fti.stream.windows import FUNCTIONS, WindowEngine, WindowSpec

__all__ = ["FUNCTIONS", "StreamReport", "WindowEngine", "WindowSpec", "batch_windows", "run_stream"]
