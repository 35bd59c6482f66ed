"""The docker compose backend: the same topology, names and ports as the local one.

Used by ``harness stack up --backend compose`` where a Docker engine answers. The compose file
publishes the default ports (``$HARNESS_PORT_OFFSET`` does not apply to it). The compose file
fixes three Kafka nodes; its Toxiproxy loads the same proxies from ``docker/toxiproxy.json``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from harness.errors import StackError
from harness.stack import elasticmq, layout, local, nats, oauth, process, pubsub
from harness.stack.postgres import dsn
from harness.stack.state import NodeState, StackState, clear_state, load_state, save_state

COMPOSE_BROKERS = 3
COMPOSE_POSTGRES_PASSWORD = "harness"  # docker-compose.yml's POSTGRES_PASSWORD (loopback only)
ENGINE_TIMEOUT = 15.0


def compose_file() -> Path:
    """``docker-compose.yml`` at the repository root (beside the ``harness`` package)."""
    return Path(__file__).resolve().parents[2] / "docker-compose.yml"


def _docker() -> str:
    docker = shutil.which("docker")
    if not docker:
        raise StackError(
            "The compose backend needs Docker, and no `docker` command is on PATH. "
            "Use the default local backend (`harness stack up`), which needs no Docker."
        )
    return docker


def engine_answers() -> tuple[bool, str]:
    """Whether a Docker engine answers ``docker info``, and what it said otherwise."""
    try:
        result = subprocess.run(
            [_docker(), "info", "--format", "{{.ServerVersion}}"],
            capture_output=True, text=True, timeout=ENGINE_TIMEOUT,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return False, f"`docker info` did not answer within {ENGINE_TIMEOUT:.0f}s"
    if result.returncode != 0:
        return False, (result.stderr or result.stdout).strip().splitlines()[-1:][0]
    return True, result.stdout.strip()


def compose_argv(*args: str, file: Path | None = None) -> list[str]:
    return [_docker(), "compose", "-f", str(file or compose_file()), *args]


def services_for(
    with_rabbitmq: bool,
    with_postgres: bool = False,
    with_nats: bool = False,
    with_moto: bool = False,
    with_pubsub: bool = False,
    with_sqs: bool = False,
    with_oauth: bool = False,
) -> list[str]:
    kafka = [layout.kafka_node_name(n) for n in range(1, COMPOSE_BROKERS + 1)]
    optional = [*(["rabbitmq"] if with_rabbitmq else []), *(["postgres"] if with_postgres else [])]
    optional += [layout.nats_node_name(1)] if with_nats else []
    optional += ["moto"] if with_moto else []  # profile sns; `stack up --backend compose` skips it
    optional += [layout.PUBSUB_NODE] if with_pubsub else []
    optional += [layout.SQS_NODE] if with_sqs else []
    optional += [layout.OAUTH_NODE] if with_oauth else []
    return ["toxiproxy", *kafka, *optional]


def _node_shape(name: str) -> tuple[str, int]:
    """A compose service's node kind (also its probe) and its proxy port."""
    if name.startswith("kafka-"):
        return "kafka", layout.KafkaPorts(int(name[-1])).proxy
    if name == "postgres":
        return "postgres", layout.POSTGRES_PROXY_PORT
    if name.startswith("nats-"):
        return "nats", layout.NATS_PROXY_BASE + int(name[-1])
    if name == layout.PUBSUB_NODE:
        return "pubsub", layout.PUBSUB_PROXY_PORT
    if name == layout.SQS_NODE:
        return "sqs", layout.SQS_PROXY_PORT
    if name == layout.OAUTH_NODE:
        return "oauth", layout.OAUTH_PROXY_PORT
    return "rabbitmq", layout.RABBITMQ_PROXY_PORT


