"""An order-processing Kafka consumer: the example system under test that the harness drives.

Read it as a model of the external-SUT contract (docs/system-under-test.md). It consumes order
events, stores each order in SQLite (the side effect), dead-letters malformed events and reports
what it did to the harness's report topic.

Two modes, chosen by ``HARNESS_MODE``:

- ``correct``: the order store's primary key is the event id, so a redelivered event is not
  applied twice; offsets are committed only once their effects are stored and reported (at most
  every ``ORDER_CONSUMER_COMMIT_INTERVAL_MS``, and when partitions are revoked or it stops).
- ``buggy``: every delivery inserts another order line (not idempotent), and offsets are
  auto-committed in the background every ``ORDER_CONSUMER_COMMIT_INTERVAL_MS``, whatever the
  effects. A crash after the effects but before the next auto-commit redelivers those events and
  they are applied again; a crash after an auto-commit but before the effects loses them.

In both modes the reports of a batch are flushed (acks=all) before its offsets can be committed
by this code, so the harness's record is never behind the commit.

With ``ORDER_CONSUMER_METRICS_PORT`` set it serves its own Prometheus metrics on
``127.0.0.1:<port>/metrics`` (``orders_consumed_total``, ``orders_dead_lettered_total``,
``orders_consumer_lag``), which a scenario's ``service_metrics:`` scrapes (docs/metrics.md).

Run by the harness as ``python examples/order_consumer.py`` with the ``HARNESS_*`` variables set.
SIGTERM stops it cleanly; SIGKILL is how the harness crashes it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError
from prometheus_client import Counter, Gauge, start_http_server

from harness.events import DecodedEvent, decode_kafka

log = logging.getLogger("order_consumer")

CONSUMED = Counter("orders_consumed", "Order events consumed (redeliveries included).")
DEAD_LETTERED = Counter("orders_dead_lettered", "Order events sent to the dead-letter topic.")
LAG = Gauge("orders_consumer_lag", "Events in the assigned partitions not yet consumed.")


@dataclass(frozen=True)
class Settings:
    """Everything the consumer reads from its environment."""

    bootstrap: str
    topic: str
    group: str
    mode: str
    report_topic: str
    dlq_topic: str
    state_dir: Path
    name: str
    commit_interval_ms: int
    session_timeout_ms: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        mode = env.get("HARNESS_MODE", "correct")
        if mode not in ("correct", "buggy"):
            raise SystemExit(f"HARNESS_MODE must be 'correct' or 'buggy', not {mode!r}")
        try:
            return cls(
                bootstrap=env["HARNESS_KAFKA_BOOTSTRAP"],
                topic=env["HARNESS_TOPIC"],
                group=env["HARNESS_GROUP"],
                mode=mode,
                report_topic=env["HARNESS_REPORT_TOPIC"],
                dlq_topic=env["HARNESS_DLQ_TOPIC"],
                state_dir=Path(env["HARNESS_STATE_DIR"]),
                name=env.get("HARNESS_CONSUMER", "order-consumer"),
                commit_interval_ms=int(env.get("ORDER_CONSUMER_COMMIT_INTERVAL_MS", "1000")),
                session_timeout_ms=int(env.get("ORDER_CONSUMER_SESSION_TIMEOUT_MS", "6000")),
            )
        except KeyError as missing:
            raise SystemExit(f"environment variable {missing} is not set") from None


class OrderStore:
    """The side effect: one order row per applied event, in SQLite under the state directory.

    ``correct``: the event id is the primary key; applying an id twice changes nothing.
    ``buggy``: a plain insert per delivery, so a redelivered event becomes a second order line.
    A ``reported`` flag lets a correct consumer report an effect whose report a crash lost.
    """

    def __init__(self, path: Path, idempotent: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.idempotent = idempotent
        self.db = sqlite3.connect(path)
        unique = "PRIMARY KEY" if idempotent else ""
        self.db.execute(
            f"CREATE TABLE IF NOT EXISTS orders (event_id TEXT {unique}, key TEXT, seq INTEGER,"
            " body_bytes INTEGER, reported INTEGER NOT NULL DEFAULT 0)"
        )
        self.db.commit()

    def apply(self, event: DecodedEvent) -> bool:
        """Store the order; True if this delivery's effect must be reported."""
        inserted = self.db.execute(
            "INSERT OR IGNORE INTO orders (event_id, key, seq, body_bytes) VALUES (?, ?, ?, ?)",
            (event.id, event.key, event.seq, len(event.payload)),
        ).rowcount
        if inserted or not self.idempotent:
            return True
        (reported,) = self.db.execute(
            "SELECT reported FROM orders WHERE event_id = ?", (event.id,)
        ).fetchone()
        return not reported  # applied before a crash, but its report may never have left

    def commit(self) -> None:
        self.db.commit()

    def mark_reported(self, event_ids: list[str]) -> None:
        self.db.executemany(
            "UPDATE orders SET reported = 1 WHERE event_id = ?", [(i,) for i in event_ids]
        )
        self.db.commit()


