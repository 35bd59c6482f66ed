"""Helpers shared by the integration tests (not a test module)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

from harness import clock
from harness.events import Event


async def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``predicate`` until it holds; fail the test naming ``what`` at the deadline."""
    deadline = clock.now() + timeout_s
    while not predicate():
        assert clock.now() < deadline, f"timed out after {timeout_s}s waiting for {what}"
        await asyncio.sleep(0.05)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Block until ``condition()`` holds (polled every 0.2 s); fail naming ``what`` at the
    deadline. For tests that watch a subprocess or the stack without an event loop."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def make_events(n: int, poison: set[int] = frozenset()) -> list[Event]:
    """``n`` events over 7 keys with unique ids; rows in ``poison`` get a malformed body."""
    run = uuid.uuid4().hex[:6]
    out = []
    for i in range(n):
        event_id, key = f"{run}-{i}", f"k{i % 7}"
        body = f'{{"id":"{event_id}","key":"{key}","seq":{i}}}'.encode()
        if i in poison:
            body = b"POISON" + body
        out.append(Event(event_id, key, i, clock.now(), 0.0, body, i in poison))
    return out
