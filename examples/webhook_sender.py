"""An order-notification service: reads order events from Kafka and tells a partner about each
one with a signed webhook (Standard Webhooks: ``webhook-id``, ``webhook-timestamp``,
``webhook-signature``, signed with the ``standardwebhooks`` library). The example system under
test for the harness's webhook receiver (docs/webhooks.md, "Receiver mode"): nothing in it
knows about the harness.

Two modes, chosen by ``HARNESS_MODE``:

- ``correct``: a failed delivery (a 5xx, 429, 3xx, timeout or broken connection) is retried on
  the schedule ``WEBHOOK_RETRY_DELAYS_MS``, waiting longer when the answer says
  ``Retry-After``; every retry keeps the webhook's id (re-signed with a fresh timestamp). A 410
  means the partner removed the endpoint: nothing more is sent to it. Other 4xx answers are
  final for that webhook.
- ``buggy``: the same, except that it gives up on the first 5xx answer.

Webhooks of one key are sent in order, one at a time (a retry holds its key back); keys go in
parallel. Offsets are committed once every event of a batch is delivered or given up.

Its ground truth, kept in ``$HARNESS_STATE_DIR``: ``attempts.jsonl`` (one line per attempt:
id, webhook id, attempt, result ``ok`` / ``status`` / ``timeout`` / ``disconnected`` /
``refused`` / ``error``, status, times) and ``outcomes.jsonl`` (one line per event:
``delivered``, ``gave_up`` or ``endpoint_gone``, with the attempts made).

Settings: ``HARNESS_KAFKA_BOOTSTRAP``, ``HARNESS_TOPIC``, ``HARNESS_GROUP``,
``HARNESS_STATE_DIR``, ``HARNESS_MODE``, ``WEBHOOK_URL``, ``WEBHOOK_SECRET`` (``whsec_...``),
``WEBHOOK_TIMEOUT_MS`` (per attempt, default 1000), ``WEBHOOK_RETRY_DELAYS_MS`` (the waits
before each retry, default ``200,500,1000,2000,4000``).
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
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import aiohttp
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from standardwebhooks import Webhook

log = logging.getLogger("notifier")


@dataclass(frozen=True)
class Settings:
    bootstrap: str
    topic: str
    group: str
    state_dir: Path
    mode: str
    url: str
    secret: str
    timeout_s: float
    delays_s: tuple[float, ...]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        mode = env.get("HARNESS_MODE", "correct")
        if mode not in ("correct", "buggy"):
            raise SystemExit(f"HARNESS_MODE must be 'correct' or 'buggy', not {mode!r}")
        try:
            delays = env.get("WEBHOOK_RETRY_DELAYS_MS", "200,500,1000,2000,4000")
            return cls(
                bootstrap=env["HARNESS_KAFKA_BOOTSTRAP"],
                topic=env["HARNESS_TOPIC"],
                group=env["HARNESS_GROUP"],
                state_dir=Path(env["HARNESS_STATE_DIR"]),
                mode=mode,
                url=env["WEBHOOK_URL"],
                secret=env["WEBHOOK_SECRET"],
                timeout_s=int(env.get("WEBHOOK_TIMEOUT_MS", "1000")) / 1000,
                delays_s=tuple(int(d) / 1000 for d in delays.split(",") if d.strip()),
            )
        except KeyError as missing:
            raise SystemExit(f"environment variable {missing} is not set") from None


@dataclass(frozen=True)
class Order:
    """What the service reads from one record (CloudEvents binary mode headers)."""

    id: str
    key: str
    seq: int

    @classmethod
    def from_record(cls, record: ConsumerRecord) -> Order:
        headers = {name: value.decode() for name, value in record.headers or ()}
        return cls(
            id=headers.get("ce_id", f"{record.partition}:{record.offset}"),
            key=headers.get("ce_partitionkey", (record.key or b"").decode()),
            seq=int(headers.get("ce_seq", "0")),
        )

    @property
    def webhook_id(self) -> str:
        return f"msg_{self.id}"

    def payload(self) -> str:
        data = {"event_id": self.id, "key": self.key, "seq": self.seq}
        return json.dumps({"type": "order.created", "data": data})


class Journal:
    """The service's own record of what it did: its ground truth."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.attempts: TextIO = open(state_dir / "attempts.jsonl", "a", encoding="utf-8")
        self.outcomes: TextIO = open(state_dir / "outcomes.jsonl", "a", encoding="utf-8")

    def attempt(self, order: Order, attempt: int, result: str, status: int | None,
                sent: float) -> None:  # fmt: skip
        line = {"id": order.id, "webhook_id": order.webhook_id, "attempt": attempt,
                "result": result, "status": status, "t_sent": sent, "t": time.monotonic()}  # fmt: skip
        self.attempts.write(json.dumps(line) + "\n")

    def outcome(self, order: Order, outcome: str, attempts: int) -> None:
        line = {"id": order.id, "outcome": outcome, "attempts": attempts}
        self.outcomes.write(json.dumps(line) + "\n")

    def flush(self) -> None:
        self.attempts.flush()
        self.outcomes.flush()

    def close(self) -> None:
        self.attempts.close()
        self.outcomes.close()


