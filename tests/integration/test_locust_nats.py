"""Locust (master + two workers) publishing to a JetStream R3 stream while a NATS node is killed.

NatsUser runs the harness's nats-py publisher on an asyncio loop hosted in a greenlet. With
publish acks and Nats-Msg-Id no acknowledged publish is lost or written twice, and Locust's
success count equals the acknowledged sends in the merged history.
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

from harness.drivers import NatsConsumerConfig, NatsConsumerDriver, NatsTarget, delete_stream
from harness.history import HistoryWriter, merge_histories, read_history
from harness.locust import HeadlessLocust
from harness.stack import Stack, layout

pytestmark = pytest.mark.integration

RATE_PER_USER = 150.0
SEND_SECONDS = 14.0
EVENTS_PER_USER = int(RATE_PER_USER * SEND_SECONDS)
USERS = 2

LOCUSTFILE = """
import json, os
from harness.locust import NatsUser

class Orders(NatsUser):
    servers = json.loads(os.environ["IT_NATS_SERVERS"])
    subject = os.environ["IT_SUBJECT"]
    stream = os.environ["IT_STREAM"]
    replicas = 3
    rate = {rate}
    max_events = {events}
    keys = 8
    retries = 5
    run_id = "it"
"""


@pytest.fixture(autouse=True)
def _heal_after_each_test(nats_stack: Stack) -> Iterator[None]:
    yield
    nats_stack.reload()
    nats_stack.heal()


def harness_check(history: Path) -> tuple[int, dict]:
    done = subprocess.run(
        [sys.executable, "-m", "harness", "check", str(history), "--format", "json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return done.returncode, json.loads(done.stdout)


async def test_locust_distributed_nats_jetstream_with_a_node_kill(
    nats_stack: Stack, tmp_path: Path
) -> None:
    name = f"it_{uuid.uuid4().hex[:10]}"
    servers = nats_stack.nats_servers
    target = NatsTarget(subject=f"it.{name}", servers=tuple(servers), stream=name, replicas=3)
    locustfile = tmp_path / "locustfile.py"
    locustfile.write_text(LOCUSTFILE.format(rate=RATE_PER_USER, events=EVENTS_PER_USER))
    shards = tmp_path / "shards"
    consumer_writer = HistoryWriter(shards / "consumer.parquet")
    # the consumer reads from nats-1; the killed node is nats-3
    consumer = NatsConsumerDriver(NatsConsumerConfig(target=target), consumer_writer)
    run = HeadlessLocust(
        locustfile, shards, workers=2, users=USERS, run_time_s=SEND_SECONDS + 10,
        env={"IT_NATS_SERVERS": json.dumps(servers), "IT_SUBJECT": target.subject,
             "IT_STREAM": name},
        master_port=15600 + layout.port_offset(),
    )  # fmt: skip
    node = nats_stack.node("nats-3")
    try:
        await consumer.start()
        await run.start()
        # the consumer's count paces the test: messages are stored as the users publish
        received = lambda: consumer.stats()["received"]  # noqa: E731
        await wait_until(lambda: received() >= 600, 120, "the first 600 messages stored")
        await asyncio.to_thread(node.kill)
        await wait_until(lambda: received() >= 1500, 60, "messages stored while it is down")
        await asyncio.to_thread(node.restart)
        result = await run.wait(timeout_s=120)
        acked = sum(read_history(s).column("status").to_pylist().count("ok") for s in result.shards)
        await wait_until(lambda: consumer.stats()["received"] >= acked, 60, "every acked event")
    finally:
        await run.stop()
        await consumer.close()
        consumer_writer.close()
        nats_stack.reload()
        nats_stack.heal_processes()
        await delete_stream(target)

    assert result.returncodes == [0, 0, 0]
    assert len(result.shards) == 2, "one shard per worker process"
    merged = tmp_path / "history.parquet"
    merge_histories([*result.shards, shards / "consumer.parquet"], merged)
    _code, report = harness_check(merged)  # out_of_order may be found: see below
    counts, anomalies = report["counts"], report["anomalies"]
    assert counts["sends"] == USERS * EVENTS_PER_USER
    assert counts["sends_ok"] == acked == result.successes
    assert counts["sends_fail"] + counts["sends_unknown"] == result.failures
    assert anomalies["lost"] == 0 and anomalies["unexpected"] == 0
    assert anomalies["duplicate_write"] == 0  # retries carried the same Nats-Msg-Id
    # Not asserted: out_of_order. A publish that timed out while nats-3 was down is retried
    # behind the later publishes of its key already in flight (open model, no per-key
    # serialisation), so a run like this one finds it; the shipped kill scenario does not
    # claim order either.
