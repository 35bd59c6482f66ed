"""Kafka on the real three-broker stack: routing through the proxies, proxy cuts, SIGKILL and
SIGSTOP of brokers (acceptance tests 1-4 of the stack).

Latencies are medians of several sends, so one slow sample on a loaded machine cannot flake a
test; every wait is a condition with a deadline.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from harness.stack import Stack, leader_of_partition, partition_leaders
from harness.stack.toxiproxy import ToxiproxyClient, latency

pytestmark = pytest.mark.integration


async def create_topic(stack: Stack, name: str, partitions: int = 6) -> dict[int, int]:
    """Create an RF=3, min.insync.replicas=2 topic; return partition -> leader id."""
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        topic = NewTopic(name, partitions, 3, topic_configs={"min.insync.replicas": "2"})
        await admin.create_topics([topic])
    finally:
        await admin.close()
    return await partition_leaders(stack.kafka_bootstrap, name)


async def isr_sizes(stack: Stack, topic: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return {p["partition"]: len(p["isr"]) for p in described["partitions"]}


async def wait_full_isr(stack: Stack, topic: str, timeout: float = 90.0) -> None:
    """Wait until every partition of ``topic`` has all three replicas in sync."""
    deadline = time.monotonic() + timeout
    sizes: dict[int, int] = {}
    while time.monotonic() < deadline:
        sizes = await isr_sizes(stack, topic)
        if sizes and all(size == 3 for size in sizes.values()):
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"ISR of {topic} not full after {timeout}s: {sizes}")


def producer(stack: Stack, **config: object) -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, **config)


async def ack_latency_ms(prod: AIOKafkaProducer, topic: str, partition: int, n: int) -> float:
    """Median send-to-ack latency of ``n`` sequential sends to one partition."""
    samples = []
    for i in range(n):
        started = time.monotonic()
        await prod.send_and_wait(topic, f"probe-{i}".encode(), partition=partition)
        samples.append((time.monotonic() - started) * 1000)
    return statistics.median(samples)


async def send_acked(prod: AIOKafkaProducer, topic: str, values: Iterable[str]) -> set[str]:
    """Send every value; return those the cluster acknowledged (failures are left out)."""
    values = list(values)
    futures = [await prod.send(topic, v.encode()) for v in values]
    results = await asyncio.gather(*futures, return_exceptions=True)
    return {v for v, r in zip(values, results, strict=True) if not isinstance(r, BaseException)}


async def read_all(stack: Stack, topic: str, want: set[str], timeout: float = 60.0) -> set[str]:
    """Read ``topic`` from the beginning until every value in ``want`` is seen or time is up."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.kafka_bootstrap, auto_offset_reset="earliest",
        enable_auto_commit=False, isolation_level="read_committed",
    )  # fmt: skip
    await consumer.start()
    seen: set[str] = set()
    try:
        partitions = await partition_leaders(stack.kafka_bootstrap, topic)
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        await consumer.seek_to_beginning()
        deadline = time.monotonic() + timeout
        while not want <= seen and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                seen.update(r.value.decode() for r in records)
    finally:
        await consumer.stop()
    return seen


def split_by_leader(leaders: dict[int, int]) -> tuple[int, int, list[int]]:
    """A partition P, its leader, and the partitions that other brokers lead."""
    target = 0
    leader = leaders[target]
    others = [p for p, node in leaders.items() if node != leader]
    assert others, f"all partitions led by one broker: {leaders}"
    return target, leader, others


async def test_latency_toxic_hits_only_the_partitions_its_broker_leads(
    stack: Stack, toxiproxy: ToxiproxyClient, topic_name: str
) -> None:
    leaders = await create_topic(stack, topic_name)
    target, leader, others = split_by_leader(leaders)
    prod = producer(stack, acks="all", linger_ms=0)
    await prod.start()
    try:
        for p in leaders:  # warm every connection and the metadata before measuring
            await ack_latency_ms(prod, topic_name, p, 3)
        toxiproxy.add_toxic(f"kafka-{leader}", latency(300), name="slow-leader")
        slowed = await ack_latency_ms(prod, topic_name, target, 7)
        unaffected = {p: await ack_latency_ms(prod, topic_name, p, 7) for p in others}
    finally:
        await prod.stop()
    assert slowed >= 250, f"partition {target} (leader kafka-{leader}) median {slowed:.0f} ms"
    assert max(unaffected.values()) < 50, f"other partitions' medians (ms): {unaffected}"


