"""Locust sends harness events to Kafka; the harness checks what happened.

    export HARNESS_LOCUST_HISTORY_DIR=runs/locust-kafka
    locust -f examples/locustfile_kafka.py --headless -u 4 -r 4 -t 60s --csv runs/locust-kafka/stats
    harness history merge runs/locust-kafka/*.parquet -o runs/locust-kafka/history.parquet
    harness check runs/locust-kafka/history.parquet

Distributed: ``--master --expect-workers 2`` on one host, ``--worker --master-host HOST`` on
each of the others (or ``--processes 2`` beside the master). See the README's "Locust" section.

The receives come from whatever consumes the topic: record them into a history next to the
shards (the built-in consumer drivers with a ``HistoryWriter``, as tests/integration/test_locust_*.py
do) before merging; without them every acknowledged send is reported lost.
"""

from __future__ import annotations

import os

from locust import events

from harness.locust import KafkaUser, ensure_topic

TOPIC = os.environ.get("HARNESS_TOPIC", "orders")
BOOTSTRAP = os.environ.get("HARNESS_KAFKA", "127.0.0.1:9091,127.0.0.1:9092,127.0.0.1:9093")


@events.init.add_listener
def _create_topic(environment, **_kwargs) -> None:  # noqa: ANN001
    from locust.runners import WorkerRunner

    if not isinstance(environment.runner, WorkerRunner):
        ensure_topic(BOOTSTRAP, TOPIC, partitions=6, replication_factor=3, min_insync_replicas=2)


class Orders(KafkaUser):
    bootstrap = BOOTSTRAP
    topic = TOPIC
    rate = float(os.environ.get("HARNESS_RATE_PER_USER", "200"))
    keys = 8
    payload_bytes = 512
    acks = "all"
    enable_idempotence = True
