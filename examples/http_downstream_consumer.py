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

With ``HARNESS_OAUTH_TOKEN_URL`` set (the harness's downstream then wants bearer tokens:
``observe: - downstream: {auth: {oauth: ...}}``), every charge carries ``Authorization: Bearer``
from a client_credentials token (``HARNESS_OAUTH_CLIENT_ID``, ``HARNESS_OAUTH_CLIENT_SECRET``,
scope ``HARNESS_OAUTH_AUDIENCE``), and the mode decides how the token is kept:

- ``correct``: a new token is fetched once a third of the last one's lifetime has passed (well
  before it expires); while the issuer is down the cached token is used for as long as it is
  valid; a 401 drops it and the call is retried once with a fresh token; with no valid token to
  be had the event waits (it is not an attempt, and never dead-lettered for it) until the issuer
  answers again. An issuer outage shorter than the token lifetime loses nothing.
- ``buggy``: one token, fetched at start and cached forever. Once it expires every call is
  refused 401, which the consumer takes as a final refusal: every later event is dead-lettered.

Events of one key are charged in order, one at a time; keys go in parallel. Offsets are
committed once every event of a batch is charged or dead-lettered.

Its ground truth, kept in ``$HARNESS_STATE_DIR``: ``attempts.jsonl`` (one line per call:
id, attempt, result ``ok`` / ``status`` / ``timeout`` / ``disconnected`` / ``refused`` /
``error``, status)
and ``outcomes.jsonl`` (one line per event: ``charged`` or ``dead_lettered``); with a token
URL, ``tokens.jsonl`` (one line per token request: ``ok``, ``expires_in`` or the error).

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

log = logging.getLogger("payments")
MAX_BACKOFF_S = 1.0
TOKEN_SAFETY_S = 0.5  # a token is not sent this close to its expiry (transit, clock rounding)
TOKEN_RETRY_S = 0.25  # a failing issuer is asked again no sooner than this


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
    token_url: str | None = None
    client_id: str = ""
    client_secret: str = field(default="", repr=False)  # never in a log line
    audience: str = ""

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
                token_url=env.get("HARNESS_OAUTH_TOKEN_URL") or None,
                client_id=env.get("HARNESS_OAUTH_CLIENT_ID", ""),
                client_secret=env.get("HARNESS_OAUTH_CLIENT_SECRET", ""),
                audience=env.get("HARNESS_OAUTH_AUDIENCE", ""),
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
        self.tokens: TextIO = open(state_dir / "tokens.jsonl", "a", encoding="utf-8")

    def attempt(
        self, order: Order, attempt: int, result: str, status: int | None, sent: float
    ) -> None:
        line = {"id": order.id, "attempt": attempt, "result": result, "status": status,
                "t_sent": sent, "t": time.monotonic()}  # fmt: skip
        self.attempts.write(json.dumps(line) + "\n")

    def outcome(self, order: Order, outcome: str, attempts: int) -> None:
        self.outcomes.write(json.dumps({"id": order.id, "outcome": outcome, "attempts": attempts}))
        self.outcomes.write("\n")

    def token(self, ok: bool, expires_in: float | None, error: str = "") -> None:
        line = {"t": time.monotonic(), "ok": ok, "expires_in": expires_in, "error": error}
        self.tokens.write(json.dumps(line) + "\n")

    def flush(self) -> None:
        self.attempts.flush()
        self.outcomes.flush()
        self.tokens.flush()

    def close(self) -> None:
        self.attempts.close()
        self.outcomes.close()
        self.tokens.close()


class NoToken(Exception):
    """No valid access token could be had (the issuer fails and the cached one expired)."""