async def test_disabled_proxy_cuts_its_partitions_and_reenabling_recovers(
    stack: Stack, toxiproxy: ToxiproxyClient, topic_name: str
) -> None:
    leaders = await create_topic(stack, topic_name)
    target, leader, others = split_by_leader(leaders)
    prod = producer(stack, acks="all", request_timeout_ms=5000, retry_backoff_ms=200)
    await prod.start()
    try:
        await prod.send_and_wait(topic_name, b"before", partition=target)
        toxiproxy.disable(f"kafka-{leader}")
        started = time.monotonic()
        with pytest.raises(Exception) as cut:  # the client's own timeout or connection error
            await asyncio.wait_for(prod.send_and_wait(topic_name, b"cut", partition=target), 30)
        assert not isinstance(cut.value, asyncio.TimeoutError), "client never gave up"
        assert time.monotonic() - started < 30
        await asyncio.wait_for(prod.send_and_wait(topic_name, b"ok", partition=others[0]), 30)
        toxiproxy.enable(f"kafka-{leader}")
        await send_until_acked(prod, topic_name, target, deadline_s=60)
    finally:
        await prod.stop()


async def send_until_acked(
    prod: AIOKafkaProducer, topic: str, partition: int, deadline_s: float
) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            await asyncio.wait_for(prod.send_and_wait(topic, b"again", partition=partition), 15)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def test_sigkilled_leader_restarts_and_no_acked_write_is_lost(
    stack: Stack, topic_name: str
) -> None:
    await create_topic(stack, topic_name)
    victim = await leader_of_partition(stack, topic_name, 0)
    prod = producer(stack, acks="all", enable_idempotence=True, request_timeout_ms=30000)
    await prod.start()
    try:
        acked = await send_acked(prod, topic_name, (f"pre-{i}" for i in range(300)))
        assert len(acked) == 300
        victim.kill()
        assert not victim.is_alive()
        acked |= await send_acked(prod, topic_name, (f"during-{i}" for i in range(50)))
    finally:
        await prod.stop()
    victim.restart()
    await wait_full_isr(stack, topic_name)
    seen = await read_all(stack, topic_name, acked)
    assert {v for v in acked if v.startswith("pre-")} <= seen
    assert acked - seen == set()


async def test_sigstopped_leader_resumes_without_data_loss(stack: Stack, topic_name: str) -> None:
    await create_topic(stack, topic_name)
    victim = await leader_of_partition(stack, topic_name, 0)
    # A paused broker keeps its connections open and answers nothing, so requests already
    # routed to it end only at the request timeout; keep that, and metadata age, short.
    prod = producer(stack, acks="all", enable_idempotence=True, request_timeout_ms=8000,
                    metadata_max_age_ms=3000)  # fmt: skip
    await prod.start()
    try:
        acked = await send_acked(prod, topic_name, (f"pre-{i}" for i in range(200)))
        victim.pause()
        await wait_leader_moves(stack, topic_name, 0, victim.name)
        acked |= await send_acked(prod, topic_name, (f"paused-{i}" for i in range(50)))
        victim.resume()
        acked |= await send_acked(prod, topic_name, (f"post-{i}" for i in range(50)))
    finally:
        await prod.stop()
    await wait_full_isr(stack, topic_name)
    assert len([v for v in acked if v.startswith("pre-")]) == 200
    seen = await read_all(stack, topic_name, acked)
    assert acked - seen == set()


async def wait_leader_moves(stack: Stack, topic: str, partition: int, away_from: str) -> None:
    """Wait until the controller has fenced ``away_from`` and moved the partition's leader."""
    deadline = time.monotonic() + 60
    while (await leader_of_partition(stack, topic, partition)).name == away_from:
        assert time.monotonic() < deadline, f"{away_from} still leads {topic}/{partition}"
        await asyncio.sleep(0.5)
