"""Drivers: produce and consume events on real brokers, recording every op into the history.

Two small interfaces, each with a Kafka (aiokafka), a RabbitMQ (pika, on its own thread), a
NATS (nats-py: core subjects or JetStream streams) and an SQS (boto3, on its own threads)
implementation, and an SNS/EventBridge producer (boto3 on its own threads, against the moto
emulator):

- ``Producer``: ``start()``, ``send(event)`` (never blocks; records one ``send`` row when the
  outcome is known), ``flush()``, ``close()``.
- ``Consumer``: ``start()``, ``close()``, ``stats()``; the built-in system under test that
  records ``recv``, ``effect`` and ``dead_letter`` rows.

Exceptions become send outcomes in exactly one place, ``harness.drivers.outcomes``; every
producer (Locust's librdkafka one included) keeps its counts and send rows with ``SendLog``.

Example::

    producer = kafka_producer_driver(KafkaProducerConfig("127.0.0.1:9091", "orders"), writer)
    await producer.start()
    producer.send(event)
    await producer.close()
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from harness.drivers._types import EffectMode, EffectStore, EventLike, ListRecorder, Recorder
from harness.drivers.kafka import KafkaProducerConfig, KafkaProducerDriver
from harness.drivers.kafka_admin import create_topic, delete_topic, group_state, partition_leaders
from harness.drivers.kafka_consumer import CommitPolicy, KafkaConsumerConfig, KafkaConsumerDriver
from harness.drivers.kafka_group import GroupOffsets
from harness.drivers.nats import NatsProducerConfig, NatsProducerDriver
from harness.drivers.nats_consumer import NatsConsumerConfig, NatsConsumerDriver
from harness.drivers.nats_target import NatsTarget, delete_stream, ensure_stream
from harness.drivers.outcomes import (
    Outcome,
    Stage,
    classify_amqp,
    classify_aws,
    classify_kafka,
    classify_nats,
    classify_sqs,
)
from harness.drivers.rabbitmq import RabbitPublisherConfig, RabbitPublisherDriver
from harness.drivers.rabbitmq_consumer import RabbitConsumerConfig, RabbitConsumerDriver
from harness.drivers.rabbitmq_topology import (
    AmqpTarget,
    declare_blocking,
    declare_topology,
    delete_blocking,
)
from harness.drivers.rows import SendLog, send_row
from harness.drivers.sns import FanoutProducerConfig, FanoutProducerDriver
from harness.drivers.sns_topology import FanoutTopology, SubscriberPlan, aws_client
from harness.drivers.sqs import SqsProducerConfig, SqsProducerDriver
from harness.drivers.sqs_consumer import SqsConsumerConfig, SqsConsumerDriver
from harness.drivers.sqs_target import SqsTarget, delete_queues
from harness.drivers.webhook import WebhookConfig, WebhookSender


@runtime_checkable
class Producer(Protocol):
    async def start(self) -> None: ...

    def send(self, event: Any) -> None: ...

    async def flush(self, timeout_s: float = 30.0) -> bool: ...

    async def close(self, timeout_s: float = 30.0) -> None: ...


@runtime_checkable
class Consumer(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def stats(self) -> dict[str, int]: ...


def kafka_producer_driver(config: KafkaProducerConfig, recorder: Recorder, **kw: Any) -> Producer:
    """An aiokafka producer driver."""
    return KafkaProducerDriver(config, recorder, **kw)


def kafka_consumer_driver(config: KafkaConsumerConfig, recorder: Recorder, **kw: Any) -> Consumer:
    """The built-in Kafka consumer (system under test)."""
    return KafkaConsumerDriver(config, recorder, **kw)


def rabbitmq_producer_driver(
    config: RabbitPublisherConfig, recorder: Recorder, **kw: Any
) -> Producer:
    """A pika publisher driver on its own thread."""
    return RabbitPublisherDriver(config, recorder, **kw)


def nats_producer_driver(config: NatsProducerConfig, recorder: Recorder, **kw: Any) -> Producer:
    """A nats-py producer driver (core publish or JetStream publish with ack)."""
    return NatsProducerDriver(config, recorder, **kw)


def nats_consumer_driver(config: NatsConsumerConfig, recorder: Recorder, **kw: Any) -> Consumer:
    """The built-in NATS consumer (system under test): core subscription or JetStream pull."""
    return NatsConsumerDriver(config, recorder, **kw)


def rabbitmq_consumer_driver(
    config: RabbitConsumerConfig, recorder: Recorder, **kw: Any
) -> Consumer:
    """The built-in RabbitMQ consumer (system under test) on its own thread."""
    return RabbitConsumerDriver(config, recorder, **kw)


__all__ = [
    "AmqpTarget",
    "CommitPolicy",
    "Consumer",
    "EffectMode",
    "EffectStore",
    "EventLike",
    "FanoutProducerConfig",
    "FanoutProducerDriver",
    "FanoutTopology",
    "GroupOffsets",
    "KafkaConsumerConfig",
    "KafkaConsumerDriver",
    "KafkaProducerConfig",
    "KafkaProducerDriver",
    "ListRecorder",
    "NatsConsumerConfig",
    "NatsConsumerDriver",
    "NatsProducerConfig",
    "NatsProducerDriver",
    "NatsTarget",
    "Outcome",
    "Producer",
    "RabbitConsumerConfig",
    "RabbitConsumerDriver",
    "RabbitPublisherConfig",
    "RabbitPublisherDriver",
    "Recorder",
    "SendLog",
    "SqsConsumerConfig",
    "SqsConsumerDriver",
    "SqsProducerConfig",
    "SqsProducerDriver",
    "SqsTarget",
    "Stage",
    "SubscriberPlan",
    "WebhookConfig",
    "WebhookSender",
    "aws_client",
    "classify_amqp",
    "classify_aws",
    "classify_kafka",
    "classify_nats",
    "classify_sqs",
    "create_topic",
    "group_state",
    "declare_blocking",
    "declare_topology",
    "delete_blocking",
    "delete_stream",
    "delete_queues",
    "delete_topic",
    "ensure_stream",
    "kafka_consumer_driver",
    "kafka_producer_driver",
    "nats_consumer_driver",
    "nats_producer_driver",
    "partition_leaders",
    "rabbitmq_consumer_driver",
    "rabbitmq_producer_driver",
    "send_row",
]
