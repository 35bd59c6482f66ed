"""A consumer group's committed offsets, seen from outside the group (crash triggers poll it).

One long-lived admin client asks the group's coordinator (found once, found again after an
error) for the group's committed offsets on one topic; ``committed()`` is their sum: how many
of the topic's records the group has committed as done. Nothing joins the group, so polling
never rebalances the consumer under test.

    offsets = GroupOffsets("127.0.0.1:9091", "orders-7-abc", "orders-7-abc")
    done = await offsets.committed()
    await offsets.close()
"""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient

from harness.drivers.kafka_guard import guard
from harness.safety import check_addresses


class GroupOffsets:
    """Polls ``group``'s committed offsets on ``topic``."""

    def __init__(self, bootstrap: str, group: str, topic: str) -> None:
        check_addresses(bootstrap)
        self.bootstrap = bootstrap
        self.group = group
        self.topic = topic
        self._admin: AIOKafkaAdminClient | None = None
        self._coordinator: int | None = None

    async def committed(self) -> int:
        """The sum of the group's committed offsets on the topic (0 before its first commit).

        Raises the client's error when the cluster cannot answer (the caller polls again).
        """
        admin = await self._client()
        try:
            if self._coordinator is None:
                self._coordinator = await admin.find_coordinator(self.group)
            offsets = await admin.list_consumer_group_offsets(
                self.group, group_coordinator_id=self._coordinator
            )
        except Exception:
            self._coordinator = None  # it may have moved (a broker fault): look again next time
            raise
        return sum(m.offset for tp, m in offsets.items() if tp.topic == self.topic and m.offset > 0)

    async def _client(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=5_000)
            kafka_guard = guard(admin._client, "the group-offset poller")
            try:
                await admin.start()
                kafka_guard.raise_if_unsafe()
            except BaseException:
                await admin.close()
                raise
            self._admin = admin
        return self._admin

    async def close(self) -> None:
        """Close the admin client. Idempotent."""
        admin, self._admin = self._admin, None
        if admin is not None:
            await admin.close()


__all__ = ["GroupOffsets"]
