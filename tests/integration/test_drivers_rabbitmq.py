"""The RabbitMQ drivers against the real broker, every byte through Toxiproxy."""

from __future__ import annotations

import uuid
from collections import Counter

import pika
import pytest
from integration_support import make_events, wait_until

from harness.drivers import (
    AmqpTarget,
    ListRecorder,
    RabbitConsumerConfig,
    RabbitConsumerDriver,
    RabbitPublisherConfig,
    RabbitPublisherDriver,
    delete_blocking,
)
from harness.events import Event
from harness.stack.toxiproxy import reset_peer

pytestmark = pytest.mark.integration


@pytest.fixture
def target(stack):
    params = pika.URLParameters(stack.rabbitmq_url)
    queue = f"it-{uuid.uuid4().hex[:10]}"
    target = AmqpTarget(queue, host=params.host, port=params.port)
    yield target
    delete_blocking(target)


async def publish(target: AmqpTarget, events: list[Event], rows: ListRecorder, **config):
    driver = RabbitPublisherDriver(RabbitPublisherConfig(target, **config), rows)
    await driver.start()
    for event in events:
        driver.send(event)
    await driver.close()


def dlq_bodies(target: AmqpTarget) -> list[bytes]:
    connection = pika.BlockingConnection(target.parameters())
    try:
        channel, bodies = connection.channel(), []
        while (got := channel.basic_get(target.dlq, auto_ack=True))[0] is not None:
            bodies.append(got[2])
        return bodies
    finally:
        connection.close()


async def test_confirmed_publishes_are_recorded_and_consumed(target):
    events = make_events(300, poison={5})
    rows = ListRecorder()
    await publish(target, events, rows, confirms=True, persistent=True)

    sends = rows.of("send")
    assert Counter(r["id"] for r in sends) == Counter(e.id for e in events)
    assert {r["status"] for r in sends} == {"ok"}
    assert sorted(r["delivery_tag"] for r in sends) == list(range(1, len(events) + 1))

    consumer = RabbitConsumerDriver(RabbitConsumerConfig(target), rows)
    await consumer.start()
    try:
        await wait_until(lambda: len(rows.of("recv")) >= len(events), 30, "every event")
    finally:
        await consumer.close()

    recv = rows.of("recv")
    assert {r["id"] for r in recv} == {e.id for e in events}
    assert all(r["queue"] == target.queue and r["delivery_tag"] >= 1 for r in recv)
    assert not any(r["redelivered"] for r in recv)
    assert Counter(r["id"] for r in rows.of("effect")) == Counter(
        e.id for e in events if not e.poison
    )
    [dead] = rows.of("dead_letter")
    assert dead["id"] == events[5].id and "not JSON" in dead["reason"]
    assert dlq_bodies(target) == [events[5].payload]


async def test_without_confirms_a_returned_publish_counts_as_ok(target):
    events = make_events(100)
    rows = ListRecorder()
    await publish(target, events, rows, confirms=False, persistent=False)
    sends = rows.of("send")
    assert Counter(r["id"] for r in sends) == Counter(e.id for e in events)
    assert {r["status"] for r in sends} == {"ok"}
    assert not any("delivery_tag" in r for r in sends)


async def test_consumer_survives_reset_peer_and_keeps_receiving(target, toxiproxy):
    first, second = make_events(50), make_events(50)
    rows = ListRecorder()
    consumer = RabbitConsumerDriver(
        RabbitConsumerConfig(target, reconnect_backoff_s=(0.1, 0.5)), rows
    )
    await consumer.start()
    try:
        await publish(target, first, rows)
        await wait_until(lambda: len(rows.of("recv")) >= 50, 20, "the first batch")
        toxiproxy.add_toxic("rabbitmq", reset_peer(0), name="reset")
        await wait_until(lambda: consumer.stats()["disconnects"] >= 1, 20, "the reset")
        toxiproxy.remove_toxic("rabbitmq", "reset")
        await wait_until(lambda: consumer.stats()["connections"] >= 2, 20, "the reconnect")
        await publish(target, second, rows)
        await wait_until(lambda: len(rows.of("recv")) >= 100, 20, "the second batch")
    finally:
        await consumer.close()
    assert {r["id"] for r in rows.of("recv")} == {e.id for e in first + second}
    assert {r["status"] for r in rows.of("send")} == {"ok"}
