"""The harness's own Pub/Sub consumer: unary pulls on a worker thread, ack after the effect.

Pulls run on threads (``asyncio.to_thread``: the Google client blocks) while one worker task
handles what was pulled, in pull order, keeping up to ``batch`` messages in hand. For every
delivery it records ``recv`` with the Pub/Sub message id as the position (``msg_id``, and
``partition`` 0 / ``offset`` = the id when numeric), the subscription as ``queue`` and the
delivery attempt when the subscription reports one. A poison message (payload fails
validation) is acked and recorded ``dead_letter``; any other message gets its effect
(``harness.drivers.effects``), then its ack. Acks are sent in batches by one task (every
``ack_interval_s``, one ``acknowledge`` call for all that are due), so the worker never waits
for an ack's round trip.

Unary pulls never extend a message's lease (the streaming client's lease manager would):
a message still in hand when the subscription's ack deadline passes is delivered again
(``duplicate_delivery``), and the first copy's late ack is void. A ``correct`` consumer skips
the effect of an id it applied already; a ``buggy`` one applies it twice
(``duplicate_effect``). ``process_ms`` is the time spent on each message before its effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import clock, events
from harness.drivers._types import EffectMode, EffectStore, Recorder
from harness.drivers.effects import EffectApplier, validate
from harness.drivers.pubsub import position
from harness.drivers.pubsub_target import PubsubTarget, ensure_topology, subscriber_client

log = logging.getLogger(__name__)


def decode_pubsub_message(attributes: Any, data: bytes) -> events.DecodedEvent:
    """Decode a Pub/Sub message's attributes and data and validate it; raises for poison."""
    return validate(events.decode_nats(dict(attributes or {}), data))


@dataclass(frozen=True)
class PubsubConsumerConfig:
    target: PubsubTarget
    mode: EffectMode = EffectMode.CORRECT
    batch: int = 100
    pull_timeout_s: float = 2.0
    ack_interval_s: float = 0.05
    process_ms: float = 0.0
    effect_store: Path | None = None
    name: str = "pubsub-consumer"


class PubsubConsumerDriver:
    """Consumes one subscription by pulling, recording every op."""

    def __init__(self, config: PubsubConsumerConfig, recorder: Recorder) -> None:
        self.config = config
        self._recorder = recorder
        self._effects = EffectApplier(
            recorder, config.mode, EffectStore(config.effect_store), consumer=config.name
        )
        self._client: Any = None
        self._task: asyncio.Task[None] | None = None
        self._acker: asyncio.Task[None] | None = None
        self._due: list[str] = []
        self._stopping = asyncio.Event()
        self.counts = {"received": 0, "dead_lettered": 0, "pull_errors": 0, "ack_errors": 0}

    async def start(self) -> None:
        """Create the topic and subscription (idempotent), then start pulling."""
        await ensure_topology(self.config.target)
        self._client = await asyncio.to_thread(subscriber_client, self.config.target)
        self._stopping.clear()
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._pull_loop())
        self._acker = loop.create_task(self._ack_loop())

    async def _pull_loop(self) -> None:
        inbox: asyncio.Queue[Any] = asyncio.Queue()
        worker = asyncio.get_running_loop().create_task(self._work(inbox))
        try:
            while not self._stopping.is_set():
                room = self.config.batch - inbox.qsize()
                if room <= 0:
                    await asyncio.sleep(0.02)
                    continue
                try:
                    received = await asyncio.to_thread(self._pull, room)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # reset, emulator down: pull again shortly
                    self.counts["pull_errors"] += 1
                    log.debug("Pub/Sub consumer %s: pull failed: %r", self.config.name, exc)
                    await asyncio.sleep(0.2)
                    continue
                for message in received:
                    inbox.put_nowait(message)
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    def _pull(self, room: int) -> list[Any]:
        from google.api_core import exceptions as gexc

        try:
            reply = self._client.pull(
                request={"subscription": self.config.target.subscription_path,
                         "max_messages": room},
                timeout=self.config.pull_timeout_s,
                retry=None,
            )  # fmt: skip
        except gexc.DeadlineExceeded:
            return []
        return list(reply.received_messages)

    async def _work(self, inbox: asyncio.Queue[Any]) -> None:
        while True:
            received = await inbox.get()
            message = received.message
            where = {
                "queue": self.config.target.subscription,
                **position(str(message.message_id)),
                "worker": self.config.name,
            }
            attempt = int(getattr(received, "delivery_attempt", 0) or 0)
            if attempt:
                where.update(attempt=attempt, redelivered=attempt > 1)
            await self._handle(received.ack_id, message, where)

    async def _handle(self, ack_id: str, message: Any, where: dict[str, Any]) -> None:
        self.counts["received"] += 1
        attributes = dict(message.attributes)
        try:
            event = decode_pubsub_message(attributes, bytes(message.data))
        except Exception as exc:
            identity = message_identity(attributes, getattr(exc, "event", None))
            self._record("recv", identity, where)
            await self._ack(ack_id)
            self._record(
                "dead_letter", identity, {**where, "reason": f"{type(exc).__name__}: {exc}"}
            )
            self.counts["dead_lettered"] += 1
            return
        self._record("recv", message_identity(attributes, event), where)
        if self.config.process_ms > 0:
            await asyncio.sleep(self.config.process_ms / 1000.0)
        self._effects.apply(event, where)
        await self._ack(ack_id)

    async def _ack(self, ack_id: str) -> None:
        self._due.append(ack_id)

    async def _ack_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.ack_interval_s)
            await self._send_acks()

    async def _send_acks(self) -> None:
        due, self._due = self._due, []
        if not due or self._client is None:
            return
        request = {"subscription": self.config.target.subscription_path, "ack_ids": due}
        try:  # a lost ack means a redelivery, as it should
            await asyncio.to_thread(self._client.acknowledge, request=request, timeout=5.0)
        except Exception as exc:
            self.counts["ack_errors"] += 1
            log.debug("Pub/Sub consumer %s: ack failed: %r", self.config.name, exc)

    def _record(self, op: str, identity: dict[str, Any], where: dict[str, Any]) -> None:
        row = {"op": op, "t": clock.now(), "consumer": self.config.name, **identity, **where}
        self._recorder.append(row)

    async def crash(self) -> None:
        """Stop at once without acking what is in hand (redelivered after the deadline)."""
        await self._stop()

    async def restart(self) -> None:
        await self.start()

    async def _stop(self) -> None:
        self._stopping.set()
        for task in (self._task, self._acker):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._task = self._acker = None
        await self._send_acks()
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(client.close)

    async def close(self, timeout_s: float = 15.0) -> None:
        """Stop pulling and close the client. Idempotent."""
        await self._stop()
        self._effects.store.close()

    def stats(self) -> dict[str, int]:
        return {
            **self.counts,
            "effects": self._effects.applied,
            "effects_skipped": self._effects.skipped,
        }

    async def __aenter__(self) -> PubsubConsumerDriver:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def message_identity(attributes: dict[str, str], event: Any) -> dict[str, Any]:
    """The event fields of a recv row: the decoded event's, or the raw `ce-id` of a poison."""
    if event is not None:
        return {"id": event.id, "key": event.key, "seq": event.seq}
    event_id = attributes.get("ce-id")
    return {"id": event_id if isinstance(event_id, str) else None}


__all__ = [
    "PubsubConsumerConfig",
    "PubsubConsumerDriver",
    "decode_pubsub_message",
    "message_identity",
]
