"""Send plans: which event a Locust user sends next, and at what intended time.

A plan is the open-model schedule of one user. ``next_at()`` is the intended run-clock time
of its next event (``None`` once it is exhausted); ``due(t)`` takes every event whose intended
time is at or before ``t``, stamped with its intended time. The user sends them without
waiting for acks, so a slow broker never slows the schedule down: lateness shows up as
schedule slip (``t - intended``) and as latency measured from the intended time.

- ``RatePlan``: a steady rate for as long as the test runs, made lazily (a locustfile's
  ``rate`` per user); each user owns its keys, so per-key order stays within one user.
- ``StormPlan``: one user's share of a scenario's storm (``Storm.split``), at the storm's own
  intended times (ramps, spikes, bursts, duplicates and poison included).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from harness.errors import ConfigError
from harness.events import Event
from harness.load import Storm
from harness.load.payloads import PayloadFactory

DEFAULT_MAX_BATCH = 512


class Plan(Protocol):
    def next_at(self) -> float | None: ...

    def due(self, t: float, max_batch: int = DEFAULT_MAX_BATCH) -> list[Event]: ...


class RatePlan:
    """``rate`` events per second from ``start``, keys ``{prefix}-k{i}`` round robin.

    Ids are ``{prefix}-{n}``: give every user of every process its own ``prefix`` and ids and
    keys never collide across workers.

    >>> plan = RatePlan("w1.u0", rate=10.0, start=100.0, keys=2, size=64)
    >>> [(e.id, e.key, e.seq, e.intended) for e in plan.due(100.15)]
    [('w1.u0-0', 'w1.u0-k0', 1, 100.0), ('w1.u0-1', 'w1.u0-k1', 1, 100.1)]
    """

    def __init__(
        self,
        prefix: str,
        *,
        rate: float,
        start: float,
        keys: int = 16,
        size: int = 512,
        limit: int | None = None,
        seed: int = 0,
    ) -> None:
        if rate <= 0:
            raise ConfigError(
                f"rate must be > 0 events/s, got {rate!r}; set the user's rate to the events "
                "per second each user sends."
            )
        if keys < 1:
            raise ConfigError(f"keys must be >= 1, got {keys!r}; set the user's keys to 1 or more.")
        self.prefix = prefix
        self.interval = 1.0 / rate
        self.start = start
        self.size = size
        self.limit = limit
        self.sent = 0
        self._keys = [f"{prefix}-k{i}" for i in range(keys)]
        self._seq = [0] * keys
        self._payloads = PayloadFactory(seed, size)

    def next_at(self) -> float | None:
        if self.limit is not None and self.sent >= self.limit:
            return None
        return self.start + self.sent * self.interval

    def due(self, t: float, max_batch: int = DEFAULT_MAX_BATCH) -> list[Event]:
        out: list[Event] = []
        while len(out) < max_batch:
            intended = self.next_at()
            if intended is None or intended > t:
                break
            out.append(self._make(intended))
        return out

    def _make(self, intended: float) -> Event:
        n = self.sent
        self.sent += 1
        slot = n % len(self._keys)
        self._seq[slot] += 1
        key, seq, event_id = self._keys[slot], self._seq[slot], f"{self.prefix}-{n}"
        body = self._payloads.body(event_id, key, seq, self.size)
        return Event(event_id, key, seq, intended, intended, body)


class StormPlan:
    """The rows of ``storm`` at ``start + t_offset`` on this process's run clock."""

    def __init__(self, storm: Storm, start: float) -> None:
        self.storm = storm
        self.intended = np.asarray(storm.t_offset, dtype=np.float64) + start
        self.sent = 0

    def __len__(self) -> int:
        return len(self.intended)

    def next_at(self) -> float | None:
        return float(self.intended[self.sent]) if self.sent < len(self.intended) else None

    def due(self, t: float, max_batch: int = DEFAULT_MAX_BATCH) -> list[Event]:
        first = self.sent
        stop = min(int(np.searchsorted(self.intended, t, side="right")), first + max_batch)
        if stop <= first:
            return []
        self.sent = stop
        intended, event = self.intended, self.storm.event
        return [event(row, float(intended[row]), t) for row in range(first, stop)]


def user_share(storm: Storm, shares: int, index: int) -> Storm:
    """Share ``index`` of ``shares`` of ``storm``, dealt by key (each key stays in one share)."""
    if not 0 <= index < shares:
        raise ConfigError(
            f"share index {index!r} is outside 0..{shares - 1}: more users started than the "
            "plan expects. Start Locust with as many users (-u) as load.users in the scenario."
        )
    return storm.take(np.flatnonzero(storm.key_index % shares == index))


__all__ = ["DEFAULT_MAX_BATCH", "Plan", "RatePlan", "StormPlan", "user_share"]