def _state(
    with_rabbitmq: bool,
    file: Path,
    with_postgres: bool = False,
    with_nats: bool = False,
    with_pubsub: bool = False,
    with_sqs: bool = False,
    with_oauth: bool = False,
) -> StackState:
    state = StackState(
        backend="compose",
        kafka_brokers=COMPOSE_BROKERS,
        rabbitmq=with_rabbitmq,
        kafka_bootstrap=layout.kafka_bootstrap(COMPOSE_BROKERS),
        rabbitmq_url=layout.rabbitmq_url() if with_rabbitmq else None,
        postgres=with_postgres,
        postgres_dsn=dsn(COMPOSE_POSTGRES_PASSWORD, layout.POSTGRES_PROXY_PORT)
        if with_postgres
        else None,
        compose_file=str(file),
        nats_nodes=1 if with_nats else 0,
        nats_servers=[f"nats://{layout.HOST}:{layout.NATS_PROXY_BASE + 1}"] if with_nats else [],
        pubsub=with_pubsub,
        pubsub_emulator_host=f"{layout.HOST}:{layout.PUBSUB_PROXY_PORT}" if with_pubsub else None,
        sqs_endpoint=f"http://{layout.HOST}:{layout.SQS_PROXY_PORT}" if with_sqs else None,
        oauth_issuer=oauth.issuer_url(layout.OAUTH_PROXY_PORT) if with_oauth else None,
    )
    services = services_for(
        with_rabbitmq, with_postgres, with_nats, with_pubsub=with_pubsub, with_sqs=with_sqs,
        with_oauth=with_oauth,
    )  # fmt: skip
    for name in services[1:]:
        kind, port = _node_shape(name)
        # A compose NATS node is probed through its proxy (its monitoring port is not published).
        probe = {"rabbitmq": "amqp", "nats": "tcp"}.get(kind, kind)
        state.nodes[name] = NodeState(
            name=name, kind=kind, argv=[], cwd=str(file.parent), data_dir="", log_file="",
            ports={"proxy": port}, proxy=name, probe=probe, probe_port=port, service=name,
        )  # fmt: skip
    return state


def up(
    brokers: int,
    with_rabbitmq: bool,
    with_postgres: bool = False,
    timeout: float = 240.0,
    with_nats: bool = False,
    with_pubsub: bool = False,
    with_sqs: bool = False,
    with_oauth: bool = False,
) -> StackState:
    """``docker compose up -d`` the topology and wait until every node answers via its proxy."""
    if brokers != COMPOSE_BROKERS:
        raise StackError(
            f"The compose topology has {COMPOSE_BROKERS} Kafka nodes; run it with "
            f"--kafka-brokers {COMPOSE_BROKERS}, or use the local backend for {brokers}."
        )
    running = load_state()
    if running is not None and running.backend == "local" and local.running_nodes(running):
        raise StackError(
            "A local stack is running on the same ports; run `harness stack down` first."
        )
    answers, detail = engine_answers()
    if not answers:
        raise StackError(
            f"No Docker engine answers ({detail}), so `--backend compose` cannot start. "
            "Start Docker, or use the local backend: `harness stack up` (no Docker needed)."
        )
    file = compose_file()
    services = services_for(
        with_rabbitmq, with_postgres, with_nats, with_pubsub=with_pubsub, with_sqs=with_sqs,
        with_oauth=with_oauth,
    )  # fmt: skip
    profiles = ["--profile", "nats"] if with_nats else []
    profiles += ["--profile", "pubsub"] if with_pubsub else []
    profiles += ["--profile", "sqs"] if with_sqs else []
    profiles += ["--profile", "oauth"] if with_oauth else []
    subprocess.run(compose_argv(*profiles, "up", "-d", *services, file=file), check=True)
    state = _state(with_rabbitmq, file, with_postgres, with_nats, with_pubsub, with_sqs, with_oauth)
    save_state(state)
    deadline = time.monotonic() + timeout
    for node in state.nodes.values():
        ready = {
            "kafka": process.kafka_ready,
            "postgres": process.postgres_ready,
            "nats": nats.info_ready,
            "pubsub": pubsub.grpc_ready,
            "sqs": elasticmq.ready,
            "oauth": oauth.ready,
        }.get(node.kind, process.amqp_ready)
        remaining = max(1.0, deadline - time.monotonic())
        process.wait_until(lambda n=node, r=ready: r(n.probe_port), remaining, node.name)
        print(f"[stack] {node.name} ready at {layout.HOST}:{node.probe_port}", file=sys.stderr)
    return state


def down(state: StackState) -> None:
    file = Path(state.compose_file) if state.compose_file else compose_file()
    subprocess.run(compose_argv("down", "-v", file=file), check=True)
    clear_state()


__all__ = ["compose_argv", "compose_file", "down", "engine_answers", "services_for", "up"]
