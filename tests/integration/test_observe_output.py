"""The order service (examples/kafka_output_consumer.py) tested black-box through `harness run`.

The service has no harness code: the harness reads its output topic and the run's dead-letter
topic itself (``observe: [output, dead_letters]``). Each test runs a scenario with the CLI
against the real stack, then holds the verdict against the service's own ground-truth record
(``produced.log`` in its state directory: ``sent`` before each write, ``acked``/``committed``
with partition and offset once it is durable):

- buggy mode under two crashes: ``duplicate_effect`` is found, and its count is exactly the
  ids that have more than one output in the topic; every output the service logged as acked is
  in the history at the partition and offset the broker gave it, and every other output in the
  history is a write the service sent but could not log before it was killed;
- correct mode under the same crashes: no anomaly, one output per order;
- a service that only *says* it dead-lettered (it reports dead letters, writes none) is
  caught by ``dlq_missing`` once the DLQ is read, and believed when it is not.

Then the sources on their own, with the test playing the service: a RabbitMQ output queue
(declared, read to the end, deleted), a RabbitMQ dead-letter queue fed by rejects through the
dead-letter exchange, and a Kafka output whose aborted transaction is not an effect.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pika
import pika.exceptions
import pytest
from aiokafka import AIOKafkaProducer

from harness.drivers import AmqpTarget, ListRecorder, declare_topology, delete_blocking
from harness.observe import ObserveContext
from harness.observe.kinds.dead_letters import DeadLetters
from harness.observe.kinds.output import Output
from harness.scenario.observe import DeadLetterSource, OutputSource
from harness.stack import Stack

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"
RUN_TIMEOUT_S = 240


def run(scenario: Path, out: Path, seed: int = 11) -> dict[str, Any]:
    """`harness run` the scenario; its summary (the run must meet its own expectations)."""
    command = [
        *(sys.executable, "-m", "harness", "run", str(scenario)),
        *("--seed", str(seed), "--out", str(out), "--no-progress"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=REPO)
    summary_path = out / "summary.json"
    assert summary_path.exists(), done.stderr[-3000:]
    summary = json.loads(summary_path.read_text())
    failed = [c for c in summary["thresholds"] + summary["expectations"] if not c["passed"]]
    assert done.returncode == 0, (failed, summary["errors"], done.stderr[-3000:])
    return summary


@dataclass
class GroundTruth:
    """What the service's ``produced.log`` says it wrote."""

    durable: Counter[tuple[str, int, int]]
    """(id, partition, offset) of every output it logged as acked or committed."""
    unlogged: Counter[str]
    """Ids a process sent but never logged durable (it was killed in between)."""

    @classmethod
    def read(cls, out: Path) -> GroundTruth:
        (log,) = out.glob("sut-state/*/produced.log")
        lines = [line.split() for line in log.read_text().splitlines()]
        durable = Counter((f[2], int(f[3]), int(f[4])) for f in lines if f[0] != "sent")
        sent = Counter((f[1], f[2]) for f in lines if f[0] == "sent")
        logged = Counter((f[1], f[2]) for f in lines if f[0] != "sent")
        unlogged: Counter[str] = Counter()
        for (pid, event_id), n in sent.items():
            unlogged[event_id] += n - logged[(pid, event_id)]
        return cls(durable, +unlogged)

    def duplicated(self) -> tuple[int, int]:
        """How many ids the record proves written twice, and how many it allows."""
        once = Counter(i for i, _, _ in self.durable.elements())
        proven = sum(1 for n in once.values() if n > 1)
        allowed = sum(
            1 for i in once.keys() | self.unlogged.keys() if once[i] + self.unlogged[i] > 1
        )
        return proven, allowed


def observed_effects(out: Path) -> pd.DataFrame:
    history = pd.read_parquet(out / "history.parquet")
    return history[history.op == "effect"]


def check_against_truth(out: Path, summary: dict[str, Any]) -> tuple[GroundTruth, Counter[str]]:
    """Every durable output observed where the broker put it, nothing observed that the
    service did not send; returns the truth and the outputs observed per id."""
    truth = GroundTruth.read(out)
    effects = observed_effects(out)
    assert set(effects.source) == {"observe:output"}
    places = Counter(
        zip(effects.id, effects.partition.astype(int), effects.offset.astype(int), strict=True)
    )
    assert not truth.durable - places, "an output the service logged is not in the history"
    extra = places - truth.durable
    assert all(truth.unlogged[i] > 0 for i, _, _ in extra), extra
    per_id = Counter(effects.id)
    assert summary["counts"]["effects"] == len(effects)
    return truth, per_id


@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_buggy_outputs_after_crashes_are_duplicates_counted_exactly(
    stack: Stack, tmp_path: Path
) -> None:
    summary = run(SCENARIOS / "kafka-output-crash-buggy.yaml", tmp_path)
    truth, per_id = check_against_truth(tmp_path, summary)

    found = summary["anomalies"]["duplicate_effect"]
    assert found == sum(1 for n in per_id.values() if n > 1)
    proven, allowed = truth.duplicated()
    assert proven > 0
    assert proven <= found <= allowed
    assert [f["kind"] for f in summary["faults"]] == ["consumer.crash", "consumer.crash"]
    assert summary["anomalies"]["missing_effect"] == 0
    assert summary["anomalies"]["dlq_missing"] == 0


