"""What crash triggers read during a run: effects seen, committed offsets, acks, deliveries.

``RunReadings`` turns the run's clients into ``harness.faults.triggers.Reading``s. Effects are
counted by ``effects_seen`` alone, so a new observation source (an output topic, a database)
adds its count there. Committed offsets come from the group's coordinator (Kafka only; a
RabbitMQ consumer has none to see), acknowledged sends from the harness's own producer.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.drivers import GroupOffsets
from harness.faults.triggers import Reading
from harness.run.clients import Clients


def effects_seen(stats: Mapping[str, int]) -> int:
    """The effects observed so far: what the consumer counted (the built-in one's effects, or
    an external service's reported ones)."""
    return int(stats.get("effects", 0))


class RunReadings:
    """Readings of one run's clients; ``close()`` releases the offset poller."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients
        self._offsets = (
            GroupOffsets(clients.bootstrap, clients.group, clients.destination)
            if clients.kind == "kafka" and clients.group
            else None
        )

    async def read(self) -> Reading:
        stats = self.clients.consumer.stats()
        committed = await self._offsets.committed() if self._offsets is not None else None
        counts = getattr(self.clients.producer, "counts", None)
        return Reading(
            effects=effects_seen(stats),
            committed=committed,
            acked=int(counts.get("ok", 0)) if counts is not None else None,
            received=int(stats.get("received", 0)),
        )

    async def close(self) -> None:
        if self._offsets is not None:
            await self._offsets.close()


__all__ = ["RunReadings", "effects_seen"]
