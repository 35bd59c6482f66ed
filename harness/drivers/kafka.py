"""Kafka producer driver over aiokafka: queue without blocking, record each send once.

``send(event)`` returns at once: it picks the event's partition (aiokafka's default
partitioner over the key, so the choice is the one aiokafka would make) and appends the event
to that partition's queue. One pump task per partition hands its events, in order, to
``AIOKafkaProducer.send()`` (which returns a delivery future once the record is in a batch, and
waits only while that partition's batch is full), and the future's callback appends the one
``send`` row of that event with its outcome: acknowledged partition and offset and ``t_ack``,
or ``fail``/``unknown`` as ``harness.drivers.outcomes`` decides.

One pump per partition, not a task per event: aiokafka's ``add_message`` charges every waiter
the cumulative wait of each retry round, so thousands of concurrent ``send()`` calls on one full
partition fail with ``KafkaTimeoutError`` within a second; sequential hand-over per partition is
also what keeps per-key order. Not one pump for all: a partition whose leader is slow or gone
would then stall every other partition behind it, and the storm would measure the driver.

``t`` is the moment the record is handed to aiokafka, ``t_ack`` the moment its future resolved.
A send still unresolved after ``delivery_timeout_s`` or at ``close()`` is recorded ``unknown``
(it may still be written later; the driver no longer waits for it).

Example::

    driver = KafkaProducerDriver(KafkaProducerConfig("127.0.0.1:9091", "orders"), writer)
    await driver.start()
    driver.send(event)
    await driver.close()
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from harness import clock, events
from harness.drivers._types import EventLike, Recorder
from harness.drivers.kafka_guard import KafkaGuard, guard
from harness.drivers.outcomes import Outcome, Stage, classify_kafka, describe
from harness.drivers.rows import SendLog
from harness.errors import ConfigError, HarnessError, StackError
from harness.safety import check_addresses

log = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]
KafkaEncode = Callable[[Any, float], tuple[bytes | None, bytes, Headers]]
"""``encode(event, t_sent) -> (key, value, headers)``, the Kafka binding of an event."""


@dataclass(frozen=True)
class KafkaProducerConfig:
    """Producer guarantees and limits.

    aiokafka has no ``retries`` count: it retries retriable errors until a batch is older than
    ``request_timeout_ms`` (idempotent producers retry without that limit). ``delivery_timeout_s``
    is the driver's own cap after which a send is recorded ``unknown``.
    """

    bootstrap: str
    topic: str
    acks: int | str = "all"
    enable_idempotence: bool = False
    linger_ms: int = 0
    request_timeout_ms: int = 30_000
    delivery_timeout_s: float | None = 120.0
    retry_backoff_ms: int = 100
    max_batch_size: int = 16_384
    client_id: str = "harness-producer"

    def __post_init__(self) -> None:
        if self.acks not in (0, 1, "all", -1):
            raise ConfigError(
                f"acks={self.acks!r} is not one of 0, 1, 'all'. Set acks to one of those."
            )
        if self.enable_idempotence and self.acks not in ("all", -1):
            raise ConfigError(
                f"enable_idempotence needs acks='all', got acks={self.acks!r}; set acks to 'all'."
            )
        check_addresses(self.bootstrap)

    def client_kwargs(self) -> dict[str, Any]:
        return {
            "bootstrap_servers": self.bootstrap,
            "acks": self.acks,
            "enable_idempotence": self.enable_idempotence,
            "linger_ms": self.linger_ms,
            "request_timeout_ms": self.request_timeout_ms,
            "retry_backoff_ms": self.retry_backoff_ms,
            "max_batch_size": self.max_batch_size,
            "client_id": self.client_id,
        }


class _Pending:
    """One send between hand-over and outcome."""

    __slots__ = ("event", "t", "done")

    def __init__(self, event: EventLike, t: float) -> None:
        self.event = event
        self.t = t
        self.done = False


def default_kafka_encode() -> KafkaEncode:
    """The CloudEvents binary-mode Kafka binding of ``harness.events``, stamped with ``sent``."""
    offset = clock.wall_offset()

    def encode(event: Any, t_sent: float) -> tuple[bytes | None, bytes, Headers]:
        return events.encode_kafka(event._replace(sent=t_sent), offset)

    return encode


class KafkaProducerDriver:
    """Produces events with aiokafka and records one ``send`` row per event."""

    def __init__(
        self,
        config: KafkaProducerConfig,
        recorder: Recorder,
        *,
        name: str = "kafka-producer",
        encode: KafkaEncode | None = None,
    ) -> None:
        self.config = config
        self.name = name
        self._recorder = recorder
        self._encode = encode or default_kafka_encode()
        self._producer: AIOKafkaProducer | None = None
        self._pending: dict[int, _Pending] = {}
        self._next = 0
        self._partitions: list[int] = []
        self._partitioner = DefaultPartitioner()
        self._round_robin = 0
        self._queues: dict[int, collections.deque[EventLike]] = {}
        self._wakeups: dict[int, asyncio.Event] = {}
        self._pumps: list[asyncio.Task[None]] = []
        self._sweeper: asyncio.Task[None] | None = None
        self._closed = False
        self._guard: KafkaGuard | None = None
        self._log = SendLog(recorder, name)
        self.counts = self._log.counts

    async def start(self) -> None:
        """Connect to the cluster; raise ``StackError``-worthy aiokafka errors as they come."""
        self._producer = AIOKafkaProducer(**self.config.client_kwargs())
        self._guard = guard(self._producer.client, f"the producer {self.name!r}")
        await self._producer.start()
        try:
            self.raise_if_unsafe()
            found = await self._producer.partitions_for(self.config.topic)
            self.raise_if_unsafe()
        except Exception as exc:
            await self._producer.stop()
            if isinstance(exc, HarnessError):
                raise
            raise StackError(
                f"Cannot produce to {self.config.topic!r}: its partitions are unknown ({exc!r}). "
                "Does the topic exist? Check the brokers with `harness stack status`."
            ) from exc
        self._partitions = sorted(found)
        loop = asyncio.get_running_loop()
        if self.config.delivery_timeout_s is not None:
            self._sweeper = loop.create_task(self._sweep())
        for partition in self._partitions:
            self._queues[partition] = collections.deque()
            self._wakeups[partition] = asyncio.Event()
            self._pumps.append(loop.create_task(self._run_pump(partition)))

    def raise_if_unsafe(self) -> None:
        """Raise ``UnsafeTargetError`` if Kafka advertised, or the client reached, a broker
        off loopback (the client was kept from using it)."""
        if self._guard is not None:
            self._guard.raise_if_unsafe()

    def send(self, event: EventLike) -> None:
        """Hand ``event`` over; never blocks. The outcome is recorded when it is known."""
        if self._producer is None or self._closed:
            raise RuntimeError(
                f"Cannot send {event.id!r}: the producer {self.name!r} is not running."
            )
        partition = self._partition_of(event.key)
        self._queues[partition].append(event)
        wakeup = self._wakeups[partition]
        if not wakeup.is_set():
            wakeup.set()

    def _partition_of(self, key: str | None) -> int:
        if key:
            return self._partitioner(key.encode(), self._partitions, self._partitions)
        self._round_robin += 1
        return self._partitions[self._round_robin % len(self._partitions)]

    @property
    def queued(self) -> int:
        """Sends not yet handed to aiokafka."""
        return sum(len(q) for q in self._queues.values())

    @property
    def in_flight(self) -> int:
        """Sends handed over whose outcome is not yet recorded."""
        return len(self._pending) + self.queued

    async def _run_pump(self, partition: int) -> None:
        queue, wakeup = self._queues[partition], self._wakeups[partition]
        while True:
            await wakeup.wait()
            wakeup.clear()
            handed = 0
            while queue:
                await self._send(queue.popleft(), partition)
                handed += 1
                if handed % 256 == 0:  # let the pacer and aiokafka's sender run
                    await asyncio.sleep(0)

    async def _send(self, event: EventLike, partition: int) -> None:
        assert self._producer is not None
        handle = self._next
        self._next += 1
        t = clock.now()
        pending = _Pending(event, t)
        self._pending[handle] = pending
        self.counts["sent"] += 1
        try:
            key, value, headers = self._encode(event, t)
            future = await self._producer.send(
                self.config.topic, value=value, key=key, headers=headers, partition=partition
            )
        except asyncio.CancelledError:
            self._finish(handle, Outcome.FAIL, "Not queued: the producer closed first")
            raise
        except Exception as exc:
            self._finish(handle, classify_kafka(exc, Stage.ENQUEUE), describe(exc))
            return
        future.add_done_callback(lambda fut: self._on_delivery(handle, fut))

    def _on_delivery(self, handle: int, future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            self._finish(handle, Outcome.UNKNOWN, "CancelledError: delivery future cancelled")
            return
        exc = future.exception()
        if exc is not None:
            self._finish(handle, classify_kafka(exc), describe(exc))
            return
        meta = future.result()
        if meta is None:  # acks=0: the client wrote it to the socket, nothing more is known
            self._finish(handle, Outcome.OK, None)
        else:
            self._finish(handle, Outcome.OK, None, meta.partition, meta.offset)

    def _finish(
        self,
        handle: int,
        status: Outcome,
        error: str | None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> None:
        pending = self._pending.pop(handle, None)
        if pending is None or pending.done:
            return
        pending.done = True
        self._log.record_kafka(pending.event, pending.t, status, error, partition, offset)

    async def _sweep(self) -> None:
        timeout = self.config.delivery_timeout_s
        assert timeout is not None
        while True:
            await asyncio.sleep(min(1.0, timeout / 4))
            self._expire_older_than(clock.now() - timeout, "delivery timeout")

    def _expire_older_than(self, cutoff: float, why: str) -> None:
        stale = []
        for handle, pending in self._pending.items():
            if pending.t > cutoff:
                break
            stale.append(handle)
        for handle in stale:
            self._finish(handle, Outcome.UNKNOWN, f"Unresolved: {why}")

    async def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until every handed-over send has an outcome; False if ``timeout_s`` passed."""
        deadline = clock.now() + timeout_s
        while self.queued and clock.now() < deadline:
            await asyncio.sleep(0.01)
        if self._producer is not None and self._pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._producer.flush(), max(0.0, deadline - clock.now()))
        while self._pending and clock.now() < deadline:
            await asyncio.sleep(0.01)
        return not self._pending and not self.queued

    async def close(self, timeout_s: float = 30.0) -> None:
        """Flush, then record every send still unresolved as ``unknown`` and stop. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            await self.flush(timeout_s)
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for pump in self._pumps:
            pump.cancel()
        for pump in self._pumps:
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        for queue in self._queues.values():
            while queue:
                event = queue.popleft()
                self._pending[self._next] = _Pending(event, clock.now())
                self._finish(self._next, Outcome.FAIL, "Not sent: the producer closed first")
                self._next += 1
        self._expire_older_than(float("inf"), "producer closed before an answer")
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._producer.stop(), 10.0)

    async def __aenter__(self) -> KafkaProducerDriver:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


__all__ = ["KafkaEncode", "KafkaProducerConfig", "KafkaProducerDriver", "default_kafka_encode"]
