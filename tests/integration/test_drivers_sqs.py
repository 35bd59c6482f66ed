"""SQS on ElasticMQ: the node behind its proxy, the drivers, and the shipped SQS pairs.

One ElasticMQ for the module (``sqs_stack``). The node answers through its proxy and stops
answering when the proxy is disabled; pause and resume freeze and thaw it. The drivers record
MessageId positions and receive counts. Each shipped pair runs through ``harness run`` and
shows its anomaly counts; all eight run as one suite in one process (``summaries``), the
in-memory ones first, so ElasticMQ switches to its persistent configuration once.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.drivers import (
    EffectMode,
    ListRecorder,
    SqsConsumerConfig,
    SqsConsumerDriver,
    SqsProducerConfig,
    SqsProducerDriver,
    SqsTarget,
    delete_queues,
)
from harness.events import Event
from harness.stack import Stack, layout
from harness.stack.elasticmq import ready

pytestmark = pytest.mark.integration

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@pytest.fixture(autouse=True)
def _heal_after_each_test(sqs_stack: Stack) -> Iterator[None]:
    yield
    sqs_stack.reload()
    sqs_stack.heal()


def _wait(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_elasticmq_answers_through_its_proxy_and_not_when_it_is_disabled(sqs_stack: Stack):
    node = sqs_stack.node(layout.SQS_NODE)
    proxied = node.ports["proxy"]
    assert ready(proxied)
    with sqs_stack.toxiproxy() as toxiproxy:
        toxiproxy.disable(layout.SQS_NODE)
        try:
            assert not ready(proxied, timeout=1.0)
            assert ready(node.ports["client"])  # the server itself still answers
        finally:
            toxiproxy.enable(layout.SQS_NODE)
    _wait(lambda: ready(proxied))


def test_pause_freezes_elasticmq_and_resume_thaws_it(sqs_stack: Stack):
    node = sqs_stack.node(layout.SQS_NODE)
    node.pause()
    try:
        assert not node.is_healthy(timeout=1.0)
    finally:
        node.resume()
    _wait(lambda: node.is_healthy(timeout=1.0))


def test_drivers_record_message_ids_and_receive_counts(sqs_stack: Stack):
    name = f"drv-{uuid.uuid4().hex[:8]}"
    target = SqsTarget(queue=name, endpoint=sqs_stack.sqs_endpoint, visibility_timeout_s=30,
                       dlq=f"{name}-dlq", max_receive_count=2)  # fmt: skip
    recorder = ListRecorder()

    async def go() -> None:
        producer = SqsProducerDriver(SqsProducerConfig(target), recorder)
        consumer = SqsConsumerDriver(SqsConsumerConfig(target, EffectMode.CORRECT), recorder)
        await producer.start()
        await consumer.start()
        for n in range(10):
            body = b"POISON" if n == 3 else json.dumps({"id": f"x{n}"}).encode()
            producer.send(Event(f"x{n}", "k", n + 1, 0.0, 0.0, body, poison=n == 3))
        assert await producer.flush(30)
        deadline = time.monotonic() + 30
        while len(recorder.of("effect")) < 9 or not recorder.of("dead_letter"):
            assert time.monotonic() < deadline, consumer.stats()
            await asyncio.sleep(0.1)
        await consumer.close()
        await producer.close()

    try:
        asyncio.run(go())
    finally:
        delete_queues(target)
    sends = recorder.of("send")
    assert [s["status"] for s in sends] == ["ok"] * 10
    by_id = {s["id"]: s["msg_id"] for s in sends}
    for row in recorder.of("recv"):
        assert row["msg_id"] == by_id[row["id"]] and row["attempt"] >= 1
    [dead] = recorder.of("dead_letter")
    assert dead["id"] == "x3" and dead["queue"] == f"{name}-dlq"


# --- the shipped pairs --------------------------------------------------------------------

PAIRS = [
    "sqs-visibility-buggy",
    "sqs-visibility-correct",
    "sqs-standard-retries-duplicate",
    "sqs-fifo-dedup",
    "sqs-redrive-dlq",
    "sqs-redrive-too-eager",
    "sqs-kill-memory-loses",
    "sqs-kill-persistent",  # last: the only one on the persistent configuration
]
"""In-memory scenarios first, so ElasticMQ switches configuration once."""


@pytest.fixture(scope="module")
def summaries(sqs_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every shipped SQS scenario, run once as one suite (one process, no HTML reports)."""
    out = tmp_path_factory.mktemp("sqs-suite")
    command = [sys.executable, "-m", "harness", "run",
               *(str(SCENARIOS / f"{name}.yaml") for name in PAIRS),
               "--duration-scale", "0.5", "--seed", "11", "--out", str(out),
               "--no-progress", "--no-report"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    found = {name: out / name / "summary.json" for name in PAIRS}
    missing = [name for name, path in found.items() if not path.exists()]
    assert not missing, (missing, done.stderr[-3000:])
    loaded = {name: json.loads(path.read_text()) for name, path in found.items()}
    failed = {
        name: [c for c in s["thresholds"] + s["expectations"] if not c["passed"]] + s["errors"]
        for name, s in loaded.items()
    }
    assert done.returncode == 0, ({k: v for k, v in failed.items() if v}, done.stderr[-3000:])
    return loaded


def test_short_visibility_redelivers_and_a_buggy_consumer_applies_twice(
    summaries: dict[str, Any],
):
    buggy = summaries["sqs-visibility-buggy"]["anomalies"]
    correct = summaries["sqs-visibility-correct"]["anomalies"]
    assert buggy["duplicate_delivery"] > 0
    assert buggy["duplicate_effect"] > 0
    assert correct["duplicate_delivery"] == 0
    assert correct["duplicate_effect"] == 0
    assert correct["lost"] == 0


def test_fifo_dedup_ids_stop_retry_duplicates_a_standard_queue_stores(summaries: dict[str, Any]):
    standard = summaries["sqs-standard-retries-duplicate"]["anomalies"]
    fifo = summaries["sqs-fifo-dedup"]["anomalies"]
    assert standard["duplicate_write"] > 0
    assert fifo["duplicate_write"] == 0
    assert fifo["lost"] == 0


def test_redrive_moves_poison_to_the_dlq_the_harness_reads(summaries: dict[str, Any]):
    redrive = summaries["sqs-redrive-dlq"]["anomalies"]
    eager = summaries["sqs-redrive-too-eager"]["anomalies"]
    assert redrive["dlq_missing"] == 0
    assert redrive["dlq_unexpected"] == 0
    assert redrive["lost"] == 0
    assert eager["dlq_unexpected"] > 0
    assert eager["dlq_missing"] == 0


def test_a_kill_loses_the_in_memory_queue_and_not_the_persistent_one(summaries: dict[str, Any]):
    memory = summaries["sqs-kill-memory-loses"]
    persistent = summaries["sqs-kill-persistent"]
    assert memory["anomalies"]["lost"] > 0
    assert persistent["anomalies"]["lost"] == 0
    for summary in (memory, persistent):
        assert [f["kind"] for f in summary["faults"]] == ["process.kill"]
    assert persistent["thresholds"] and all(c["passed"] for c in persistent["thresholds"])
