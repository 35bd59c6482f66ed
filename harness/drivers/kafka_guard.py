"""Keep aiokafka clients on loopback: check the brokers Kafka metadata advertises, and peers.

The bootstrap list is checked before a client is built, but a bootstrap on loopback may
advertise any broker address in its metadata, and aiokafka then connects to it. ``guard``
installs two checks on one ``AIOKafkaClient`` (the ``.client`` of a producer, consumer or
admin client), both before any connection to a broker named by metadata:

* every metadata response is checked (``check_metadata``) before it replaces the client's
  view of the cluster; a response naming an unsafe broker is refused whole (the client keeps
  its old, checked view) and the refusal is recorded;
* every broker connection is checked twice: the broker's advertised host before connecting,
  the socket's peer address right after (a ``localhost`` that resolves elsewhere). An unsafe
  one is closed and never used.

aiokafka does not raise from these paths (its metadata task would die), so the guard records
the first ``UnsafeTargetError`` and the driver raises it (``raise_if_unsafe``) at start, at
close, and wherever the run polls it.

Example::

    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:9091")
    kafka_guard = guard(producer.client, "the producer")
    await producer.start()
    kafka_guard.raise_if_unsafe()
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from harness.errors import UnsafeTargetError
from harness.safety import check_peer, check_target

log = logging.getLogger(__name__)


def advertised_brokers(metadata: Any) -> list[tuple[Any, str, int]]:
    """``(node_id, host, port)`` of every broker a ``MetadataResponse`` advertises."""
    return [(b[0], str(b[1]), int(b[2])) for b in metadata.brokers]


def check_metadata(metadata: Any, allow: Iterable[str] = (), *, what: str = "Kafka") -> None:
    """Raise ``UnsafeTargetError`` naming every advertised broker that is not loopback or
    allow-listed (nothing is resolved)."""
    allow = tuple(allow)
    unsafe = []
    for node_id, host, port in advertised_brokers(metadata):
        try:
            check_target(host, allow)
        except UnsafeTargetError:
            unsafe.append(f"broker {node_id} at {host}:{port}")
    if unsafe:
        raise UnsafeTargetError(
            f"Refusing the cluster metadata {what} received: it advertises {', '.join(unsafe)}, "
            "which is not a loopback address, although the bootstrap was. Fix the brokers' "
            "advertised.listeners, or add the host to HARNESS_ALLOW_HOSTS if it is meant to "
            "be targeted."
        )


def connection_peer(conn: Any) -> Any:
    """The peer address of an aiokafka connection's socket, or None when it has none."""
    writer = getattr(conn, "_writer", None)
    return None if writer is None else writer.get_extra_info("peername")


class KafkaGuard:
    """The checks installed on one aiokafka client, and the first refusal they recorded."""

    def __init__(self, client: Any, what: str, allow: Iterable[str] = ()) -> None:
        self.what = what
        self.allow = tuple(allow)
        self.error: UnsafeTargetError | None = None
        self._client = client
        self._update = client.cluster.update_metadata
        self._get_conn = client._get_conn
        client.cluster.update_metadata = self._checked_update
        client._get_conn = self._checked_get_conn

    def raise_if_unsafe(self) -> None:
        """Raise the first recorded refusal, if any."""
        if self.error is not None:
            raise self.error

    def _refuse(self, error: UnsafeTargetError) -> None:
        log.error("%s", error)
        if self.error is None:
            self.error = error

    def _checked_update(self, metadata: Any) -> None:
        try:
            check_metadata(metadata, self.allow, what=self.what)
        except UnsafeTargetError as error:
            self._refuse(error)
            self._client.cluster.failed_update(error)
            return
        self._update(metadata)

    async def _checked_get_conn(self, node_id: Any, **kwargs: Any) -> Any:
        broker = self._client.cluster.broker_metadata(node_id)
        try:
            if broker is not None:
                check_target(broker.host, self.allow)
        except UnsafeTargetError as error:
            self._refuse(error)
            return None
        conn = await self._get_conn(node_id, **kwargs)
        if conn is None:
            return None
        try:
            check_peer(connection_peer(conn), self.allow, what=f"{self.what}'s connection")
        except UnsafeTargetError as error:
            self._refuse(error)
            self._drop(conn)
            return None
        return conn

    def _drop(self, conn: Any) -> None:
        conns = self._client._conns
        for key in [k for k, v in conns.items() if v is conn]:
            del conns[key]
        conn.close()


def guard(client: Any, what: str, allow: Iterable[str] = ()) -> KafkaGuard:
    """Install the metadata and peer checks on ``client`` (an ``AIOKafkaClient``)."""
    return KafkaGuard(client, what, allow)


__all__ = ["KafkaGuard", "advertised_brokers", "check_metadata", "connection_peer", "guard"]
