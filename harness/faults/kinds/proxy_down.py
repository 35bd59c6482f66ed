"""``proxy_down``: disable the target's Toxiproxy proxy (connections refused and cut).

- at: 10s
  proxy_down: {target: kafka-3}
  duration: 15s
"""

from __future__ import annotations

from typing import Any

from harness.faults.healing import Repairs, Undo, UndoKind
from harness.faults.kind import ActiveFault, FaultContext, NodeFaultKind, per_node
from harness.faults.targets import proxy_of


def _enable_proxy(undo: Undo, repairs: Repairs) -> None:
    repairs.toxiproxy.enable(undo.target)


ENABLE_PROXY = UndoKind("enable_proxy", lambda u: f"enable proxy {u.target}", _enable_proxy)


class ProxyDown(NodeFaultKind):
    name = "proxy_down"
    end_field = "duration"
    history = "proxy.down"
    undos = (ENABLE_PROXY,)

    async def apply(self, settings: Any, ctx: FaultContext, active: ActiveFault) -> None:
        await per_node(
            ctx,
            active,
            lambda node: Undo("enable_proxy", proxy_of(node)),
            lambda node: ctx.toxiproxy.disable(proxy_of(node)),
        )


KIND = ProxyDown()

__all__ = ["ENABLE_PROXY", "KIND", "ProxyDown"]
