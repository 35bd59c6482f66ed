"""Every observation source of one run, started, drained and stopped together.

observers = build_observers(scenario, ctx)
await observers.start()          # declares each source in the history, then starts it
env = observers.env()            # merged into the service's environment
...
await observers.drain(20.0)      # after the service stopped
await observers.stop()           # every exit path; idempotent
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from harness import clock
from harness.errors import HarnessError, StackError
from harness.observe.context import ObserveContext
from harness.observe.kinds import source_class
from harness.observe.source import Source
from harness.scenario import Scenario

log = logging.getLogger(__name__)


class Observers:
    """The run's sources, in scenario order."""

    def __init__(self, sources: list[Source]) -> None:
        self.sources = sources
        self._started: list[Source] = []

    def __bool__(self) -> bool:
        return bool(self.sources)

    async def start(self) -> None:
        """Declare and start every source; on a failure, stop those already started."""
        for source in self.sources:
            source.ctx.recorder.append(source.declaration())
            self._started.append(source)
            try:
                await source.start()
            except HarnessError:
                await self.stop()
                raise
            except Exception as error:
                await self.stop()
                raise StackError(
                    f"Could not start the {source.describe()}: {error!r}. Is the stack up "
                    "(`harness stack status`)?"
                ) from error

    def env(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for source in self.sources:
            merged |= source.env()
        return merged

    async def drain(self, timeout_s: float) -> list[str]:
        """Take what every source has yet to read, within one shared deadline; the problems."""
        deadline = clock.now() + timeout_s
        problems = []
        for source in self._started:
            left = max(0.5, deadline - clock.now())
            try:
                caught_up = await asyncio.wait_for(source.drain(left), left + 5.0)
            except Exception as error:  # a broker fault at the end: what was read is kept
                caught_up = False
                log.warning("Draining the %s failed: %r", source.describe(), error)
            if not caught_up:
                problems.append(
                    f"the {source.describe()} did not catch up within {timeout_s:.0f}s; what it "
                    "saw so far is in the history"
                )
        return problems

    async def stop(self) -> None:
        """Stop every started source, last first; each runs whatever the one before raised."""
        while self._started:
            source = self._started.pop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(source.stop(), 30.0)

    def of_kind(self, *kinds: str) -> dict[str, Source]:
        """The sources of these kinds by name (the HTTP endpoints that faults act on)."""
        return {source.name: source for source in self.sources if source.kind in kinds}

    def observed(self) -> int:
        """Rows recorded by every source so far (the drain's progress in a black-box run)."""
        return sum(source.stats().get("observed", 0) for source in self.sources)

    def stats(self) -> dict[str, dict[str, int]]:
        return {source.name: source.stats() for source in self.sources}


def build_observers(scenario: Scenario, ctx: ObserveContext) -> Observers:
    """The sources of ``scenario.observe`` for one run (nothing is started yet)."""
    sources = []
    for entry in scenario.observe:
        cls = source_class(entry.kind)
        sources.append(cls(entry.source_name, entry.settings, ctx))
    return Observers(sources)


__all__ = ["Observers", "build_observers"]
