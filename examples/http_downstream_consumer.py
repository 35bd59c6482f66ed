"""A payments consumer: reads order events from Kafka and charges each one through a downstream
payments API over HTTP. The example system under test for black-box observation of an HTTP
downstream (docs/system-under-test.md, "Downstream"): nothing in it knows about the harness.

Two modes, chosen by ``HARNESS_MODE``:

- ``correct``: every charge carries an ``Idempotency-Key`` (the event id), so a retry after a
  lost answer is not charged twice; a 429 or 503 answer's ``Retry-After`` is waited out; after
  ``PAYMENTS_MAX_ATTEMPTS`` tries the event goes to the dead-letter topic.
- ``buggy``: the same retries, without an idempotency key and without reading ``Retry-After``:
  when the API applied a charge but its answer was lost (a timeout, a dropped connection), the
  retry charges again.

Events of one key are charged in order, one at a time; keys go in parallel. Offsets are
committed once every event of a batch is charged or dead-lettered.

Its ground truth, kept in ``$HARNESS_STATE_DIR``: ``attempts.jsonl`` (one line per call:
id, attempt, result ``ok`` / ``status`` / ``timeout`` / ``disconnected`` / ``refused`` /
``error``, status)
and ``outcomes.jsonl`` (one line per event: ``charged`` or ``dead_lettered``).

Settings: ``HARNESS_KAFKA_BOOTSTRAP``, ``HARNESS_TOPIC``, ``HARNESS_GROUP``, ``HARNESS_DLQ_TOPIC``,
``HARNESS_STATE_DIR``, ``HARNESS_MODE``, ``PAYMENTS_URL`` (the API), ``PAYMENTS_TIMEOUT_MS``
(per call, default 1000), ``PAYMENTS_MAX_ATTEMPTS`` (default 8), ``PAYMENTS_BACKOFF_MS`` (first
retry's wait, doubled each time up to 1 s; default 100).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

log = logging.getLogger("payments")
MAX_BACKOFF_S = 1.0


@dataclass(frozen=True)
class Settings:
    bootstrap: str
    topic: str
    group: str
    dlq_topic: str
    state_dir: Path
    mode: str
    url: str
    timeout_s: float
    max_attempts: int
    backoff_s: float

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
                dlq_topic=env["HARNESS_DLQ_TOPIC"],
                state_dir=Path(env["HARNESS_STATE_DIR"]),
                mode=mode,
                url=env["PAYMENTS_URL"],
                timeout_s=int(env.get("PAYMENTS_TIMEOUT_MS", "1000")) / 1000,
                max_attempts=int(env.get("PAYMENTS_MAX_ATTEMPTS", "8")),
                backoff_s=int(env.get("PAYMENTS_BACKOFF_MS", "100")) / 1000,
            )
        except KeyError as missing:
            raise SystemExit(f"environment variable {missing} is not set") from None


@dataclass(frozen=True)
class Order:
    """What the consumer reads from one record (CloudEvents binary mode headers)."""

    id: str
    key: str
    seq: int
    body: dict[str, Any] | None  # None: the payload is not a JSON object (a poison event)

    @classmethod
    def from_record(cls, record: ConsumerRecord) -> Order:
        headers = {name: value.decode() for name, value in record.headers or ()}
        try:
            body = json.loads(record.value)
        except ValueError:
            body = None
        return cls(
            id=headers.get("ce_id", f"{record.partition}:{record.offset}"),
            key=headers.get("ce_partitionkey", (record.key or b"").decode()),
            seq=int(headers.get("ce_seq", "0")),
            body=body if isinstance(body, dict) else None,
        )


class Journal:
    """The consumer's own record of what it did: its ground truth."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.attempts: TextIO = open(state_dir / "attempts.jsonl", "a", encoding="utf-8")
        self.outcomes: TextIO = open(state_dir / "outcomes.jsonl", "a", encoding="utf-8")

    def attempt(
        self, order: Order, attempt: int, result: str, status: int | None, sent: float
    ) -> None:
        line = {"id": order.id, "attempt": attempt, "result": result, "status": status,
                "t_sent": sent, "t": time.monotonic()}  # fmt: skip
        self.attempts.write(json.dumps(line) + "\n")

    def outcome(self, order: Order, outcome: str, attempts: int) -> None:
        self.outcomes.write(json.dumps({"id": order.id, "outcome": outcome, "attempts": attempts}))
        self.outcomes.write("\n")

    def flush(self) -> None:
        self.attempts.flush()
        self.outcomes.flush()

    def close(self) -> None:
        self.attempts.close()
        self.outcomes.close()


