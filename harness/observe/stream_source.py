"""The part the ``output`` and ``dead_letters`` sources share: one stream reader's life.

Each kind decides what it reads and what a message becomes (``start`` sets ``_reader`` and
``rows``); draining, the unsafe-broker check, stopping the reader and the counters are here.
"""

from __future__ import annotations

from typing import TypeVar

from harness.observe.kafka_stream import KafkaTopicReader
from harness.observe.rabbitmq_stream import RabbitQueueReader
from harness.observe.source import Source
from harness.observe.streams import MessageRows

Settings = TypeVar("Settings")


class StreamSource(Source[Settings]):
    """A source fed by one Kafka topic or RabbitMQ queue reader."""

    rows: MessageRows
    _reader: KafkaTopicReader | RabbitQueueReader | None = None

    async def drain(self, timeout_s: float) -> bool:
        if self._reader is None:
            return True
        self._reader.raise_if_unsafe()  # a broker off loopback was refused: say so at the end
        return await self._reader.catch_up(timeout_s)

    def raise_if_unsafe(self) -> None:
        if self._reader is not None:
            self._reader.raise_if_unsafe()

    async def stop_reader(self) -> KafkaTopicReader | RabbitQueueReader | None:
        """Stop the reader (idempotent); the stopped one, for a kind that deletes what it read."""
        reader, self._reader = self._reader, None
        if reader is not None:
            await reader.stop()
        return reader

    async def stop(self) -> None:
        await self.stop_reader()

    def stats(self) -> dict[str, int]:
        counts = {**super().stats(), **self.rows.stats()}
        if isinstance(self._reader, RabbitQueueReader):
            counts["redelivered_skipped"] = self._reader.redelivered_skipped
        return counts


__all__ = ["StreamSource"]
