"""An order service: reads orders from Kafka, writes one "order accepted" record per order to an
output topic, dead-letters malformed orders. A service as a team writes it, tested from outside.

It knows nothing of the harness: it reads its wiring from environment variables and never
reports what it did. The harness observes it black-box (docs/system-under-test.md, "Black-box
observation"): the output topic it writes (``ORDERS_OUT_TOPIC``) and the dead-letter topic
(``HARNESS_DLQ_TOPIC``) are what it did.

Two modes, chosen by ``HARNESS_MODE``:

- ``correct``: each polled batch is one Kafka transaction: its outputs, its dead letters and its
  input offsets (``send_offsets_to_transaction``) commit together or not at all. A crash before
  the commit aborts the transaction (the restarted process fences it); the batch is read again
  and written once. Downstream consumers read ``read_committed``.
- ``buggy``: outputs are produced (acks=all, idempotent producer), then the input offsets are
  committed every ``ORDERS_COMMIT_INTERVAL_MS``. A crash between the two re-reads the batches
  since the last commit and writes their outputs again: duplicates downstream.

Ground truth for tests: every output goes to ``$HARNESS_STATE_DIR/produced.log``, one line per
write. ``sent <pid> <id>`` is written before the records are handed to the producer;
``acked <pid> <id> <partition> <offset>`` (buggy) once the broker acknowledged them,
``committed <pid> <id> <partition> <offset>`` (correct) once their transaction committed. A
crash can fall between the two, so an id ``sent`` by a process that never logged its ack may or
may not have reached the topic.

``ORDERS_DEAD_LETTERS=report`` makes it lie about dead letters (for the harness's own tests):
instead of writing a malformed order to the dead-letter topic, it only reports one on
``HARNESS_REPORT_TOPIC`` (the harness's report contract), as a service that logs "dead-lettered"
without doing it would.

SIGTERM stops it cleanly (the current batch is finished); SIGKILL is how the harness crashes it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

log = logging.getLogger("kafka_output_consumer")


@dataclass(frozen=True)
class Settings:
    bootstrap: str
    topic: str
    group: str
    mode: str
    out_topic: str
    dlq_topic: str
    state_dir: Path
    commit_interval_ms: int
    session_timeout_ms: int
    dead_letters: str
    report_topic: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        mode = env.get("HARNESS_MODE", "correct")
        if mode not in ("correct", "buggy"):
            raise SystemExit(f"HARNESS_MODE must be 'correct' or 'buggy', not {mode!r}")
        dead_letters = env.get("ORDERS_DEAD_LETTERS", "produce")
        if dead_letters not in ("produce", "report"):
            raise SystemExit(f"ORDERS_DEAD_LETTERS must be produce or report, not {dead_letters!r}")
        try:
            return cls(
                bootstrap=env["HARNESS_KAFKA_BOOTSTRAP"],
                topic=env["HARNESS_TOPIC"],
                group=env["HARNESS_GROUP"],
                mode=mode,
                out_topic=env["ORDERS_OUT_TOPIC"],
                dlq_topic=env["HARNESS_DLQ_TOPIC"],
                state_dir=Path(env["HARNESS_STATE_DIR"]),
                commit_interval_ms=int(env.get("ORDERS_COMMIT_INTERVAL_MS", "1000")),
                session_timeout_ms=int(env.get("ORDERS_SESSION_TIMEOUT_MS", "6000")),
                dead_letters=dead_letters,
                report_topic=env.get("HARNESS_REPORT_TOPIC"),
            )
        except KeyError as missing:
            raise SystemExit(f"environment variable {missing} is not set") from None


class ProducedLog:
    """The ground truth: one line per output id and phase, appended with one write per batch
    (an ``O_APPEND`` write survives the process being killed right after it)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.pid = os.getpid()

    def write(self, phase: str, lines: list[str]) -> None:
        if lines:
            os.write(self.fd, "".join(f"{phase} {self.pid} {line}\n" for line in lines).encode())


