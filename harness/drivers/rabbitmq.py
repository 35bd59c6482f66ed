"""RabbitMQ publisher driver: pika on its own thread, never blocking the asyncio loop.

``send(event)`` appends the event to a thread-safe deque and wakes the publisher thread, which
runs a pika ``SelectConnection`` ioloop. The thread encodes and publishes (``t`` = the moment
``basic_publish`` is called) and records one ``send`` row per event:

- with publisher confirms: ``ok`` on ``basic.ack``, ``fail`` on ``basic.nack``, ``unknown`` for
  every delivery still unconfirmed when the connection or channel is lost;
- without confirms: ``ok`` as soon as ``basic_publish`` returned, which is all a
  fire-and-forget client ever knows;
- ``fail`` for events handed over while disconnected (nothing was written).

The thread reconnects with backoff for as long as the driver runs. ``close()`` waits for the
queue to drain and the confirms to arrive, then records what is left (queued: ``fail``,
unconfirmed: ``unknown``).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pika
from pika.adapters.select_connection import SelectConnection

from harness import clock, events
from harness.drivers._types import EventLike, Recorder
from harness.drivers.outcomes import Outcome, classify_amqp, describe
from harness.drivers.rabbitmq_topology import AmqpTarget, check_connection, declare_topology
from harness.drivers.rows import SendLog
from harness.errors import StackError, UnsafeTargetError

log = logging.getLogger(__name__)

AmqpEncode = Callable[[Any, float], tuple[dict[str, Any], bytes]]
"""``encode(event, t_sent) -> (properties, body)``: ``pika.BasicProperties`` keyword arguments
(headers, content_type, message_id) and the body of an event."""


@dataclass(frozen=True)
class RabbitPublisherConfig:
    target: AmqpTarget
    confirms: bool = True
    persistent: bool = True
    reconnect_backoff_s: tuple[float, float] = (0.2, 5.0)
    name: str = "rabbitmq-publisher"
    drain_batch: int = 500


def default_amqp_encode() -> AmqpEncode:
    """The CloudEvents AMQP binding of ``harness.events``, stamped with ``sent``."""
    offset = clock.wall_offset()

    def encode(event: Any, t_sent: float) -> tuple[dict[str, Any], bytes]:
        message = events.encode_amqp(event._replace(sent=t_sent), offset)
        return message.properties, message.body

    return encode


class _Pending:
    __slots__ = ("event", "t")

    def __init__(self, event: EventLike, t: float) -> None:
        self.event = event
        self.t = t


class RabbitPublisherDriver:
    """Publishes events to one queue through the default exchange and records each outcome."""

    def __init__(
        self,
        config: RabbitPublisherConfig,
        recorder: Recorder,
        *,
        encode: AmqpEncode | None = None,
    ) -> None:
        self.config = config
        self._encode = encode or default_amqp_encode()
        self._queue: collections.deque[EventLike] = collections.deque()
        self._wake_pending = False
        self._stopping = threading.Event()
        self.unsafe: UnsafeTargetError | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._connection: SelectConnection | None = None
        self._channel: Any = None
        self._unconfirmed: dict[int, _Pending] = {}
        self._next_tag = 1
        self._idle = threading.Condition()
        self._log = SendLog(recorder, config.name, "connections")
        self.counts = self._log.counts
        mode = 2 if config.persistent else 1
        self._base_props = {"delivery_mode": mode}

    async def start(self, timeout_s: float = 15.0) -> None:
        """Declare the topology, start the thread, return once the channel is ready."""
        await declare_topology(self.config.target)
        self._thread = threading.Thread(target=self._run, name=self.config.name, daemon=True)
        self._thread.start()
        ready = await asyncio.to_thread(self._ready.wait, timeout_s)
        if not ready:
            self._stopping.set()
            raise StackError(
                f"RabbitMQ publisher {self.config.name!r} did not get a channel within "
                f"{timeout_s}s from {self.config.target.host}:{self.config.target.port}, so "
                "RabbitMQ is down or unreachable there; check `harness stack status` (or the "
                "URL's host and port) and retry."
            )

    def send(self, event: EventLike) -> None:
        """Hand ``event`` to the publisher thread; never blocks."""
        if self._stopping.is_set():
            raise RuntimeError(
                f"Cannot send {event.id!r}, as publisher {self.config.name!r} has been closed; "
                "start a new publisher to send more."
            )
        self._queue.append(event)
        if not self._wake_pending:
            self._wake_pending = True
            self._wake()

    def _wake(self) -> None:
        connection = self._connection
        if connection is None:
            return
        try:
            connection.ioloop.add_callback_threadsafe(self._drain)
        except Exception:  # the ioloop is closing; the reconnect loop drains the queue
            self._wake_pending = False

    @property
    def in_flight(self) -> int:
        return len(self._queue) + len(self._unconfirmed)

    # --- publisher thread -------------------------------------------------------------------

    def _run(self) -> None:
        low, high = self.config.reconnect_backoff_s
        backoff = low
        while not self._stopping.is_set():
            opened_before = self.counts["connections"]
            self._connect_and_serve()
            self._lose_channel("connection lost")
            if self.counts["connections"] > opened_before:
                backoff = low
            self._fail_queued_for(backoff)
            backoff = min(high, backoff * 2)
        self._fail_queued("publisher closed before sending")

    def _connect_and_serve(self) -> None:
        try:
            self._connection = SelectConnection(
                self.config.target.parameters(),
                on_open_callback=self._on_open,
                on_open_error_callback=lambda _c, err: self._on_closed(_c, err),
                on_close_callback=self._on_closed,
            )
            self._connection.ioloop.start()
        except Exception:
            log.exception("RabbitMQ publisher %s: ioloop failed", self.config.name)
        finally:
            self._connection = None

    def _on_open(self, connection: SelectConnection) -> None:
        try:
            check_connection(connection, f"the publisher {self.config.name!r}")
        except UnsafeTargetError as error:
            log.error("RabbitMQ publisher %s: %s", self.config.name, error)
            self.unsafe = error
            self._stopping.set()
            return
        connection.channel(on_open_callback=self._on_channel)

    def raise_if_unsafe(self) -> None:
        """Raise the ``UnsafeTargetError`` that stopped the publisher, if any."""
        if self.unsafe is not None:
            raise self.unsafe

    def _on_channel(self, channel: Any) -> None:
        channel.add_on_close_callback(self._on_channel_closed)
        if self.config.confirms:
            channel.confirm_delivery(
                ack_nack_callback=self._on_confirm, callback=lambda _f: self._channel_ready(channel)
            )
        else:
            self._channel_ready(channel)

    def _channel_ready(self, channel: Any) -> None:
        self._channel = channel
        self._next_tag = 1
        self.counts["connections"] += 1
        self._ready.set()
        self._drain()

    def _on_channel_closed(self, _channel: Any, reason: Exception) -> None:
        level = logging.DEBUG if self._stopping.is_set() else logging.WARNING
        log.log(level, "RabbitMQ publisher %s: channel closed: %r", self.config.name, reason)
        self._lose_channel(describe(reason))
        if self._connection is not None and self._connection.is_open:
            self._connection.close()

    def _on_closed(self, _connection: Any, reason: Exception) -> None:
        level = logging.DEBUG if self._stopping.is_set() else logging.WARNING
        log.log(level, "RabbitMQ publisher %s: connection closed: %r", self.config.name, reason)
        self._lose_channel(describe(reason))
        _connection.ioloop.stop()

    def _lose_channel(self, why: str) -> None:
        self._channel = None
        lost, self._unconfirmed = self._unconfirmed, {}
        for pending in lost.values():
            self._record(pending, Outcome.UNKNOWN, f"Unconfirmed when the channel was lost: {why}")
        self._notify_idle()

    def _drain(self) -> None:
        self._wake_pending = False
        channel = self._channel
        for _ in range(self.config.drain_batch):
            if not self._queue or channel is None or not channel.is_open:
                break
            self._publish(channel, self._queue.popleft())
        else:
            if self._queue and self._connection is not None:
                # Yield to the ioloop so confirms are read between large bursts.
                self._wake_pending = True
                self._connection.ioloop.call_later(0, self._drain)
                return
        self._notify_idle()

    def _publish(self, channel: Any, event: EventLike) -> None:
        t = clock.now()
        pending = _Pending(event, t)
        self._log.sent()
        try:
            properties, body = self._encode(event, t)
            props = pika.BasicProperties(**{**properties, **self._base_props})
            channel.basic_publish("", self.config.target.queue, body, props)
        except Exception as exc:
            self._record(pending, classify_amqp(exc, written=False), describe(exc))
            return
        if self.config.confirms:
            self._unconfirmed[self._next_tag] = pending
            self._next_tag += 1
        else:
            self._record(pending, Outcome.OK, None)

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        status = Outcome.OK if isinstance(method, pika.spec.Basic.Ack) else Outcome.FAIL
        error = None if status is Outcome.OK else "basic.nack from the broker"
        tags = [method.delivery_tag]
        if method.multiple:  # tags are inserted in increasing order: stop at the first above
            tags = list(
                itertools.takewhile(lambda tag: tag <= method.delivery_tag, self._unconfirmed)
            )
        for tag in tags:
            pending = self._unconfirmed.pop(tag, None)
            if pending is not None:
                self._record(pending, status, error, tag)
        self._notify_idle()

    def _record(
        self, pending: _Pending, status: Outcome, error: str | None, tag: int | None = None
    ) -> None:
        queue = self.config.target.queue
        self._log.record(pending.event, pending.t, status, error, queue=queue, delivery_tag=tag)

    def _fail_queued_for(self, seconds: float) -> None:
        deadline = clock.now() + seconds
        while not self._stopping.is_set() and clock.now() < deadline:
            self._fail_queued("not connected to RabbitMQ")
            self._stopping.wait(0.05)

    def _fail_queued(self, why: str) -> None:
        while self._queue:
            event = self._queue.popleft()
            t = clock.now()
            self._log.sent()
            self._record(_Pending(event, t), Outcome.FAIL, f"Not published: {why}")
        self._wake_pending = False
        self._notify_idle()

    def _notify_idle(self) -> None:
        if not self._queue and not self._unconfirmed:
            with self._idle:
                self._idle.notify_all()

    # --- lifecycle --------------------------------------------------------------------------

    async def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until every handed-over event has an outcome; False if ``timeout_s`` passed."""

        def wait() -> bool:
            with self._idle:
                return self._idle.wait_for(lambda: self.in_flight == 0, timeout_s)

        return await asyncio.to_thread(wait)

    async def close(self, timeout_s: float = 30.0) -> None:
        """Flush, stop the thread, record what is left. Idempotent."""
        if self._thread is None:
            return
        await self.flush(timeout_s)
        self._stopping.set()
        connection = self._connection
        if connection is not None:
            try:
                connection.ioloop.add_callback_threadsafe(self._close_connection)
            except Exception:
                log.debug("RabbitMQ publisher %s: ioloop already closed", self.config.name)
        await asyncio.to_thread(self._thread.join, 15.0)
        self._thread = None

    def _close_connection(self) -> None:
        if self._connection is not None and self._connection.is_open:
            self._connection.close()

    async def __aenter__(self) -> RabbitPublisherDriver:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


__all__ = ["AmqpEncode", "RabbitPublisherConfig", "RabbitPublisherDriver", "default_amqp_encode"]