class PaymentsClient:
    """Charges one order, retrying 429, 5xx, timeouts and dropped connections."""

    def __init__(self, settings: Settings, session: aiohttp.ClientSession, journal: Journal):
        self.settings = settings
        self.session = session
        self.journal = journal
        self.correct = settings.mode == "correct"

    async def charge(self, order: Order) -> tuple[bool, int, str]:
        """(charged, attempts made, why not) for one order."""
        why = "no attempt made"
        for attempt in range(1, self.settings.max_attempts + 1):
            wait = min(self.settings.backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S)
            result, status, retry_after = await self._call(order, attempt)
            if result == "ok":
                return True, attempt, ""
            why = f"{result} {status or ''}".strip()
            if result == "status" and status is not None and status < 500 and status != 429:
                return False, attempt, why  # the API refused this charge for good
            if self.correct and retry_after is not None:
                wait = max(wait, retry_after)
            if attempt < self.settings.max_attempts:
                await asyncio.sleep(wait)
        return False, self.settings.max_attempts, why

    async def _call(self, order: Order, attempt: int) -> tuple[str, int | None, float | None]:
        headers = {"Idempotency-Key": order.id} if self.correct else {}
        charge = {"event_id": order.id, "key": order.key, "seq": order.seq,
                  "amount_cents": 100 + order.seq % 900}  # fmt: skip
        result, status, retry_after = "error", None, None
        sent = time.monotonic()
        try:
            async with self.session.post(self.settings.url, json=charge, headers=headers) as resp:
                await resp.read()
                status = resp.status
                result = "ok" if 200 <= status < 300 else "status"
                retry_after = _seconds(resp.headers.get("Retry-After"))
        except TimeoutError:
            result = "timeout"  # the API may have charged it: only a key makes a retry safe
        except aiohttp.ServerDisconnectedError:
            result = "disconnected"  # likewise
        except aiohttp.ClientConnectorError:
            result = "refused"  # never reached the API
        except aiohttp.ClientError as exc:
            log.warning("charge %s attempt %d: %r", order.id, attempt, exc)
        self.journal.attempt(order, attempt, result, status, sent)
        return result, status, retry_after


def _seconds(header: str | None) -> float | None:
    if header is None or not header.strip().isdigit():
        return None  # an HTTP date is also allowed; this API sends seconds
    return float(header)


class PaymentsConsumer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.journal = Journal(settings.state_dir)
        self.consumer = AIOKafkaConsumer(
            settings.topic,
            bootstrap_servers=settings.bootstrap,
            group_id=settings.group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        self.producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, acks="all")
        self.client: PaymentsClient | None = None
        self.stopping = asyncio.Event()

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            self.client = PaymentsClient(self.settings, session, self.journal)
            await self.producer.start()
            await self.consumer.start()
            try:
                while not self.stopping.is_set():
                    batches = await self.consumer.getmany(timeout_ms=200, max_records=500)
                    if batches:
                        await self.process(batches)
            finally:
                await self.consumer.stop()
                await self.producer.stop()
                self.journal.close()

    async def process(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        by_key: dict[str, list[ConsumerRecord]] = defaultdict(list)
        for records in batches.values():
            for record in records:
                by_key[(record.key or b"").decode()].append(record)
        await asyncio.gather(*(self.handle_in_order(records) for records in by_key.values()))
        self.journal.flush()
        try:
            await self.consumer.commit({tp: rs[-1].offset + 1 for tp, rs in batches.items()})
        except (CommitFailedError, IllegalStateError) as exc:
            log.warning("commit failed (a rebalance; the events come back): %r", exc)

    async def handle_in_order(self, records: list[ConsumerRecord]) -> None:
        for record in records:
            await self.handle(record)

    async def handle(self, record: ConsumerRecord) -> None:
        order = Order.from_record(record)
        if order.body is None:
            await self.dead_letter(record, order, "payload is not a JSON object", 0)
            return
        assert self.client is not None
        charged, attempts, why = await self.client.charge(order)
        if charged:
            self.journal.outcome(order, "charged", attempts)
        else:
            await self.dead_letter(
                record, order, f"gave up after {attempts} tries: {why}", attempts
            )

    async def dead_letter(
        self, record: ConsumerRecord, order: Order, reason: str, attempts: int
    ) -> None:
        headers = [*(record.headers or ()), ("x-dead-letter-reason", reason.encode())]
        await self.producer.send_and_wait(
            self.settings.dlq_topic, record.value, key=record.key, headers=headers
        )
        self.journal.outcome(order, "dead_lettered", attempts)


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = PaymentsConsumer(Settings.from_env(os.environ))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, app.stopping.set)
    log.info("charging %s through %s (%s mode)", app.settings.topic, app.settings.url,
             app.settings.mode)  # fmt: skip
    await app.run()
    log.info("stopped")


if __name__ == "__main__":
    asyncio.run(main())
