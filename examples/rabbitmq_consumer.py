"""A payment-ledger RabbitMQ consumer: the example system under test for RabbitMQ targets.

It consumes payment events from a queue in batches, books each payment in a SQLite ledger
(the side effect) and dead-letters malformed events. What it did is reported to the harness
through an outbox: the ledger rows and their reports are written in one SQLite transaction,
then the reports are published (one JSON array per batch, with publisher confirms) to the
report queue, and only then are the deliveries acknowledged. On start it publishes what a crash
left in the outbox, so every booked payment is reported exactly once (the ``rid`` dedupes).

Two modes, chosen by ``HARNESS_MODE`` (the scenario's ``consumer.manual_ack`` must agree; it
is handed over as ``HARNESS_MANUAL_ACK``):

- ``correct``: manual acks after the effect (``basic_ack`` of the batch once its bookings and
  reports are durable; poison is rejected without requeue, so the queue's dead-letter exchange
  moves it to the DLQ). A crash redelivers the unacknowledged batch; the ledger's primary key is
  the event id, so a redelivered payment is not booked twice.
- ``buggy``: auto-ack (``basic_consume(auto_ack=True)``): the broker forgets each message as it
  writes it to the socket. A crash mid-batch loses every message the process held but had not
  booked yet; poison is published to the dead-letter exchange by hand.

Environment: ``HARNESS_AMQP_URL``, ``HARNESS_QUEUE``, ``HARNESS_DLX``, ``HARNESS_REPORT_QUEUE``,
``HARNESS_STATE_DIR``, ``HARNESS_MODE``, ``HARNESS_MANUAL_ACK``, ``HARNESS_PREFETCH``,
``HARNESS_CONSUMER``; ``LEDGER_BATCH_MS`` (default 100) bounds how long a batch collects.
SIGTERM stops it cleanly; SIGKILL is how the harness crashes it.
"""

from __future__ import annotations

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

import pika

log = logging.getLogger("rabbitmq_consumer")


@dataclass(frozen=True)
class Settings:
    """Everything the consumer reads from its environment."""

    amqp_url: str
    queue: str
    dlx: str
    report_queue: str
    state_dir: Path
    correct: bool
    prefetch: int
    name: str
    batch_s: float

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        mode = env.get("HARNESS_MODE", "correct")
        if mode not in ("correct", "buggy"):
            raise SystemExit(f"HARNESS_MODE must be 'correct' or 'buggy', not {mode!r}")
        manual_ack = env.get("HARNESS_MANUAL_ACK", "true") == "true"
        if manual_ack != (mode == "correct"):
            raise SystemExit(
                f"HARNESS_MODE={mode} acks {'manually' if mode == 'correct' else 'automatically'}"
                f" but HARNESS_MANUAL_ACK={env.get('HARNESS_MANUAL_ACK')}: set consumer.manual_ack"
                " to match the mode"
            )
        try:
            return cls(
                amqp_url=env["HARNESS_AMQP_URL"],
                queue=env["HARNESS_QUEUE"],
                dlx=env["HARNESS_DLX"],
                report_queue=env["HARNESS_REPORT_QUEUE"],
                state_dir=Path(env["HARNESS_STATE_DIR"]),
                correct=mode == "correct",
                prefetch=int(env.get("HARNESS_PREFETCH", "100")),
                name=env.get("HARNESS_CONSUMER", "ledger"),
                batch_s=int(env.get("LEDGER_BATCH_MS", "100")) / 1000,
            )
        except KeyError as missing:
            raise SystemExit(f"environment variable {missing} is not set") from None


@dataclass
class Delivery:
    tag: int
    redelivered: bool
    headers: dict[str, Any]
    body: bytes
    t: float


class Ledger:
    """Bookings and the outbox of reports, in one SQLite file under the state directory.

    ``correct``: the event id is the primary key, so booking a payment twice changes nothing.
    ``buggy``: a plain insert per delivery (it never sees a redelivery: auto-ack has none).
    """

    def __init__(self, path: Path, idempotent: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path)
        unique = "PRIMARY KEY" if idempotent else ""
        self.db.executescript(
            f"CREATE TABLE IF NOT EXISTS payments (event_id TEXT {unique}, key TEXT, seq INTEGER,"
            " amount_cents INTEGER);"
            "CREATE TABLE IF NOT EXISTS rejected (event_id TEXT, reason TEXT);"
            "CREATE TABLE IF NOT EXISTS outbox (n INTEGER PRIMARY KEY, report TEXT NOT NULL);"
        )
        self.db.commit()

    def book(self, event_id: str, key: str, seq: int, amount: int) -> bool:
        """Book the payment; False if it was booked before."""
        return bool(
            self.db.execute(
                "INSERT OR IGNORE INTO payments VALUES (?, ?, ?, ?)", (event_id, key, seq, amount)
            ).rowcount
        )

    def reject(self, event_id: str | None, reason: str) -> None:
        self.db.execute("INSERT INTO rejected VALUES (?, ?)", (event_id, reason))

    def queue_report(self, report: dict[str, Any]) -> None:
        self.db.execute("INSERT INTO outbox (report) VALUES (?)", (json.dumps(report),))

    def pending_reports(self) -> tuple[int, list[dict[str, Any]]]:
        rows = self.db.execute("SELECT n, report FROM outbox ORDER BY n").fetchall()
        return (rows[-1][0] if rows else 0), [json.loads(r) for _, r in rows]

    def reported(self, up_to: int) -> None:
        self.db.execute("DELETE FROM outbox WHERE n <= ?", (up_to,))
        self.db.commit()


