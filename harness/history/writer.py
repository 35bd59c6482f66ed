"""The streaming, crash-safe history writer that drivers and the run loop append to.

Rows are buffered in a list (``append`` is a lock, a key check and a list append). A background
thread flushes the buffer at least every ``flush_interval`` seconds as one Arrow record batch to
``<path>.partial.arrows`` and fsyncs it, so a SIGKILLed run loses at most the last interval.
``close()`` writes the final ``history.parquet`` at ``path`` and removes the partial stream.
``on_flush`` (optional) is handed the batches of each flush once they are durable, on the
flushing thread: live metrics aggregate there, off the hot path of ``append``.

    with HistoryWriter(run_dir / "history.parquet") as history:
        history.append({"op": "send", "id": "e1", "key": "k1", "seq": 1, "t": clock.now()})
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import pyarrow as pa

from harness.errors import HistoryError
from harness.history.jsonl import field_problem
from harness.history.reader import partial_path, read_partial, write_parquet
from harness.history.schema import FIELDS, SCHEMA, conform, unknown_fields

FLUSH_CHUNK = 256
"""Rows converted per Arrow call. The conversion holds the GIL; converting a second's worth of
a storm at once (thousands of rows, tens of milliseconds) stalled the pacer's event loop and
showed as schedule slip."""


class HistoryWriter:
    """Append-only writer of one history; thread-safe; a context manager."""

    def __init__(
        self,
        path: Path,
        *,
        flush_interval: float = 1.0,
        on_flush: Callable[[Sequence[pa.RecordBatch]], None] | None = None,
    ) -> None:
        if flush_interval <= 0:
            raise HistoryError(
                f"flush_interval must be positive seconds, got {flush_interval!r}; pass a "
                "value such as 1.0"
            )
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.flush_interval = flush_interval
        self._on_flush = on_flush
        self.listener_error: BaseException | None = None
        """The first exception ``on_flush`` raised (it is not called again after one)."""
        self._rows: list[Mapping[str, Any]] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._closed = False
        self._error: BaseException | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO = open(self.partial, "wb")
        self._stream = pa.ipc.new_stream(self._file, SCHEMA)
        self._sync()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._flush_loop, name="history-flush", daemon=True)
        self._thread.start()

    def append(self, record: Mapping[str, Any]) -> None:
        """Buffer one op; keys outside the schema raise ``HistoryError`` naming them."""
        if not FIELDS.issuperset(record):
            raise HistoryError(
                f"history record has unknown field(s) {unknown_fields(record)}; "
                f"the schema's fields are {sorted(FIELDS)}: rename or drop the others"
            )
        with self._lock:
            self._raise_if_unusable()
            self._rows.append(record)

    def extend(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Buffer several ops (each checked as ``append`` does)."""
        for record in records:
            self.append(record)

    def append_table(self, table: pa.Table, *, source: str = "rows", told: int = 0) -> None:
        """Write ``table`` (history columns, any subset; see ``conform``) as durable batches
        now, after the rows buffered so far: the columnar path, no Python object per row.

        ``told``: how many of its first rows ``on_flush`` was already handed (live, from the
        stream they came from); only the rest is handed to it now."""
        with self._lock:
            self._raise_if_unusable()
        batch = conform(table, source=source).select(SCHEMA.names).cast(SCHEMA)
        with self._flush_lock:
            with self._lock:
                rows, self._rows = self._rows, []
            buffered = [_to_batch(rows)] if rows else []
            for one in [*buffered, *batch.to_batches()]:
                self._stream.write_batch(one)
            self._sync()
            self._tell([*buffered, *batch.slice(min(told, batch.num_rows)).to_batches()])

    def flush(self) -> None:
        """Write the buffered ops as one durable batch now."""
        with self._flush_lock:
            with self._lock:
                rows, self._rows = self._rows, []
            if rows:
                batches = []
                for start in range(0, len(rows), FLUSH_CHUNK):
                    batches.append(_to_batch(rows[start : start + FLUSH_CHUNK]))
                    self._stream.write_batch(batches[-1])
                    time.sleep(0)  # hand the GIL back to the event loop between chunks
                self._sync()
                self._tell(batches)

    def _tell(self, batches: list[pa.RecordBatch]) -> None:
        """Hand durable ``batches`` to ``on_flush``; its failure never harms the history."""
        if self._on_flush is None or self.listener_error is not None:
            return
        try:
            self._on_flush(batches)
        except Exception as error:  # a metrics bug must not stop the recording
            self.listener_error = error

    def close(self) -> None:
        """Flush, write ``history.parquet`` and remove the partial stream. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        self._thread.join()
        try:
            self.flush()
        finally:
            self._stream.close()
            self._file.close()
        write_parquet(read_partial(self.partial, validate=False), self.path)
        self.partial.unlink()
        if self._error is not None:
            raise HistoryError(
                f"a background flush of {self.partial} failed: {self._error}; the ops before "
                f"it are in {self.path}, so check it with `harness check {self.path}`"
            )

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.flush_interval):
            try:
                self.flush()
            except Exception as error:  # surfaced on the next append or on close
                self._error = error
                return

    def _raise_if_unusable(self) -> None:
        if self._closed:
            raise HistoryError(
                f"cannot append to {self.path}: the history writer is closed; open a new "
                "HistoryWriter for more ops"
            )
        if self._error is not None:
            raise HistoryError(
                f"cannot append to {self.path}: a flush failed: {self._error}; fix the cause "
                f"(disk full?), then save what was written with `harness history recover "
                f"{self.partial}`"
            )

    def _sync(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())


def _to_batch(rows: list[Mapping[str, Any]]) -> pa.RecordBatch:
    try:
        return pa.RecordBatch.from_pylist(rows, schema=SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as error:
        for row in rows:
            problem = field_problem(dict(row))
            if problem:
                raise HistoryError(f"history record {dict(row)!r}: {problem}") from None
        raise HistoryError(
            f"history records could not be converted: {error}; check each field's type "
            "against docs/history-format.md"
        ) from None


__all__ = ["HistoryWriter"]
