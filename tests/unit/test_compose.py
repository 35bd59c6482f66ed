"""docker-compose.yml describes the local stack's topology: names, ports, advertised listeners
pointing at Toxiproxy, and the same proxies. (No Docker engine here: structure only.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from harness.stack import layout
from harness.stack.compose import COMPOSE_POSTGRES_PASSWORD, compose_file, services_for
from harness.stack.local import proxies_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _default_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    """The compose file publishes the default ports, whatever offset this shell uses."""
    monkeypatch.delenv(layout.PORT_OFFSET_ENV, raising=False)


@pytest.fixture(scope="module")
def compose() -> dict:
    return YAML(typ="safe").load(compose_file().read_text())


@pytest.fixture(scope="module")
def toxiproxy_config() -> list[dict]:
    return json.loads((ROOT / "docker" / "toxiproxy.json").read_text())


def test_services_are_the_local_stacks_nodes(compose: dict) -> None:
    assert set(compose["services"]) == set(
        services_for(
            with_rabbitmq=True,
            with_postgres=True,
            with_nats=True,
            with_moto=True,
            with_pubsub=True,
            with_sqs=True,
            with_oauth=True,
        )  # fmt: skip
    )
    assert compose_file() == ROOT / "docker-compose.yml"


@pytest.mark.parametrize("node_id", [1, 2, 3])
def test_each_broker_advertises_its_proxy_to_clients(compose: dict, node_id: int) -> None:
    env = compose["services"][f"kafka-{node_id}"]["environment"]
    ports = layout.KafkaPorts(node_id)
    advertised = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert advertised["CLIENT"] == f"127.0.0.1:{ports.proxy}"
    assert advertised["INTERNAL"] == f"kafka-{node_id}:{ports.internal}"
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == "INTERNAL"
    assert env["KAFKA_NODE_ID"] == str(node_id)
    assert f"CLIENT://0.0.0.0:{ports.client}" in env["KAFKA_LISTENERS"]
    voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
    assert voters == [f"{n}@kafka-{n}:{layout.KafkaPorts(n).controller}" for n in (1, 2, 3)]


def test_only_toxiproxy_publishes_ports_and_they_are_the_local_ones(compose: dict) -> None:
    published = {name: service.get("ports", []) for name, service in compose["services"].items()}
    assert {name for name, ports in published.items() if ports} == {"toxiproxy"}
    expected = {layout.TOXIPROXY_API_PORT, layout.RABBITMQ_PROXY_PORT, layout.POSTGRES_PROXY_PORT,
                layout.NATS_PROXY_BASE + 1, layout.MOTO_PROXY_PORT,
                layout.PUBSUB_PROXY_PORT, layout.SQS_PROXY_PORT}  # fmt: skip
    expected |= {layout.KafkaPorts(n).proxy for n in (1, 2, 3)}
    host_ports = set()
    for mapping in published["toxiproxy"]:
        host, host_port, container_port = mapping.split(":")
        assert host == "127.0.0.1" and host_port == container_port
        host_ports.add(int(host_port))
    assert host_ports == expected


def test_toxiproxy_config_has_the_local_proxies(toxiproxy_config: list[dict]) -> None:
    local = {
        p.name: p
        for p in proxies_for(
            3,
            with_rabbitmq=True,
            with_postgres=True,
            nats_nodes=1,
            with_moto=True,
            with_pubsub=True,
            with_sqs=True,
            with_oauth=True,
        )  # fmt: skip
    }
    assert {p["name"] for p in toxiproxy_config} == set(local)
    for proxy in toxiproxy_config:
        listen_port = proxy["listen"].rsplit(":", 1)[1]
        upstream_host, upstream_port = proxy["upstream"].rsplit(":", 1)
        assert listen_port == local[proxy["name"]].listen.rsplit(":", 1)[1]
        assert upstream_port == local[proxy["name"]].upstream.rsplit(":", 1)[1]
        assert upstream_host == proxy["name"]  # the compose service of the same name
        assert proxy["enabled"] is True


def test_toxiproxy_service_loads_that_config(compose: dict) -> None:
    service = compose["services"]["toxiproxy"]
    assert "./docker/toxiproxy.json:/config/toxiproxy.json:ro" in service["volumes"]
    assert "-config=/config/toxiproxy.json" in service["command"]
    assert service["image"].endswith(layout.TOXIPROXY_VERSION.lstrip("v"))


def test_rabbitmq_listens_on_the_proxys_upstream_port(compose: dict) -> None:
    env = compose["services"]["rabbitmq"]["environment"]
    assert env["RABBITMQ_NODE_PORT"] == str(layout.RABBITMQ_AMQP_PORT)


def test_postgres_listens_on_the_proxys_upstream_port(compose: dict) -> None:
    service = compose["services"]["postgres"]
    assert service["environment"]["PGPORT"] == str(layout.POSTGRES_PORT)
    assert service["command"][-1] == str(layout.POSTGRES_PORT)
    assert service["environment"]["POSTGRES_PASSWORD"] == COMPOSE_POSTGRES_PASSWORD