def header(record: ConsumerRecord, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name and value is not None:
            return value.decode(errors="replace")
    return None


def accept(record: ConsumerRecord) -> tuple[str, bytes]:
    """The order's id and its "accepted" record; ValueError for a malformed order."""
    order_id = header(record, "ce_id")
    if not order_id:
        raise ValueError("no ce_id header")
    try:
        order = json.loads(record.value or b"")
    except ValueError as exc:
        raise ValueError(f"payload is not JSON ({exc})") from None
    if not isinstance(order, dict) or order.get("id") != order_id:
        raise ValueError(f"payload does not describe order {order_id!r}")
    accepted = {"order_id": order_id, "status": "accepted", "key": order.get("key")}
    return order_id, json.dumps(accepted).encode()


class OrderService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.correct = settings.mode == "correct"
        self.truth = ProducedLog(settings.state_dir / "produced.log")
        self.producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap,
            acks="all",
            enable_idempotence=True,
            # One id across restarts: a restarted process fences its dead predecessor and
            # aborts whatever transaction it left open.
            transactional_id=f"orders-out-{settings.group}" if self.correct else None,
        )
        self.consumer = AIOKafkaConsumer(
            settings.topic,
            bootstrap_servers=settings.bootstrap,
            group_id=settings.group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            isolation_level="read_committed",
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=1000,
        )
        self.stopping = asyncio.Event()
        self.uncommitted: dict[TopicPartition, int] = {}
        self.last_commit = time.monotonic()
        self.outputs = 0

    async def run(self) -> None:
        await self.producer.start()
        try:
            await self.consumer.start()
            try:
                while not self.stopping.is_set():
                    batches = await self.consumer.getmany(timeout_ms=500, max_records=500)
                    if batches:
                        await self.process(batches)
                if not self.correct:
                    await self.commit()
            finally:
                await self.consumer.stop()
        finally:
            await self.producer.stop()

    async def process(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        offsets = {tp: records[-1].offset + 1 for tp, records in batches.items()}
        records = [r for rs in batches.values() for r in rs]
        if self.correct:
            async with self.producer.transaction():
                written = await self.write(records)
                await self.producer.send_offsets_to_transaction(offsets, self.settings.group)
            self.truth.write("committed", written)
            return
        written = await self.write(records)
        self.truth.write("acked", written)
        self.uncommitted.update(offsets)
        if time.monotonic() - self.last_commit >= self.settings.commit_interval_ms / 1000:
            await self.commit()

    async def write(self, records: list[ConsumerRecord]) -> list[str]:
        """Send every record's output or dead letter; once all are acknowledged, return
        ``<id> <partition> <offset>`` of each output."""
        outputs: list[tuple[ConsumerRecord, str, bytes]] = []
        poison: list[tuple[ConsumerRecord, str]] = []
        for record in records:
            try:
                outputs.append((record, *accept(record)))
            except ValueError as exc:
                poison.append((record, str(exc)))
        ids = [order_id for _, order_id, _ in outputs]
        self.truth.write("sent", ids)
        sends = [
            await self.producer.send(
                self.settings.out_topic,
                value,
                key=record.key,
                headers=[("ce_id", order_id.encode()), ("ce_type", b"order.accepted")],
            )
            for record, order_id, value in outputs
        ]
        dead = [await self.dead_letter(record, reason) for record, reason in poison]
        written = await asyncio.gather(*sends)  # a failed write stops the process: no gap
        await asyncio.gather(*dead)
        self.outputs += len(ids)
        return [f"{i} {m.partition} {m.offset}" for i, m in zip(ids, written, strict=True)]

    async def dead_letter(self, record: ConsumerRecord, reason: str) -> asyncio.Future[Any]:
        if self.settings.dead_letters == "report" and self.settings.report_topic:
            report = {"op": "dead_letter", "id": header(record, "ce_id"), "t": time.monotonic()}
            report["reason"] = reason
            return await self.producer.send(self.settings.report_topic, json.dumps(report).encode())
        headers = [*(record.headers or ()), ("x-dead-letter-reason", reason.encode())]
        return await self.producer.send(
            self.settings.dlq_topic, record.value, key=record.key, headers=headers
        )

    async def commit(self) -> None:
        offsets, self.uncommitted = self.uncommitted, {}
        self.last_commit = time.monotonic()
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            log.warning("commit failed (a rebalance; the orders come back): %r", exc)


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    service = OrderService(Settings.from_env(os.environ))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, service.stopping.set)
    s = service.settings
    log.info("orders %s -> %s (%s mode, pid %d)", s.topic, s.out_topic, s.mode, os.getpid())
    await service.run()
    log.info("stopped after %d outputs", service.outputs)


if __name__ == "__main__":
    asyncio.run(main())
