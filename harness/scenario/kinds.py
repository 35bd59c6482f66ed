"""The scenario's vocabulary: node names, enums and field groups, below models and checks.

``models`` builds the schema from these and ``validate`` checks against them; keeping them here
lets ``validate`` run without importing ``models`` (which calls it), so neither imports the
other lazily.
"""

from __future__ import annotations

from enum import StrEnum

KAFKA_NODES: tuple[str, ...] = ("kafka-1", "kafka-2", "kafka-3")
RABBITMQ_NODES: tuple[str, ...] = ("rabbitmq",)
NATS_NODES: tuple[str, ...] = ("nats-1", "nats-2", "nats-3")
MOTO_NODES: tuple[str, ...] = ("moto",)
PUBSUB_NODES: tuple[str, ...] = ("pubsub",)
SQS_NODES: tuple[str, ...] = ("sqs",)
TARGET_KINDS: tuple[str, ...] = (
    "kafka", "rabbitmq", "nats", "pubsub", "sns", "eventbridge", "sqs",
)  # fmt: skip


class Acks(StrEnum):
    NONE = "0"
    LEADER = "1"
    ALL = "all"


class DeliveryMode(StrEnum):
    PERSISTENT = "persistent"
    TRANSIENT = "transient"


class Commit(StrEnum):
    AFTER_EFFECT = "after_effect"
    BEFORE_EFFECT = "before_effect"
    AUTO = "auto"


class SutMode(StrEnum):
    CORRECT = "correct"
    BUGGY = "buggy"


class Shape(StrEnum):
    CONSTANT = "constant"
    RAMP = "ramp"
    SPIKE = "spike"
    BURST = "burst"
    POISSON = "poisson"


class Distribution(StrEnum):
    UNIFORM = "uniform"
    ZIPF = "zipf"


class Engine(StrEnum):
    HARNESS = "harness"
    LOCUST = "locust"


class KafkaClient(StrEnum):
    """The Kafka client the harness engine produces with."""

    AIOKAFKA = "aiokafka"
    CONFLUENT = "confluent"


KAFKA_PRODUCER_FIELDS = (
    "client",
    "acks",
    "enable_idempotence",
    "retries",
    "linger_ms",
    "batch_size",
    "request_timeout_ms",
    "delivery_timeout_ms",
)
RABBITMQ_PRODUCER_FIELDS = ("confirms", "delivery_mode", "mandatory")


class NatsStorage(StrEnum):
    FILE = "file"
    MEMORY = "memory"


__all__ = [
    "KafkaClient",
    "KAFKA_NODES",
    "KAFKA_PRODUCER_FIELDS",
    "MOTO_NODES",
    "NATS_NODES",
    "PUBSUB_NODES",
    "SQS_NODES",
    "TARGET_KINDS",
    "NatsStorage",
    "RABBITMQ_NODES",
    "RABBITMQ_PRODUCER_FIELDS",
    "Acks",
    "Commit",
    "DeliveryMode",
    "Distribution",
    "Engine",
    "Shape",
    "SutMode",
]
