"""The open-model pacer: release each event at its intended time, never waiting for acks.

    pacer = Pacer(storm.t_offset, start=clock.now() + 0.5)
    async for batch in pacer.batches():
        for row in range(batch.start, batch.stop):
            producer.send(...)          # queue it; never await the ack here
    print(pacer.stats())

The pacer sleeps until the next intended time, then releases every event that is due, as one
``Batch``. When it is behind (the sender was slow, the loop was busy), it releases what is due
at once, in chunks of at most ``max_batch`` with a bare yield to the event loop between them,
and keeps going: an event is never dropped, and its lateness is recorded as schedule slip
(release time minus intended time) in ``pacer.slip``. There is no sleep per event, so the cost
per event is a slice assignment, whatever the rate.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import numpy as np

from harness.clock import now

DEFAULT_MAX_BATCH = 512


@dataclass(frozen=True, slots=True)
class Batch:
    """Rows ``[start, stop)`` released together at run-clock time ``released``."""

    start: int
    stop: int
    released: float

    def __len__(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class SlipStats:
    """Schedule slip (release minus intended time) over the released events, in ms."""

    count: int
    mean_ms: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    late_1ms: int

    @classmethod
    def of(cls, slip_seconds: np.ndarray) -> SlipStats:
        done = slip_seconds[~np.isnan(slip_seconds)] * 1000.0
        if len(done) == 0:
            return cls(0, 0.0, 0.0, 0.0, 0.0, 0)
        p50, p99 = np.percentile(done, [50, 99])
        return cls(
            count=len(done),
            mean_ms=float(done.mean()),
            p50_ms=float(p50),
            p99_ms=float(p99),
            max_ms=float(done.max()),
            late_1ms=int(np.count_nonzero(done > 1.0)),
        )


class Pacer:
    """Releases rows of a sorted offset array at ``start + offset`` on the run clock."""

    def __init__(
        self,
        offsets: np.ndarray,
        start: float,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        clock: Callable[[], float] = now,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.intended = np.asarray(offsets, dtype=np.float64) + start
        self.slip = np.full(len(self.intended), np.nan)
        self.released = 0
        self._max_batch = max_batch
        self._clock = clock

    def __len__(self) -> int:
        return len(self.intended)

    async def batches(self) -> AsyncIterator[Batch]:
        """Yield due rows in order, as batches, each as soon as it is due."""
        intended, clock, total = self.intended, self._clock, len(self.intended)
        while self.released < total:
            t = clock()
            first = self.released
            wait = intended[first] - t
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            due = int(np.searchsorted(intended, t, side="right"))
            stop = min(due, first + self._max_batch)
            self.slip[first:stop] = t - intended[first:stop]
            self.released = stop
            yield Batch(first, stop, t)
            if stop < due:
                await asyncio.sleep(0)

    async def events(self) -> AsyncIterator[tuple[int, float]]:
        """Yield ``(row, released)`` per row: simpler than ``batches()``, a little slower."""
        async for batch in self.batches():
            for row in range(batch.start, batch.stop):
                yield row, batch.released

    def stats(self) -> SlipStats:
        """Slip statistics over the rows released so far."""
        return SlipStats.of(self.slip[: self.released])


__all__ = ["DEFAULT_MAX_BATCH", "Batch", "Pacer", "SlipStats"]