def parse_payment(headers: dict[str, Any], body: bytes) -> dict[str, Any]:
    """The payment in a message; raises ValueError for a malformed (poison) one."""
    event_id = _text(headers.get("ce-id"))
    if event_id is None:
        raise ValueError("no ce-id header")
    try:
        payment = json.loads(body)
    except ValueError as exc:
        raise ValueError(f"body is not JSON ({exc})") from None
    if not isinstance(payment, dict) or payment.get("id") != event_id:
        raise ValueError(f"body does not describe event {event_id!r}")
    return payment


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode()
    return None if value is None else str(value)


class LedgerConsumer:
    """Collect a batch; book, reject and queue reports in one transaction; report; ack."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ledger = Ledger(settings.state_dir / "ledger.sqlite", idempotent=settings.correct)
        self.worker = f"{settings.name}-{os.getpid()}"
        self.count = 0
        self.batch: list[Delivery] = []
        self.stopping = False
        params = pika.URLParameters(settings.amqp_url)
        params.heartbeat = 10
        self.connection = pika.BlockingConnection(params)
        self.inbox = self.connection.channel()
        self.outbox = self.connection.channel()
        self.outbox.confirm_delivery()  # basic_publish returns once the broker has the report

    def run(self) -> None:
        self.inbox.queue_declare(self.settings.queue, passive=True)  # the harness declared it
        self.outbox.queue_declare(self.settings.report_queue, passive=True)
        self.publish_outbox()  # what a crash left unreported
        self.inbox.basic_qos(prefetch_count=self.settings.prefetch)
        self.inbox.basic_consume(
            self.settings.queue, self.on_message, auto_ack=not self.settings.correct
        )
        self.publish([self.report("ready")])
        opened = time.monotonic()
        while not self.stopping:
            self.connection.process_data_events(time_limit=0.02)
            if self.batch and (
                len(self.batch) >= self.settings.prefetch
                or time.monotonic() - opened >= self.settings.batch_s
            ):
                self.process()
            if not self.batch:
                opened = time.monotonic()
        if self.batch:
            self.process()
        self.connection.close()

    def on_message(self, _channel: Any, method: Any, props: Any, body: bytes) -> None:
        headers = dict(props.headers or {})
        self.batch.append(
            Delivery(method.delivery_tag, bool(method.redelivered), headers, body, time.monotonic())
        )

    def process(self) -> None:
        batch, self.batch = self.batch, []
        rejects: list[int] = []
        with self.ledger.db:  # bookings, rejections and their reports: one transaction
            for delivery in batch:
                if not self.handle(delivery):
                    rejects.append(delivery.tag)
        self.publish_outbox()  # ... reported ...
        if self.settings.correct:  # ... before the broker may forget them
            for tag in rejects:
                self.inbox.basic_reject(tag, requeue=False)
            booked = [d.tag for d in batch if d.tag not in rejects]
            if booked:  # acks every earlier tag too (a rejected one is settled already)
                self.inbox.basic_ack(booked[-1], multiple=True)

    def handle(self, d: Delivery) -> bool:
        """Book or reject one delivery, queueing its reports; False if it was rejected."""
        event_id = _text(d.headers.get("ce-id"))
        who = {"id": event_id, "key": _text(d.headers.get("ce-partitionkey"))}
        seq = _text(d.headers.get("ce-seq"))
        if seq is not None and seq.isdigit():
            who["seq"] = int(seq)
        where = {"queue": self.settings.queue, "delivery_tag": d.tag, "redelivered": d.redelivered}
        self.ledger.queue_report(self.report("recv", t=d.t, **who, **where))
        try:
            payment = parse_payment(d.headers, d.body)
        except ValueError as exc:
            self.ledger.reject(event_id, str(exc))
            if not self.settings.correct:  # auto-acked: nothing to reject, forward it by hand
                self.outbox.basic_publish(self.settings.dlx, self.settings.queue, d.body)
            self.ledger.queue_report(self.report("dead_letter", reason=str(exc), **who))
            return False
        amount = len(json.dumps(payment))
        if self.ledger.book(str(event_id), str(who["key"]), int(who.get("seq") or 0), amount):
            rid = f"effect:{event_id}" if self.settings.correct else None
            self.ledger.queue_report(self.report("effect", rid=rid, **who))
        return True

    def report(
        self, op: str, t: float | None = None, rid: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        self.count += 1
        return {
            "op": op,
            "t": time.monotonic() if t is None else t,  # CLOCK_MONOTONIC: the harness's clock
            "consumer": self.settings.name,
            "worker": self.worker,
            "rid": rid or f"{self.worker}:{self.count}",
            **fields,
        }

    def publish_outbox(self) -> None:
        up_to, reports = self.ledger.pending_reports()
        if reports:
            self.publish(reports)
            self.ledger.reported(up_to)

    def publish(self, reports: list[dict[str, Any]]) -> None:
        body = json.dumps(reports).encode()
        props = pika.BasicProperties(delivery_mode=2, content_type="application/json")
        self.outbox.basic_publish("", self.settings.report_queue, body, props)

    def stop(self, *_args: object) -> None:
        self.stopping = True


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("pika").setLevel(logging.WARNING)
    app = LedgerConsumer(Settings.from_env(os.environ))
    signal.signal(signal.SIGTERM, app.stop)
    signal.signal(signal.SIGINT, app.stop)
    mode = "manual ack" if app.settings.correct else "auto-ack"
    log.info("consuming %s as %s (%s)", app.settings.queue, app.worker, mode)
    app.run()
    log.info("stopped after %d reports", app.count)


if __name__ == "__main__":
    main()
