"""Locust publishes harness events to a NATS JetStream stream, each publish acknowledged.

export HARNESS_LOCUST_HISTORY_DIR=runs/locust-nats
locust -f examples/locustfile_nats.py --headless -u 4 -r 4 -t 60s --csv runs/locust-nats/stats
harness history merge runs/locust-nats/*.parquet -o runs/locust-nats/history.parquet
harness check runs/locust-nats/history.parquet

The servers default to the local stack's (`harness stack up --with nats --nats-nodes 3`) or
those of `$HARNESS_ENV`. The receives come from whatever consumes the stream: record them into
a history next to the shards (the built-in NatsConsumerDriver with a ``HistoryWriter``, as
tests/integration/test_locust_nats.py does) before merging; without them every acknowledged
send is reported lost. Leave ``stream`` unset for core NATS (fire and forget).
"""

from __future__ import annotations

import os

from harness.locust import NatsUser


class Orders(NatsUser):
    subject = os.environ.get("HARNESS_SUBJECT", "orders.locust")
    stream = os.environ.get("HARNESS_STREAM", "ORDERS_LOCUST")
    replicas = int(os.environ.get("HARNESS_REPLICAS", "1"))
    rate = float(os.environ.get("HARNESS_RATE_PER_USER", "200"))
    keys = 8
    payload_bytes = 512
    msg_id = True
    retries = 3
