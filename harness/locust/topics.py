"""Create a Kafka topic from a locustfile (confluent-kafka's admin client: no asyncio needed)."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from harness.errors import StackError
from harness.safety import check_addresses


def ensure_topic(
    bootstrap: str,
    topic: str,
    *,
    partitions: int = 6,
    replication_factor: int = 3,
    min_insync_replicas: int = 2,
    timeout_s: float = 30.0,
) -> bool:
    """Create ``topic`` unless it exists; True if this call created it."""
    check_addresses(bootstrap)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    spec = NewTopic(
        topic,
        num_partitions=partitions,
        replication_factor=replication_factor,
        config={"min.insync.replicas": str(min_insync_replicas)},
    )
    future = admin.create_topics([spec], operation_timeout=timeout_s)[topic]
    try:
        future.result(timeout=timeout_s)
    except KafkaException as exc:
        if exc.args and exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return False
        raise StackError(
            f"Could not create topic {topic!r} on {bootstrap}: {exc}. "
            "Is the cluster up (`harness stack status`)?"
        ) from exc
    return True


__all__ = ["ensure_topic"]