@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_correct_transactional_outputs_are_exactly_once_across_crashes(
    stack: Stack, tmp_path: Path
) -> None:
    summary = run(SCENARIOS / "kafka-output-crash-correct.yaml", tmp_path)
    truth, per_id = check_against_truth(tmp_path, summary)

    assert {name: n for name, n in summary["anomalies"].items() if n} == {}
    assert set(per_id.values()) == {1}
    assert truth.duplicated()[0] == 0
    counts = summary["counts"]
    assert counts["effects"] + counts["dead_letters"] == counts["sends_ok"]
    assert len(summary["faults"]) == 2


LIAR = """\
name: dead-letters-{name}
about: The order service reports the dead letters it never writes.
target:
  kafka: {{topic: orders-liar-{name}, partitions: 2, replication_factor: 3}}
producer: {{acks: all}}
consumer: {{group: orders-liar}}
system_under_test:
  command: [python, {example}]
  env: {{ORDERS_DEAD_LETTERS: report}}
  mode: correct
  ready: subscribed
observe:
  - output: {{kafka: {{topic: orders-liar-out}}, env: ORDERS_OUT_TOPIC}}
{dead_letters}storm:
  duration: 5s
  rate: {{shape: constant, per_second: 200}}
  poison: {{every: 25}}
drain: {{timeout: 30s}}
expect:
  {expect}
"""


@pytest.mark.timeout(2 * RUN_TIMEOUT_S + 60)
def test_dead_letters_reported_but_never_written_are_caught_when_the_dlq_is_read(
    stack: Stack, tmp_path: Path
) -> None:
    example = REPO / "examples" / "kafka_output_consumer.py"
    read = tmp_path / "read.yaml"
    read.write_text(
        LIAR.format(
            name="read",
            example=example,
            dead_letters="  - dead_letters: {}\n",
            expect="finds: [dlq_missing]",
        )  # fmt: skip
    )
    trusted = tmp_path / "trusted.yaml"
    trusted.write_text(
        LIAR.format(name="trusted", example=example, dead_letters="", expect="clean: [dlq_missing]")
    )

    caught = run(read, tmp_path / "read")
    believed = run(trusted, tmp_path / "believed")

    poison = 5 * 200 // 25
    assert caught["anomalies"]["dlq_missing"] == poison
    assert caught["counts"]["dead_letters"] == 0
    assert caught["counts"]["reported_dead_letters_set_aside"] == poison
    assert believed["anomalies"]["dlq_missing"] == 0
    assert believed["counts"]["dead_letters"] == poison
    for summary in (caught, believed):
        assert summary["anomalies"]["missing_effect"] == 0
        assert summary["counts"]["effects"] == summary["counts"]["sends_ok"] - poison


# --- the sources on their own, against the real brokers ----------------------------------------


def context(stack: Stack, tmp_path: Path, kind: str, dead_letters: str = "unused.dlq"):
    return ObserveContext(
        stack=stack,
        run_id=uuid.uuid4().hex[:8],
        recorder=ListRecorder(),
        work_dir=tmp_path,
        state_dir=tmp_path,
        target_kind=kind,
        destination="unused",
        dead_letters=dead_letters,
        replication_factor=1,
    )


def publish(target: AmqpTarget, messages: list[tuple[dict[str, Any], bytes]]) -> None:
    """Publish as a service would: the default exchange, routed by queue name, confirmed."""
    connection = pika.BlockingConnection(target.parameters())
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for headers, body in messages:
            props = pika.BasicProperties(headers=headers, delivery_mode=2)
            channel.basic_publish("", target.queue, body, props)
    finally:
        connection.close()


def queue_exists(target: AmqpTarget) -> bool:
    connection = pika.BlockingConnection(target.parameters())
    try:
        connection.channel().queue_declare(target.queue, passive=True)
        return True
    except pika.exceptions.ChannelClosedByBroker:
        return False
    finally:
        if connection.is_open:
            connection.close()


