"""The NATS drivers against the real cluster, and the shipped NATS scenario pairs.

The producer records one send per event with the stream sequence as its position, the
consumer one recv per delivery with the same position; ``Nats-Msg-Id`` makes a re-publish a
duplicate the stream drops; a consumer slower than ack wait gets redeliveries; poison is
terminated and recorded dead-lettered. Each shipped pair then runs through ``harness run``
and shows its counts.
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

from harness import clock
from harness.drivers import (
    EffectMode,
    ListRecorder,
    NatsConsumerConfig,
    NatsConsumerDriver,
    NatsProducerConfig,
    NatsProducerDriver,
    NatsTarget,
    delete_stream,
)
from harness.events import Event
from harness.stack import Stack

pytestmark = pytest.mark.integration

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@pytest.fixture(autouse=True)
def _heal_after_each_test(nats_stack: Stack) -> Iterator[None]:
    yield
    nats_stack.reload()
    nats_stack.heal()


def _event(n: int, poison: bool = False) -> Event:
    eid = f"e{n}"
    payload = b"not json" if poison else json.dumps({"id": eid}).encode()
    return Event(eid, f"k{n % 4}", n // 4 + 1, clock.now(), 0.0, payload, poison)


def _target(stack: Stack, jetstream: bool = True, **kw: Any) -> NatsTarget:
    name = f"IT{uuid.uuid4().hex[:8]}"
    return NatsTarget(subject=f"it.{name.lower()}", servers=tuple(stack.nats_servers),
                      stream=name if jetstream else None, replicas=3, **kw)  # fmt: skip


async def _wait(condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


def test_jetstream_sends_and_receives_carry_the_stream_sequence(nats_stack: Stack):
    target, rows = _target(nats_stack), ListRecorder()

    async def go() -> None:
        async with NatsConsumerDriver(NatsConsumerConfig(target), rows) as consumer:
            async with NatsProducerDriver(NatsProducerConfig(target), rows) as producer:
                for n in range(50):
                    producer.send(_event(n))
                assert await producer.flush(10)
            await _wait(lambda: consumer.stats()["effects"] == 50)
        await delete_stream(target)

    asyncio.run(go())
    sends, recvs = rows.of("send"), rows.of("recv")
    assert [r["status"] for r in sends] == ["ok"] * 50
    assert sorted(r["offset"] for r in sends) == list(range(1, 51))
    assert {(r["id"], r["offset"]) for r in sends} == {(r["id"], r["offset"]) for r in recvs}
    assert all(r["queue"] == target.stream and r["partition"] == 0 for r in sends + recvs)


def test_core_nats_round_trip_has_no_position(nats_stack: Stack):
    target, rows = _target(nats_stack, jetstream=False), ListRecorder()

    async def go() -> None:
        async with NatsConsumerDriver(NatsConsumerConfig(target), rows) as consumer:
            async with NatsProducerDriver(NatsProducerConfig(target, msg_id=False), rows) as p:
                for n in range(30):
                    p.send(_event(n))
                assert await p.flush(10)
            await _wait(lambda: consumer.stats()["received"] == 30)

    asyncio.run(go())
    assert len(rows.of("effect")) == 30
    assert all("offset" not in r for r in rows.of("send") + rows.of("recv"))


@pytest.mark.parametrize("msg_id", [True, False])
def test_a_republish_inside_the_window_is_dropped_only_with_a_msg_id(nats_stack: Stack, msg_id):
    target, rows = _target(nats_stack, duplicate_window_s=30), ListRecorder()

    async def go() -> dict[str, int]:
        async with NatsProducerDriver(NatsProducerConfig(target, msg_id=msg_id), rows) as p:
            p.send(_event(1))
            assert await p.flush(10)
            p.send(_event(1))  # the same event again: a producer retry
            assert await p.flush(10)
            counts = dict(p.counts)
        await delete_stream(target)
        return counts

    counts = asyncio.run(go())
    offsets = [r["offset"] for r in rows.of("send")]
    if msg_id:
        assert offsets == [1, 1] and counts["duplicates"] == 1
    else:
        assert offsets == [1, 2] and counts["duplicates"] == 0


def test_an_ack_wait_expiry_redelivers_and_a_buggy_consumer_applies_twice(nats_stack: Stack):
    target, rows = _target(nats_stack, ack_wait_s=1.0), ListRecorder()
    config = NatsConsumerConfig(target, mode=EffectMode.BUGGY, batch=10, process_ms=300)

    async def go() -> None:
        async with NatsConsumerDriver(config, rows) as consumer:
            async with NatsProducerDriver(NatsProducerConfig(target), rows) as producer:
                for n in range(10):
                    producer.send(_event(n))
                assert await producer.flush(10)
            await _wait(lambda: any(r.get("redelivered") for r in rows.of("recv")), 20)
            await _wait(lambda: consumer.stats()["effects"] > 10, 20)
        await delete_stream(target)

    asyncio.run(go())
    redelivered = [r for r in rows.of("recv") if r["redelivered"]]
    assert redelivered and all(r["attempt"] >= 2 for r in redelivered)
    ids = [r["id"] for r in rows.of("effect")]
    assert len(ids) > len(set(ids))


def test_poison_is_terminated_and_recorded_dead_lettered(nats_stack: Stack):
    target, rows = _target(nats_stack, ack_wait_s=1.0), ListRecorder()

    async def go() -> None:
        async with NatsConsumerDriver(NatsConsumerConfig(target), rows) as consumer:
            async with NatsProducerDriver(NatsProducerConfig(target), rows) as producer:
                producer.send(_event(1, poison=True))
                producer.send(_event(2))
                assert await producer.flush(10)
            await _wait(lambda: consumer.stats()["dead_lettered"] == 1)
            await asyncio.sleep(2.0)  # past ack wait: a terminated message does not return
        await delete_stream(target)

    asyncio.run(go())
    (dead,) = rows.of("dead_letter")
    assert dead["id"] == "e1" and "payload is not JSON" in dead["reason"]
    assert [r["id"] for r in rows.of("recv")].count("e1") == 1


# --- the shipped pairs --------------------------------------------------------------------


def run(name: str, out: Path, seed: int = 11, scale: str = "0.5") -> dict[str, Any]:
    command = [sys.executable, "-m", "harness", "run", str(SCENARIOS / f"{name}.yaml"),
               "--duration-scale", scale, "--seed", str(seed), "--out", str(out),
               "--no-progress"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    summary_path = out / "summary.json"
    assert summary_path.exists(), done.stderr[-3000:]
    summary = json.loads(summary_path.read_text())
    failed = [c for c in summary["thresholds"] + summary["expectations"] if not c["passed"]]
    assert done.returncode == 0, (failed, summary["errors"], done.stderr[-3000:])
    return summary


def test_core_nats_loses_messages_across_a_route_cut(nats_stack: Stack, tmp_path: Path):
    summary = run("nats-core-route-cut-loses", tmp_path)
    assert summary["anomalies"]["lost"] > 100
    assert [f["kind"] for f in summary["faults"]] == ["nats.route_cut"]


def test_jetstream_r3_loses_nothing_across_a_node_kill(nats_stack: Stack, tmp_path: Path):
    summary = run("nats-jetstream-r3-kill", tmp_path)
    assert summary["anomalies"]["lost"] == 0
    assert summary["anomalies"]["duplicate_write"] == 0
    assert [f["kind"] for f in summary["faults"]] == ["process.kill"]


def test_msg_id_inside_the_window_makes_retries_idempotent(nats_stack: Stack, tmp_path: Path):
    summary = run("nats-msg-id-inside-window", tmp_path)
    assert summary["anomalies"]["duplicate_write"] == 0
    assert summary["anomalies"]["lost"] == 0


def test_msg_id_outside_the_window_writes_retries_twice(nats_stack: Stack, tmp_path: Path):
    summary = run("nats-msg-id-outside-window", tmp_path)
    assert summary["anomalies"]["duplicate_write"] > 0
    assert summary["anomalies"]["lost"] == 0


def test_ack_wait_expiry_redelivers_and_a_buggy_consumer_applies_twice(
    nats_stack: Stack, tmp_path: Path
):
    buggy = run("nats-ack-wait-buggy", tmp_path / "buggy")
    correct = run("nats-ack-wait-correct", tmp_path / "correct")
    assert buggy["anomalies"]["duplicate_delivery"] > 0
    assert buggy["anomalies"]["duplicate_effect"] > 0
    assert correct["anomalies"]["duplicate_delivery"] > 0
    assert correct["anomalies"]["duplicate_effect"] == 0
