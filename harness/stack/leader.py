"""Who leads a partition: the target resolver behind ``leader_of_partition`` faults."""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition
from aiokafka.cluster import ClusterMetadata
from aiokafka.conn import create_conn
from aiokafka.errors import KafkaError
from aiokafka.protocol.metadata import MetadataRequest

from harness.errors import StackError
from harness.safety import check_address, check_peer, split_host_port
from harness.stack import layout
from harness.stack.handles import NodeHandle
from harness.stack.stack import Stack

LEADER_TIMEOUT = 30.0
METADATA_TIMEOUT_MS = 3000


async def _metadata(bootstrap: list[str], topics: list[str] | None = None) -> ClusterMetadata:
    """Metadata from the first of ``bootstrap`` that answers, asking that broker alone.

    aiokafka's client would go on to ask whichever known broker is least loaded, which may be
    a paused one (its proxy accepts the connection; nothing answers) and stall the caller for
    the whole request timeout, long enough for a fault to miss its moment.
    """
    problems = []
    for address in bootstrap:
        check_address(address)
        host, port = split_host_port(address)
        try:
            conn = await create_conn(host, port, request_timeout_ms=METADATA_TIMEOUT_MS)
        except (TimeoutError, OSError, KafkaError) as error:
            problems.append(f"{address}: {error!r}")
            continue
        try:
            writer = getattr(conn, "_writer", None)
            peer = writer.get_extra_info("peername") if writer is not None else None
            check_peer(peer, what=f"the metadata connection to {address}")
            response = await conn.send(MetadataRequest(topics or []))
        except (TimeoutError, KafkaError) as error:
            problems.append(f"{address}: {error!r}")
            continue
        finally:
            conn.close()
        cluster = ClusterMetadata()
        cluster.update_metadata(response)
        return cluster
    raise StackError(
        f"No broker answered a metadata request ({'; '.join(problems)}). Check the brokers "
        "with `harness stack status`."
    )


async def partition_leaders(
    bootstrap: list[str], topic: str, timeout: float = LEADER_TIMEOUT
) -> dict[int, int]:
    """Partition -> leader broker id, once every partition of ``topic`` has a leader."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: dict[int, int] = {}
    while loop.time() < deadline:
        try:
            cluster = await _metadata(bootstrap, [topic])
        except StackError:
            await asyncio.sleep(0.5)
            continue
        partitions = cluster.partitions_for_topic(topic) or set()
        last = {p: cluster.leader_for_partition(TopicPartition(topic, p)) for p in partitions}
        if last and all(leader is not None and leader >= 0 for leader in last.values()):
            return {p: int(leader) for p, leader in sorted(last.items())}
        await asyncio.sleep(0.5)
    raise StackError(
        f"Topic {topic!r} has no leader for every partition after {timeout:.0f}s "
        f"(last seen: {last or 'no partitions'}). Does the topic exist, and are brokers up? "
        "Check with `harness stack status`."
    )


def live_bootstrap(stack: Stack) -> list[str]:
    """The proxied addresses of the brokers that run and are not paused.

    A paused broker still accepts connections through its proxy but never answers, so asking
    it for metadata would stall a fault for the client's whole request timeout.
    """
    live = [
        address
        for node in stack.kafka_nodes()
        if (address := node.client_address) and node.is_alive() and not node.is_paused()
    ]
    return live or stack.kafka_bootstrap


async def leader_of_partition(
    stack: Stack, topic: str, partition: int, timeout: float = LEADER_TIMEOUT
) -> NodeHandle:
    """The node handle of the broker that leads ``topic``/``partition`` now."""
    leaders = await partition_leaders(live_bootstrap(stack), topic, timeout)
    if partition not in leaders:
        raise StackError(
            f"Topic {topic!r} has no partition {partition!r} (it has {len(leaders)}). Use a "
            f"partition from 0 to {len(leaders) - 1}, or give the topic more partitions."
        )
    return stack.node(layout.kafka_node_name(leaders[partition]))


async def followers_of_partition(
    stack: Stack, topic: str, partition: int, timeout: float = LEADER_TIMEOUT
) -> list[NodeHandle]:
    """The node handles of the replicas of ``topic``/``partition`` that do not lead it now."""
    leader = await leader_of_partition(stack, topic, partition, timeout)
    cluster = await _metadata(live_bootstrap(stack), [topic])
    # aiokafka keeps replica lists only in its private partition table.
    table = getattr(cluster, "_partitions", {}).get(topic, {})
    replicas = getattr(table.get(partition), "replicas", None)
    if replicas is None:
        raise StackError(
            f"The cluster's metadata lists no replicas for {topic!r}/{partition}. Check that the "
            "topic exists and its brokers run (`harness stack status`)."
        )
    names = [layout.kafka_node_name(int(r)) for r in replicas]
    return [stack.nodes[n] for n in names if n != leader.name and n in stack.nodes]


__all__ = ["followers_of_partition", "leader_of_partition", "live_bootstrap", "partition_leaders"]
