"""The Kafka drivers against the real three-broker cluster, every byte through Toxiproxy."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from aiokafka import AIOKafkaConsumer
from integration_support import make_events, wait_until

from harness.drivers import (
    EffectMode,
    KafkaConsumerConfig,
    KafkaConsumerDriver,
    KafkaProducerConfig,
    KafkaProducerDriver,
    ListRecorder,
    create_topic,
    delete_topic,
)
from harness.events import Event
from harness.stack.toxiproxy import Stream, timeout

pytestmark = pytest.mark.integration


@pytest.fixture
async def topic(stack, topic_name):
    bootstrap = stack.kafka_bootstrap_servers
    await create_topic(
        bootstrap, topic_name, partitions=3, replication_factor=3, min_insync_replicas=2
    )
    yield topic_name
    await delete_topic(bootstrap, topic_name)
    await delete_topic(bootstrap, f"{topic_name}.dlq")


async def produce(stack, topic: str, events: list[Event], rows: ListRecorder, **config) -> None:
    driver = KafkaProducerDriver(
        KafkaProducerConfig(stack.kafka_bootstrap_servers, topic, **config), rows
    )
    await driver.start()
    for event in events:
        driver.send(event)
    await driver.close()


def consumer(stack, topic: str, rows: ListRecorder, **config) -> KafkaConsumerDriver:
    group = f"it-group-{uuid.uuid4().hex[:6]}"
    config.setdefault("dlq_replication_factor", 3)
    cfg = KafkaConsumerConfig(stack.kafka_bootstrap_servers, topic, group=group, **config)
    return KafkaConsumerDriver(cfg, rows)


async def test_every_send_is_recorded_once_and_every_event_consumed(stack, topic):
    events = make_events(300, poison={17})
    rows = ListRecorder()
    await produce(stack, topic, events, rows, acks="all", enable_idempotence=True)

    sends = rows.of("send")
    assert Counter(r["id"] for r in sends) == Counter(e.id for e in events)
    assert {r["status"] for r in sends} == {"ok"}
    assert all(r["partition"] in (0, 1, 2) and r["offset"] >= 0 for r in sends)
    assert all(r["t_intended"] <= r["t"] <= r["t_ack"] for r in sends)

    driver = consumer(stack, topic, rows)
    await driver.start()
    try:
        await wait_until(lambda: len(rows.of("recv")) >= len(events), 30, "every event")
        await wait_until(lambda: rows.of("dead_letter"), 10, "the dead letter")
    finally:
        await driver.close()

    recv = rows.of("recv")
    assert {r["id"] for r in recv} == {e.id for e in events}
    sent_at = {(r["partition"], r["offset"]): r["id"] for r in sends}
    assert all(sent_at[(r["partition"], r["offset"])] == r["id"] for r in recv)
    assert Counter(r["id"] for r in rows.of("effect")) == Counter(
        e.id for e in events if not e.poison
    )
    [dead] = rows.of("dead_letter")
    assert dead["id"] == events[17].id and "not JSON" in dead["reason"]
    assert await read_values(stack, f"{topic}.dlq") == [events[17].payload]


async def read_values(stack, topic: str) -> list[bytes]:
    reader = AIOKafkaConsumer(
        topic, bootstrap_servers=stack.kafka_bootstrap_servers, auto_offset_reset="earliest"
    )
    await reader.start()
    try:
        batches = await reader.getmany(timeout_ms=5000)
        return [r.value for records in batches.values() for r in records]
    finally:
        await reader.stop()


@pytest.mark.parametrize(("mode", "effects_per_id"), [("buggy", 2), ("correct", 1)])
async def test_crash_before_commit_redelivers(stack, topic, tmp_path, mode, effects_per_id):
    events = make_events(200)
    rows = ListRecorder()
    driver = consumer(
        stack,
        topic,
        rows,
        mode=EffectMode(mode),
        commit_interval_s=3600.0,  # nothing is committed before the crash
        effect_store=tmp_path / "effects.txt",
    )
    await driver.start()
    try:
        assert await driver.wait_assigned(30), "the consumer got no partitions"
        await produce(stack, topic, events, rows, acks=1)
        await wait_until(lambda: len(rows.of("effect")) >= len(events), 30, "the effects")
        await driver.crash()
        await driver.restart()
        await wait_until(lambda: len(rows.of("recv")) >= 2 * len(events), 30, "redelivery")
    finally:
        await driver.close()

    assert set(Counter(r["id"] for r in rows.of("recv")).values()) == {2}
    assert len({r["worker"] for r in rows.of("recv")}) == 2
    effects = Counter(r["id"] for r in rows.of("effect"))
    assert set(effects) == {e.id for e in events}
    assert set(effects.values()) == {effects_per_id}


async def test_sends_into_a_silent_cluster_end_fail_or_unknown(stack, topic, toxiproxy):
    events = make_events(50)
    rows = ListRecorder()
    driver = KafkaProducerDriver(
        KafkaProducerConfig(stack.kafka_bootstrap_servers, topic, acks=1, request_timeout_ms=2000),
        rows,
    )
    await driver.start()
    try:
        for node in stack.kafka_nodes():  # data stops flowing, even on open connections
            toxiproxy.add_toxic(node.proxy, timeout(0), stream=Stream.UPSTREAM)
        for event in events:
            driver.send(event)
        await driver.close(timeout_s=15)
    finally:
        toxiproxy.reset()  # before the topic fixture deletes the topic

    sends = rows.of("send")
    assert Counter(r["id"] for r in sends) == Counter(e.id for e in events)
    assert {r["status"] for r in sends} <= {"fail", "unknown"}
    assert all(r["error"] for r in sends)
