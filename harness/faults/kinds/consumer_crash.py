"""``consumer_crash``: kill the consumer (built-in or the system under test) at a chosen
point; it is started again when the fault ends (``restart_after``, else the run's heal).

    - at: 15s
      consumer_crash: {when: before_commit}
      restart_after: 5s
"""

from __future__ import annotations

from typing import Any, Literal

from harness.errors import FaultError
from harness.faults.healing import LOCAL, Undo
from harness.faults.kind import ActiveFault, FaultContext, FaultKind
from harness.scenario.base import StrictModel


class ConsumerCrash(StrictModel):
    """Kill the consumer (built-in or the system under test) at a chosen point."""

    when: Literal["before_commit"] = "before_commit"


class ConsumerCrashKind(FaultKind):
    name = "consumer_crash"
    settings = ConsumerCrash
    end_field = "restart_after"
    history = "consumer.crash"

    def describe(self, settings: Any) -> str:
        return f"consumer crash {settings.when}"

    async def targets(self, settings: Any, ctx: FaultContext) -> list[str]:
        return ["consumer"]

    async def apply(self, settings: Any, ctx: FaultContext, active: ActiveFault) -> None:
        consumers = ctx.consumers
        if consumers is None:
            raise FaultError(
                "consumer_crash needs a consumer the harness controls; this run has none. "
                "Remove the fault or run the built-in consumer or a system_under_test command."
            )
        undo = Undo(LOCAL, "the consumer", callback=consumers.restart)
        active.tokens.append(await ctx.healer.register(undo))
        await consumers.crash()


KIND = ConsumerCrashKind()

__all__ = ["KIND", "ConsumerCrash", "ConsumerCrashKind"]
