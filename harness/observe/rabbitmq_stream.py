"""Follow a RabbitMQ queue a service writes to, handing every message on (pika, its own thread).

The reader declares the queue (durable) before the service starts, so nothing the service
publishes to it is dropped for want of a queue, then consumes it with manual acks: a message
is acked only once it has been handed on, so a dropped connection redelivers it rather than
losing it. A redelivery of a message already handed on (its ack was lost with the connection)
is not handed on again: the reader keeps fingerprints of the last messages it took, and a
message marked ``redelivered`` that matches one is only acked (``stats()["redelivered_skipped"]``).
Only the broker marks a message ``redelivered``, never a service publishing twice, so a
service's duplicate output is always taken. The thread reconnects with backoff for as long as the reader runs (a
RabbitMQ fault must not end the observation).

``catch_up`` waits until the queue is empty (asked on a connection of its own) and nothing
arrived for ``QUIET_S``: a queue has no end offset to catch up to.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

import pika.exceptions as perr

from harness import clock
from harness.drivers.amqp_consume_loop import AmqpConsumeLoop
from harness.drivers.rabbitmq_topology import AmqpTarget, connect_blocking
from harness.errors import StackError, UnsafeTargetError
from harness.observe.streams import StreamMessage, amqp_death_reason, amqp_headers

QUIET_S = 0.5
PREFETCH = 500
UNSETTLED = 2 * PREFETCH


def fingerprint(message: StreamMessage) -> int:
    """Tells a redelivery of a message from another message (in this process only)."""
    return hash((message.body, tuple(sorted((k, str(v)) for k, v in message.headers.items()))))


def to_message(queue: str, method: Any, props: Any, body: bytes, t: float) -> StreamMessage:
    """A ``StreamMessage`` of one pika delivery."""
    headers = getattr(props, "headers", None)
    reason = amqp_death_reason(headers)
    return StreamMessage(
        headers=amqp_headers(headers),
        body=body,
        t=t,
        queue=queue,
        extra={"redelivered": bool(method.redelivered), **({"reason": reason} if reason else {})},
    )


class RabbitQueueReader:
    """Every message of one queue, as it arrives, to ``take`` (called on the reader's thread)."""

    def __init__(
        self,
        target: AmqpTarget,
        take: Callable[[StreamMessage], object],
        *,
        what: str,
    ) -> None:
        self.target = target
        self.what = what
        self._take = take
        self._last_message = clock.now()
        self.redelivered_skipped = 0
        self._taken: deque[int] = deque()
        self._taken_count: Counter[int] = Counter()
        self._loop = AmqpConsumeLoop(
            target,
            self._on_message,
            name=f"observe-{target.queue}",
            what=f"{what} {target.queue!r}",
            prefetch=PREFETCH,
            setup=lambda channel: channel.queue_declare(target.queue, durable=target.durable),
        )

    @property
    def queue(self) -> str:
        return self.target.queue

    @property
    def unsafe(self) -> UnsafeTargetError | None:
        return self._loop.unsafe

    @property
    def disconnects(self) -> int:
        return self._loop.disconnects

    async def start(self, timeout_s: float = 15.0) -> None:
        """Declare the queue, start the thread, return once it consumes."""
        await asyncio.to_thread(self._declare)
        await self._loop.start(timeout_s)

    def _declare(self) -> None:
        try:
            connection = connect_blocking(self.target)
        except perr.AMQPConnectionError as exc:
            raise StackError(
                f"Cannot reach RabbitMQ at {self.target.host}:{self.target.port} to declare the "
                f"{self.what} {self.queue!r}: {exc!r}. Is the stack up (`harness stack up`)?"
            ) from exc
        try:
            connection.channel().queue_declare(self.queue, durable=self.target.durable)
        except perr.ChannelClosedByBroker as exc:
            raise StackError(
                f"RabbitMQ refused to declare the {self.what} {self.queue!r}: {exc.reply_text}. "
                "A queue of that name with other arguments exists; delete it, or name the "
                "queue the service declares the same way."
            ) from exc
        finally:
            if connection.is_open:
                connection.close()

    def raise_if_unsafe(self) -> None:
        self._loop.raise_if_unsafe()

    def _on_message(self, channel: Any, method: Any, props: Any, body: bytes) -> None:
        self._last_message = clock.now()
        message = to_message(self.queue, method, props, body, self._last_message)
        mark = fingerprint(message)
        if method.redelivered and self._taken_count[mark] > 0:
            self._taken_count[mark] -= 1  # taken before its ack was lost: not a second output
            self.redelivered_skipped += 1
        else:
            self._take(message)
            self._remember(mark)
        channel.basic_ack(method.delivery_tag)

    def _remember(self, mark: int) -> None:
        """Keep the fingerprints of the last ``UNSETTLED`` messages taken: at most ``PREFETCH``
        can be unacked when a connection drops, so only those can come back."""
        self._taken.append(mark)
        self._taken_count[mark] += 1
        if len(self._taken) > UNSETTLED:
            old = self._taken.popleft()
            self._taken_count[old] -= 1
            if self._taken_count[old] <= 0:
                del self._taken_count[old]

    async def catch_up(self, timeout_s: float) -> bool:
        """Wait until the queue is empty and quiet; False after ``timeout_s``."""
        deadline = clock.now() + timeout_s
        while clock.now() < deadline:
            self.raise_if_unsafe()
            try:
                waiting = await asyncio.wait_for(asyncio.to_thread(self._depth), 5.0)
            except (TimeoutError, perr.AMQPError, OSError):
                waiting = -1  # RabbitMQ unreachable right now: not caught up
            if waiting == 0 and clock.now() - self._last_message >= QUIET_S:
                return True
            await asyncio.sleep(0.1)
        return False

    def _depth(self) -> int:
        """Messages ready in the queue (not counting those delivered to the reader)."""
        connection = connect_blocking(self.target)
        try:
            declared = connection.channel().queue_declare(self.queue, passive=True)
            return int(declared.method.message_count)
        finally:
            if connection.is_open:
                connection.close()

    async def stop(self, timeout_s: float = 15.0) -> None:
        """Stop consuming and join the thread. Idempotent."""
        await self._loop.stop(timeout_s)

    async def delete(self) -> None:
        """Delete the queue (a missing queue is fine)."""
        await asyncio.to_thread(self._delete)

    def _delete(self) -> None:
        connection = connect_blocking(self.target)
        try:
            connection.channel().queue_delete(self.queue)
        finally:
            if connection.is_open:
                connection.close()


__all__ = ["RabbitQueueReader", "fingerprint", "to_message"]
