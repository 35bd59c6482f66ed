"""NATS producer driver (nats-py, natively asyncio): core publish or JetStream publish with ack.

``send(event)`` never blocks. Core publishes go to one drainer task that hands them to nats-py
in order (a core publish only appends to the client's buffer); a JetStream publish is one task
awaiting its PubAck (at most ``max_in_flight`` at once; beyond that events wait in order). Each event gets exactly one ``send`` row when its outcome is
known (``harness.drivers.outcomes.classify_nats``):

- core NATS (``target.stream is None``): ``ok`` once nats-py accepted the publish into its
  buffer, which is all a fire-and-forget client knows. Nothing is stored: a message the server
  could not hand to a subscriber at that moment is gone, and the checkers call it ``lost``.
- JetStream: ``ok`` with the ``PubAck``'s stream sequence as the position (``partition`` 0,
  ``offset`` = stream sequence, ``queue`` = stream); ``unknown`` on a timeout or a lost
  connection; ``fail`` when the stream refused it or no stream listened.

``retries`` re-publishes an event whose attempt ended ``unknown`` or ``fail``, the same bytes and
headers each time. With ``msg_id`` the event id rides in ``Nats-Msg-Id``, so JetStream drops a
re-publish that arrives inside the stream's duplicate window (its ``PubAck`` says
``duplicate`` and names the first copy's sequence); without it, or outside the window, a retry
of a publish that was in fact stored is stored again (``duplicate_write``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness import clock, events
from harness.drivers._types import EventLike, Recorder
from harness.drivers.nats_target import NatsTarget, connect, ensure_stream
from harness.drivers.outcomes import Outcome, classify_nats, describe
from harness.drivers.rows import SendLog
from harness.errors import UnsafeTargetError

log = logging.getLogger(__name__)

NatsEncode = Callable[[Any, float], tuple[dict[str, str], bytes]]
"""``encode(event, t_sent) -> (headers, payload)`` of one event."""


@dataclass(frozen=True)
class NatsProducerConfig:
    target: NatsTarget
    msg_id: bool = True
    publish_timeout_s: float = 2.0
    retries: int = 0
    retry_backoff_s: float = 0.2
    max_in_flight: int = 512
    name: str = "nats-producer"


def default_nats_encode(msg_id: bool) -> NatsEncode:
    """The CloudEvents headers of ``harness.events``, stamped with ``sent``."""
    offset = clock.wall_offset()

    def encode(event: Any, t_sent: float) -> tuple[dict[str, str], bytes]:
        return events.encode_nats(event._replace(sent=t_sent), offset, msg_id)

    return encode


class NatsProducerDriver:
    """Publishes events to one subject (and stream) and records each outcome."""

    def __init__(
        self,
        config: NatsProducerConfig,
        recorder: Recorder,
        *,
        encode: NatsEncode | None = None,
    ) -> None:
        self.config = config
        self._encode = encode or default_nats_encode(config.msg_id)
        self._log = SendLog(recorder, config.name, "retries", "duplicates", "connections")
        self.counts = self._log.counts
        self.unsafe: UnsafeTargetError | None = None
        self._nc: Any = None
        self._js: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots: asyncio.Semaphore | None = None
        self._closed = False
        self._core: collections.deque[EventLike] = collections.deque()
        self._core_wake = asyncio.Event()
        self._core_idle = asyncio.Event()
        self._core_idle.set()
        self._drainer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect (checked), and for JetStream create or update the stream."""
        target = self.config.target
        self._nc = await connect(target, self.config.name, on_unsafe=self._set_unsafe)
        self.counts["connections"] += 1
        self._slots = asyncio.Semaphore(self.config.max_in_flight)
        if target.jetstream:
            self._js = self._nc.jetstream(timeout=self.config.publish_timeout_s)
            await ensure_stream(self._js, target)
        else:
            self._drainer = asyncio.get_running_loop().create_task(self._drain_core())

    def _set_unsafe(self, error: UnsafeTargetError) -> None:
        self.unsafe = error

    def raise_if_unsafe(self) -> None:
        if self.unsafe is not None:
            raise self.unsafe

    def send(self, event: EventLike) -> None:
        """Start publishing ``event``; never blocks."""
        if self._closed or self._nc is None:
            raise RuntimeError(
                f"Cannot send {event.id!r}: producer {self.config.name!r} is not started or "
                "has been closed; start a new producer to send more."
            )
        if self._js is None:
            self._core.append(event)
            self._core_idle.clear()
            self._core_wake.set()
            return
        task = asyncio.get_running_loop().create_task(self._send(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def in_flight(self) -> int:
        return len(self._tasks) + len(self._core)

    async def _drain_core(self) -> None:
        subject = self.config.target.subject
        while True:
            await self._core_wake.wait()
            self._core_wake.clear()
            while self._core:
                event = self._core.popleft()
                t = clock.now()
                self._log.sent()
                try:
                    headers, payload = self._encode(event, t)
                    await self._nc.publish(subject, payload, headers=headers)
                except asyncio.CancelledError:
                    self._log.record(event, t, Outcome.FAIL, "Not published: producer closed")
                    raise
                except Exception as exc:
                    self._log.record(event, t, classify_nats(exc, jetstream=False), describe(exc))
                    continue
                self._log.record(event, t, Outcome.OK, None, attempt=1)
            self._core_idle.set()

    async def _send(self, event: EventLike) -> None:
        assert self._slots is not None
        t: float | None = None
        try:
            async with self._slots:
                t = clock.now()
                self._log.sent()
                await self._attempts(event, t)
        except asyncio.CancelledError:
            if t is None:  # never reached the client
                self._log.sent()
                self._log.record(event, clock.now(), Outcome.FAIL, "Not published: producer closed")
            raise

    async def _attempts(self, event: EventLike, t: float) -> None:
        try:
            headers, payload = self._encode(event, t)
        except Exception as exc:
            self._log.record(event, t, Outcome.FAIL, describe(exc))
            return
        attempt = 0
        status, error, where = Outcome.UNKNOWN, "not attempted", {}
        try:
            while True:
                attempt += 1
                status, error, where = await self._publish_once(headers, payload)
                if status is Outcome.OK or attempt > self.config.retries or self._closed:
                    break
                self.counts["retries"] += 1
                await asyncio.sleep(self.config.retry_backoff_s)
        except asyncio.CancelledError:
            status, error, where = Outcome.UNKNOWN, describe(asyncio.CancelledError()), {}
            self._log.record(event, t, status, error, attempt=attempt, **where)
            raise
        self._log.record(event, t, status, error, attempt=attempt, **where)

    async def _publish_once(
        self, headers: dict[str, str], payload: bytes
    ) -> tuple[Outcome, str | None, dict[str, Any]]:
        target = self.config.target
        try:
            if self._js is None:
                await self._nc.publish(target.subject, payload, headers=headers)
                return Outcome.OK, None, {}
            ack = await self._js.publish(
                target.subject, payload, timeout=self.config.publish_timeout_s, headers=headers
            )
        except Exception as exc:
            return classify_nats(exc, jetstream=self._js is not None), describe(exc), {}
        if ack.duplicate:
            self.counts["duplicates"] += 1
        return Outcome.OK, None, {"partition": 0, "offset": int(ack.seq), "queue": ack.stream}

    async def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until every handed-over event has an outcome; False if ``timeout_s`` passed."""
        if self._drainer is not None and not self._core_idle.is_set():
            try:
                await asyncio.wait_for(self._core_idle.wait(), timeout_s)
            except TimeoutError:
                return False
        pending = list(self._tasks)
        if pending:
            _done, waiting = await asyncio.wait(pending, timeout=timeout_s)
            if waiting:
                return False
        if self._nc is not None and self._js is None and self._nc.is_connected:
            with contextlib.suppress(Exception):
                await self._nc.flush(timeout=max(1, int(timeout_s)))
        return True

    async def close(self, timeout_s: float = 30.0) -> None:
        """Flush, then close the connection; tasks still running are cancelled and recorded
        ``unknown``. Idempotent."""
        if self._nc is None:
            return
        await self.flush(timeout_s)
        self._closed = True
        drainer, self._drainer = self._drainer, None
        if drainer is not None:
            drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drainer
        while self._core:  # never handed to the client
            event = self._core.popleft()
            self._log.sent()
            self._log.record(event, clock.now(), Outcome.FAIL, "Not published: producer closed")
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        nc, self._nc = self._nc, None
        with contextlib.suppress(Exception):
            await nc.close()

    async def __aenter__(self) -> NatsProducerDriver:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


__all__ = ["NatsEncode", "NatsProducerConfig", "NatsProducerDriver", "default_nats_encode"]
