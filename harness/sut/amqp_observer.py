"""The observer of a RabbitMQ system under test: reads its report queue into the history.

A RabbitMQ service reports to a durable queue (``HARNESS_REPORT_QUEUE``) instead of a Kafka
topic, so a stack without Kafka brokers can test it. The observer consumes the queue on its own
pika thread (reconnecting with backoff, as the brokers' faults reach it too), acks each report
once its row is recorded, and feeds ``ReportTally``. A report redelivered after a lost
connection is taken once: besides the tally's ``rid``, the bodies already taken are remembered.

``catch_up`` publishes a marker message to the report queue and waits until the observer has
read it: the queue is FIFO with one consumer, so every report confirmed before the marker has
been taken by then.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from typing import Any

import pika

from harness import clock
from harness.drivers import AmqpTarget, Recorder, declare_topology
from harness.drivers.amqp_consume_loop import AmqpConsumeLoop
from harness.drivers.rabbitmq_topology import connect_blocking, declare
from harness.errors import UnsafeTargetError
from harness.sut.observer import ReportTally

MARKER_HEADER = "x-harness-marker"
"""A message with this header is the harness's own catch-up marker, not a report."""


class AmqpReportObserver:
    """Follows a report queue into a ``ReportTally``."""

    def __init__(self, target: AmqpTarget, recorder: Recorder, prefetch: int = 500) -> None:
        self.target = target
        self.prefetch = prefetch
        self.tally = ReportTally(recorder)
        self._taken: set[bytes] = set()
        self._markers: set[str] = set()
        self._loop = AmqpConsumeLoop(
            target,
            self._on_message,
            name="harness-sut-observer",
            what=f"report queue {target.queue!r}",
            prefetch=prefetch,
            setup=lambda channel: declare(channel, target),
        )

    @property
    def unsafe(self) -> UnsafeTargetError | None:
        return self._loop.unsafe

    async def start(self, timeout_s: float = 15.0) -> None:
        """Declare the report queue, start reading it; return once the observer consumes."""
        await declare_topology(self.target)
        await self._loop.start(timeout_s)

    def raise_if_unsafe(self) -> None:
        self._loop.raise_if_unsafe()

    def _on_message(self, channel: Any, method: Any, props: Any, body: bytes) -> None:
        marker = (props.headers or {}).get(MARKER_HEADER)
        if marker is not None:
            self._markers.add(str(marker))
        else:
            digest = hashlib.blake2b(body, digest_size=16).digest()
            if method.redelivered and digest in self._taken:
                self.tally.counts["repeated_reports"] += 1  # taken before the connection broke
            else:
                self._taken.add(digest)
                self.tally.take(body)
        channel.basic_ack(method.delivery_tag)

    async def catch_up(self, timeout_s: float) -> bool:
        """Wait until every report confirmed so far has been taken; False after ``timeout_s``."""
        if not self._loop.running:
            return True
        token = secrets.token_hex(8)
        deadline = clock.now() + timeout_s
        await asyncio.wait_for(asyncio.to_thread(self._publish_marker, token), timeout_s)
        while clock.now() < deadline:
            if token in self._markers:
                return True
            await asyncio.sleep(0.05)
        return False

    def _publish_marker(self, token: str) -> None:
        connection = connect_blocking(self.target)
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            props = pika.BasicProperties(headers={MARKER_HEADER: token}, delivery_mode=2)
            channel.basic_publish("", self.target.queue, b"", props)
        finally:
            if connection.is_open:
                connection.close()

    async def stop(self) -> None:
        """Stop reading. Idempotent."""
        await self._loop.stop()

    @property
    def counts(self) -> dict[str, Any]:
        return self.tally.counts


__all__ = ["MARKER_HEADER", "AmqpReportObserver"]
