"""Locust publishes harness events to RabbitMQ with publisher confirms.

export HARNESS_LOCUST_HISTORY_DIR=runs/locust-rabbit
locust -f examples/locustfile_rabbitmq.py --headless -u 4 -r 4 -t 60s --csv runs/locust-rabbit/stats
harness history merge runs/locust-rabbit/*.parquet -o runs/locust-rabbit/history.parquet
harness check runs/locust-rabbit/history.parquet

The receives come from whatever consumes the queue: record them into a history next to the
shards (the built-in consumer drivers with a ``HistoryWriter``, as tests/integration/test_locust_*.py
do) before merging; without them every acknowledged send is reported lost.
"""

from __future__ import annotations

import os

from harness.locust import RabbitMQUser


class Orders(RabbitMQUser):
    url = os.environ.get("HARNESS_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
    queue = os.environ.get("HARNESS_QUEUE", "orders")
    rate = float(os.environ.get("HARNESS_RATE_PER_USER", "200"))
    keys = 8
    payload_bytes = 512
    confirms = True
    persistent = True
