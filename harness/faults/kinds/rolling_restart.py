"""``rolling_restart``: restart the targets one after the other, each once the previous is back.

- at: 10s
  rolling_restart: {targets: [kafka-1, kafka-2]}     # or targets: all (the default)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from harness.faults.kind import ActiveFault, FaultContext, FaultKind
from harness.faults.kinds.kill import START_NODE
from harness.faults.kinds.restart import restart_in_turn
from harness.faults.targets import ALL, unknown_target
from harness.scenario.base import Problem, StrictModel

if TYPE_CHECKING:
    from harness.scenario import Scenario


class RollingRestart(StrictModel):
    """Restart the targets one after the other, each once the previous is back."""

    targets: list[str] | Literal["all"] = "all"


class RollingRestartKind(FaultKind):
    name = "rolling_restart"
    settings = RollingRestart
    history = "process.rolling_restart"
    undos = (START_NODE,)
    needs = ("restart",)

    def describe(self, settings: Any) -> str:
        names = settings.targets if settings.targets == ALL else ", ".join(settings.targets)
        return f"rolling restart of {names}"

    def validate(self, settings: Any, scenario: Scenario) -> Iterator[Problem]:
        if settings.targets == ALL:
            return
        nodes = scenario.target.nodes
        for index, name in enumerate(settings.targets):
            if name not in nodes:
                yield Problem(("targets", index), unknown_target(name, nodes))

    async def targets(self, settings: Any, ctx: FaultContext) -> list[str]:
        if settings.targets == ALL:
            return [node.name for node in await ctx.resolve(ALL)]
        return [ctx.stack.node(name).name for name in settings.targets]

    async def apply(self, settings: Any, ctx: FaultContext, active: ActiveFault) -> None:
        await restart_in_turn(ctx, active)


KIND = RollingRestartKind()

__all__ = ["KIND", "RollingRestart", "RollingRestartKind"]
