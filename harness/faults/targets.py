"""Resolve a fault's target (a node name or a rule) to the stack's node handles at run time."""

from __future__ import annotations

import random

from harness.errors import FaultError
from harness.scenario.faults import (
    ALL,
    FOLLOWERS_OF_PARTITION,
    PARTITION_TARGETS,
    RANDOM_BROKER,
    NodeTarget,
)
from harness.stack import NodeHandle, Stack
from harness.stack.leader import followers_of_partition, leader_of_partition


async def resolve(
    target: NodeTarget | str, stack: Stack, topic: str | None, rng: random.Random
) -> list[NodeHandle]:
    """The nodes a fault acts on now; partition targets ask the cluster's metadata."""
    name = target if isinstance(target, str) else target.target
    brokers = stack.kafka_nodes()
    if name in PARTITION_TARGETS:
        assert isinstance(target, NodeTarget)
        if topic is None:
            raise FaultError(f"{name} needs a Kafka topic; this scenario has none.")
        if name == FOLLOWERS_OF_PARTITION:
            return await followers_of_partition(stack, topic, target.partition or 0)
        return [await leader_of_partition(stack, topic, target.partition or 0)]
    if name == RANDOM_BROKER:
        if not brokers:
            raise FaultError("random_broker needs Kafka brokers; this stack has none.")
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
        raise FaultError(f"{node.name} has no Toxiproxy proxy in front of it; it takes no toxic.")
    return node.proxy


__all__ = ["proxy_of", "resolve"]
