"""Throughput of the producer drivers with full recording, against a bare client loop.

    .venv/bin/python benchmarks/bench_drivers.py [--events 30000]

Needs the stack (`harness stack up`). Kafka: a 1-partition, RF=1 topic, so every byte goes
through one broker's Toxiproxy proxy; acks=1 and acks=all. Baseline: a bare aiokafka loop
(`await producer.send(...)` per event, then wait for every future) with the same CloudEvents
encoding and no recording. Driver: `KafkaProducerDriver` appending every send row to a real
`HistoryWriter`. RabbitMQ: publisher confirms on a durable queue, persistent messages; baseline
a bare pika SelectConnection publishing the same messages and counting acks.

Prints events/s of each and the driver/baseline ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pika
from aiokafka import AIOKafkaProducer
from pika.adapters.select_connection import SelectConnection

from harness import clock
from harness.drivers import (
    AmqpTarget,
    KafkaProducerConfig,
    KafkaProducerDriver,
    RabbitPublisherConfig,
    RabbitPublisherDriver,
    create_topic,
    declare_topology,
    delete_blocking,
    delete_topic,
)
from harness.events import Event, encode_amqp, encode_kafka
from harness.history import HistoryWriter
from harness.stack import Stack


def make_events(n: int) -> list[Event]:
    run = uuid.uuid4().hex[:6]
    pad = "x" * 160
    return [
        Event(f"{run}-{i}", f"k{i % 64}", i, 0.0, 0.0, f'{{"id":"{run}-{i}","p":"{pad}"}}'.encode())
        for i in range(n)
    ]


async def kafka_bare(bootstrap: str, topic: str, events: list[Event], acks) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=acks)
    await producer.start()
    offset = clock.wall_offset()
    start = time.perf_counter()
    futures = []
    for event in events:
        key, value, headers = encode_kafka(event._replace(sent=clock.now()), offset)
        futures.append(await producer.send(topic, value=value, key=key, headers=headers))
    await asyncio.gather(*futures)
    elapsed = time.perf_counter() - start
    await producer.stop()
    return len(events) / elapsed


async def kafka_driver(bootstrap: str, topic: str, events: list[Event], acks, out: Path) -> float:
    writer = HistoryWriter(out)
    driver = KafkaProducerDriver(KafkaProducerConfig(bootstrap, topic, acks=acks), writer)
    await driver.start()
    start = time.perf_counter()
    for i, event in enumerate(events):
        driver.send(event)
        if i % 512 == 511:  # a pacer releases batches and yields between them
            await asyncio.sleep(0)
    assert await driver.flush(120)
    elapsed = time.perf_counter() - start
    await driver.close()
    writer.close()
    assert driver.counts["ok"] == len(events), driver.counts
    return len(events) / elapsed


def rabbit_bare(target: AmqpTarget, events: list[Event]) -> float:
    """Publish with confirms on a SelectConnection, no recording; events/s until the last ack."""
    state = {"acked": 0, "start": 0.0, "end": 0.0}
    done = threading.Event()
    offset = clock.wall_offset()

    def on_confirm(frame) -> None:
        state["acked"] = frame.method.delivery_tag
        if state["acked"] >= len(events):
            state["end"] = time.perf_counter()
            connection.close()

    def on_channel(channel) -> None:
        channel.confirm_delivery(ack_nack_callback=on_confirm, callback=lambda _f: publish(channel))

    def publish(channel) -> None:
        state["start"] = time.perf_counter()
        for event in events:
            message = encode_amqp(event._replace(sent=clock.now()), offset)
            props = pika.BasicProperties(delivery_mode=2, **message.properties)
            channel.basic_publish("", target.queue, message.body, props)

    connection = SelectConnection(
        target.parameters(),
        on_open_callback=lambda c: c.channel(on_open_callback=on_channel),
        on_close_callback=lambda c, _r: (c.ioloop.stop(), done.set()),
    )
    connection.ioloop.start()
    return len(events) / (state["end"] - state["start"])


async def rabbit_driver(target: AmqpTarget, events: list[Event], out: Path) -> float:
    writer = HistoryWriter(out)
    driver = RabbitPublisherDriver(RabbitPublisherConfig(target, confirms=True), writer)
    await driver.start()
    start = time.perf_counter()
    for i, event in enumerate(events):
        driver.send(event)
        if i % 512 == 511:
            await asyncio.sleep(0)
    assert await driver.flush(120)
    elapsed = time.perf_counter() - start
    await driver.close()
    writer.close()
    assert driver.counts["ok"] == len(events), driver.counts
    return len(events) / elapsed


def report(name: str, bare: float, driver: float) -> None:
    print(
        f"{name:<28} bare {bare:>9,.0f} ev/s   driver {driver:>9,.0f} ev/s   ratio {driver / bare:.2f}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=30_000)
    n = parser.parse_args().events
    stack = Stack.load()
    bootstrap = stack.kafka_bootstrap_servers
    tmp = Path(tempfile.mkdtemp(prefix="bench-drivers-"))
    for acks in (1, "all"):
        topic = f"bench-{uuid.uuid4().hex[:8]}"
        await create_topic(bootstrap, topic, partitions=1, replication_factor=1)
        try:
            bare = await kafka_bare(bootstrap, topic, make_events(n), acks)
            driver = await kafka_driver(
                bootstrap, topic, make_events(n), acks, tmp / f"k{acks}.parquet"
            )
        finally:
            await delete_topic(bootstrap, topic)
        report(f"kafka acks={acks}", bare, driver)
    params = pika.URLParameters(stack.rabbitmq_url)
    target = AmqpTarget(f"bench-{uuid.uuid4().hex[:8]}", host=params.host, port=params.port)
    await declare_topology(target)
    try:
        bare = await asyncio.to_thread(rabbit_bare, target, make_events(n))
        driver = await rabbit_driver(target, make_events(n), tmp / "rabbit.parquet")
    finally:
        delete_blocking(target)
    report("rabbitmq confirms+persistent", bare, driver)


if __name__ == "__main__":
    asyncio.run(main())
