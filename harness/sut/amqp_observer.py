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
import logging
import secrets
import threading
from typing import Any

import pika
import pika.exceptions as perr

from harness import clock
from harness.drivers import AmqpTarget, Recorder, declare_topology
from harness.drivers.rabbitmq_topology import connect_blocking, declare
from harness.errors import StackError, UnsafeTargetError
from harness.sut.observer import ReportTally

log = logging.getLogger(__name__)

MARKER_HEADER = "x-harness-marker"
"""A message with this header is the harness's own catch-up marker, not a report."""


class AmqpReportObserver:
    """Follows a report queue into a ``ReportTally``."""

    def __init__(self, target: AmqpTarget, recorder: Recorder, prefetch: int = 500) -> None:
        self.target = target
        self.prefetch = prefetch
        self.tally = ReportTally(recorder)
        self.unsafe: UnsafeTargetError | None = None
        self._taken: set[bytes] = set()
        self._markers: set[str] = set()
        self._stopping = threading.Event()
        self._consuming = threading.Event()
        self._thread: threading.Thread | None = None

    async def start(self, timeout_s: float = 15.0) -> None:
        """Declare the report queue, start reading it; return once the observer consumes."""
        await declare_topology(self.target)
        self._thread = threading.Thread(target=self._run, name="harness-sut-observer", daemon=True)
        self._thread.start()
        if not await asyncio.to_thread(self._consuming.wait, timeout_s):
            self._stopping.set()
            self.raise_if_unsafe()
            raise StackError(
                f"The report observer could not consume {self.target.queue!r} within "
                f"{timeout_s:.0f}s; is RabbitMQ up (`harness stack status`)?"
            )

    def raise_if_unsafe(self) -> None:
        if self.unsafe is not None:
            raise self.unsafe

    def _run(self) -> None:
        backoff = 0.2
        while not self._stopping.is_set():
            try:
                self._consume_once()
                backoff = 0.2
            except UnsafeTargetError as error:
                log.error("The report observer: %s", error)
                self.unsafe = error
                return
            except (perr.AMQPError, OSError) as error:
                log.warning("Reading the report queue %s failed: %r", self.target.queue, error)
            self._stopping.wait(backoff)
            backoff = min(5.0, backoff * 2)

    def _consume_once(self) -> None:
        connection = connect_blocking(self.target)
        try:
            channel = connection.channel()
            declare(channel, self.target)
            channel.basic_qos(prefetch_count=self.prefetch)
            channel.basic_consume(self.target.queue, self._on_message, auto_ack=False)
            self._consuming.set()
            while not self._stopping.is_set():
                connection.process_data_events(time_limit=0.2)
        finally:
            if connection.is_open:
                try:
                    connection.close()
                except Exception:
                    log.debug("The report observer: close failed")

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
        if self._thread is None:
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
        if self._thread is None:
            return
        self._stopping.set()
        await asyncio.to_thread(self._thread.join, 15.0)
        self._thread = None

    @property
    def counts(self) -> dict[str, Any]:
        return self.tally.counts


__all__ = ["MARKER_HEADER", "AmqpReportObserver"]
