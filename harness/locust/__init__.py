"""Locust as a load engine: users that send harness events and record a history.

The user classes import Locust (and so gevent's monkey-patching); they load only when asked
for, so ``harness.locust.runner`` and ``harness.locust.merge`` stay safe to import from the
harness's own asyncio processes::

    from harness.locust import KafkaUser      # in a locustfile: imports Locust here

    class Orders(KafkaUser):
        topic = "orders"
        rate = 200.0

Run it with ``locust -f locustfile.py`` (web UI, ``--headless``, ``--master``/``--worker``);
every process writes a history shard into ``$HARNESS_LOCUST_HISTORY_DIR``; merge them with
``harness history merge`` and check with ``harness check``. See the README's "Locust" section.
"""

from __future__ import annotations

from typing import Any

_USERS = ("HarnessUser", "KafkaUser", "RabbitMQUser", "SendNotAcknowledged")


def __getattr__(name: str) -> Any:
    if name in _USERS:
        from harness.locust import users

        return getattr(users, name)
    raise AttributeError(f"module 'harness.locust' has no attribute {name!r}")


__all__ = list(_USERS)
