"""Kafka topic administration for runs: create a topic and wait for its leaders, delete it.

A topic is usable only once every partition has an elected leader; producing earlier makes the
first sends of a run fail for reasons that have nothing to do with the fault under test.

Example::

    await create_topic("127.0.0.1:9091", "orders", partitions=6, replication_factor=3,
                       min_insync_replicas=2)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiokafka.errors as kerr
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from harness import clock
from harness.drivers.kafka_guard import guard
from harness.errors import ConfigError, StackError
from harness.safety import check_addresses


@contextlib.asynccontextmanager
async def _admin(bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    check_addresses(bootstrap)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    kafka_guard = guard(admin._client, "the Kafka admin client")
    try:
        try:
            await admin.start()
        except kerr.KafkaError as exc:
            kafka_guard.raise_if_unsafe()
            raise StackError(
                f"Cannot reach Kafka at {bootstrap}: {exc!r}. Is the stack up (`harness stack up`)?"
            ) from exc
        kafka_guard.raise_if_unsafe()
        yield admin
        kafka_guard.raise_if_unsafe()
    finally:
        await admin.close()


def _check_errors(rows: list[Any], action: str, tolerate: tuple[type, ...] = ()) -> None:
    for row in rows:
        topic, code = row[0], row[1]
        error = kerr.for_code(code)
        if error is kerr.NoError or error in tolerate:
            continue
        detail = row[2] if len(row) > 2 and row[2] else error.__name__
        if error in (kerr.InvalidReplicationFactorError, kerr.InvalidPartitionsError):
            raise ConfigError(
                f"Cannot {action} topic {topic!r}: the broker says {detail!r}. Check the "
                "target's partitions and replication_factor against the brokers the stack runs."
            )
        raise StackError(
            f"Cannot {action} topic {topic!r}: the broker says {detail!r}. See "
            "`harness stack status` and the brokers' logs (`harness stack logs kafka-1`), then retry."
        )


async def create_topic(
    bootstrap: str,
    topic: str,
    *,
    partitions: int,
    replication_factor: int,
    min_insync_replicas: int | None = None,
    configs: Mapping[str, str] | None = None,
    exist_ok: bool = False,
    deadline_s: float = 60.0,
) -> None:
    """Create ``topic`` and return once every partition has a leader.

    Raises ``StackError`` if the leaders are not elected within ``deadline_s``.
    """
    topic_configs = dict(configs or {})
    if min_insync_replicas is not None:
        if min_insync_replicas > replication_factor:
            raise ConfigError(
                f"min_insync_replicas={min_insync_replicas} exceeds replication_factor="
                f"{replication_factor}: every acks=all write would fail. Lower it."
            )
        topic_configs["min.insync.replicas"] = str(min_insync_replicas)
    new = NewTopic(topic, partitions, replication_factor, topic_configs=topic_configs)
    async with _admin(bootstrap) as admin:
        response = await admin.create_topics([new])
        tolerate = (kerr.TopicAlreadyExistsError,) if exist_ok else ()
        _check_errors(response.topic_errors, "create", tolerate)
        await _wait_for_leaders(admin, topic, partitions, clock.now() + deadline_s)


async def _wait_for_leaders(
    admin: AIOKafkaAdminClient, topic: str, partitions: int, deadline: float
) -> None:
    missing: list[int] = list(range(partitions))
    while clock.now() < deadline:
        described = await admin.describe_topics([topic])
        led = {
            p["partition"]
            for t in described
            if t["topic"] == topic and t["error_code"] == 0
            for p in t["partitions"]
            if p["leader"] >= 0
        }
        missing = [p for p in range(partitions) if p not in led]
        if not missing:
            return
        await asyncio.sleep(0.2)
    raise StackError(
        f"Topic {topic!r}: partitions {missing} have no leader after the deadline. "
        "Check that every broker is up (`harness stack status`)."
    )


async def delete_topic(bootstrap: str, topic: str, *, missing_ok: bool = True) -> None:
    """Delete ``topic``; a topic that does not exist is fine unless ``missing_ok`` is False."""
    async with _admin(bootstrap) as admin:
        response = await admin.delete_topics([topic])
        tolerate = (kerr.UnknownTopicOrPartitionError,) if missing_ok else ()
        _check_errors(response.topic_error_codes, "delete", tolerate)


async def partition_leaders(bootstrap: str, topic: str) -> dict[int, int]:
    """Partition number to the broker id leading it (-1 while none is)."""
    async with _admin(bootstrap) as admin:
        described = await admin.describe_topics([topic])
    return {p["partition"]: p["leader"] for t in described for p in t["partitions"]}


async def group_state(bootstrap: str, group: str) -> tuple[str, int]:
    """A consumer group's state (``Stable``, ``PreparingRebalance``, ``Empty``, ``Dead``...) and
    its member count, as the classic group protocol describes it."""
    async with _admin(bootstrap) as admin:
        described = await admin.describe_consumer_groups([group])
    for response in described:
        for entry in response.groups:
            if entry[1] == group:
                return str(entry[2]), len(entry[-1] if isinstance(entry[-1], list) else entry[5])
    return "Dead", 0


__all__ = ["create_topic", "delete_topic", "group_state", "partition_leaders"]
