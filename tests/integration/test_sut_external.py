"""examples/order_consumer.py as an external system under test, crashed and restarted mid-storm.

The harness starts it through ``ExternalSut``, produces a paced storm with the Kafka producer
driver, SIGKILLs it once the observer has seen a number of effects, restarts it, and checks the
history. Offsets are committed every 8 s in both modes, so the crash lands after effects
whose offsets are not yet committed: the correct mode gets them redelivered and applies each
effect exactly once, the buggy mode (background auto-commit) applies some twice.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from integration_support import wait_until

from harness import clock
from harness.checks import check_file
from harness.drivers import (
    KafkaProducerConfig,
    KafkaProducerDriver,
    ListRecorder,
    create_topic,
    delete_topic,
)
from harness.errors import HarnessError
from harness.events import Event
from harness.history import HistoryWriter
from harness.scenario import load_scenario
from harness.sut import ExternalSut, SutSpec, Wiring, build_external_sut

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
EVENTS = 2000
PER_SECOND = 250
POISON_EVERY = 97
CRASH_AFTER_EFFECTS = 700
COMMIT_INTERVAL_MS = 8000
"""Longer than the start plus 700 effects at 250/s, so the crash always precedes any commit."""


class Tee:
    """Records into the history file and keeps the rows in memory for the waits."""

    def __init__(self, writer: HistoryWriter) -> None:
        self.writer = writer
        self.rows = ListRecorder()

    def append(self, record: Mapping[str, Any]) -> None:
        self.writer.append(record)
        self.rows.append(record)

    def ids(self, *ops: str) -> set[str]:
        return {r["id"] for op in ops for r in self.rows.of(op)}


def make_events(n: int) -> list[Event]:
    run = uuid.uuid4().hex[:6]
    out = []
    for i in range(n):
        event_id, key, poison = f"{run}-{i}", f"k{i % 16}", i % POISON_EVERY == 5
        body = f'{{"id":"{event_id}","key":"{key}","seq":{i}}}'.encode()
        out.append(Event(event_id, key, i, 0.0, 0.0, b"POISON" + body if poison else body, poison))
    return out


async def produce_paced(producer: KafkaProducerDriver, events: list[Event]) -> None:
    start = clock.now()
    for i, event in enumerate(events):
        due = start + i / PER_SECOND
        if due > clock.now():
            await asyncio.sleep(due - clock.now())
        producer.send(event._replace(intended=due, sent=clock.now()))


@pytest.fixture
async def topic(stack, topic_name):
    bootstrap = stack.kafka_bootstrap_servers
    await create_topic(
        bootstrap, topic_name, partitions=3, replication_factor=3, min_insync_replicas=2
    )
    yield topic_name
    await delete_topic(bootstrap, topic_name)
    await delete_topic(bootstrap, f"{topic_name}.dlq")


EXAMPLE = ["python", "examples/order_consumer.py"]


def external_sut(stack, topic: str, tmp_path: Path, mode: str, recorder, command=EXAMPLE):
    wiring = Wiring(
        bootstrap=stack.kafka_bootstrap_servers,
        topic=topic,
        group=f"{topic}-orders",
        mode=mode,
        report_topic=f"{topic}.report",
        dlq_topic=f"{topic}.dlq",
        state_dir=tmp_path / "state",
        consumer="order-consumer",
        run_id=topic,
    )
    spec = SutSpec(
        command=command,
        wiring=wiring,
        env={"ORDER_CONSUMER_COMMIT_INTERVAL_MS": str(COMMIT_INTERVAL_MS)},
        log_path=tmp_path / "sut.log",
        replication_factor=3,
        cwd=REPO,
    )
    return ExternalSut(spec, recorder)


async def storm_with_crash(stack, topic: str, tmp_path: Path, mode: str, events: list[Event]):
    """Run the storm, crash the consumer mid-way, restart it; the rows and the history path."""
    history = tmp_path / "history.parquet"
    with HistoryWriter(history) as writer:
        tee = Tee(writer)
        sut = external_sut(stack, topic, tmp_path, mode, tee)
        producer = KafkaProducerDriver(
            KafkaProducerConfig(
                stack.kafka_bootstrap_servers, topic, acks="all", enable_idempotence=True
            ),
            tee,
        )
        await sut.start()
        await producer.start()
        try:
            storm = asyncio.create_task(produce_paced(producer, events))
            await wait_until(
                lambda: sut.stats()["effects"] >= CRASH_AFTER_EFFECTS, 30, "effects before crash"
            )
            await sut.crash()
            await sut.restart()
            await storm
            assert await producer.flush(30), "some sends got no outcome"
            every = {e.id for e in events}
            await wait_until(
                lambda: tee.ids("effect", "dead_letter") >= every,
                45,
                "an effect or a dead letter for every event",
            )
        finally:
            await producer.close()
            await sut.close()
    assert sut.stats()["crashes"] == 1 and sut.stats()["incarnations"] == 2
    return tee, history


@pytest.mark.timeout(120)
async def test_correct_mode_applies_every_effect_once_across_a_crash(stack, topic, tmp_path):
    events = make_events(EVENTS)
    tee, history = await storm_with_crash(stack, topic, tmp_path, "correct", events)
    found = check_file(history).anomalies

    assert found["lost"] == 0, found
    assert found["duplicate_delivery"] >= CRASH_AFTER_EFFECTS, found  # nothing was committed
    assert found["duplicate_effect"] == 0, found
    assert found["missing_effect"] == 0, found
    poison = {e.id for e in events if e.poison}
    assert tee.ids("dead_letter") == poison and len(poison) == 21
    assert tee.ids("effect").isdisjoint(poison)
    workers = {r["worker"] for r in tee.rows.of("recv")}
    assert len(workers) == 2, f"expected two incarnations to consume, got {workers}"


@pytest.mark.timeout(120)
async def test_buggy_mode_reapplies_effects_redelivered_after_a_crash(stack, topic, tmp_path):
    tee, history = await storm_with_crash(stack, topic, tmp_path, "buggy", make_events(EVENTS))
    found = check_file(history).anomalies

    assert found["lost"] == 0, found
    assert found["duplicate_effect"] >= CRASH_AFTER_EFFECTS * 0.9, found  # less the poison
    assert found["duplicate_delivery"] >= found["duplicate_effect"], found


async def test_a_command_that_exits_at_once_fails_clearly(stack, topic, tmp_path):
    quitter = [sys.executable, "-c", "raise SystemExit('no broker for me')"]
    sut = external_sut(stack, topic, tmp_path, "correct", ListRecorder(), command=quitter)
    with pytest.raises(
        HarnessError, match=r"exited on its own with code 1(.|\n)*no broker"
    ) as info:
        await sut.start()
    assert str(tmp_path / "sut.log") in str(info.value)
    with pytest.raises(HarnessError, match="exited on its own"):
        await sut.close()  # cleans up, then still names the failure


@pytest.mark.parametrize("mode", ["buggy", "correct"])
def test_shipped_crash_scenarios_build_an_external_sut(stack, tmp_path, mode):
    scenario = load_scenario(REPO / f"scenarios/kafka-consumer-crash-before-commit-{mode}.yaml")
    sut = build_external_sut(scenario, stack, "orders-x-1", "1-abc", ListRecorder(), tmp_path)

    assert sut.process.command == [sys.executable, "examples/order_consumer.py"]
    env = sut.process.env
    assert env["HARNESS_MODE"] == mode
    assert env["HARNESS_TOPIC"] == "orders-x-1"
    assert env["HARNESS_GROUP"] == f"{scenario.consumer.group}-1-abc"
    assert env["HARNESS_REPORT_TOPIC"] == "orders-x-1.report"
    assert env["HARNESS_DLQ_TOPIC"] == "orders-x-1.dlq"
    assert env["HARNESS_STATE_DIR"] == str(tmp_path / "sut-state" / "1-abc")
    assert env["HARNESS_KAFKA_BOOTSTRAP"] == stack.kafka_bootstrap_servers
    assert sut.spec.log_path == tmp_path / "sut.log"
    assert sut.spec.replication_factor == min(3, len(stack.kafka_nodes()))
