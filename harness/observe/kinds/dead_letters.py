"""The ``dead_letters`` source: the run's dead-letter topic or queue, read by the harness itself.

A service's word for what it dead-lettered is not evidence: this source consumes the DLQ the
service is told to use (``ObserveContext.dead_letters``: ``HARNESS_DLQ_TOPIC`` on Kafka, the
queue behind the run's dead-letter exchange on RabbitMQ) and records one ``dead_letter`` row per
message there, keyed by the input event's id (its ``id`` setting, CloudEvents headers by
default) with the reason the message carries, if any. ``dlq_missing`` and ``dlq_unexpected``
then rest on what is in the DLQ, not on reports.

It shares its readers and row-making with the ``output`` source (``harness.observe.streams``);
unlike it, it does not own the DLQ (the run deletes it with the run's topic), so it only
creates it if it is missing and never deletes it.
"""

from __future__ import annotations

from harness.drivers import AmqpTarget, create_topic
from harness.errors import ConfigError
from harness.observe.context import ObserveContext
from harness.observe.kafka_stream import KafkaTopicReader
from harness.observe.rabbitmq_stream import RabbitQueueReader
from harness.observe.stream_source import StreamSource
from harness.observe.streams import MessageRows, dead_letter_fields
from harness.scenario.observe import DeadLetterSource

DLQ_PARTITIONS = 1
"""Partitions of a DLQ topic the source has to create (the run's own has one)."""


class DeadLetters(StreamSource[DeadLetterSource]):
    """The run's DLQ, read from outside."""

    kind = "dead_letters"
    observes = "dead_letter"

    def __init__(self, name: str, settings: DeadLetterSource, ctx: ObserveContext) -> None:
        super().__init__(name, settings, ctx)
        self._noun = "topic" if ctx.target_kind == "kafka" else "queue"
        self.rows = MessageRows(
            settings.id,
            self.record,
            what=f"dead-letter {self._noun} of source {name!r}",
            fields=dead_letter_fields,
        )
        self._reader: KafkaTopicReader | RabbitQueueReader | None = None

    async def start(self) -> None:
        if not self.ctx.dead_letters:
            raise ConfigError(
                f"The {self.describe()} has no dead-letter {self._noun} to read: this run's "
                f"{self.ctx.target_kind} target hands the service none. Remove the dead_letters "
                "entry from observe:, or give the target a dead-letter destination."
            )
        if self.ctx.target_kind == "kafka":
            bootstrap = self.ctx.stack.kafka_bootstrap_servers
            await create_topic(
                bootstrap,
                self.ctx.dead_letters,
                partitions=DLQ_PARTITIONS,
                replication_factor=self.ctx.replication_factor,
                exist_ok=True,
            )
            self._reader = KafkaTopicReader(
                bootstrap, self.ctx.dead_letters, self.rows.take, what=self.rows.what,
                client_id=f"harness-observe-{self.name}",
            )  # fmt: skip
        else:
            target = AmqpTarget.from_url(
                self.ctx.stack.rabbitmq_url, self.ctx.dead_letters, durable=True, dead_letter=False
            )
            self._reader = RabbitQueueReader(target, self.rows.take, what=self.rows.what)
        await self._reader.start()


KIND = DeadLetters

__all__ = ["KIND", "DeadLetters"]
