"""``Stack``: the running stack as the fault layer, drivers and tests see it.

Loaded from the state file that ``harness stack up`` wrote, so any process can drive a stack
another process started.

    >>> stack = Stack.load()
    >>> stack.kafka_bootstrap          # proxied addresses: every byte crosses Toxiproxy
    ['127.0.0.1:9091', '127.0.0.1:9092', '127.0.0.1:9093']
    >>> stack.nodes["kafka-1"].pause()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from harness.errors import StackError
from harness.safety import split_host_port
from harness.stack import layout, nats, netcut, oauth
from harness.stack.commanded import CommandedNode
from harness.stack.envaddress import check_env_addresses
from harness.stack.envfile import EnvFile, EnvNode, NatsNode, load_env
from harness.stack.handles import NodeHandle
from harness.stack.state import NodeState, ProxyState, StackState, load_state, save_state
from harness.stack.toxiproxy import ToxiproxyClient


@dataclass
class Stack:
    """A handle on the stack described by one state file."""

    state: StackState
    path: Path = field(default_factory=layout.state_file)
    env: EnvFile | None = field(default=None, repr=False)
    """The env file this stack was read from (``from_env``): its nodes are commanded."""
    nodes: dict[str, NodeHandle] = field(init=False)
    services: dict[str, NodeHandle] = field(init=False)

    def __post_init__(self) -> None:
        self._build_handles()

    def _build_handles(self) -> None:
        if self.env is not None:
            self.nodes = {
                n: _commanded(s, self.env, str(self.path)) for n, s in self.state.nodes.items()
            }
            self.services = {}
            return
        self.nodes = {n: NodeHandle(s, self.save) for n, s in self.state.nodes.items()}
        self.services = {n: NodeHandle(s, self.save) for n, s in self.state.services.items()}

    @classmethod
    def from_env(cls, env: EnvFile, path: str | Path) -> Stack:
        """The environment an env file describes; every address is checked against the
        allow-list first (``UnsafeTargetError`` naming the file and field)."""
        check_env_addresses(env, str(path))
        return cls(state_of_env(env), Path(path), env)

    @classmethod
    def open(cls, env_file: str | Path | None = None) -> Stack:
        """The stack of ``env_file`` if one is given, else the one ``harness stack up`` recorded."""
        if env_file is None:
            return cls.load()
        return cls.from_env(load_env(env_file), env_file)

    @classmethod
    def load(cls, path: Path | None = None) -> Stack:
        """The stack a ``harness stack up`` started; ``StackError`` if none is recorded."""
        path = path or layout.state_file()
        state = load_state(path)
        if state is None:
            raise StackError(f"No stack is recorded in {path}. Start one with `harness stack up`.")
        return cls(state, path)

    def reload(self) -> None:
        """Re-read the state file (after another process restarted the stack); an env file's
        stack has nothing to re-read."""
        if self.env is not None:
            return
        fresh = load_state(self.path)
        if fresh is None:
            raise StackError(
                f"The stack recorded in {self.path} is gone (was it taken down?). Start it "
                "again with `harness stack up`."
            )
        self.state = fresh
        self._build_handles()

    def save(self) -> None:
        if self.env is None:  # an env file is the user's: never written over
            save_state(self.state, self.path)

    @property
    def kafka_brokers(self) -> int:
        """How many Kafka brokers the stack has (an env file may list fewer nodes)."""
        return max(self.state.kafka_brokers, len(self.kafka_nodes()))

    @property
    def kafka_bootstrap(self) -> list[str]:
        return list(self.state.kafka_bootstrap)

    @property
    def kafka_bootstrap_servers(self) -> str:
        """The bootstrap list as one comma-separated string (aiokafka accepts either)."""
        return ",".join(self.state.kafka_bootstrap)

    @property
    def rabbitmq_url(self) -> str:
        if not self.state.rabbitmq_url:
            raise StackError(
                "This stack runs no RabbitMQ; run `harness stack down`, then `harness stack up` "
                "without --no-rabbitmq."
            )
        return self.state.rabbitmq_url

    @property
    def postgres_dsn(self) -> str:
        """The superuser's libpq URL through the ``postgres`` proxy (holds its password:
        show it only through ``harness.safety.redact_url``)."""
        if not self.state.postgres_dsn:
            raise StackError(
                "This stack runs no PostgreSQL. Start it with `harness stack up --with postgres` "
                "(on a running stack, that adds it)."
            )
        return self.state.postgres_dsn

    @property
    def sqs_endpoint(self) -> str:
        """The proxied SQS endpoint URL (``http://127.0.0.1:9324``)."""
        if not self.state.sqs_endpoint:
            raise StackError(
                "This stack runs no SQS. Start it with `harness stack up --with sqs` (add "
                "--sqs-persistent to keep messages on disk; on a running stack, that adds it)."
            )
        return self.state.sqs_endpoint

    @property
    def nats_servers(self) -> list[str]:
        """The proxied NATS client URLs (``nats://127.0.0.1:4221``...)."""
        if not self.state.nats_servers:
            raise StackError(
                "This stack runs no NATS. Start it with `harness stack up --with nats` "
                "(add --nats-nodes 3 for JetStream R3; on a running stack, that adds it)."
            )
        return list(self.state.nats_servers)

    def nats_nodes(self) -> list[NodeHandle]:
        return [h for h in self.nodes.values() if h.kind == "nats"]

    @property
    def nats_node_count(self) -> int:
        """How many NATS servers the stack has (an env file may list fewer nodes)."""
        return max(self.state.nats_nodes, len(self.nats_nodes()))

    def nats_route_proxies(self, name: str) -> list[str]:
        """The route proxies carrying NATS node ``name``'s cluster routes (what ``route_cut``
        disables): an env file's ``routes:`` for the node, else the local stack's layout."""
        if self.env is not None:
            node = self.env.nats.nodes.get(name) if self.env.nats is not None else None
            return list(node.routes) if isinstance(node, NatsNode) else []
        node_id = int(name.rsplit("-", 1)[1])
        return nats.route_proxies_of(node_id, self.nats_node_count)

    @property
    def moto_endpoint(self) -> str:
        """The proxied endpoint URL of the SNS/EventBridge emulator (``http://127.0.0.1:4566``)."""
        if not self.state.moto_endpoint:
            raise StackError(
                "This stack runs no SNS/EventBridge emulator. Start it with `harness stack up "
                "--with sns` (on a running stack, that adds it)."
            )
        return self.state.moto_endpoint

    @property
    def pubsub_emulator_host(self) -> str:
        """``host:port`` of the Pub/Sub emulator's proxy (what ``PUBSUB_EMULATOR_HOST`` holds)."""
        if not self.state.pubsub_emulator_host:
            raise StackError(
                "This stack runs no Pub/Sub emulator. Start it with `harness stack up --with "
                "pubsub` (on a running stack, that adds it)."
            )
        return self.state.pubsub_emulator_host

    @property
    def oauth_issuer(self) -> str:
        """The proxied OAuth2 issuer URL (``http://127.0.0.1:8180/default``)."""
        if not self.state.oauth_issuer:
            raise StackError(
                "This stack runs no OAuth2 issuer. Start it with `harness stack up --with oauth` "
                "(on a running stack, that adds it)."
            )
        return self.state.oauth_issuer

    def oauth_signing_key(self) -> rsa.RSAPrivateKey | None:
        """The local issuer's private key (None: no local issuer, or its config unreadable)."""
        node = self.state.nodes.get(oauth.NODE)
        return oauth.signing_key(node) if node is not None else None

    @property
    def has_postgres(self) -> bool:
        return bool(self.state.postgres_dsn)

    @property
    def toxiproxy_url(self) -> str:
        return self.state.toxiproxy_url

    def toxiproxy(self, timeout: float = 5.0) -> ToxiproxyClient:
        """A client of this stack's Toxiproxy API (refused off loopback unless allow-listed)."""
        return ToxiproxyClient(self.toxiproxy_url, timeout=timeout)

    def kafka_nodes(self) -> list[NodeHandle]:
        return [h for h in self.nodes.values() if h.kind == "kafka"]

    def broker(self, node_id: int) -> NodeHandle:
        """The handle of the Kafka node with ``node.id`` ``node_id``."""
        name = layout.kafka_node_name(node_id)
        if name not in self.nodes:
            raise StackError(
                f"No Kafka node {node_id!r} in this stack (it has {list(self.nodes)}). Use one of "
                "those, or start more brokers with `harness stack up --kafka-brokers N`."
            )
        return self.nodes[name]

    def node(self, name: str) -> NodeHandle:
        every = {**self.nodes, **self.services}
        if name not in every:
            raise StackError(
                f"No node named {name!r}; this stack has {sorted(every)}. Use one of those names "
                "(`harness stack status` lists them)."
            )
        return every[name]

    def heal_processes(self, timeout: float = 120.0) -> list[str]:
        """Resume paused nodes and restart dead ones; return what was repaired. (Compose
        nodes are containers the harness does not supervise: nothing to do for them.)"""
        repaired: list[str] = []
        if self.state.backend == "compose":
            return repaired
        if self.env is not None:
            for handle in self.nodes.values():
                if isinstance(handle, CommandedNode):
                    repaired += handle.heal(timeout)
            return repaired
        for handle in [*self.services.values(), *self.nodes.values()]:
            if handle.is_paused():
                handle.resume()
                repaired.append(f"resumed {handle.name}")
            elif not handle.is_alive():
                handle.restart(timeout)
                repaired.append(f"restarted {handle.name}")
        return repaired

    def heal(self, timeout: float = 120.0) -> list[str]:
        """Undo every fault: processes first (Toxiproxy may be among them), then toxics and
        disabled proxies, then every network cut between brokers (the harness's iptables
        chain, flushed whole in case a run's journal was lost)."""
        repaired = self.heal_processes(timeout)
        with self.toxiproxy() as toxiproxy:
            toxiproxy.reset()
        if netcut.flush():
            repaired.append(f"removed the network cuts (iptables chain {netcut.chain()})")
        return repaired


def _node_state(name: str, kind: str, node: EnvNode) -> NodeState:
    ports = {"proxy": split_host_port(node.listen)[1]} if node.listen else {}
    probe = {"kafka": "kafka", "rabbitmq": "amqp", "postgres": "postgres", "nats": "tcp",
             "moto": "moto", "pubsub": "pubsub", "sqs": "sqs", "oauth": "oauth"}[kind]  # fmt: skip
    return NodeState(
        name=name, kind=kind, argv=[], cwd="", data_dir="", log_file="", ports=ports,
        proxy=node.proxy, probe=probe,
        probe_port=split_host_port(node.address)[1] if node.address else 0,
    )  # type: ignore[arg-type]  # fmt: skip


def state_of_env(env: EnvFile) -> StackState:
    """The state an env file's stack presents to the runner (nothing is supervised)."""
    nodes = {name: _node_state(name, kind, node) for name, (kind, node) in env.nodes().items()}
    kafka = env.kafka
    return StackState(
        backend="env",
        kafka_brokers=len(kafka.bootstrap) if kafka else 0,
        rabbitmq=env.rabbitmq is not None,
        toxiproxy_url=env.toxiproxy.api,
        kafka_bootstrap=list(kafka.bootstrap) if kafka else [],
        rabbitmq_url=env.rabbitmq.url if env.rabbitmq else None,
        postgres=env.postgres is not None,
        postgres_dsn=env.postgres.dsn if env.postgres else None,
        nats_nodes=len(env.nats.servers) if env.nats else 0,
        nats_servers=list(env.nats.servers) if env.nats else [],
        sqs_endpoint=env.sqs.endpoint if env.sqs else None,
        moto_endpoint=env.moto.endpoint if env.moto else None,
        pubsub=env.pubsub is not None,
        pubsub_emulator_host=env.pubsub.emulator_host if env.pubsub else None,
        pubsub_project=env.pubsub.project if env.pubsub else None,
        nodes=nodes,
        proxies=[
            ProxyState(name=node.proxy, listen=node.listen or "", upstream=node.address or "")
            for _, node in env.nodes().values()
            if node.proxy
        ],
    )


def _commanded(state: NodeState, env: EnvFile, source: str) -> CommandedNode:
    node = env.nodes()[state.name][1]
    return CommandedNode(
        state, control=node.control, address=node.address, client=node.listen, source=source
    )


__all__ = ["Stack", "state_of_env"]