class Reporter:
    """Tells the harness what happened, as small JSON records on the report topic."""

    def __init__(self, producer: AIOKafkaProducer, settings: Settings) -> None:
        self.producer = producer
        self.settings = settings
        self.worker = f"{settings.name}-{os.getpid()}"
        self.count = 0
        self.pending: list[asyncio.Future[Any]] = []

    async def report(self, op: str, record: ConsumerRecord | None, **fields: Any) -> None:
        self.count += 1
        body = {
            "op": op,
            "t": time.monotonic(),  # CLOCK_MONOTONIC is system-wide: the harness's run clock
            "consumer": self.settings.name,
            "group": self.settings.group,
            "worker": self.worker,
            "rid": fields.pop("rid", f"{self.worker}:{self.count}"),
            **fields,
        }
        if record is not None:
            body.update(partition=record.partition, offset=record.offset)
        await self.send(self.settings.report_topic, json.dumps(body).encode())

    async def send(self, topic: str, value: bytes, **kwargs: Any) -> None:
        """Queue a record; ``flush`` waits for it (and raises if it could not be written)."""
        self.pending.append(await self.producer.send(topic, value, **kwargs))

    async def flush(self) -> None:
        pending, self.pending = self.pending, []
        await asyncio.gather(*pending)  # a failed write stops the process: better than a gap


def parse_order(event: DecodedEvent) -> dict[str, Any]:
    """The order in an event; raises ValueError for a malformed (poison) event."""
    try:
        order = json.loads(event.payload)
    except ValueError as exc:
        raise ValueError(f"payload is not JSON ({exc})") from None
    if not isinstance(order, dict) or order.get("id") != event.id:
        raise ValueError(f"payload does not describe event {event.id!r}")
    return order


def identity(record: ConsumerRecord, event: DecodedEvent | None) -> dict[str, Any]:
    """id, key and seq of a record, from its CloudEvents headers where they could be read."""
    if event is not None:
        return {"id": event.id, "key": event.key, "seq": event.seq}
    ce_id = dict(record.headers or ()).get("ce_id")
    return {"id": ce_id.decode() if ce_id else None}


