"""The ``output`` source: every message a service writes to its output topic or queue is an effect.

The source creates the run's own output, ``<topic>-<run id>`` on Kafka or ``<queue>-<run id>``
on RabbitMQ, before the service starts, hands its name to the service in the environment
variable the scenario names (``env``), follows it from its first message and deletes it at
stop. Each message becomes one ``effect`` row keyed by the input event's id, found by the
source's ``id`` setting (CloudEvents ``ce_id`` / ``ce-id`` headers, then ``$.id``, by default);
a Kafka row also carries the output's partition and offset. Two outputs naming one input are
then ``duplicate_effect``, an output naming an id never sent ``unexpected``.

With ``schema``, every body is also checked against that JSON Schema: an output that breaks
it is recorded with ``status: fail`` and the reason, which the checks count as
``invalid_output`` (``harness.observe.output_contract``).

Kafka outputs are read ``read_committed``: a transactional service's aborted writes are not
outputs, exactly as for its downstream consumers (``harness.observe.kafka_stream``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from harness.drivers import AmqpTarget, create_topic, delete_topic
from harness.observe.context import ObserveContext
from harness.observe.kafka_stream import KafkaTopicReader
from harness.observe.output_contract import OutputContract
from harness.observe.rabbitmq_stream import RabbitQueueReader
from harness.observe.stream_source import StreamSource
from harness.observe.streams import MessageRows, where
from harness.scenario.observe import OutputSource

log = logging.getLogger(__name__)

DELETE_TIMEOUT_S = 30.0


class Output(StreamSource[OutputSource]):
    """The service's output topic or queue, read from outside."""

    kind = "output"
    observes = "effect"

    def __init__(self, name: str, settings: OutputSource, ctx: ObserveContext) -> None:
        super().__init__(name, settings, ctx)
        if settings.kafka is not None:
            self.channel = f"{settings.kafka.topic}-{ctx.run_id}"
            what = f"output topic of source {name!r}"
        else:
            assert settings.rabbitmq is not None
            self.channel = f"{settings.rabbitmq.queue}-{ctx.run_id}"
            what = f"output queue of source {name!r}"
        fields = where
        if settings.schema_ is not None:
            fields = OutputContract(settings.schema_.document("output")).fields
        self.rows = MessageRows(settings.id, self.record, what=what, fields=fields)
        self._reader: KafkaTopicReader | RabbitQueueReader | None = None
        self._created = False

    async def start(self) -> None:
        kafka = self.settings.kafka
        if kafka is not None:
            bootstrap = self.ctx.stack.kafka_bootstrap_servers
            await create_topic(
                bootstrap,
                self.channel,
                partitions=kafka.partitions,
                replication_factor=self.ctx.replication_factor,
            )
            self._created = True
            self._reader = KafkaTopicReader(
                bootstrap, self.channel, self.rows.take, what=self.rows.what,
                client_id=f"harness-observe-{self.name}",
            )  # fmt: skip
        else:
            target = AmqpTarget.from_url(
                self.ctx.stack.rabbitmq_url, self.channel, durable=True, dead_letter=False
            )
            self._reader = RabbitQueueReader(target, self.rows.take, what=self.rows.what)
            self._created = True  # declared by start(), even if it fails after
        await self._reader.start()

    def env(self) -> dict[str, str]:
        return {self.settings.env: self.channel}

    async def stop(self) -> None:
        reader = await self.stop_reader()
        if self._created:
            self._created = False
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._delete(reader), DELETE_TIMEOUT_S)

    async def _delete(self, reader: Any) -> None:
        if self.settings.kafka is not None:
            await delete_topic(self.ctx.stack.kafka_bootstrap_servers, self.channel)
        elif isinstance(reader, RabbitQueueReader):
            await reader.delete()


KIND = Output

__all__ = ["KIND", "Output"]
