"""Locust (master + two workers) publishing to RabbitMQ with confirms while the broker is killed.

Durable queue, persistent messages and publisher confirms: no acknowledged publish is lost,
and Locust's success count equals the acknowledged sends in the merged history.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from integration_support import wait_until

from harness.drivers import (
    AmqpTarget,
    RabbitConsumerConfig,
    RabbitConsumerDriver,
    declare_blocking,
    delete_blocking,
)
from harness.history import HistoryWriter, merge_histories, read_history
from harness.locust import HeadlessLocust

pytestmark = pytest.mark.integration

RATE_PER_USER = 150.0
SEND_SECONDS = 24.0
EVENTS_PER_USER = int(RATE_PER_USER * SEND_SECONDS)
USERS = 2

LOCUSTFILE = """
import os
from harness.locust import RabbitMQUser

class Orders(RabbitMQUser):
    url = os.environ["IT_AMQP_URL"]
    queue = os.environ["IT_QUEUE"]
    rate = {rate}
    max_events = {events}
    keys = 8
    confirms = True
    persistent = True
    run_id = "it"
"""


def harness_check(history: Path) -> tuple[int, dict]:
    done = subprocess.run(
        [sys.executable, "-m", "harness", "check", str(history), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, json.loads(done.stdout)


async def test_locust_distributed_rabbitmq_with_a_broker_kill(stack, tmp_path):
    url = urlsplit(stack.rabbitmq_url)
    target = AmqpTarget(queue=f"it-{uuid.uuid4().hex[:10]}", host=url.hostname, port=url.port)
    declare_blocking(target)
    locustfile = tmp_path / "locustfile.py"
    locustfile.write_text(LOCUSTFILE.format(rate=RATE_PER_USER, events=EVENTS_PER_USER))
    shards = tmp_path / "shards"
    consumer_writer = HistoryWriter(shards / "consumer.parquet")
    consumer = RabbitConsumerDriver(RabbitConsumerConfig(target=target), consumer_writer)
    run = HeadlessLocust(
        locustfile,
        shards,
        workers=2,
        users=USERS,
        run_time_s=30,
        env={"IT_AMQP_URL": stack.rabbitmq_url, "IT_QUEUE": target.queue},
        master_port=15567,
    )
    broker = stack.node("rabbitmq")
    try:
        await consumer.start()
        await run.start()
        await wait_until(lambda: run.sends_recorded() >= 1000, 60, "the first 1000 confirms")
        broker.kill()
        await wait_until(lambda: run.sends_recorded() >= 2000, 60, "outcomes while it is down")
        await asyncio.to_thread(broker.restart)
        result = await run.wait(timeout_s=120)
        acked = sum(read_history(s).column("status").to_pylist().count("ok") for s in result.shards)
        await wait_until(lambda: consumer.stats()["received"] >= acked, 60, "every acked event")
    finally:
        await run.stop()
        await consumer.close()
        consumer_writer.close()
        stack.reload()
        stack.heal_processes()
        delete_blocking(target)

    assert result.returncodes == [0, 0, 0]
    assert len(result.shards) == 2, "one shard per worker process"
    merged = tmp_path / "history.parquet"
    merge_histories([*result.shards, shards / "consumer.parquet"], merged)

    code, report = harness_check(merged)
    counts, anomalies = report["counts"], report["anomalies"]
    assert code == 0, report
    assert counts["sends"] == USERS * EVENTS_PER_USER
    assert counts["sends_ok"] == acked == result.successes
    assert counts["sends_fail"] + counts["sends_unknown"] == result.failures > 0
    assert anomalies["lost"] == 0 and anomalies["unexpected"] == 0
