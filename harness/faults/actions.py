"""Apply one fault of the timeline through its kind, and repair journaled undos on a stack.

``apply`` looks the fault's kind up in the registry (``harness.scenario.faults``), resolves
its targets, hands the caller the ``ActiveFault`` before anything is done, then lets the kind
act: every undo is registered with the healer before its part of the fault happens.
``undo_on_stack`` carries out journaled undos through the kinds' ``UndoKind``s (``harness
heal`` uses it too).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from harness import clock
from harness.errors import FaultError
from harness.faults.healing import Repairs, Undo, Undoer, undo_kinds
from harness.faults.kind import ActiveFault, ConsumerControl, FaultContext, FaultKind
from harness.scenario import Fault
from harness.stack import Stack
from harness.stack.toxiproxy import ToxiproxyClient


def kind_of(fault: Fault) -> FaultKind:
    """The fault kind that applies ``fault``."""
    kind = fault.kind
    if not isinstance(kind, FaultKind):
        raise FaultError(
            f"The fault kind {fault.action!r} ({kind!r}) can be validated but not applied: "
            "it is not a harness.faults.FaultKind. Make its KIND an instance of a FaultKind "
            "subclass."
        )
    return kind


def history_kind(fault: Fault) -> str:
    """The history's ``kind`` of a fault: ``toxic.latency``, ``process.kill``, ``proxy.down``..."""
    return kind_of(fault).history_kind(fault.settings)


def describe(fault: Fault) -> str:
    """One line for people: ``kill leader_of_partition 0``."""
    return kind_of(fault).describe(fault.settings)


async def apply(
    fault: Fault,
    fault_id: str,
    ctx: FaultContext,
    on_start: Callable[[ActiveFault], None] = lambda active: None,
) -> ActiveFault:
    """Apply ``fault`` now; every undo is registered before its part of the fault happens.

    ``on_start`` receives the ``ActiveFault`` before any part of it is applied, so a caller
    interrupted while the fault is being applied (a pause waits for the process to stop) still
    knows, and records, the fault's window.
    """
    kind = kind_of(fault)
    targets = await kind.targets(fault.settings, ctx)
    active = ActiveFault(fault_id, kind.history_kind(fault.settings), targets, clock.now())
    on_start(active)
    await kind.apply(fault.settings, ctx, active)
    return active


async def heal(active: ActiveFault, ctx: FaultContext) -> None:
    """End ``active`` by running its undos, newest first."""
    for token in reversed(active.tokens):
        await ctx.healer.heal(token)
    active.t_end = clock.now()


def undo_on_stack(
    stack: Stack, toxiproxy: ToxiproxyClient, restart_timeout: float = 120.0
) -> Undoer:
    """The ``Undoer`` that repairs journaled faults on ``stack`` (also used by ``harness heal``)."""
    repairs = Repairs(stack, toxiproxy, restart_timeout)

    def run(undo: Undo) -> None:
        kind = undo_kinds().get(undo.action)
        if kind is None:
            raise FaultError(
                f"No fault kind knows the undo {undo.action!r} (for {undo.target}); was the "
                "journal written by another version of the harness? Run `harness heal` with that "
                "version, or repair it by hand."
            )
        if kind.run is None:
            raise FaultError(f"{undo.describe()} can only be done by the run that crashed it.")
        kind.run(undo, repairs)

    async def undoer(undo: Undo) -> None:
        await asyncio.to_thread(run, undo)

    return undoer


__all__ = [
    "ActiveFault",
    "ConsumerControl",
    "FaultContext",
    "apply",
    "describe",
    "heal",
    "history_kind",
    "kind_of",
    "undo_on_stack",
]
