"""Pub/Sub producer driver (google-cloud-pubsub's ``PublisherClient``, threaded).

``send(event)`` never blocks: the client's ``publish`` only appends the message to a batch
that the client's own threads send; its future's result comes back on one of those threads
and is handed to the event loop (``call_soon_threadsafe``), where the event's one ``send``
row is recorded (``harness.drivers.outcomes.classify_pubsub``):

- ``ok`` with the server's message id as the position (``msg_id``; ``partition`` 0 and
  ``offset`` = the id when it is numeric, as the emulator's and Google's are), so a publish
  stored twice shows as one event id at two positions (``duplicate_write``);
- ``unknown`` when the client gave up retrying (a reset, an unavailable server);
- ``fail`` when the server or the client refused it.

With ``ordering`` every event carries its key as the Pub/Sub ordering key: the client sends
one batch per key at a time and retries it before the next, so a subscription with message
ordering delivers each key in publish order. Without it, batches are sent concurrently and
retried independently: a batch that is retried after a reset lands behind later ones
(``out_of_order``). After a failed publish of an ordering key the client pauses that key;
the driver resumes it, so later events of the key are published again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness import clock, events
from harness.drivers._types import EventLike, Recorder
from harness.drivers.outcomes import Outcome, classify_pubsub, describe
from harness.drivers.pubsub_target import PubsubTarget, ensure_topology, publisher_client
from harness.drivers.rows import SendLog

log = logging.getLogger(__name__)

PubsubEncode = Callable[[Any, float], tuple[dict[str, str], bytes]]
"""``encode(event, t_sent) -> (attributes, data)`` of one event."""


@dataclass(frozen=True)
class PubsubProducerConfig:
    target: PubsubTarget
    publish_timeout_s: float = 30.0
    max_latency_s: float = 0.005
    max_messages: int = 100
    name: str = "pubsub-producer"


def default_pubsub_encode() -> PubsubEncode:
    """The CloudEvents ``ce-`` attributes of ``harness.events`` (the NATS header names), stamped
    with ``sent``."""
    offset = clock.wall_offset()

    def encode(event: Any, t_sent: float) -> tuple[dict[str, str], bytes]:
        return events.encode_nats(event._replace(sent=t_sent), offset, False)

    return encode


def position(message_id: str) -> dict[str, Any]:
    """The history position of a Pub/Sub message id."""
    where: dict[str, Any] = {"msg_id": message_id}
    if message_id.isdigit() and int(message_id) < 2**63:
        where.update(partition=0, offset=int(message_id))
    return where


class PubsubProducerDriver:
    """Publishes events to one topic and records each outcome."""

    def __init__(
        self,
        config: PubsubProducerConfig,
        recorder: Recorder,
        *,
        encode: PubsubEncode | None = None,
    ) -> None:
        self.config = config
        self._encode = encode or default_pubsub_encode()
        self._log = SendLog(recorder, config.name, "resumed")
        self.counts = self._log.counts
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._held: dict[int, tuple[EventLike, float]] = {}
        self._closed = False

    async def start(self) -> None:
        """Create the topic and subscription (idempotent) and the publisher."""
        from google.api_core import retry as gretry
        from google.cloud import pubsub_v1

        target = self.config.target
        await ensure_topology(target)
        self._loop = asyncio.get_running_loop()
        batch = pubsub_v1.types.BatchSettings(
            max_latency=self.config.max_latency_s, max_messages=self.config.max_messages
        )
        options = pubsub_v1.types.PublisherOptions(
            enable_message_ordering=target.ordering,
            retry=gretry.Retry(
                initial=0.05, maximum=1.0, multiplier=2.0, timeout=self.config.publish_timeout_s
            ),
            timeout=self.config.publish_timeout_s,
        )
        self._client = await asyncio.to_thread(
            publisher_client, target, batch_settings=batch, publisher_options=options
        )

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def send(self, event: EventLike) -> None:
        """Hand ``event`` to the client's batcher; never blocks on the network."""
        if self._closed or self._client is None or self._loop is None:
            raise RuntimeError(
                f"Cannot send {event.id!r}: producer {self.config.name!r} is not started or "
                "has been closed; start a new producer to send more."
            )
        t = clock.now()
        self._log.sent()
        try:
            attributes, data = self._encode(event, t)
            key = event.key if self.config.target.ordering else ""
            future = self._client.publish(
                self.config.target.topic_path, data, ordering_key=key or "", **attributes
            )
        except Exception as exc:
            self._log.record(event, t, classify_pubsub(exc), describe(exc))
            return
        waiter = self._loop.create_future()
        token = id(waiter)
        self._pending[token] = waiter
        self._held[token] = (event, t)
        loop = self._loop

        def done(f: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed: the row is lost anyway
                loop.call_soon_threadsafe(self._settle, token, event, t, f)

        future.add_done_callback(done)

    def _settle(self, token: int, event: EventLike, t: float, future: Any) -> None:
        waiter = self._pending.pop(token, None)
        if self._held.pop(token, None) is None:
            return  # already recorded when the producer closed
        try:
            message_id = future.result(timeout=0)
        except Exception as exc:
            self._log.record(event, t, classify_pubsub(exc), describe(exc), attempt=1)
            if self.config.target.ordering and event.key:
                self.counts["resumed"] += 1
                with contextlib.suppress(Exception):
                    self._client.resume_publish(self.config.target.topic_path, event.key)
        else:
            self._log.record(event, t, Outcome.OK, None, attempt=1, **position(str(message_id)))
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until every handed-over event has an outcome; False if ``timeout_s`` passed."""
        pending = list(self._pending.values())
        if not pending:
            return True
        _done, waiting = await asyncio.wait(pending, timeout=timeout_s)
        return not waiting

    async def close(self, timeout_s: float = 30.0) -> None:
        """Flush, then stop the client (its threads finish what they hold). Idempotent."""
        if self._client is None:
            return
        await self.flush(timeout_s)
        self._closed = True
        client, self._client = self._client, None
        with contextlib.suppress(Exception):
            await asyncio.to_thread(client.stop)
        await asyncio.sleep(0)  # let callbacks scheduled by stop() run
        for token, (event, t) in list(self._held.items()):
            self._held.pop(token, None)
            self._log.record(event, t, Outcome.UNKNOWN, "closed with the publish in flight")
            waiter = self._pending.pop(token, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    async def __aenter__(self) -> PubsubProducerDriver:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


__all__ = ["PubsubEncode", "PubsubProducerConfig", "PubsubProducerDriver", "position"]
