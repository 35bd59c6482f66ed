"""The state file: what a ``stack up`` started, so later processes can find and control it.

``status``, ``down``, the fault layer, ``heal`` and the tests all read it; only the backends
write it. It is plain JSON (``StackState.model_dump_json``) at ``layout.state_file()``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from harness.errors import StackError
from harness.stack import layout

NodeKind = Literal[
    "kafka", "rabbitmq", "toxiproxy", "epmd", "postgres", "nats", "moto", "pubsub", "sqs",
    "oauth",
]
ProbeKind = Literal[
    "kafka", "amqp", "http", "tcp", "postgres", "nats", "moto", "pubsub", "sqs", "oauth"
]
StopSignal = Literal["SIGTERM", "SIGINT"]


class ProxyState(BaseModel):
    """One Toxiproxy proxy: clients connect to ``listen``, which forwards to ``upstream``."""

    name: str
    listen: str
    upstream: str


class NodeState(BaseModel):
    """One supervised process: how it was started (to restart it) and how to probe it."""

    name: str
    kind: NodeKind
    pid: int | None = None
    start_ticks: int | None = Field(
        default=None, description="/proc start time, to tell the process from a reused pid"
    )
    argv: list[str]
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str
    data_dir: str
    log_file: str
    ports: dict[str, int] = Field(default_factory=dict)
    proxy: str | None = None
    probe: ProbeKind = "tcp"
    probe_port: int = 0
    service: str | None = Field(default=None, description="docker compose service name")
    cgroup: str | None = Field(
        default=None,
        description="cgroup v2 path (relative to its mount) the process starts in, for netcut",
    )
    stop_signal: StopSignal = Field(
        default="SIGTERM", description="the signal that asks the node to shut down cleanly"
    )


class StackState(BaseModel):
    """Everything one ``stack up`` started."""

    backend: Literal["local", "compose", "env"] = "local"
    kafka_brokers: int
    rabbitmq: bool
    cluster_id: str = ""
    toxiproxy_url: str = Field(default_factory=layout.toxiproxy_url)
    kafka_bootstrap: list[str]
    rabbitmq_url: str | None = Field(default=None, repr=False)  # holds the AMQP password
    postgres: bool = False
    postgres_dsn: str | None = Field(default=None, repr=False)  # holds the superuser's password
    nats_nodes: int = Field(default=0, description="NATS servers (0: none, 1, or 3 clustered)")
    nats_servers: list[str] = Field(default_factory=list)
    moto_endpoint: str | None = Field(
        default=None, description="the proxied SNS/EventBridge emulator (moto) endpoint URL"
    )
    pubsub: bool = Field(default=False, description="the Pub/Sub emulator runs (--with pubsub)")
    pubsub_emulator_host: str | None = Field(
        default=None, description="host:port of the emulator's proxy (PUBSUB_EMULATOR_HOST)"
    )
    sqs_endpoint: str | None = Field(default=None, description="proxied SQS endpoint URL")
    sqs_persistent: bool = Field(default=False, description="ElasticMQ keeps queues on disk")
    pubsub_project: str | None = Field(
        default=None, description="an env file's Pub/Sub project (None: the scenario's own)"
    )
    oauth_issuer: str | None = Field(
        default=None, description="the proxied OAuth2 issuer URL (mock-oauth2-server, --with oauth)"
    )
    nodes: dict[str, NodeState] = Field(default_factory=dict)
    services: dict[str, NodeState] = Field(default_factory=dict)
    proxies: list[ProxyState] = Field(default_factory=list)
    compose_file: str | None = None

    def all_processes(self) -> list[NodeState]:
        """Brokers first, then the helper services (Toxiproxy, epmd)."""
        return [*self.nodes.values(), *self.services.values()]


def load_state(path: Path | None = None) -> StackState | None:
    """The saved state, or ``None`` when no stack was brought up."""
    path = path or layout.state_file()
    if not path.exists():
        return None
    try:
        return StackState.model_validate_json(path.read_text())
    except ValueError as error:
        raise StackError(
            f"The stack state file {path} is unreadable ({error}). Stop any stack processes "
            f"by hand, delete the file, then run `harness stack up` again."
        ) from error


def save_state(state: StackState, path: Path | None = None) -> None:
    """Write atomically, so a reader never sees half a file."""
    path = path or layout.state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    # Owner-only: the file holds the AMQP URL with its password (shown redacted elsewhere).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(state.model_dump_json(indent=2))
    os.replace(tmp, path)


def clear_state(path: Path | None = None) -> None:
    (path or layout.state_file()).unlink(missing_ok=True)


__all__ = ["NodeState", "ProxyState", "StackState", "clear_state", "load_state", "save_state"]
