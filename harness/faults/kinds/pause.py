"""``pause``: SIGSTOP the target node's process, SIGCONT at ``resume_after``.

- at: 5s
  pause: {target: followers_of_partition, partition: 0}
  resume_after: 8s
"""

from __future__ import annotations

from typing import Any

from harness.faults.healing import Repairs, Undo, UndoKind
from harness.faults.kind import ActiveFault, FaultContext, NodeFaultKind, per_node


def _resume_node(undo: Undo, repairs: Repairs) -> None:
    node = repairs.stack.node(undo.target)
    if node.is_paused():
        node.resume()


RESUME_NODE = UndoKind("resume_node", lambda u: f"resume {u.target}", _resume_node)


class Pause(NodeFaultKind):
    name = "pause"
    end_field = "resume_after"
    history = "process.pause"
    undos = (RESUME_NODE,)
    needs = ("pause", "resume")

    async def apply(self, settings: Any, ctx: FaultContext, active: ActiveFault) -> None:
        await per_node(
            ctx, active, lambda node: Undo("resume_node", node.name), lambda node: node.pause()
        )


KIND = Pause()

__all__ = ["KIND", "RESUME_NODE", "Pause"]
