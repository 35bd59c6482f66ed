"""Locust as a load engine: users that send harness events and record a history.

The user classes import Locust (and so gevent's monkey-patching); like every name of this
face they load only when asked for, so ``run_locust_storm`` and ``HeadlessLocust`` stay safe to
import from the harness's own asyncio processes::

    from harness.locust import KafkaUser      # in a locustfile: imports Locust here

    class Orders(KafkaUser):
        topic = "orders"
        rate = 200.0

Run it with ``locust -f locustfile.py`` (web UI, ``--headless``, ``--master``/``--worker``);
every process writes a history shard into ``$HARNESS_LOCUST_HISTORY_DIR``; merge them with
``harness history merge`` and check with ``harness check``. See the README's "Locust" section.
"""

from __future__ import annotations

import importlib
from typing import Any

# Every name loads its module only when asked for: the users import Locust (and gevent's
# monkey-patching), the rest confluent-kafka or the stack; ``import harness.locust`` costs nothing.
_FACE = {
    "HarnessUser": "users",
    "KafkaUser": "users",
    "NatsUser": "users",
    "RabbitMQUser": "users",
    "SendNotAcknowledged": "users",
    "SqsUser": "users",
    "HeadlessLocust": "headless",
    "LocustResult": "headless",
    "STARTUP_LEAD_S": "runner",
    "run_locust_storm": "runner",
    "ensure_topic": "topics",
}


def __getattr__(name: str) -> Any:
    if name in _FACE:
        return getattr(importlib.import_module(f"harness.locust.{_FACE[name]}"), name)
    raise AttributeError(f"module 'harness.locust' has no attribute {name!r}")


__all__ = sorted(_FACE)
