"""The webhook sender: the harness as a provider, POSTing each event to the user's endpoint.

Each event is one delivery: a signed POST of its JSON body, retried on failure as the
``RetryPolicy`` says (its delays already scaled by the scenario's ``time_scale``). Every
attempt is one ``request`` row (``attempt``, ``http_status``, ``error``, ``retry_after``,
``t`` .. ``t_ack``, ``source: webhook``); the delivery's final outcome is one ``send`` row:

============================================  =========  =================================
last attempt                                  outcome    why
============================================  =========  =================================
2xx                                           ok         the endpoint took it
any other status, retries exhausted           fail       every answer refused it
410 (``disable_on_410``), endpoint disabled   fail       refused; nothing more is sent
timeout, reset, refused connection            unknown    the endpoint may have applied it
closed by the run while still retrying        unknown    (or fail if nothing left at all)
============================================  =========  =================================

Only 2xx is success: redirects are not followed (3xx is a failure). ``send`` never blocks: it
queues the delivery; ``max_connections`` workers take due attempts from the queue over one
``aiohttp`` session (a pooled connector of as many connections), and a failed attempt goes back
on the queue when its retry delay has passed (a timer, not a sleeping task). A delivery
waiting for a worker has not started its attempt, so the wait is not part of its timeout. Each attempt is signed afresh (a new timestamp). Secrets are
held in the config, which never shows them.

With ``bearer`` (a ``harness.auth.ClientCredentialsSource``) every attempt also carries
``Authorization: Bearer <token>``: the source's cached token, refreshed before it expires and
kept through an issuer outage shorter than its lifetime. A 401 drops the cached token, so the
retry fetches a fresh one. An attempt for which no token can be had is not sent: its ``request``
row has no status and an ``error`` starting ``no bearer token``, and a delivery whose attempts
all ended so is ``fail`` (``no_token``), not ``unknown``: the endpoint never saw it.

Provider behaviours on the timeline (``harness/faults/kinds/webhook_delivery.py``): while a
``hold`` lasts, new deliveries start late (each after ``late`` seconds), or wait for its
``release`` and then go all at once, in order (a burst) or shuffled (out of order).

    sender = WebhookSender(config, recorder)
    await sender.start()
    sender.send(event)
    await sender.flush(30.0)
    await sender.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from harness import clock
from harness.auth import ClientCredentialsSource, FaultTokens
from harness.drivers._types import EventLike, Recorder
from harness.drivers.outcomes import Outcome
from harness.drivers.rows import SendLog
from harness.errors import AuthError
from harness.safety import check_target
from harness.webhooks import RetryPolicy, Scheme, parse_retry_after
from harness.webhooks.attacks import TOKEN_ATTACKS, forge, forge_token
from harness.webhooks.retry_policy import DISABLED, RETRY, SUCCESS

PRODUCER = "webhook"
REQUEST_SOURCE = "webhook"
ATTACK_SOURCE = "webhook_attack"
CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class WebhookConfig:
    """Where and how to deliver. ``secrets`` (current first) never appear in a ``repr``."""

    url: str
    scheme: Scheme
    policy: RetryPolicy
    secrets: tuple[str, ...] = field(repr=False)
    headers: Mapping[str, str] = field(default_factory=dict)
    max_connections: int = 64
    bearer: ClientCredentialsSource | None = None
    """Where each attempt's ``Authorization: Bearer`` token comes from (None: no header)."""
    fault_tokens: FaultTokens | None = field(default=None, repr=False)
    """Mints the bad bearer tokens of the token attacks (needs ``bearer``)."""


@dataclass(frozen=True)
class Answer:
    """What one attempt got: a status (None: no answer), its Retry-After, or an error."""

    status: int | None
    retry_after: float | None = None
    error: str | None = None
    sent: bool = True
    """False when the attempt was never sent (no bearer token could be had)."""


class _Delivery:
    """One event's delivery as it goes: attempts made, the last answer, the verdict."""

    __slots__ = ("answer", "attempt", "event", "t_sent", "verdict")

    def __init__(self, event: EventLike, t_sent: float) -> None:
        self.event = event
        self.t_sent = t_sent
        self.attempt = 0
        self.answer = Answer(None, error="not attempted")
        self.verdict = RETRY


@dataclass
class _Hold:
    late: float | None
    shuffle: bool
    rng: random.Random
    held: list[_Delivery] = field(default_factory=list)