class OrderConsumer:
    """Consume, apply or dead-letter, report; commit (correct mode) once all that is durable."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.correct = settings.mode == "correct"
        self.store = OrderStore(settings.state_dir / "orders.sqlite", idempotent=self.correct)
        self.producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap, acks="all", enable_idempotence=True
        )
        self.reporter = Reporter(self.producer, settings)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap,
            group_id=settings.group,
            client_id=self.reporter.worker,
            auto_offset_reset="earliest",
            enable_auto_commit=not self.correct,
            auto_commit_interval_ms=settings.commit_interval_ms,
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=1000,
        )
        self.stopping = asyncio.Event()
        self.done: dict[TopicPartition, int] = {}  # effects stored and reported, not committed
        self.lag: dict[TopicPartition, int] = {}
        self.last_commit = time.monotonic()

    async def run(self) -> None:
        await self.producer.start()
        try:
            self.consumer.subscribe([self.settings.topic], listener=_Announce(self))
            await self.consumer.start()
            try:
                while not self.stopping.is_set():
                    batches = await self.consumer.getmany(timeout_ms=500, max_records=500)
                    if batches:
                        await self.process(batches)
                await self.commit_done()
            finally:
                await self.consumer.stop()  # buggy mode: aiokafka auto-commits here
        finally:
            await self.producer.stop()

    async def process(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        reported: list[str] = []
        for records in batches.values():
            for record in records:
                event_id = await self.handle(record)
                if event_id is not None:
                    reported.append(event_id)
        self.store.commit()  # the effects are durable ...
        await self.reporter.flush()  # ... and reported (with every dead letter) ...
        if self.correct:
            self.store.mark_reported(reported)
        self.done.update({tp: records[-1].offset + 1 for tp, records in batches.items()})
        self.observe_lag(batches)
        interval = self.settings.commit_interval_ms / 1000
        if time.monotonic() - self.last_commit >= interval:
            await self.commit_done()  # ... before the offsets say they are done

    def observe_lag(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """The consumed count and the lag behind each partition's high watermark."""
        CONSUMED.inc(sum(len(records) for records in batches.values()))
        for tp, records in batches.items():
            highwater = self.consumer.highwater(tp)
            if highwater is not None:
                self.lag[tp] = max(0, highwater - (records[-1].offset + 1))
        LAG.set(sum(self.lag.values()))

    async def commit_done(self) -> None:
        """Commit the offsets of what is stored and reported (correct mode only)."""
        offsets, self.done = self.done, {}
        self.last_commit = time.monotonic()
        if not self.correct or not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            log.warning("commit failed (a rebalance; the events come back): %r", exc)

    async def handle(self, record: ConsumerRecord) -> str | None:
        """Apply or dead-letter one record; the id of a reported effect, else None."""
        try:
            event = decode_kafka(record.key, record.value, record.headers or [])
        except ValueError as exc:  # not a CloudEvent the harness sent: no id to speak of
            await self.reporter.report("recv", record, **identity(record, None))
            await self.dead_letter(record, None, str(exc))
            return None
        await self.reporter.report("recv", record, **identity(record, event))
        try:
            parse_order(event)
        except ValueError as exc:
            await self.dead_letter(record, event, str(exc))
            return None
        if not self.store.apply(event):
            return None
        # In correct mode an effect is one fact however often it is reported: its rid is the id.
        rid = {"rid": f"effect:{event.id}"} if self.correct else {}
        await self.reporter.report("effect", record, **identity(record, event), **rid)
        return event.id

    async def dead_letter(
        self, record: ConsumerRecord, event: DecodedEvent | None, reason: str
    ) -> None:
        headers = [*(record.headers or ()), ("x-dead-letter-reason", reason.encode())]
        DEAD_LETTERED.inc()
        await self.reporter.send(
            self.settings.dlq_topic, record.value, key=record.key, headers=headers
        )
        await self.reporter.report("dead_letter", record, reason=reason, **identity(record, event))


class _Announce(ConsumerRebalanceListener):
    """Commits before partitions go; reports ``ready`` once assigned (the harness waits for it)."""

    def __init__(self, app: OrderConsumer) -> None:
        self.app = app

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.app.commit_done()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        partitions = sorted(tp.partition for tp in assigned)
        await self.app.reporter.report("ready", None, partitions=partitions)
        await self.app.reporter.flush()


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = OrderConsumer(Settings.from_env(os.environ))
    metrics_port = os.environ.get("ORDER_CONSUMER_METRICS_PORT")
    if metrics_port:
        start_http_server(int(metrics_port), addr="127.0.0.1")
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, app.stopping.set)
    log.info("consuming %s as %s (%s mode)", app.settings.topic, app.reporter.worker,
             app.settings.mode)  # fmt: skip
    await app.run()
    log.info("stopped after %d reports", app.reporter.count)


if __name__ == "__main__":
    asyncio.run(main())
