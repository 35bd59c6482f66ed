"""Crash triggers: when a ``consumer_crash`` fires, decided from what the harness sees outside.

A trigger watches ``Reading``s (effects observed, the group's committed offsets, acknowledged
sends, deliveries received) taken every ``POLL_S`` from a ``Readings`` source, and says when to
crash:

- ``AfterEffects(n)``: once ``n`` effects have been observed since the last change of the
  group's committed offsets (the last commit seen; it waits for one after it starts
  watching); with no commit offsets to see (RabbitMQ), since it started watching.
- ``LagAbove(n)``: once the consumer's lag exceeds ``n``: acknowledged sends minus committed
  offsets (Kafka) or minus deliveries received (RabbitMQ).

``wait_for`` polls until the trigger fires or ``within`` seconds pass (None then: the caller
records that the fault never fired). The logic is pure, so it is tested on synthetic readings.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

from harness import clock

log = logging.getLogger(__name__)

POLL_S = 0.1
"""How often a trigger takes a reading; a commit is seen at most this late."""


@dataclass(frozen=True)
class Reading:
    """What the harness sees of the consumer at one moment (counts since the run started)."""

    effects: int
    committed: int | None = None
    """The sum of the group's committed offsets; None where there are none to see (RabbitMQ)."""
    acked: int | None = None
    """Sends the broker acknowledged; None when the harness does not send (Locust)."""
    received: int | None = None
    """Deliveries the consumer received (as reported or observed)."""

    @property
    def lag(self) -> int | None:
        """Acknowledged sends not yet committed (Kafka) or received (RabbitMQ); None if unknown."""
        done = self.committed if self.committed is not None else self.received
        if self.acked is None or done is None:
            return None
        return max(0, self.acked - done)


class Readings(Protocol):
    """Where triggers read from (the run builds one from its clients)."""

    async def read(self) -> Reading: ...


class Trigger(Protocol):
    def observe(self, reading: Reading) -> bool:
        """Take one reading; True once the trigger fires."""
        ...

    def describe(self) -> str: ...


class AfterEffects:
    """Fires once ``effects`` effects were observed since the last commit seen.

    With commit offsets to see (Kafka) it counts from the first commit seen after it started
    watching, since the effects applied before that commit are not known; without (RabbitMQ),
    from its first reading.
    """

    def __init__(self, effects: int) -> None:
        self.effects = effects
        self.base: int | None = None
        self.committed: int | None = None
        self.commits_seen = 0
        self._started = False

    def observe(self, reading: Reading) -> bool:
        if not self._started:
            self._started = True
            self.committed = reading.committed
            if reading.committed is None:
                self.base = reading.effects  # nothing to wait for: count from here
        elif reading.committed is not None and reading.committed != self.committed:
            self.base, self.committed = reading.effects, reading.committed  # a commit: count anew
            self.commits_seen += 1
        return self.base is not None and reading.effects - self.base >= self.effects

    def since_commit(self, reading: Reading) -> int:
        return reading.effects - (self.base if self.base is not None else reading.effects)

    def describe(self) -> str:
        return f"after {self.effects} effects since the last commit seen"


class LagAbove:
    """Fires once the consumer's lag exceeds ``lag``."""

    def __init__(self, lag: int) -> None:
        self.lag = lag
        self.highest: int | None = None

    def observe(self, reading: Reading) -> bool:
        lag = reading.lag
        if lag is None:
            return False
        self.highest = lag if self.highest is None else max(self.highest, lag)
        return lag > self.lag

    def describe(self) -> str:
        return f"when the lag exceeds {self.lag}"


async def wait_for(
    trigger: Trigger, readings: Readings, within: float, poll_s: float = POLL_S
) -> Reading | None:
    """Poll ``readings`` until ``trigger`` fires (its reading) or ``within`` passes (None).

    A reading that fails (a broker fault in the way) is skipped: the next poll tries again.
    """
    deadline = clock.now() + within
    failures = 0
    while True:
        try:
            reading = await asyncio.wait_for(readings.read(), max(poll_s, 5.0))
        except asyncio.CancelledError:
            raise
        except Exception as error:
            failures += 1
            if failures <= 3:
                log.warning("A crash trigger could not take a reading: %r", error)
        else:
            if trigger.observe(reading):
                return reading
        if clock.now() >= deadline:
            return None
        await asyncio.sleep(poll_s)


__all__ = ["POLL_S", "AfterEffects", "LagAbove", "Reading", "Readings", "Trigger", "wait_for"]
