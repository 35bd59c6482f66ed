"""``kill``: SIGKILL the target node's process; it is started again at ``restart_after``.

- at: 20s
  kill: {target: leader_of_partition, partition: 0}
  restart_after: 15s
"""

from __future__ import annotations

from typing import Any

from harness.faults.healing import Repairs, Undo, UndoKind
from harness.faults.kind import ActiveFault, FaultContext, NodeFaultKind, per_node


def _start_node(undo: Undo, repairs: Repairs) -> None:
    node = repairs.stack.node(undo.target)
    if node.is_paused():
        node.resume()
    if not node.is_alive():
        node.restart(repairs.restart_timeout)


# Also the undo of restart and rolling_restart (a restart interrupted half-way).
START_NODE = UndoKind("start_node", lambda u: f"start {u.target} again", _start_node)


class Kill(NodeFaultKind):
    name = "kill"
    end_field = "restart_after"
    history = "process.kill"
    undos = (START_NODE,)
    needs = ("kill", "restart")

    async def apply(self, settings: Any, ctx: FaultContext, active: ActiveFault) -> None:
        await per_node(
            ctx, active, lambda node: Undo("start_node", node.name), lambda node: node.kill()
        )


KIND = Kill()

__all__ = ["KIND", "START_NODE", "Kill"]
