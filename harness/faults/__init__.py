"""Faults: network toxics through Toxiproxy, process faults through node handles, and the
timeline that applies and always heals them.

Each fault kind is one module under ``harness/faults/kinds/`` (its settings model, end field,
validation, history kind, apply and undos; the interface is ``FaultKind``). The scenario finds
the kinds by module name (``harness.scenario.faults.BUILTIN_FAULT_KINDS``).

    from harness.faults import FaultContext, Healer, Journal, Timeline, undo_on_stack

    healer = Healer(undo_on_stack(stack, toxiproxy), Journal.for_run(run_id))
    timeline = Timeline(scenario.faults, scenario.storm.duration,
                        FaultContext(stack, toxiproxy, healer), recorder)
"""

from harness.faults.actions import apply, describe, heal, history_kind, kind_of, undo_on_stack
from harness.faults.healing import (
    Healer,
    Journal,
    Repairs,
    Undo,
    Undoer,
    UndoKind,
    pending_journals,
    replay,
    undo_kinds,
)
from harness.faults.kind import (
    ActiveFault,
    ConsumerControl,
    FaultContext,
    FaultKind,
    NodeFaultKind,
    per_node,
)
from harness.faults.kinds.consumer_crash import ConsumerCrash
from harness.faults.kinds.duplicate import DuplicateInjection
from harness.faults.kinds.partition import Partition
from harness.faults.kinds.rolling_restart import RollingRestart
from harness.faults.kinds.toxic import TOXIC_ATTRIBUTES, Toxic
from harness.faults.needs import missing_controls
from harness.faults.targets import DYNAMIC_TARGETS, NodeTarget
from harness.faults.timeline import Occurrence, Timeline, occurrences

__all__ = [
    "missing_controls",
    "DYNAMIC_TARGETS",
    "TOXIC_ATTRIBUTES",
    "ActiveFault",
    "ConsumerControl",
    "ConsumerCrash",
    "DuplicateInjection",
    "FaultContext",
    "FaultKind",
    "Healer",
    "Journal",
    "NodeFaultKind",
    "NodeTarget",
    "Occurrence",
    "Partition",
    "Repairs",
    "RollingRestart",
    "Timeline",
    "Toxic",
    "Undo",
    "UndoKind",
    "Undoer",
    "apply",
    "describe",
    "heal",
    "history_kind",
    "kind_of",
    "occurrences",
    "pending_journals",
    "per_node",
    "replay",
    "undo_kinds",
    "undo_on_stack",
]