async def test_a_rabbitmq_output_queue_is_declared_read_to_the_end_and_deleted(
    stack: Stack, tmp_path: Path
) -> None:
    ctx = context(stack, tmp_path, "rabbitmq")
    source = Output("output", OutputSource(rabbitmq={"queue": "it-out"}, env="OUT_QUEUE"), ctx)
    await source.start()
    try:
        queue = source.env()["OUT_QUEUE"]
        assert queue == f"it-out-{ctx.run_id}"
        target = AmqpTarget.from_url(stack.rabbitmq_url, queue, dead_letter=False)
        outputs = [({"ce-id": f"o-{i}"}, b'{"status":"accepted"}') for i in range(300)]
        outputs.append(({"ce-id": "o-7"}, b"{}"))  # written twice
        outputs.append(({"x-other": "1"}, b"no id anywhere"))
        await asyncio.to_thread(publish, target, outputs)
        assert await source.drain(30)
    finally:
        await source.stop()

    rows = ctx.recorder.of("effect")
    assert Counter(r["id"] for r in rows) == Counter([f"o-{i}" for i in range(300)] + ["o-7"])
    assert {r["source"] for r in rows} == {"observe:output"}
    assert {r["queue"] for r in rows} == {queue}
    assert source.stats()["unreadable"] == 1
    assert source.stats()["observed"] == 301
    assert not await asyncio.to_thread(queue_exists, target)


def reject_all(target: AmqpTarget, n: int) -> None:
    """Consume ``n`` messages from ``target.queue`` and reject each (requeue=False): a
    service dead-lettering through the queue's dead-letter exchange."""
    connection = pika.BlockingConnection(target.parameters())
    try:
        channel = connection.channel()
        rejected = 0
        while rejected < n:
            method, _, _ = channel.basic_get(target.queue)
            if method is None:
                connection.sleep(0.05)
                continue
            channel.basic_reject(method.delivery_tag, requeue=False)
            rejected += 1
    finally:
        connection.close()


async def test_rabbitmq_dead_letters_are_read_from_the_dead_letter_queue(
    stack: Stack, tmp_path: Path
) -> None:
    queue = f"it-dlq-{uuid.uuid4().hex[:8]}"
    target = AmqpTarget.from_url(stack.rabbitmq_url, queue)  # with <queue>.dlx -> <queue>.dlq
    await declare_topology(target)
    ctx = context(stack, tmp_path, "rabbitmq", dead_letters=target.dlq)
    source = DeadLetters("dead-letters", DeadLetterSource(), ctx)
    await source.start()
    try:
        poison = [({"ce-id": f"p-{i}"}, b"POISON") for i in range(20)]
        await asyncio.to_thread(publish, AmqpTarget.from_url(stack.rabbitmq_url, queue), poison)
        await asyncio.to_thread(reject_all, target, len(poison))
        assert await source.drain(30)
    finally:
        await source.stop()
        await asyncio.to_thread(delete_blocking, target)

    rows = ctx.recorder.of("dead_letter")
    assert sorted(r["id"] for r in rows) == sorted(f"p-{i}" for i in range(20))
    assert {(r["queue"], r["reason"], r["source"]) for r in rows} == {
        (target.dlq, "rejected", "observe:dead-letters")
    }


async def test_kafka_outputs_of_aborted_transactions_are_not_effects(
    stack: Stack, tmp_path: Path
) -> None:
    ctx = context(stack, tmp_path, "kafka")
    source = Output("output", OutputSource(kafka={"topic": "it-txn"}, env="OUT_TOPIC"), ctx)
    await source.start()
    topic = source.env()["OUT_TOPIC"]
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap_servers, transactional_id=f"it-{ctx.run_id}"
    )
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send_and_wait(topic, b"{}", headers=[("ce_id", b"kept")])
        await producer.begin_transaction()
        await producer.send_and_wait(topic, b"{}", headers=[("ce_id", b"aborted")])
        await producer.abort_transaction()  # the topic now ends in an abort marker
        assert await source.drain(30)
    finally:
        await producer.stop()
        await source.stop()

    assert [(r["id"], r["partition"], r["offset"]) for r in ctx.recorder.of("effect")] == [
        ("kept", 0, 0)
    ]


async def test_outputs_that_break_the_declared_schema_are_recorded_as_such(
    stack: Stack, tmp_path: Path
) -> None:
    ctx = context(stack, tmp_path, "kafka")
    settings = OutputSource(
        kafka={"topic": "it-contract"},
        env="OUT_TOPIC",
        schema={"file": str(REPO / "schemas" / "order-accepted.json")},
    )
    source = Output("output", settings, ctx)
    await source.start()
    topic = source.env()["OUT_TOPIC"]
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap_servers)
    await producer.start()
    try:
        good = {"order_id": "a", "status": "accepted", "key": "k1"}
        await producer.send_and_wait(topic, json.dumps(good).encode(), headers=[("ce_id", b"a")])
        bad = {"order_id": "b", "status": "shipped", "key": "k2"}
        await producer.send_and_wait(topic, json.dumps(bad).encode(), headers=[("ce_id", b"b")])
        await producer.send_and_wait(topic, b"not json", headers=[("ce_id", b"c")])
        assert await source.drain(30)
    finally:
        await producer.stop()
        await source.stop()

    rows = {r["id"]: r for r in ctx.recorder.of("effect")}
    assert set(rows) == {"a", "b", "c"}
    assert rows["a"].get("status") is None
    assert rows["b"]["status"] == "fail" and "at status" in rows["b"]["reason"]
    assert rows["c"]["status"] == "fail" and "not JSON" in rows["c"]["reason"]
