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
starts a task per delivery; one ``aiohttp`` session (a pooled connector of
``max_connections``) carries them. Each attempt is signed afresh (a new timestamp). Secrets are
held in the config, which never shows them.

    sender = WebhookSender(config, recorder)
    await sender.start()
    sender.send(event)
    await sender.flush(30.0)
    await sender.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from harness import clock
from harness.drivers._types import EventLike, Recorder
from harness.drivers.outcomes import Outcome
from harness.drivers.rows import SendLog
from harness.safety import check_target
from harness.webhooks import RetryPolicy, Scheme, parse_retry_after
from harness.webhooks.attacks import forge
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


@dataclass(frozen=True)
class Answer:
    """What one attempt got: a status (None: no answer), its Retry-After, or an error."""

    status: int | None
    retry_after: float | None = None
    error: str | None = None


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
        self._tasks: set[asyncio.Task[None]] = set()
        self.disabled = False
        self.proxy: str | None = None
        """The Toxiproxy proxy the run put in front of the endpoint (fault target
        ``endpoint``); None without one."""
        self.delivered: dict[str, tuple[bytes, int]] = {}
        """Delivered ids: their body and the timestamp of the accepted attempt (for replays)."""

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
        """Start delivering ``event`` (never blocks)."""
        self._log.sent()
        task = asyncio.get_running_loop().create_task(self._deliver(event, clock.now()))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until every delivery has its outcome; False if some still retry after
        ``timeout_s``."""
        deadline = clock.now() + timeout_s
        while self._tasks and clock.now() < deadline:
            await asyncio.wait(set(self._tasks), timeout=max(0.0, deadline - clock.now()))
        return not self._tasks

    async def close(self, timeout_s: float = 30.0) -> None:
        """Finish what can finish in ``timeout_s``, cancel the rest (each still recorded)."""
        await self.flush(timeout_s)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    # --- one delivery ---------------------------------------------------------------------

    async def _deliver(self, event: EventLike, t_sent: float) -> None:
        policy = self.config.policy
        body: bytes = event.payload  # type: ignore[attr-defined]
        attempt, answer, verdict = 0, Answer(None, error="not attempted"), RETRY
        try:
            while True:
                if self.disabled:
                    answer, verdict = Answer(None, error="endpoint disabled (410)"), DISABLED
                    break
                attempt += 1
                stamp = int(time.time())
                headers = self.sign(event.id, stamp, body)
                answer = await self._attempt(event, body, attempt, headers)
                verdict = policy.outcome(attempt=attempt, status=answer.status)
                if verdict == SUCCESS:
                    self.delivered[event.id] = (body, stamp)
                    break
                if verdict == DISABLED:
                    self.disabled = True
                    self.counts["disabled"] += 1
                    break
                delay = policy.next_delay(attempt=attempt, retry_after=answer.retry_after)
                if verdict != RETRY or delay is None:
                    break
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            self._finish(event, t_sent, attempt, answer, verdict, closed=True)
            raise
        self._finish(event, t_sent, attempt, answer, verdict)

    def _finish(
        self,
        event: EventLike,
        t_sent: float,
        attempts: int,
        answer: Answer,
        verdict: str,
        *,
        closed: bool = False,
    ) -> None:
        if verdict == SUCCESS:
            status, reason = Outcome.OK, None
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
        answer = await self.post(body, headers)
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

    async def post(self, body: bytes, headers: Mapping[str, str]) -> Answer:
        """One POST; every client error becomes an ``Answer`` without a status."""
        session = self._session
        if session is None:
            return Answer(None, error="sender not started")
        try:
            async with session.post(
                self.config.url, data=body, headers=dict(headers), allow_redirects=False
            ) as response:
                await response.read()
                retry_after = parse_retry_after(
                    response.headers.get("Retry-After"), now=time.time()
                )
                return Answer(response.status, retry_after)
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
        """Send ``count`` deliveries of security fault ``attack`` (ids ``atk-<label>-<i>``)."""
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