class WebhookSender:
    """Delivers events as signed webhooks with retries; the run's ``Producer``."""

    def __init__(self, config: WebhookConfig, recorder: Recorder) -> None:
        if not config.secrets:
            raise ValueError("a webhook sender needs at least one secret")
        self.config = config
        self._recorder = recorder
        self._log = SendLog(recorder, PRODUCER, "attempts", "disabled")
        self.counts = self._log.counts
        self._session: aiohttp.ClientSession | None = None
        # Security-fault deliveries bypass the workers; they take a slot of the pool too.
        self._slots = asyncio.Semaphore(config.max_connections)
        self._queue: asyncio.Queue[_Delivery] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._timers: set[asyncio.TimerHandle] = set()
        self._open: set[_Delivery] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self.disabled = False
        self.proxy: str | None = None
        """The Toxiproxy proxy the run put in front of the endpoint (fault target
        ``endpoint``); None without one."""
        self.delivered: dict[str, tuple[bytes, int]] = {}
        """Delivered ids: their body and the timestamp of the accepted attempt (for replays)."""
        self._holds: dict[str, _Hold] = {}
        self._url: tuple[str, URL | None] = ("", None)

    async def start(self) -> None:
        check_target(urlsplit(self.config.url).hostname or "")
        policy = self.config.policy
        connector = aiohttp.TCPConnector(
            limit=self.config.max_connections, limit_per_host=self.config.max_connections
        )
        timeout = aiohttp.ClientTimeout(
            total=policy.total_timeout, sock_connect=policy.connect_timeout
        )
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=timeout, auto_decompress=False
        )

    def send(self, event: Any) -> None:
        """Queue ``event`` for delivery (never blocks)."""
        self._log.sent()
        delivery = _Delivery(event, clock.now())
        self._open.add(delivery)
        self._idle.clear()
        hold = next(reversed(self._holds.values())) if self._holds else None
        if hold is None:
            self._queue.put_nowait(delivery)
        elif hold.late is not None:
            self._retry_later(delivery, hold.late)  # its first attempt, late
        else:
            hold.held.append(delivery)
        if not self._workers:
            loop = asyncio.get_running_loop()
            self._workers = [
                loop.create_task(self._work()) for _ in range(self.config.max_connections)
            ]

    async def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until every delivery has its outcome; False if some still retry after
        ``timeout_s``."""
        if self._open:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout_s)
        return not self._open

    async def close(self, timeout_s: float = 30.0) -> None:
        """Finish what can finish in ``timeout_s``; the rest is recorded as closed."""
        for fault_id in list(self._holds):
            self.release(fault_id)
        await self.flush(timeout_s)
        for timer in self._timers:
            timer.cancel()
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        for delivery in list(self._open):
            self._finish(delivery, closed=True)
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def hold(
        self, fault_id: str, *, late: float | None = None, shuffle: bool = False,
        rng: random.Random | None = None,
    ) -> None:  # fmt: skip
        """Until ``release(fault_id)``, new deliveries start ``late`` seconds after they are
        sent, or (no ``late``) wait for the release: then all go at once, shuffled if
        ``shuffle``. The newest hold wins."""
        self._holds[fault_id] = _Hold(late, shuffle, rng or random.Random())

    def release(self, fault_id: str) -> int:
        """End the hold ``fault_id``: what it held is queued now (a burst, or shuffled).
        Returns how many deliveries it let go."""
        hold = self._holds.pop(fault_id, None)
        if hold is None:
            return 0
        if hold.shuffle:
            hold.rng.shuffle(hold.held)
        for delivery in hold.held:
            self._queue.put_nowait(delivery)
        return len(hold.held)

    # --- one delivery ---------------------------------------------------------------------

    async def _work(self) -> None:
        """One of ``max_connections`` workers: the next attempt of the next due delivery."""
        while True:
            delivery = await self._queue.get()
            if delivery not in self._open:
                continue
            try:
                await self._step(delivery)
            except asyncio.CancelledError:
                # closed with this attempt in flight: it may have been applied
                delivery.answer = Answer(None, error="closed with an attempt in flight")
                raise

    async def _step(self, delivery: _Delivery) -> None:
        """One attempt; then the outcome, or the retry scheduled on the policy's delay."""
        if self.disabled:
            delivery.answer, delivery.verdict = (
                Answer(None, error="endpoint disabled (410)"),
                DISABLED,
            )
            self._finish(delivery)
            return
        event, policy = delivery.event, self.config.policy
        body: bytes = event.payload  # type: ignore[attr-defined]
        delivery.attempt += 1
        stamp = int(time.time())
        answer = await self._attempt(
            event, body, delivery.attempt, self.sign(event.id, stamp, body)
        )
        delivery.answer = answer
        verdict = delivery.verdict = policy.outcome(attempt=delivery.attempt, status=answer.status)
        if verdict == SUCCESS:
            self.delivered[event.id] = (body, stamp)
        elif verdict == DISABLED:
            self.disabled = True
            self.counts["disabled"] += 1
        elif verdict == RETRY:
            delay = policy.next_delay(attempt=delivery.attempt, retry_after=answer.retry_after)
            if delay is not None:
                self._retry_later(delivery, delay)
                return
        self._finish(delivery)

    def _retry_later(self, delivery: _Delivery, delay: float) -> None:
        loop = asyncio.get_running_loop()

        def due() -> None:
            self._timers.discard(timer)
            self._queue.put_nowait(delivery)

        timer = loop.call_later(delay, due)
        self._timers.add(timer)

    def _finish(self, delivery: _Delivery, *, closed: bool = False) -> None:
        """Record the delivery's one ``send`` row; it is no longer open."""
        if delivery not in self._open:
            return
        self._open.discard(delivery)
        if not self._open:
            self._idle.set()
        event, attempts, answer, verdict = (
            delivery.event, delivery.attempt, delivery.answer, delivery.verdict
        )  # fmt: skip
        t_sent = delivery.t_sent
        if verdict == SUCCESS:
            status, reason = Outcome.OK, None
        elif answer.status is None and attempts > 0 and not answer.sent and not closed:
            status, reason = Outcome.FAIL, "no_token"
        elif answer.status is None and attempts > 0:
            status, reason = Outcome.UNKNOWN, "closed" if closed else "no_answer"
        else:
            status = Outcome.FAIL
            reason = "closed" if closed else ("disabled" if verdict == DISABLED else "exhausted")
        self._log.record(
            event,
            t_sent,
            status,
            answer.error if status is not Outcome.OK else None,
            attempt=attempts,
            http_status=answer.status,
            reason=reason,
        )

    def sign(self, msg_id: str, stamp: int, body: bytes) -> dict[str, str]:
        """The headers of one attempt: the scenario's, the content type, the signature."""
        signed = self.config.scheme.sign(
            msg_id=msg_id, timestamp=stamp, body=body, secrets=self.config.secrets
        )
        return {**self.config.headers, "Content-Type": CONTENT_TYPE, **signed}

    async def _attempt(
        self, event: EventLike, body: bytes, attempt: int, headers: Mapping[str, str]
    ) -> Answer:
        t = clock.now()
        answer = await self._post_with_bearer(body, headers)
        self.counts["attempts"] += 1
        self._recorder.append(
            {
                "op": "request",
                "id": event.id,
                "key": event.key,
                "seq": event.seq,
                "t": t,
                "t_ack": clock.now(),
                "attempt": attempt,
                "http_status": answer.status,
                "retry_after": answer.retry_after,
                "error": answer.error,
                "producer": PRODUCER,
                "source": REQUEST_SOURCE,
            }
        )
        return answer

    async def _post_with_bearer(self, body: bytes, headers: Mapping[str, str]) -> Answer:
        """``post`` with the bearer token when the config has a source; a 401 drops it."""
        bearer = self.config.bearer
        if bearer is None:
            return await self.post(body, headers)
        try:
            token = await bearer.token()
        except AuthError as error:
            return Answer(None, error=f"no bearer token: {error}"[:300], sent=False)
        answer = await self.post(body, {**headers, "Authorization": f"Bearer {token}"})
        if answer.status == 401:
            bearer.invalidate()
        return answer

    async def post(self, body: bytes, headers: Mapping[str, str]) -> Answer:
        """One POST; every client error becomes an ``Answer`` without a status."""
        session = self._session
        if session is None:
            return Answer(None, error="sender not started")
        if self._url[0] != self.config.url:  # parsed once, not per request
            self._url = (self.config.url, URL(self.config.url))
        url = self._url[1]
        try:
            async with session.post(url, data=body, headers=headers, allow_redirects=False) as r:
                await r.read()
                if 200 <= r.status < 300:
                    return Answer(r.status)
                retry_after = parse_retry_after(r.headers.get("Retry-After"), now=time.time())
                return Answer(r.status, retry_after)
        except TimeoutError:
            return Answer(None, error="timeout")
        except aiohttp.ClientError as error:
            return Answer(None, error=f"{type(error).__name__}: {error}"[:300])

    # --- deliveries the scenario's faults make --------------------------------------------

    async def deliver_once(
        self, msg_id: str, body: bytes, headers: Mapping[str, str], *, reason: str
    ) -> Answer:
        """One unretried delivery of exactly ``headers`` and ``body`` (a security fault's),
        recorded as a ``request`` row with ``source: webhook_attack`` and ``reason``."""
        async with self._slots:
            t = clock.now()
            answer = await self.post(body, {"Content-Type": CONTENT_TYPE, **headers})
        self._recorder.append(
            {
                "op": "request",
                "id": msg_id,
                "t": t,
                "t_ack": clock.now(),
                "attempt": 1,
                "http_status": answer.status,
                "error": answer.error,
                "producer": PRODUCER,
                "source": ATTACK_SOURCE,
                "reason": reason,
            }
        )
        return answer

    async def attack(
        self, attack: str, *, label: str, count: int = 1, stale_by: float = 600.0,
        retired: str | None = None,
    ) -> list[Answer]:  # fmt: skip
        """Send ``count`` deliveries of security fault ``attack`` (ids ``atk-<label>-<i>``).

        With a bearer source, a signature attack carries a good token (so only its signature
        is wrong) and a token attack a good signature (so only its token is)."""
        if attack in TOKEN_ATTACKS:
            return await self._token_attack(attack, label=label, count=count)
        bearer = await self._attack_bearer()
        answers = []
        for i in range(count):
            replayed = None
            if attack == "replay":
                if not self.delivered:
                    raise ValueError("no event has been delivered yet, so none can be replayed")
                old_id = sorted(self.delivered)[i % len(self.delivered)]
                replayed = (old_id, self.delivered[old_id][0])
            forged = forge(
                attack, scheme=self.config.scheme, secrets=self.config.secrets,
                msg_id=f"atk-{label}-{i}", now=int(time.time()), stale_by=stale_by,
                replayed=replayed, retired=retired,
            )  # fmt: skip
            headers = {**self.config.headers, **bearer, **forged.headers}
            answers.append(
                await self.deliver_once(forged.msg_id, forged.body, headers, reason=attack)
            )
        return answers

    async def _attack_bearer(self) -> dict[str, str]:
        """A good ``Authorization`` header when deliveries carry one (``{}`` otherwise)."""
        if self.config.bearer is None:
            return {}
        try:
            return {"Authorization": f"Bearer {await self.config.bearer.token()}"}
        except AuthError as error:
            raise ValueError(f"no bearer token to send it with: {error}") from None

    async def _token_attack(self, attack: str, *, label: str, count: int) -> list[Answer]:
        tokens = self.config.fault_tokens
        if self.config.bearer is None or tokens is None:
            raise ValueError("the deliveries carry no bearer token (give target.webhook.oauth)")
        answers = []
        for i in range(count):
            forged = forge_token(
                attack, scheme=self.config.scheme, secrets=self.config.secrets,
                msg_id=f"atk-{label}-{i}", now=int(time.time()), tokens=tokens,
            )  # fmt: skip
            headers = {**self.config.headers, **forged.headers}
            answers.append(
                await self.deliver_once(forged.msg_id, forged.body, headers, reason=attack)
            )
        return answers

    def stats(self) -> dict[str, int]:
        return dict(self.counts)


async def wait_listening(host: str, port: int, timeout_s: float) -> bool:
    """Whether something accepts TCP connections on ``host:port`` within ``timeout_s``."""
    deadline = clock.now() + timeout_s
    while clock.now() < deadline:
        with contextlib.suppress(OSError):
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return True
        await asyncio.sleep(0.1)
    return False


__all__ = [
    "ATTACK_SOURCE",
    "REQUEST_SOURCE",
    "Answer",
    "WebhookConfig",
    "WebhookSender",
    "wait_listening",
]