class Tokens:
    """client_credentials tokens. ``refresh_after`` is the share of a token's lifetime after
    which a new one is fetched (None: never, the buggy cache-forever)."""

    def __init__(
        self, settings: Settings, session: aiohttp.ClientSession, journal: Journal,
        refresh_after: float | None,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.session = session
        self.journal = journal
        self.refresh_after = refresh_after
        self.value: str | None = None
        self.fetched_at = 0.0
        self.expires_at = 0.0
        self.failed_at: float | None = None
        self.lock = asyncio.Lock()

    def _valid(self, now: float) -> bool:
        return self.value is not None and now < self.expires_at - TOKEN_SAFETY_S

    def _due(self, now: float) -> bool:
        if self.value is None:
            return True
        if self.refresh_after is None:
            return False  # the bug: whatever the token's age
        lifetime = self.expires_at - self.fetched_at
        return now >= self.fetched_at + lifetime * self.refresh_after or not self._valid(now)

    async def get(self) -> str:
        """A token to send: the cached one while not due; a fresh one when due, or the cached
        one while the issuer fails and it is still valid; ``NoToken`` otherwise."""
        now = time.monotonic()
        if not self._due(now):
            assert self.value is not None
            return self.value
        async with self.lock:
            now = time.monotonic()
            backing_off = self.failed_at is not None and now < self.failed_at + TOKEN_RETRY_S
            if self._due(now) and not backing_off:
                await self._fetch()
            if self.value is not None and (self.refresh_after is None or self._valid(now)):
                return self.value
            raise NoToken(f"no valid token from {self.settings.token_url}")

    def drop(self, token: str) -> None:
        """The downstream refused ``token``: the next ``get`` fetches a new one (correct mode)."""
        if self.refresh_after is not None and self.value == token:
            self.value = None
            self.failed_at = None

    async def _fetch(self) -> None:
        assert self.settings.token_url is not None
        form = {"grant_type": "client_credentials", "scope": self.settings.audience}
        auth = aiohttp.BasicAuth(self.settings.client_id, self.settings.client_secret)
        sent = time.monotonic()
        try:
            async with self.session.post(self.settings.token_url, data=form, auth=auth) as reply:
                body = await reply.json(content_type=None)
                if reply.status != 200 or not isinstance(body, dict):
                    raise ValueError(f"status {reply.status}")
                value, expires_in = body["access_token"], float(body.get("expires_in", 300))
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as exc:
            self.failed_at = time.monotonic()
            self.journal.token(False, None, type(exc).__name__)
            return
        self.value, self.fetched_at, self.expires_at = value, sent, sent + expires_in
        self.failed_at = None
        self.journal.token(True, expires_in)


class PaymentsClient:
    """Charges one order, retrying 429, 5xx, timeouts and dropped connections."""

    def __init__(
        self, settings: Settings, session: aiohttp.ClientSession, journal: Journal,
        stopping: asyncio.Event | None = None,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.session = session
        self.journal = journal
        self.correct = settings.mode == "correct"
        self.stopping = stopping or asyncio.Event()
        self.tokens: Tokens | None = None
        if settings.token_url:
            share = 1 / 3 if self.correct else None
            self.tokens = Tokens(settings, session, journal, refresh_after=share)

    async def charge(self, order: Order) -> tuple[bool, int, str]:
        """(charged, attempts made, why not) for one order."""
        why = "no attempt made"
        for attempt in range(1, self.settings.max_attempts + 1):
            wait = min(self.settings.backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S)
            result, status, retry_after = await self._authorised_call(order, attempt)
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

    async def _authorised_call(
        self, order: Order, attempt: int
    ) -> tuple[str, int | None, float | None]:
        """One call with a bearer token when the API wants one; a 401 is retried once with a
        fresh token (correct mode)."""
        if self.tokens is None:
            return await self._call(order, attempt)
        token = await self._token()
        result, status, retry_after = await self._call(order, attempt, token)
        if status == 401 and self.correct:
            self.tokens.drop(token)
            result, status, retry_after = await self._call(order, attempt, await self._token())
        return result, status, retry_after

    async def _token(self) -> str:
        """A token; in correct mode, waits for the issuer rather than give an event up."""
        assert self.tokens is not None
        wait = self.settings.backoff_s
        while True:
            try:
                return await self.tokens.get()
            except NoToken:
                if not self.correct or self.stopping.is_set():
                    raise
            await asyncio.sleep(wait)
            wait = min(wait * 2, MAX_BACKOFF_S)

    async def _call(
        self, order: Order, attempt: int, token: str | None = None
    ) -> tuple[str, int | None, float | None]:
        headers = {"Idempotency-Key": order.id} if self.correct else {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
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
            self.client = PaymentsClient(self.settings, session, self.journal, self.stopping)
            if self.client.tokens is not None:
                try:
                    await self.client.tokens.get()  # the buggy mode's one token, fetched at start
                except NoToken as exc:
                    log.warning("no token at start: %s", exc)
            await self.producer.start()
            await self.consumer.start()
            try:
                while not self.stopping.is_set():
                    batches = await self.consumer.getmany(timeout_ms=200, max_records=500)
                    if batches:
                        await self.process(batches)
            except NoToken:
                log.info("stopping while waiting for a token: the batch is not committed")
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
        try:
            charged, attempts, why = await self.client.charge(order)
        except NoToken as exc:
            if self.client.correct:
                raise  # stopping: the event is left uncommitted, never given up
            charged, attempts, why = False, 0, str(exc)
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
