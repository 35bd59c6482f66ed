"""The drain: it waits out the target's redelivery horizon before it calls events lost, and
counts distinct events, so redeliveries never make a missing event look arrived.

The SQS kill pair lost 3 of 200 acknowledged messages in one run: their receive answer was
lost in the kill, ElasticMQ kept them in flight across the restart (30 s visibility timeout),
and the drain gave up after 15 s of quiet, before they came back (docs/decisions.md).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from harness.observe import Observers
from harness.run import runner


class _Consumer:
    """Reports ``received``/``distinct`` from a script of (seconds from start, stats)."""

    def __init__(self, script: list[tuple[float, dict[str, int]]]) -> None:
        self.start = time.monotonic()
        self.script = script

    def stats(self) -> dict[str, int]:
        elapsed = time.monotonic() - self.start
        current: dict[str, int] = {}
        for at, stats in self.script:
            if elapsed >= at:
                current = stats
        return current


class _Clients:
    def __init__(self, consumer: _Consumer, redelivery_s: float) -> None:
        self.consumer = consumer
        self.observers = Observers([])
        self.redelivery_s = redelivery_s


@pytest.fixture(autouse=True)
def _short_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "DRAIN_QUIET_S", 0.2)
    monkeypatch.setattr(runner, "DRAIN_STALLED_S", 0.3)


async def _drain(script: list[tuple[float, dict[str, int]]], acked: int, redelivery: float) -> Any:
    started = time.monotonic()
    await runner._drain(_Clients(_Consumer(script), redelivery), acked, 10.0)  # type: ignore[arg-type]
    return time.monotonic() - started


async def test_a_stalled_drain_waits_out_the_visibility_timeout_for_the_last_events() -> None:
    # 7 of 10 arrive at once; the 3 whose receive answer was lost come back 1.0 s later.
    script = [(0.0, {"received": 7, "distinct": 7}), (1.0, {"received": 10, "distinct": 10})]
    took = await _drain(script, acked=10, redelivery=1.0)
    assert 1.0 <= took < 2.0  # saw all 10, then the quiet window; not the 0.3 s stall


async def test_without_a_redelivery_horizon_the_stall_window_stands() -> None:
    took = await _drain([(0.0, {"received": 7})], acked=10, redelivery=0.0)
    assert 0.3 <= took < 0.9


async def test_redeliveries_do_not_count_as_the_missing_events() -> None:
    # 10 receives, 3 of them redeliveries: only 7 distinct of 10 acked, so the drain stalls
    # (waits the horizon) instead of ending on the quiet window.
    took = await _drain([(0.0, {"received": 10, "distinct": 7})], acked=10, redelivery=0.6)
    assert took >= 0.6 + 0.2
