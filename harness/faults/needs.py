"""Can the environment perform a scenario's faults? Checked before the run, node by node.

Each process fault kind declares the node controls it uses (``FaultKind.needs``: ``kill``
needs ``kill`` and ``restart`` to heal, ``pause`` needs ``pause`` and ``resume``...). A node of
a local stack can do everything; a node of an env file only what it gives commands for. A
fault with a target rule (``leader_of_partition``, ``random_broker``, ``all``) may land on any
Kafka broker, so every broker must have what it needs.

    >>> missing_controls(scenario, Stack.from_env(env, "staging.yaml"))
    ["faults[1] (kill leader_of_partition 0): kafka-2 has no 'restart' command in staging.yaml ..."]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.faults.targets import ALL, DYNAMIC_TARGETS
from harness.stack import Stack

if TYPE_CHECKING:
    from harness.scenario import Scenario


def _candidates(settings: Any, scenario: Scenario, stack: Stack) -> tuple[list[str], str | None]:
    """The node names the fault may act on, and a problem when some cannot be known."""
    named = getattr(settings, "targets", None)
    if named is None:
        named = getattr(settings, "target", None)
    if named is None:
        return [], None
    dynamic = named == ALL or named in DYNAMIC_TARGETS
    if not dynamic:
        return (list(named) if isinstance(named, list) else [named]), None
    if named == ALL and scenario.target.kafka is None and scenario.target.rabbitmq is not None:
        return ["rabbitmq"], None
    brokers = sorted(h.name for h in stack.kafka_nodes())
    if len(brokers) < stack.kafka_brokers:
        return brokers, (
            f"its target may be any Kafka broker, but {stack.path} lists {len(brokers)} node(s) "
            f"for {stack.kafka_brokers} broker(s); list every broker under kafka.nodes"
        )
    return brokers, None


def missing_controls(scenario: Scenario, stack: Stack) -> list[str]:
    """One line per fault and node the environment cannot perform the fault on."""
    problems: list[str] = []
    for index, fault in enumerate(scenario.faults):
        kind = fault.kind
        describe = getattr(kind, "describe", None)
        label = describe(fault.settings) if callable(describe) else fault.action
        where = f"{scenario.name}: faults[{index}] ({label})"
        check = getattr(kind, "environment_problem", None)
        refused = check(fault.settings, stack) if callable(check) else None
        if refused:
            problems.append(f"{where}: {refused}")
            continue
        needs: tuple[str, ...] = getattr(kind, "needs", ())
        if not needs:
            continue
        names, problem = _candidates(fault.settings, scenario, stack)
        if problem is not None:
            problems.append(f"{where}: {problem}")
        every = {**stack.nodes, **stack.services}
        for name in names:
            node = every.get(name)
            if node is None:
                problems.append(
                    f"{where}: the environment has no node {name!r} (it has "
                    f"{', '.join(sorted(every)) or 'none'}); name it in the env file with its "
                    "control commands"
                )
                continue
            lacking = [need for need in needs if not node.can(need)]
            if lacking:
                problems.append(
                    f"{where}: {name} cannot be {_verbs(lacking)} here: {stack.path} gives it "
                    f"no {' or '.join(repr(c) for c in lacking)} command ({fault.action} needs "
                    f"{' and '.join(needs)}); add them under its control:"
                )
    return problems


def _verbs(controls: list[str]) -> str:
    words = {"kill": "killed", "pause": "paused", "resume": "resumed", "restart": "restarted"}
    return " or ".join(words.get(c, c) for c in controls)


__all__ = ["missing_controls"]
