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

from harness.errors import StackError
from harness.stack import layout
from harness.stack.handles import NodeHandle
from harness.stack.state import StackState, load_state, save_state
from harness.stack.toxiproxy import ToxiproxyClient


@dataclass
class Stack:
    """A handle on the stack described by one state file."""

    state: StackState
    path: Path = field(default_factory=layout.state_file)
    nodes: dict[str, NodeHandle] = field(init=False)
    services: dict[str, NodeHandle] = field(init=False)

    def __post_init__(self) -> None:
        self._build_handles()

    def _build_handles(self) -> None:
        self.nodes = {n: NodeHandle(s, self.save) for n, s in self.state.nodes.items()}
        self.services = {n: NodeHandle(s, self.save) for n, s in self.state.services.items()}

    @classmethod
    def load(cls, path: Path | None = None) -> Stack:
        """The stack a ``harness stack up`` started; ``StackError`` if none is recorded."""
        path = path or layout.state_file()
        state = load_state(path)
        if state is None:
            raise StackError(f"No stack is recorded in {path}. Start one with `harness stack up`.")
        return cls(state, path)

    def reload(self) -> None:
        """Re-read the state file (after another process restarted the stack)."""
        fresh = load_state(self.path)
        if fresh is None:
            raise StackError(
                f"The stack recorded in {self.path} is gone (was it taken down?). Start it "
                "again with `harness stack up`."
            )
        self.state = fresh
        self._build_handles()

    def save(self) -> None:
        save_state(self.state, self.path)

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
        disabled proxies."""
        repaired = self.heal_processes(timeout)
        with self.toxiproxy() as toxiproxy:
            toxiproxy.reset()
        return repaired


__all__ = ["Stack"]
