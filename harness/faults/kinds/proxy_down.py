"""``proxy_down``: disable the target's Toxiproxy proxy (connections refused and cut).

- at: 10s
  proxy_down: {target: kafka-3}
  duration: 15s
"""

from __future__ import annotations

import asyncio
from typing import Any

from harness.faults.healing import Repairs, Undo, UndoKind
from harness.faults.kind import ActiveFault, FaultContext, NodeFaultKind


def _enable_proxy(undo: Undo, repairs: Repairs) -> None:
    repairs.toxiproxy.enable(undo.target)


ENABLE_PROXY = UndoKind("enable_proxy", lambda u: f"enable proxy {u.target}", _enable_proxy)


class ProxyDown(NodeFaultKind):
    name = "proxy_down"
    end_field = "duration"
    history = "proxy.down"
    undos = (ENABLE_PROXY,)
    proxy_targets = True

    async def apply(self, settings: Any, ctx: FaultContext, active: ActiveFault) -> None:
        for target in active.targets:
            proxy = ctx.proxy(target)
            active.tokens.append(await ctx.healer.register(Undo("enable_proxy", proxy)))
            await asyncio.to_thread(ctx.toxiproxy.disable, proxy)


KIND = ProxyDown()

__all__ = ["ENABLE_PROXY", "KIND", "ProxyDown"]
