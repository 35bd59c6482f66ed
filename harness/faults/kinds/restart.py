"""``restart``: gracefully restart the target node(s), each once the previous serves again.

- at: 30s
  restart: {target: random_broker}
"""

from __future__ import annotations

import asyncio
from typing import Any

from harness.faults.healing import Undo
from harness.faults.kind import ActiveFault, FaultContext, NodeFaultKind
from harness.faults.kinds.kill import START_NODE


async def restart_in_turn(ctx: FaultContext, active: ActiveFault) -> None:
    """Restart each target in turn; a restart that completed needs no undo any more."""
    for name in active.targets:
        node = ctx.stack.node(name)
        token = await ctx.healer.register(Undo("start_node", node.name))
        await asyncio.to_thread(node.restart, ctx.restart_timeout)
        await ctx.healer.discard(token)


class Restart(NodeFaultKind):
    name = "restart"
    history = "process.restart"
    undos = (START_NODE,)
    needs = ("restart",)

    async def apply(self, settings: Any, ctx: FaultContext, active: ActiveFault) -> None:
        await restart_in_turn(ctx, active)


KIND = Restart()

__all__ = ["KIND", "Restart", "restart_in_turn"]
