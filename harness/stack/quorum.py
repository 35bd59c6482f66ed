"""Who leads the KRaft controller quorum: the target resolver behind ``controller_leader``.

Kafka's Metadata response names a random live broker as "controller" in KRaft mode, so the
harness asks the quorum itself with a DescribeQuorum request (API key 55, version 0; aiokafka
does not ship it), which any broker forwards to the active controller.

    >>> leader = await controller_leader(stack)      # the NodeHandle of the quorum's leader
"""

from __future__ import annotations

import asyncio

from aiokafka.conn import create_conn
from aiokafka.errors import KafkaError
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    CompactArray,
    CompactString,
    Int16,
    Int32,
    Int64,
    Schema,
    TaggedFields,
)

from harness.errors import StackError
from harness.safety import check_address, check_peer, split_host_port
from harness.stack import layout
from harness.stack.handles import NodeHandle
from harness.stack.leader import live_bootstrap
from harness.stack.stack import Stack

METADATA_TOPIC = "__cluster_metadata"
QUORUM_TIMEOUT = 30.0
REQUEST_TIMEOUT_MS = 3000

_REPLICA = (("replica_id", Int32), ("log_end_offset", Int64), ("tags", TaggedFields))


class DescribeQuorumResponse_v0(Response):
    API_KEY = 55
    API_VERSION = 0
    SCHEMA = Schema(
        ("error_code", Int16),
        (
            "topics",
            CompactArray(
                ("topic_name", CompactString("utf-8")),
                (
                    "partitions",
                    CompactArray(
                        ("partition_index", Int32),
                        ("error_code", Int16),
                        ("leader_id", Int32),
                        ("leader_epoch", Int32),
                        ("high_watermark", Int64),
                        ("current_voters", CompactArray(*_REPLICA)),
                        ("observers", CompactArray(*_REPLICA)),
                        ("tags", TaggedFields),
                    ),
                ),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class DescribeQuorumRequest_v0(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 55
    API_VERSION = 0
    RESPONSE_TYPE = DescribeQuorumResponse_v0
    SCHEMA = Schema(
        (
            "topics",
            CompactArray(
                ("topic_name", CompactString("utf-8")),
                ("partitions", CompactArray(("partition_index", Int32), ("tags", TaggedFields))),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class DescribeQuorumRequest(Request[DescribeQuorumRequest_v0]):
    API_KEY = 55

    def build(
        self, request_struct_class: type[DescribeQuorumRequest_v0]
    ) -> DescribeQuorumRequest_v0:
        return request_struct_class([(METADATA_TOPIC, [(0, {})], {})], {})


async def _ask(address: str) -> int:
    """The quorum leader's node id as the broker at ``address`` reports it (-1: none yet)."""
    check_address(address)
    host, port = split_host_port(address)
    conn = await create_conn(host, port, request_timeout_ms=REQUEST_TIMEOUT_MS)
    try:
        writer = getattr(conn, "_writer", None)
        peer = writer.get_extra_info("peername") if writer is not None else None
        check_peer(peer, what=f"the quorum connection to {address}")
        response = await conn.send(DescribeQuorumRequest())
    finally:
        conn.close()
    if response.error_code:
        return -1
    for _name, partitions, _tags in response.topics:
        for partition in partitions:
            if partition[1] == 0:
                return int(partition[2])
    return -1


async def quorum_leader_id(bootstrap: list[str], timeout: float = QUORUM_TIMEOUT) -> int:
    """The node id of the KRaft quorum's leader, asking ``bootstrap`` in turn until one knows."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    problems: list[str] = []
    while loop.time() < deadline:
        for address in bootstrap:
            try:
                leader = await _ask(address)
            except (TimeoutError, OSError, KafkaError) as error:
                problems.append(f"{address}: {error!r}")
                continue
            if leader >= 0:
                return leader
        await asyncio.sleep(0.5)
    raise StackError(
        f"No broker named the KRaft controller quorum's leader within {timeout:.0f}s "
        f"({'; '.join(problems[-3:]) or 'none elected'}). Check the brokers with "
        "`harness stack status`."
    )


async def controller_leader(stack: Stack, timeout: float = QUORUM_TIMEOUT) -> NodeHandle:
    """The node handle of the broker whose controller leads the KRaft quorum now."""
    leader = await quorum_leader_id(live_bootstrap(stack), timeout)
    name = layout.kafka_node_name(leader)
    if name not in stack.nodes:
        raise StackError(f"The quorum's leader is node {leader}, which this stack does not run.")
    return stack.nodes[name]


__all__ = ["controller_leader", "quorum_leader_id"]
