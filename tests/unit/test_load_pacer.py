"""The pacer: on time when it can be, never drops, never waits when behind."""

from __future__ import annotations

import time

import numpy as np
import pytest

from harness.clock import now
from harness.load.pacer import Pacer, SlipStats


async def drain(pacer: Pacer, work: float = 0.0) -> list[tuple[int, int, float]]:
    batches = []
    async for batch in pacer.batches():
        batches.append((batch.start, batch.stop, batch.released))
        if work:
            time.sleep(work)  # a slow sender; the pacer must not wait for it to catch up
    return batches


def assert_contiguous(batches: list[tuple[int, int, float]], total: int) -> None:
    assert batches[0][0] == 0 and batches[-1][1] == total
    assert all(a[1] == b[0] for a, b in zip(batches, batches[1:], strict=False))


async def test_releases_no_event_before_its_time():
    offsets = np.linspace(0, 0.3, 600, endpoint=False)
    pacer = Pacer(offsets, start=now() + 0.02)
    batches = await drain(pacer)
    assert_contiguous(batches, 600)
    for _start, stop, released in batches:
        assert released >= pacer.intended[stop - 1]
    assert np.all(pacer.slip >= 0)
    # Loose bound: this must hold on a loaded 2-core CI machine too.
    assert pacer.stats().p50_ms < 20


async def test_behind_schedule_releases_at_once_in_bounded_batches():
    ticks = iter(range(10**6))
    pacer = Pacer(np.zeros(5000), start=-100.0, max_batch=512, clock=lambda: 1000.0 + next(ticks))
    batches = await drain(pacer)
    assert_contiguous(batches, 5000)
    assert max(stop - start for start, stop, _ in batches) == 512
    assert len(batches) == 10
    assert pacer.stats().count == 5000
    assert pacer.stats().p50_ms == pytest.approx(1_100_000 + 4_000, rel=0.01)


async def test_slow_sender_turns_into_slip_not_drops():
    offsets = np.arange(200) / 1000.0  # 1000/s for 0.2 s
    pacer = Pacer(offsets, start=now())
    batches = await drain(pacer, work=0.02)
    assert_contiguous(batches, 200)
    stats = pacer.stats()
    assert stats.count == 200
    assert stats.max_ms >= 15
    # Behind, the pacer catches up with big batches instead of one wait per event.
    assert len(batches) < 60


async def test_events_yields_every_row_once():
    pacer = Pacer(np.arange(50) / 5000.0, start=now())
    rows = [row async for row, _ in pacer.events()]
    assert rows == list(range(50))


def test_slip_stats_of_known_values():
    stats = SlipStats.of(np.array([0.001, 0.002, 0.003, np.nan]))
    assert stats.count == 3
    assert stats.p50_ms == pytest.approx(2.0)
    assert stats.max_ms == pytest.approx(3.0)
    assert stats.late_1ms == 2
    assert SlipStats.of(np.array([])).count == 0


def test_max_batch_must_be_positive():
    with pytest.raises(ValueError, match="max_batch"):
        Pacer(np.zeros(1), start=0.0, max_batch=0)
