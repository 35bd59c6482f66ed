"""The env file of a stack ``harness stack up`` started, in the same format as any other.

``stack up`` writes it to ``$HARNESS_HOME/run/env.yaml``, so ``harness run --env`` reaches the
local stack exactly as it reaches a compose or staging stack. A local node's controls are
``harness stack kill-node|pause-node|resume-node|restart-node NAME`` (they find the node's
current pid in the state file, so they stay right across restarts); a compose node's are
``docker kill|pause|unpause|restart harness-SERVICE`` (its ``container_name``), the commands of
the shipped ``docker/env.yaml``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from harness.stack import layout, nats
from harness.stack.envfile import (
    DEFAULT_PUBSUB_PROJECT,
    EnvFile,
    EnvNode,
    KafkaEnv,
    MotoEnv,
    NatsEnv,
    NatsNode,
    NodeControl,
    OAuthEnv,
    PostgresEnv,
    PubsubEnv,
    RabbitEnv,
    SqsEnv,
    ToxiproxyEnv,
    write_env,
)
from harness.stack.state import NodeState, StackState

ENV_FILE_NAME = "env.yaml"
HEADER = "This stack as an env file (docs/environments.md): harness run --env FILE"
LOCAL_VERBS = {"kill": "kill-node", "pause": "pause-node", "resume": "resume-node",
               "restart": "restart-node"}  # fmt: skip
COMPOSE_VERBS = {"kill": "kill", "pause": "pause", "resume": "unpause", "restart": "restart"}


def env_file() -> Path:
    """Where ``stack up`` writes the running stack's env file."""
    return layout.run_dir() / ENV_FILE_NAME


def _local_control(name: str) -> NodeControl:
    prefix = ["env", f"{layout.HOME_ENV}={layout.harness_home()}",
              f"{layout.PORT_OFFSET_ENV}={layout.port_offset()}", sys.executable, "-m", "harness",
              "stack"]  # fmt: skip
    return NodeControl(
        **{control: [*prefix, verb, name] for control, verb in LOCAL_VERBS.items()},
        timeout=180.0, ready_timeout=30.0,
    )  # fmt: skip


def container_name(service: str) -> str:
    """The ``container_name`` docker-compose.yml gives a service."""
    return f"harness-{service}"


def _compose_control(service: str) -> NodeControl:
    return NodeControl(
        **{c: ["docker", verb, container_name(service)] for c, verb in COMPOSE_VERBS.items()},
        timeout=120.0, ready_timeout=180.0,
    )  # fmt: skip


def _node(state: StackState, node: NodeState) -> EnvNode:
    listen = f"{layout.HOST}:{node.ports['proxy']}" if "proxy" in node.ports else None
    if state.backend == "compose":
        # the node's own port is inside the compose network: probe it through its proxy
        control = _compose_control(node.service or node.name)
        return EnvNode(proxy=node.proxy, listen=listen, address=listen, control=control)
    address = f"{layout.HOST}:{node.probe_port}" if node.probe_port else None
    return EnvNode(
        proxy=node.proxy, listen=listen, address=address, control=_local_control(node.name)
    )


def _nats_node(state: StackState, node: NodeState) -> NatsNode:
    """A NATS node: its address is the server's client port (it answers INFO there), and on
    a local cluster its routes are the route proxies a ``route_cut`` disables."""
    base = _node(state, node)
    address = base.address
    routes: list[str] = []
    if state.backend != "compose":
        address = f"{layout.HOST}:{node.ports['client']}" if "client" in node.ports else None
        if state.nats_nodes > 1:
            routes = nats.route_proxies_of(int(node.name.rsplit("-", 1)[1]), state.nats_nodes)
    return NatsNode(
        proxy=base.proxy, listen=base.listen, address=address, routes=routes,
        control=base.control,
    )  # fmt: skip


def _nats_env(state: StackState) -> NatsEnv | None:
    if not state.nats_servers:
        return None
    nodes = {n.name: _nats_node(state, n) for n in state.nodes.values() if n.kind == "nats"}
    return NatsEnv(servers=state.nats_servers, nodes=nodes)


def _emulator_node(state: StackState, kind: str) -> EnvNode | None:
    node = next((n for n in state.nodes.values() if n.kind == kind), None)
    return _node(state, node) if node is not None else None


def _moto_env(state: StackState) -> MotoEnv | None:
    if not state.moto_endpoint:
        return None
    return MotoEnv(endpoint=state.moto_endpoint, node=_emulator_node(state, "moto"))


def _pubsub_env(state: StackState) -> PubsubEnv | None:
    if not state.pubsub_emulator_host:
        return None
    return PubsubEnv(
        emulator_host=state.pubsub_emulator_host,
        project=state.pubsub_project or DEFAULT_PUBSUB_PROJECT,
        node=_emulator_node(state, "pubsub"),
    )


def _oauth_env(state: StackState) -> OAuthEnv | None:
    if not state.oauth_issuer:
        return None
    return OAuthEnv(issuer=state.oauth_issuer, node=_emulator_node(state, "oauth"))


def env_of_state(state: StackState) -> EnvFile:
    """The env file describing the stack ``state`` records."""
    by_kind = {kind: {n.name: n for n in state.nodes.values() if n.kind == kind}
               for kind in ("kafka", "rabbitmq", "postgres", "sqs")}  # fmt: skip
    kafka = None
    if state.kafka_bootstrap:
        nodes = {name: _node(state, node) for name, node in by_kind["kafka"].items()}
        kafka = KafkaEnv(bootstrap=state.kafka_bootstrap, nodes=nodes)
    rabbit = None
    if state.rabbitmq_url:
        node = next(iter(by_kind["rabbitmq"].values()), None)
        rabbit = RabbitEnv(url=state.rabbitmq_url, node=_node(state, node) if node else None)
    postgres = None
    if state.postgres_dsn:
        node = next(iter(by_kind["postgres"].values()), None)
        postgres = PostgresEnv(dsn=state.postgres_dsn, node=_node(state, node) if node else None)
    sqs = None
    if state.sqs_endpoint:
        node = next(iter(by_kind["sqs"].values()), None)
        sqs = SqsEnv(endpoint=state.sqs_endpoint, node=_node(state, node) if node else None)
    return EnvFile(
        version=1, kafka=kafka, rabbitmq=rabbit, postgres=postgres, nats=_nats_env(state),
        sqs=sqs,
        moto=_moto_env(state), pubsub=_pubsub_env(state), oauth=_oauth_env(state),
        toxiproxy=ToxiproxyEnv(api=state.toxiproxy_url),
    )  # fmt: skip


def write_local_env(state: StackState, path: Path | None = None) -> Path:
    """Write the env file of the stack ``state`` records; return its path."""
    path = path or env_file()
    write_env(env_of_state(state), path, HEADER)
    return path


__all__ = ["ENV_FILE_NAME", "container_name", "env_file", "env_of_state", "write_local_env"]
