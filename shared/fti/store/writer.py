"""The micro-batch writer: many small commits in a row, for stream pipelines.

`FeatureGroup.insert` opens the offline database, commits and closes it again, so
that no process holds the file between operations (DuckDB lets one process at a
time open it for writing). Opening and closing cost about 10 ms each, several times
the cost of a small commit, and a stream pipeline commits a micro-batch every few
seconds or faster. A `MicroBatchWriter` keeps the file open from its first insert
until it is closed, and remembers the feature group's metadata, so each
`MicroBatchWriter.insert` pays only for its commit.

Each insert is still one commit with its commit record, all or nothing, upserting
on (primary key, event time) exactly like `FeatureGroup.insert`, and an online
feature group's online copy is brought up to it before `insert` returns. The
difference is the hold: while a writer is open, other processes that open the store
wait (up to ``FTI_LOCK_TIMEOUT`` seconds) until it is closed. Open one for a
stream's run, not for a whole notebook session.

    with fg.micro_batch_writer() as writer:
        for batch in stream:
            writer.insert(batch)
"""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Any

from fti.exceptions import WriterClosedError
from fti.store.engine import StoreEngine
from fti.store.feature_group_engine import Commit, FeatureGroupMeta


class MicroBatchWriter:
    """Commits DataFrames to one feature group while holding the store open.

    Get one from `FeatureGroup.micro_batch_writer`; use it as a context manager
    (or call `close`).

    Args:
        engine: The engine of the store the feature group lives in.
        meta: The feature group's metadata.
    """

    def __init__(self, engine: StoreEngine, meta: FeatureGroupMeta):
        self._engine = engine
        self._meta = meta
        self._hold: contextlib.ExitStack | None = contextlib.ExitStack()
        self._hold.enter_context(engine.storage.connect())
        self.commits = 0

    @property
    def meta(self) -> FeatureGroupMeta:
        """The feature group's metadata as of the last commit (its schema is known after the first)."""
        return self._meta

    def insert(self, features: Any) -> Commit:
        """Write a DataFrame as one commit, as `FeatureGroup.insert` does.

        Raises:
            WriterClosedError: The writer was closed.
            SchemaError: Missing, extra or mistyped columns; null or repeated keys.
            ExpectationsFailedError: The suite failed under the ``strict`` policy.
        """
        if self._hold is None:
            raise WriterClosedError(
                f"the micro-batch writer of {self._meta.label} is closed; open a new one with "
                "fg.micro_batch_writer()"
            )
        self._meta, commit = self._engine.feature_groups.insert_into(self._meta, features)
        self.commits += 1
        return commit

    def close(self) -> None:
        """Release the store's file (other processes can open it again). Closing twice is harmless."""
        if self._hold is not None:
            hold, self._hold = self._hold, None
            hold.close()

    def __enter__(self) -> MicroBatchWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._hold is None else "open"
        return f"MicroBatchWriter({self._meta.label}, {state}, commits={self.commits})"
