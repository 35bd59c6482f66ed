"""Follow a Kafka topic a service writes to, from its beginning, handing every record on.

The reader assigns itself every partition of the topic (no group: nothing is committed, no
rebalance delays the first record) and reads with ``read_committed`` by default, so it sees
what a downstream consumer of a transactional service sees: aborted writes (a crashed
transaction, a fenced zombie) are not outputs. Its client goes through the stack's Toxiproxy
bootstrap and carries ``harness.drivers.kafka_guard``, like every harness Kafka client.

``catch_up`` waits until the reader's position reaches the end offsets taken when it is
called: with ``read_committed`` those are the last stable offsets, and the position steps over
transaction markers, so a topic that ends in a commit marker is caught up too.

    reader = KafkaTopicReader(bootstrap, "orders-out-7", rows.take, what="output topic")
    await reader.start()
    ...
    await reader.catch_up(20.0)
    await reader.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from harness import clock
from harness.drivers.kafka_guard import guard
from harness.errors import StackError
from harness.observe.streams import StreamMessage, kafka_headers
from harness.safety import check_addresses

log = logging.getLogger(__name__)

POLL_MS = 200
RETRY_S = 0.5
NO_TIMESTAMP = -1


def record_time(timestamp_ms: int | None, arrival: float, wall_offset: float) -> float:
    """The run-clock time of a record: its Kafka timestamp (when the service or the broker
    stamped it), never later than when it was read; the arrival time if it has none."""
    if timestamp_ms is None or timestamp_ms <= NO_TIMESTAMP:
        return arrival
    return min(timestamp_ms / 1000.0 - wall_offset, arrival)


def to_message(record: Any, arrival: float, wall_offset: float) -> StreamMessage:
    """A ``StreamMessage`` of one aiokafka ``ConsumerRecord``."""
    stamp = record.timestamp
    t = (
        arrival
        if stamp is None or stamp <= NO_TIMESTAMP
        else min(stamp / 1000.0 - wall_offset, arrival)
    )
    return StreamMessage(
        kafka_headers(record.headers), record.value or b"", t, record.partition, record.offset
    )


class KafkaTopicReader:
    """Every record of one topic, from the beginning, to ``take``."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        take: Callable[[StreamMessage], object],
        *,
        what: str,
        isolation_level: str = "read_committed",
        client_id: str = "harness-observe",
    ) -> None:
        check_addresses(bootstrap)
        self.bootstrap = bootstrap
        self.topic = topic
        self.what = what
        self._take = take
        self._isolation = isolation_level
        self._client_id = client_id
        self._consumer: AIOKafkaConsumer | None = None
        self._guard: Any = None
        self._task: asyncio.Task[None] | None = None
        self._wall_offset = clock.wall_offset()
        self.read_errors = 0

    async def start(self, timeout_s: float = 30.0) -> None:
        """Connect, assign every partition of the topic (which must exist) from offset 0."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level=self._isolation,
            client_id=self._client_id,
        )
        self._guard = guard(consumer._client, f"the observer of the {self.what}")
        try:
            await consumer.start()
            self._guard.raise_if_unsafe()
            partitions = await self._partitions(consumer, timeout_s)
        except BaseException:
            with contextlib.suppress(Exception):
                await consumer.stop()
            raise
        consumer.assign([TopicPartition(self.topic, p) for p in partitions])
        await consumer.seek_to_beginning()
        self._consumer = consumer
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _partitions(self, consumer: AIOKafkaConsumer, timeout_s: float) -> list[int]:
        deadline = clock.now() + timeout_s
        client = consumer._client  # the metadata the guard checks: no public way to refresh it
        client.set_topics([self.topic])
        while True:
            await asyncio.wait_for(client.force_metadata_update(), timeout_s)
            found = consumer.partitions_for_topic(self.topic)
            if found:
                return sorted(found)
            if clock.now() >= deadline:
                raise StackError(
                    f"The {self.what} {self.topic!r} has no partitions in the cluster's "
                    f"metadata after {timeout_s:.0f}s, so it cannot be observed. Check that "
                    "the brokers are up (`harness stack status`)."
                )
            await asyncio.sleep(0.2)

    def raise_if_unsafe(self) -> None:
        """Raise the refusal of a broker off loopback that the guard recorded, if any."""
        if self._guard is not None:
            self._guard.raise_if_unsafe()

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=POLL_MS)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a broker fault: the consumer reconnects by itself
                self.read_errors += 1
                log.warning("Reading the %s %s failed: %r", self.what, self.topic, exc)
                await asyncio.sleep(RETRY_S)
                continue
            arrival = clock.now()
            for records in batches.values():
                for record in records:
                    self._take(to_message(record, arrival, self._wall_offset))

    async def catch_up(self, timeout_s: float) -> bool:
        """Wait until every record written so far has been taken; False after ``timeout_s``."""
        consumer = self._consumer
        if consumer is None:
            return True
        deadline = clock.now() + timeout_s
        try:
            ends = await asyncio.wait_for(
                consumer.end_offsets(list(consumer.assignment())), timeout_s
            )
        except TimeoutError:
            return False
        while clock.now() < deadline:
            if self._task is not None and self._task.done():
                self._task.result()  # the reader stopped: raise why
            behind = [tp for tp, end in ends.items() if await self._position(tp) < end]
            if not behind:
                return True
            await asyncio.sleep(0.05)
        return False

    async def _position(self, tp: TopicPartition) -> int:
        assert self._consumer is not None
        try:
            return await asyncio.wait_for(self._consumer.position(tp), 5.0)
        except TimeoutError:
            return -1

    async def stop(self) -> None:
        """Stop reading. Idempotent."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._consumer.stop(), 10.0)
            self._consumer = None


__all__ = ["KafkaTopicReader", "record_time", "to_message"]