class WebhookClient:
    """Delivers one order's webhook, retrying on the schedule."""

    def __init__(self, settings: Settings, session: aiohttp.ClientSession, journal: Journal):
        self.settings = settings
        self.session = session
        self.journal = journal
        self.signer = Webhook(settings.secret)
        self.correct = settings.mode == "correct"
        self.gone = False  # the partner answered 410: the endpoint is no more

    async def deliver(self, order: Order) -> tuple[str, int]:
        """(outcome, attempts made) for one order."""
        if self.gone:
            return "endpoint_gone", 0
        body = order.payload()
        for attempt in range(1, len(self.settings.delays_s) + 2):
            result, status, retry_after = await self._attempt(order, body, attempt)
            if result == "ok":
                return "delivered", attempt
            if status == 410:
                self.gone = True
                return "endpoint_gone", attempt
            if status is not None and 400 <= status < 500 and status != 429:
                return "gave_up", attempt  # refused for good
            if not self.correct and status is not None and status >= 500:
                return "gave_up", attempt  # the bug: a 5xx is taken as final
            if attempt > len(self.settings.delays_s):
                break
            wait = self.settings.delays_s[attempt - 1]
            await asyncio.sleep(max(wait, retry_after or 0.0))
        return "gave_up", len(self.settings.delays_s) + 1

    async def _attempt(self, order: Order, body: str, attempt: int) -> tuple[str, int | None, float | None]:  # fmt: skip
        now = datetime.now(tz=UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": order.webhook_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self.signer.sign(order.webhook_id, now, body),
        }
        result, status, retry_after = "error", None, None
        sent = time.monotonic()
        try:
            async with self.session.post(self.settings.url, data=body, headers=headers,
                                         allow_redirects=False) as resp:  # fmt: skip
                await resp.read()
                status = resp.status
                result = "ok" if 200 <= status < 300 else "status"
                retry_after = _seconds(resp.headers.get("Retry-After"))
        except TimeoutError:
            result = "timeout"
        except aiohttp.ServerDisconnectedError:
            result = "disconnected"
        except aiohttp.ClientConnectorError:
            result = "refused"
        except aiohttp.ClientError as exc:
            log.warning("webhook %s attempt %d: %r", order.id, attempt, exc)
        self.journal.attempt(order, attempt, result, status, sent)
        return result, status, retry_after


def _seconds(header: str | None) -> float | None:
    if header is None or not header.strip().isdigit():
        return None  # an HTTP date is also allowed; seconds are what partners send
    return float(header)


class Notifier:
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
        self.client: WebhookClient | None = None
        self.stopping = asyncio.Event()

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            self.client = WebhookClient(self.settings, session, self.journal)
            await self.consumer.start()
            try:
                while not self.stopping.is_set():
                    batches = await self.consumer.getmany(timeout_ms=200, max_records=500)
                    if batches:
                        await self.process(batches)
            finally:
                await self.consumer.stop()
                self.journal.close()

    async def process(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        by_key: dict[str, list[Order]] = defaultdict(list)
        for records in batches.values():
            for record in records:
                order = Order.from_record(record)
                by_key[order.key].append(order)
        await asyncio.gather(*(self.notify_in_order(orders) for orders in by_key.values()))
        self.journal.flush()
        try:
            await self.consumer.commit({tp: rs[-1].offset + 1 for tp, rs in batches.items()})
        except (CommitFailedError, IllegalStateError) as exc:
            log.warning("commit failed (a rebalance; the events come back): %r", exc)

    async def notify_in_order(self, orders: list[Order]) -> None:
        assert self.client is not None
        for order in orders:
            outcome, attempts = await self.client.deliver(order)
            self.journal.outcome(order, outcome, attempts)


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = Notifier(Settings.from_env(os.environ))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, app.stopping.set)
    log.info("notifying %s of %s (%s mode)", app.settings.url, app.settings.topic,
             app.settings.mode)  # fmt: skip
    await app.run()
    log.info("stopped")


if __name__ == "__main__":
    asyncio.run(main())
