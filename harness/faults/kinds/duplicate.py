"""``duplicate``: while it lasts, ``fraction`` of the sends re-send a recent event (same id,
key, seq and body), as a producer retrying after lost acks would.

    - at: 10s
      duplicate: {fraction: 0.2}
      duration: 5s

Nothing is done to the stack: the storm is built with this window's re-sends up front (so a
seed replays them; see ``harness.scenario.faults.duplicate_windows``) and the timeline only
records the window.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from harness.faults.kind import ActiveFault, FaultContext, FaultKind
from harness.scenario.base import StrictModel
from harness.scenario.faults import DUPLICATE


class DuplicateInjection(StrictModel):
    """Re-send already-sent ids (same id, key, seq and body) while the fault lasts, as a
    producer retrying after lost acks would: ``fraction`` of the sends in the window are such
    re-sends of recent events."""

    fraction: float = Field(gt=0, lt=1)


class Duplicate(FaultKind):
    name = DUPLICATE
    settings = DuplicateInjection
    end_field = "duration"
    history = "producer.duplicate"

    def describe(self, settings: Any) -> str:
        return f"duplicate {settings.fraction:.0%} of the sends"

    async def targets(self, settings: Any, ctx: FaultContext) -> list[str]:
        return ["producer"]

    async def apply(self, settings: Any, ctx: FaultContext, active: ActiveFault) -> None:
        return None


KIND = Duplicate()

__all__ = ["KIND", "Duplicate", "DuplicateInjection"]
