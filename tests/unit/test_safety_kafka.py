"""Brokers advertised in Kafka metadata are checked before aiokafka connects to them.

Two levels, both with aiokafka's real parts and no stack:

* at the seam: a real ``AIOKafkaClient``'s ``ClusterMetadata`` fed real ``MetadataResponse``
  objects;
* end to end: a loopback listener that answers Kafka's ApiVersions and Metadata requests with
  aiokafka's own protocol encoding, advertising ``0.0.0.0`` (not loopback, so refused, yet on
  Linux a connection to it would stay on this machine, so a failing guard sends nothing
  away). The producer driver must fail with ``UnsafeTargetError`` and never connect to it.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import pytest
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.admin import ApiVersionResponse_v0
from aiokafka.protocol.metadata import MetadataResponse_v0
from confluent_kafka.admin import BrokerMetadata, ClusterMetadata

from harness.drivers.kafka import KafkaProducerConfig, KafkaProducerDriver
from harness.drivers.kafka_guard import check_metadata, guard
from harness.errors import UnsafeTargetError
from harness.locust.rdkafka import check_rdkafka_brokers
from harness.safety import ALLOW_ENV

API_VERSIONS, METADATA = 18, 3


def _metadata(*brokers: tuple[int, str, int]) -> MetadataResponse_v0:
    return MetadataResponse_v0(brokers=list(brokers), topics=[])


def test_check_metadata_names_every_unsafe_broker() -> None:
    response = _metadata((1, "127.0.0.1", 9091), (2, "10.1.2.3", 9092), (3, "kafka-3", 9093))
    with pytest.raises(UnsafeTargetError) as caught:
        check_metadata(response)
    message = str(caught.value)
    assert "broker 2 at 10.1.2.3:9092" in message and "broker 3 at kafka-3:9093" in message
    assert "127.0.0.1" not in message and ALLOW_ENV in message


def test_check_metadata_accepts_loopback_and_allow_listed_brokers() -> None:
    check_metadata(_metadata((1, "127.0.0.1", 1), (2, "::1", 2), (3, "localhost", 3)))
    check_metadata(_metadata((4, "kafka-4", 4)), allow=["kafka-4"])


async def test_a_refused_metadata_update_leaves_the_checked_view_in_place() -> None:
    client = AIOKafkaClient(bootstrap_servers="127.0.0.1:9091")
    kafka_guard = guard(client, "the test client")
    client.cluster.update_metadata(_metadata((1, "127.0.0.1", 9091), (2, "127.0.0.2", 9092)))
    kafka_guard.raise_if_unsafe()
    client.cluster.update_metadata(_metadata((1, "127.0.0.1", 9091), (2, "192.0.2.7", 9092)))
    with pytest.raises(UnsafeTargetError, match=r"broker 2 at 192\.0\.2\.7:9092"):
        kafka_guard.raise_if_unsafe()
    assert {(b.nodeId, b.host) for b in client.cluster.brokers()} == {
        (1, "127.0.0.1"),
        (2, "127.0.0.2"),
    }


async def test_a_broker_with_an_unsafe_host_is_never_connected_to() -> None:
    client = AIOKafkaClient(bootstrap_servers="127.0.0.1:9091")
    kafka_guard = guard(client, "the test client", allow=["kafka-9"])
    client.cluster.update_metadata(_metadata((9, "kafka-9", 9099)))
    kafka_guard.allow = ()  # the allow-list shrank after the update: connecting is refused
    assert await client._get_conn(9) is None
    assert client._conns == {}
    with pytest.raises(UnsafeTargetError, match="kafka-9"):
        kafka_guard.raise_if_unsafe()


class _FakeMetadataServer:
    """Answers ApiVersions and Metadata (v0) on loopback, advertising ``advertised``."""

    def __init__(self, advertised: tuple[str, int]) -> None:
        self.advertised = advertised
        self.requests: list[int] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                size = struct.unpack(">i", await reader.readexactly(4))[0]
                frame = await reader.readexactly(size)
                api_key, _version, correlation = struct.unpack(">hhi", frame[:8])
                self.requests.append(api_key)
                body = self._answer(api_key)
                payload = struct.pack(">i", correlation) + body
                writer.write(struct.pack(">i", len(payload)) + payload)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def _answer(self, api_key: int) -> bytes:
        if api_key == API_VERSIONS:
            return ApiVersionResponse_v0(
                error_code=0, api_versions=[(API_VERSIONS, 0, 0), (METADATA, 0, 0)]
            ).encode()
        host, port = self.advertised
        return _metadata((1, host, port)).encode()


@pytest.fixture
async def listeners() -> AsyncIterator[tuple[_FakeMetadataServer, int, list[int]]]:
    """The metadata server's port, and a loopback listener counting who reaches the
    advertised port (0.0.0.0:port lands there on Linux, so a connection would be seen)."""
    reached: list[int] = []

    async def count(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reached.append(1)
        writer.close()

    target = await asyncio.start_server(count, "127.0.0.1", 0)
    port = target.sockets[0].getsockname()[1]
    fake = _FakeMetadataServer(("0.0.0.0", port))
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    try:
        yield fake, server.sockets[0].getsockname()[1], reached
    finally:
        server.close()
        target.close()


async def test_the_producer_refuses_a_loopback_bootstrap_that_advertises_a_remote_broker(
    listeners: tuple[_FakeMetadataServer, int, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    fake, port, reached = listeners
    driver = KafkaProducerDriver(
        KafkaProducerConfig(f"127.0.0.1:{port}", "orders", request_timeout_ms=2_000), []
    )  # type: ignore[arg-type]
    with pytest.raises(UnsafeTargetError, match=r"broker 1 at 0\.0\.0\.0"):
        await asyncio.wait_for(driver.start(), 20.0)
    assert METADATA in fake.requests  # the refusal came from the metadata, not a timeout
    assert reached == []


class _RdKafkaClient:
    """Stands for a confluent-kafka client: ``list_topics`` returns its real metadata type."""

    def __init__(self, *brokers: tuple[int, str, int]) -> None:
        self.metadata = ClusterMetadata()
        for node_id, host, port in brokers:
            broker = BrokerMetadata()
            broker.id, broker.host, broker.port = node_id, host, port
            self.metadata.brokers[node_id] = broker

    def list_topics(self, timeout: float) -> ClusterMetadata:
        return self.metadata


def test_rdkafka_metadata_advertising_a_remote_broker_is_refused() -> None:
    check_rdkafka_brokers(_RdKafkaClient((1, "127.0.0.1", 9091), (2, "localhost", 9092)))
    with pytest.raises(UnsafeTargetError, match=r"broker 2 at kafka-2:9092"):
        check_rdkafka_brokers(_RdKafkaClient((1, "127.0.0.1", 9091), (2, "kafka-2", 9092)))
