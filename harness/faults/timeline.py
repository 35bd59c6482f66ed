"""The nemesis timeline: apply each fault at its time, heal it at its end, record its window.

``Timeline.run(storm_start)`` schedules every occurrence (``at``, repeated ``every`` N seconds
``times`` times) relative to the storm's start on the run clock. A fault with a length
(``duration``, ``restart_after``, ``resume_after``) heals itself; one without lasts until
``close()``, which heals everything still pending, shielded from cancellation, and records one
``fault`` op per occurrence with its real start and end. ``close()`` is idempotent: once it has
completed, a further call (a ``finally`` after the normal path) does nothing and returns no
problems.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from harness import clock
from harness.faults.actions import ActiveFault, FaultContext, apply, heal
from harness.scenario import Fault


class Recorder(Protocol):
    def append(self, record: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class Occurrence:
    """One scheduled application of a fault."""

    id: str
    fault: Fault
    at: float


def occurrences(faults: list[Fault], storm_duration: float) -> list[Occurrence]:
    """Every fault occurrence in start order; ids are ``f<index>`` or ``f<index>.<rep>``."""
    found = []
    for index, fault in enumerate(faults):
        starts = fault.starts(storm_duration)
        for rep, at in enumerate(starts):
            fault_id = f"f{index}" if len(starts) == 1 else f"f{index}.{rep}"
            found.append(Occurrence(fault_id, fault, at))
    return sorted(found, key=lambda o: o.at)


class Timeline:
    """Runs the fault occurrences of one scenario against one stack."""

    def __init__(
        self, faults: list[Fault], storm_duration: float, ctx: FaultContext, recorder: Recorder
    ) -> None:
        self.ctx = ctx
        self.recorder = recorder
        self.plan = occurrences(faults, storm_duration)
        self.active: dict[str, ActiveFault] = {}
        self.errors: list[str] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    def start(self, storm_start: float) -> None:
        """Schedule every occurrence relative to ``storm_start`` (a run-clock reading)."""
        self._tasks = [
            asyncio.create_task(self._run(occurrence, storm_start), name=occurrence.id)
            for occurrence in self.plan
        ]

    def describe_active(self) -> list[str]:
        return [f"{a.kind} on {', '.join(a.targets)}" for a in self.active.values()]

    async def wait_applied(self) -> None:
        """Wait until every occurrence has run its course (applied, and healed if it has a
        length); a fault's failure is kept in ``errors`` and re-raised by ``close()``."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> list[str]:
        """Cancel what has not started, heal everything, record every window; return the
        problems seen (faults that could not be applied or healed).

        Only a close that completed counts: one interrupted (cancelled while it waited) is
        done again by the next call, which heals whatever is still pending."""
        if self._closed:
            return []
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        failures = await self.ctx.healer.heal_all()
        now = clock.now()
        for active in list(self.active.values()):
            active.t_end = now
            self._record(active)
        self.active.clear()
        problems, self.errors = self.errors + failures, []
        self._closed = True
        return problems

    async def _run(self, occurrence: Occurrence, storm_start: float) -> None:
        delay = storm_start + occurrence.at - clock.now()
        if delay > 0:
            await asyncio.sleep(delay)
        fault = occurrence.fault

        def started(active: ActiveFault) -> None:
            self.active[occurrence.id] = active

        try:
            active = await apply(fault, occurrence.id, self.ctx, started)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.errors.append(f"fault {occurrence.id} ({fault.action}) failed to apply: {error}")
            partial = self.active.get(occurrence.id)
            if partial is not None and not partial.tokens:  # nothing of it was applied
                del self.active[occurrence.id]
            return
        if not active.fired:  # its trigger never fired: a window of no length says so
            del self.active[occurrence.id]
            self._record(active)
            return
        if fault.length is None:
            return
        await asyncio.sleep(fault.length)
        try:
            await heal(active, self.ctx)
        except Exception as error:
            self.errors.append(f"fault {occurrence.id} ({fault.action}) failed to heal: {error}")
            return
        del self.active[occurrence.id]
        self._record(active)

    def _record(self, active: ActiveFault) -> None:
        self.recorder.append(
            {
                "op": "fault",
                "id": active.id,
                "kind": active.kind,
                "target": ",".join(active.targets),
                "t_start": active.t_start,
                "t_end": active.t_end if active.t_end is not None else clock.now(),
                "reason": active.note,
            }
        )


__all__ = ["Occurrence", "Timeline", "occurrences"]
