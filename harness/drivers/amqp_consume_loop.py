"""One RabbitMQ queue consumed with manual acks on a pika thread of its own, for as long as asked.

pika's blocking connection is not thread-safe and must not run on the event loop, so the loop
owns one thread that connects, runs ``setup`` on a fresh channel (declares), consumes with the
given prefetch and hands every delivery to ``on_message`` (called on that thread, which acks).
A broker fault must not end a reading that the run still needs, so any AMQP or socket error
reconnects after a backoff that doubles up to a ceiling. A peer outside the allow-list ends it
for good: the error is kept and raised on the event loop by ``raise_if_unsafe``.

    loop = AmqpConsumeLoop(target, on_message, name="observe-out", what="output queue 'out'")
    await loop.start()        # returns once the first consume is registered
    ...
    await loop.stop()
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

import pika.exceptions as perr

from harness.drivers.rabbitmq_topology import AmqpTarget, connect_blocking
from harness.errors import StackError, UnsafeTargetError

log = logging.getLogger(__name__)

BACKOFF_S = (0.2, 5.0)
POLL_S = 0.2

OnMessage = Callable[[Any, Any, Any, bytes], None]
"""``(channel, method, properties, body)``, as pika delivers; it must ack."""


class AmqpConsumeLoop:
    """Consumes ``target.queue`` on its own thread, reconnecting until stopped."""

    def __init__(
        self,
        target: AmqpTarget,
        on_message: OnMessage,
        *,
        name: str,
        what: str,
        prefetch: int,
        setup: Callable[[Any], None] | None = None,
    ) -> None:
        self.target = target
        self.what = what
        self.prefetch = prefetch
        self.unsafe: UnsafeTargetError | None = None
        self.disconnects = 0
        self._name = name
        self._on_message = on_message
        self._setup = setup
        self._stopping = threading.Event()
        self._consuming = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    async def start(self, timeout_s: float = 15.0) -> None:
        """Start the thread; return once it consumes, else stop it and raise ``StackError``."""
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        if not await asyncio.to_thread(self._consuming.wait, timeout_s):
            self._stopping.set()
            self.raise_if_unsafe()
            raise StackError(
                f"Could not start consuming the {self.what} within {timeout_s:.0f}s. "
                "Is RabbitMQ up (`harness stack status`)?"
            )

    def raise_if_unsafe(self) -> None:
        if self.unsafe is not None:
            raise self.unsafe

    async def stop(self, timeout_s: float = 15.0) -> None:
        """Stop consuming and join the thread. Idempotent."""
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.join, timeout_s)

    def _run(self) -> None:
        low, high = BACKOFF_S
        backoff = low
        while not self._stopping.is_set():
            try:
                self._consume_once()
                backoff = low
            except UnsafeTargetError as exc:
                log.error("Consuming the %s: %s", self.what, exc)
                self.unsafe = exc
                return
            except (perr.AMQPError, OSError) as exc:
                self.disconnects += 1
                log.warning("Consuming the %s failed: %r; reconnecting", self.what, exc)
            finally:
                self._consuming.clear()
            self._stopping.wait(backoff)
            backoff = min(high, backoff * 2)

    def _consume_once(self) -> None:
        connection = connect_blocking(self.target)
        try:
            channel = connection.channel()
            if self._setup is not None:
                self._setup(channel)
            channel.basic_qos(prefetch_count=self.prefetch)
            channel.basic_consume(self.target.queue, self._on_message, auto_ack=False)
            self._consuming.set()
            while not self._stopping.is_set():
                connection.process_data_events(time_limit=POLL_S)
        finally:
            if connection.is_open:
                try:
                    connection.close()
                except Exception:
                    log.debug("closing the connection of the %s failed", self.what)


__all__ = ["AmqpConsumeLoop"]
