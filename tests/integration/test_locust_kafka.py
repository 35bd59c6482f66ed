"""Locust (master + two workers) against the 3-broker Kafka stack, with a leader killed mid-run.

The history that the workers' shards and the harness consumer make must check clean with exact
counts, and Locust's success count must equal the acknowledged sends in that history.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from integration_support import wait_until

from harness import clock
from harness.drivers import KafkaConsumerConfig, KafkaConsumerDriver, create_topic, delete_topic
from harness.history import HistoryWriter, merge_histories, read_history
from harness.locust import HeadlessLocust
from harness.stack import partition_leaders
from harness.stack.toxiproxy import latency

pytestmark = pytest.mark.integration

RATE_PER_USER = 150.0
SEND_SECONDS = 24.0
EVENTS_PER_USER = int(RATE_PER_USER * SEND_SECONDS)
USERS = 2

LOCUSTFILE = """
import os
from harness.locust import KafkaUser

class Orders(KafkaUser):
    bootstrap = os.environ["IT_BOOTSTRAP"]
    topic = os.environ["IT_TOPIC"]
    rate = {rate}
    max_events = {events}
    keys = 8
    acks = "all"
    enable_idempotence = True
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


async def test_locust_distributed_kafka_with_a_leader_kill(stack, topic_name, tmp_path):
    bootstrap = stack.kafka_bootstrap_servers
    await create_topic(
        bootstrap, topic_name, partitions=6, replication_factor=3, min_insync_replicas=2
    )
    locustfile = tmp_path / "locustfile.py"
    locustfile.write_text(LOCUSTFILE.format(rate=RATE_PER_USER, events=EVENTS_PER_USER))
    shards = tmp_path / "shards"
    consumer_writer = HistoryWriter(shards / "consumer.parquet")
    consumer = KafkaConsumerDriver(
        KafkaConsumerConfig(
            bootstrap, topic_name, group=f"{topic_name}-verifier", dlq_replication_factor=3
        ),
        consumer_writer,
    )
    run = HeadlessLocust(
        locustfile,
        shards,
        workers=2,
        users=USERS,
        run_time_s=30,
        env={"IT_BOOTSTRAP": bootstrap, "IT_TOPIC": topic_name},
        master_port=15557,
    )
    try:
        await consumer.start()
        assert await consumer.wait_assigned(60), "the consumer got no partitions"
        await run.start()
        await wait_until(lambda: run.sends_recorded() >= 1000, 60, "the first 1000 acks")
        leaders = await partition_leaders(stack.kafka_bootstrap, topic_name)
        victim = stack.broker(leaders[0])
        victim.kill()
        await wait_until(lambda: run.sends_recorded() >= 2500, 60, "acks while a broker is down")
        await asyncio.to_thread(victim.restart)
        result = await run.wait(timeout_s=120)
        acked = sum(read_history(s).column("status").to_pylist().count("ok") for s in result.shards)
        await wait_until(lambda: consumer.stats()["received"] >= acked, 60, "every acked event")
    finally:
        await run.stop()
        await consumer.close()
        consumer_writer.close()
        await delete_topic(bootstrap, topic_name)
        await delete_topic(bootstrap, f"{topic_name}.dlq")

    assert result.returncodes == [0, 0, 0]
    assert len(result.shards) == 2, "one shard per worker process"
    assert set(result.clock_offsets) == {s.name.split("shard-")[1][:-10] for s in result.shards}
    merged = tmp_path / "history.parquet"
    merge_histories([*result.shards, shards / "consumer.parquet"], merged)

    code, report = harness_check(merged)
    counts, anomalies = report["counts"], report["anomalies"]
    assert code == 0, report
    assert counts["sends"] == USERS * EVENTS_PER_USER
    assert counts["sends_ok"] == acked == result.successes
    assert counts["sends_fail"] + counts["sends_unknown"] == result.failures
    assert anomalies["lost"] == 0 and anomalies["unexpected"] == 0
    assert anomalies["out_of_order"] == 0 and anomalies["duplicate_write"] == 0


async def test_run_locust_storm_sends_exactly_the_scenario_storm(stack, topic_name, tmp_path):
    from harness.drivers import ListRecorder
    from harness.load.storm import build_storm
    from harness.locust import STARTUP_LEAD_S, run_locust_storm
    from harness.scenario.models import Scenario

    scenario = Scenario(
        name="locust-ramp",
        target={"kafka": {"topic": "orders"}},
        storm={"duration": "5s", "rate": {"shape": "ramp", "from": 100, "to": 400}},
        load={"engine": "locust", "users": 4, "workers": 2},
        drain={"timeout": "5s"},
    )
    bootstrap = stack.kafka_bootstrap_servers
    await create_topic(
        bootstrap, topic_name, partitions=6, replication_factor=3, min_insync_replicas=2
    )
    rows = ListRecorder()
    try:
        result = await run_locust_storm(
            scenario,
            stack,
            tmp_path,
            7,
            clock.now() + STARTUP_LEAD_S,
            destination=topic_name,
            recorder=rows,
        )
    finally:
        await delete_topic(bootstrap, topic_name)

    storm = build_storm(scenario.storm, 7, "e7")
    sends = rows.of("send")
    assert sorted(r["id"] for r in sends) == sorted(storm.id)
    assert result.successes == sum(r["status"] == "ok" for r in sends) == len(storm)
    assert len({r["worker"] for r in sends}) == 2
    assert len(result.clock_offsets) == 2
    assert all(abs(o["offset_s"]) <= o["rtt_s"] for o in result.clock_offsets.values())


SATURATED = """
import os
from harness.locust import KafkaUser

class Orders(KafkaUser):
    bootstrap = os.environ["IT_BOOTSTRAP"]
    topic = os.environ["IT_TOPIC"]
    rate = 300.0
    keys = 8
    acks = "all"
    run_id = "sat"
"""


async def test_locust_counts_the_sends_flushed_after_its_time_limit(
    stack, toxiproxy, topic_name, tmp_path
):
    """No ``max_events``: the run-time limit stops the users with sends in flight (about 900),
    held there by a 1.5 s latency on every broker. The workers' flush outlasts the half second Locust's master
    waits after ``quit``, and still every outcome is in its counts."""
    bootstrap = stack.kafka_bootstrap_servers
    await create_topic(bootstrap, topic_name, partitions=3, replication_factor=3)
    locustfile = tmp_path / "locustfile.py"
    locustfile.write_text(SATURATED)
    shards = tmp_path / "shards"
    run = HeadlessLocust(
        locustfile, shards, workers=2, users=2, run_time_s=8,
        env={"IT_BOOTSTRAP": bootstrap, "IT_TOPIC": topic_name}, master_port=15567,
    )  # fmt: skip
    try:
        await run.start()
        # Slowed once sending, so that starting (a blocking metadata call) is not held up.
        await wait_until(lambda: run.sends_recorded() >= 100, 60, "the first 100 acks")
        for node in stack.kafka_nodes():
            toxiproxy.add_toxic(node.proxy, latency(1500), name="slow-acks")
        result = await run.wait(timeout_s=150)
    finally:
        await run.stop()
        await delete_topic(bootstrap, topic_name)

    assert result.returncodes == [0, 0, 0]
    statuses = [st for s in result.shards for st in read_history(s).column("status").to_pylist()]
    assert len(statuses) > 300, "the storm ran"
    assert result.requests == len(statuses)
    assert result.successes == statuses.count("ok")
