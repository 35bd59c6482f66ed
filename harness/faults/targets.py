"""Fault targets: a node name or a rule choosing nodes, checked against the scenario before
the run and resolved to the stack's node handles when the fault starts.

    kill: {target: leader_of_partition, partition: 0}

Targets name nodes of the stack (``kafka-1``..``kafka-3``, ``rabbitmq``, ``nats-1``..``nats-3``, and ``postgres`` when
the scenario observes a PostgreSQL database) or are resolved at run time (``leader_of_partition`` or ``followers_of_partition`` with ``partition``,
``random_broker``, ``all``).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import TYPE_CHECKING

from pydantic import Field

from harness.errors import FaultError
from harness.scenario.base import Problem, StrictModel
from harness.stack import NodeHandle, Stack, followers_of_partition, leader_of_partition

if TYPE_CHECKING:
    from harness.scenario import Scenario

LEADER_OF_PARTITION = "leader_of_partition"
FOLLOWERS_OF_PARTITION = "followers_of_partition"
RANDOM_BROKER = "random_broker"
ALL = "all"
POSTGRES_NODE = "postgres"
OAUTH_NODE = "oauth"
PARTITION_TARGETS: tuple[str, ...] = (LEADER_OF_PARTITION, FOLLOWERS_OF_PARTITION)
DYNAMIC_TARGETS: tuple[str, ...] = (*PARTITION_TARGETS, RANDOM_BROKER, ALL)


class NodeTarget(StrictModel):
    """A node, or a rule choosing nodes: ``{target: leader_of_partition, partition: 0}``."""

    target: str
    partition: int | None = Field(default=None, ge=0)

    def describe(self) -> str:
        return self.target if self.partition is None else f"{self.target} {self.partition}"


def scenario_nodes(scenario: Scenario) -> tuple[str, ...]:
    """The stack's nodes a scenario's faults may name: its target's, plus ``postgres`` when it
    observes a PostgreSQL database (kill, pause, restart it; cut or slow its proxy), and
    ``oauth`` when it takes tokens from the stack's issuer."""
    postgres = any(
        entry.database is not None and entry.database.postgres is not None
        for entry in scenario.observe
    )
    oauth = (OAUTH_NODE,) if scenario.uses_oauth else ()
    return (*scenario.target.nodes, *((POSTGRES_NODE,) if postgres else ()), *oauth)


def check_node_target(
    scenario: Scenario, spec: NodeTarget, *, proxies: bool = False
) -> Iterator[Problem]:
    """What is wrong with ``spec`` on this scenario's target (paths relative to ``spec``).

    With ``proxies`` (a fault acting on Toxiproxy proxies), the scenario's HTTP downstreams are
    targets too, by their ``observe`` name.
    """
    nodes = scenario_nodes(scenario)
    if proxies:
        nodes = (*nodes, *_downstreams(scenario))
    kafka = scenario.target.kafka
    if spec.target in PARTITION_TARGETS:
        if kafka is None:
            yield Problem(("target",), f"{spec.target} needs a Kafka target")
        elif spec.partition is None:
            yield Problem(("partition",), f"{spec.target} needs 'partition: P'")
        elif spec.partition >= kafka.partitions:
            yield Problem(
                ("partition",),
                f"partition {spec.partition} does not exist (the topic has "
                f"{kafka.partitions}: 0..{kafka.partitions - 1})",
            )
        return
    if scenario.target.nats is not None and spec.target in (RANDOM_BROKER, ALL):
        yield Problem(
            ("target",),
            f"{spec.target} chooses among Kafka brokers; on a NATS target name the node "
            f"({', '.join(scenario.target.nodes)})",
        )
        return
    known = (*nodes, *DYNAMIC_TARGETS)
    if spec.target not in known:
        yield Problem(("target",), unknown_target(spec.target, known))
    if spec.partition is not None:
        yield Problem(("partition",), f"applies only to targets {' and '.join(PARTITION_TARGETS)}")


def _downstreams(scenario: Scenario) -> list[str]:
    """The proxied HTTP peers: the downstreams and webhook receivers the harness plays, and a
    webhook target's ``endpoint``."""
    endpoint = ["endpoint"] if scenario.target.webhook is not None else []
    played = ("downstream", "webhook_receiver")
    return [*endpoint, *(e.source_name for e in scenario.observe if e.kind in played)]


def unknown_target(name: str, known: tuple[str, ...]) -> str:
    return f"unknown target {name!r} (known: {', '.join(known)})"


async def resolve(
    target: NodeTarget | str, stack: Stack, topic: str | None, rng: random.Random
) -> list[NodeHandle]:
    """The nodes a fault acts on now; partition targets ask the cluster's metadata."""
    name = target if isinstance(target, str) else target.target
    brokers = stack.kafka_nodes()
    if name in PARTITION_TARGETS:
        partition = target.partition if isinstance(target, NodeTarget) else None
        if topic is None:
            raise FaultError(
                f"{name} needs a Kafka topic; this scenario has none. Set target.kafka.topic, "
                "or name a node as the target."
            )
        if name == FOLLOWERS_OF_PARTITION:
            return await followers_of_partition(stack, topic, partition or 0)
        return [await leader_of_partition(stack, topic, partition or 0)]
    if name == RANDOM_BROKER:
        if not brokers:
            raise FaultError(
                "random_broker needs Kafka brokers; this stack has none. Start one with Kafka "
                "(`harness stack up`), or name another target."
            )
        return [rng.choice(sorted(brokers, key=lambda h: h.name))]
    if name == ALL:
        if topic is None and "rabbitmq" in stack.nodes:
            return [stack.nodes["rabbitmq"]]
        return sorted(brokers, key=lambda h: h.name)
    try:
        return [stack.node(name)]
    except Exception as error:
        raise FaultError(str(error)) from error


def proxy_of(node: NodeHandle) -> str:
    """The Toxiproxy proxy in front of ``node``'s client listener."""
    if not node.proxy:
        raise FaultError(
            f"{node.name} has no Toxiproxy proxy in front of it; it takes no toxic. Target a "
            "node with a proxy (`harness stack status` lists them), or use kill or pause."
        )
    return node.proxy


__all__ = [
    "ALL",
    "DYNAMIC_TARGETS",
    "FOLLOWERS_OF_PARTITION",
    "LEADER_OF_PARTITION",
    "PARTITION_TARGETS",
    "RANDOM_BROKER",
    "OAUTH_NODE",
    "POSTGRES_NODE",
    "NodeTarget",
    "check_node_target",
    "scenario_nodes",
    "proxy_of",
    "resolve",
    "unknown_target",
]
