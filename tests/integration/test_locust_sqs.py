"""Locust (master + two workers) sending to a FIFO SQS queue on ElasticMQ while its proxy is
down for a moment.

SqsUser runs the harness's SQS producer driver (boto3 on the driver's threads, greenlets under
gevent) on an asyncio loop hosted in a greenlet. With retries and the event id as the
deduplication id no acknowledged send is lost or stored twice, and Locust's success and
failure counts equal the outcomes in the merged history.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from integration_support import wait_until

from harness.drivers import (
    EffectMode,
    SqsConsumerConfig,
    SqsConsumerDriver,
    SqsTarget,
    delete_queues,
)
from harness.history import HistoryWriter, merge_histories, read_history
from harness.locust import HeadlessLocust
from harness.stack import Stack, layout

pytestmark = pytest.mark.integration

RATE_PER_USER = 40.0
SEND_SECONDS = 8.0
EVENTS_PER_USER = int(RATE_PER_USER * SEND_SECONDS)
USERS = 2

LOCUSTFILE = """
import os
from harness.locust import SqsUser

class Orders(SqsUser):
    endpoint = os.environ["IT_SQS_ENDPOINT"]
    queue = os.environ["IT_QUEUE"]
    fifo = True
    deduplication = True
    visibility_timeout_s = 5
    read_timeout_s = 1.0
    rate = {rate}
    max_events = {events}
    keys = 8
    retries = 20
    run_id = "it"
"""


@pytest.fixture(autouse=True)
def _heal_after_each_test(sqs_stack: Stack) -> Iterator[None]:
    yield
    sqs_stack.reload()
    sqs_stack.heal()


def harness_check(history: Path) -> tuple[int, dict]:
    done = subprocess.run(
        [sys.executable, "-m", "harness", "check", str(history), "--format", "json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return done.returncode, json.loads(done.stdout)


async def test_locust_distributed_sqs_fifo_with_the_proxy_down(
    sqs_stack: Stack, tmp_path: Path
) -> None:
    name = f"it-{uuid.uuid4().hex[:10]}.fifo"
    target = SqsTarget(queue=name, endpoint=sqs_stack.sqs_endpoint, fifo=True,
                       visibility_timeout_s=5)  # fmt: skip
    locustfile = tmp_path / "locustfile.py"
    locustfile.write_text(LOCUSTFILE.format(rate=RATE_PER_USER, events=EVENTS_PER_USER))
    shards = tmp_path / "shards"
    consumer_writer = HistoryWriter(shards / "consumer.parquet")
    consumer = SqsConsumerDriver(SqsConsumerConfig(target, EffectMode.CORRECT), consumer_writer)
    run = HeadlessLocust(
        locustfile, shards, workers=2, users=USERS, run_time_s=SEND_SECONDS + 20,
        env={"IT_SQS_ENDPOINT": sqs_stack.sqs_endpoint, "IT_QUEUE": name},
        master_port=15610 + layout.port_offset(),
    )  # fmt: skip
    try:
        await consumer.start()
        await run.start()
        received = lambda: consumer.stats()["distinct"]  # noqa: E731
        await wait_until(lambda: received() >= 100, 120, "the first 100 messages stored")
        with sqs_stack.toxiproxy() as toxiproxy:
            toxiproxy.disable(layout.SQS_NODE)
            try:
                await asyncio.sleep(1.0)  # sends fail or time out, and are retried
            finally:
                toxiproxy.enable(layout.SQS_NODE)
        result = await run.wait(timeout_s=120)
        acked = sum(read_history(s).column("status").to_pylist().count("ok") for s in result.shards)
        await wait_until(lambda: received() >= acked, 60, "every acked event")
    finally:
        await run.stop()
        await consumer.close()
        consumer_writer.close()
        await asyncio.to_thread(delete_queues, target)

    assert result.returncodes == [0, 0, 0]
    assert len(result.shards) == 2, "one shard per worker process"
    merged = tmp_path / "history.parquet"
    merge_histories([*result.shards, shards / "consumer.parquet"], merged)
    _code, report = harness_check(merged)
    counts, anomalies = report["counts"], report["anomalies"]
    assert counts["sends"] == USERS * EVENTS_PER_USER
    assert counts["sends_ok"] == acked == result.successes
    assert counts["sends_fail"] + counts["sends_unknown"] == result.failures
    assert anomalies["lost"] == 0 and anomalies["unexpected"] == 0
    assert anomalies["duplicate_write"] == 0  # retries carried the event id as dedup id
