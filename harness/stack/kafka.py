"""Kafka nodes in KRaft mode: configuration, storage formatting and the command that runs one.

Each node is broker and controller at once. Three listeners keep client traffic apart:
``CLIENT`` (advertised as the node's Toxiproxy address, so every client connection, bootstrap
and per-partition leader alike, crosses the proxy), ``INTERNAL`` for replication and
``CONTROLLER`` for the Raft quorum; the last two bypass Toxiproxy so a client-side fault does
not also partition the cluster.
"""

from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path

from harness.errors import StackError
from harness.stack import layout, netcut
from harness.stack.state import NodeState

HEAP_OPTS = ["-Xms256m", "-Xmx512m"]
JVM_OPTS = [
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
]
MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"

LOG4J2 = """status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


def new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes in URL-safe base64 without padding.

    Never one that starts with ``-``: ``kafka-storage format -t -x...`` would read it as an
    option and fail the stack's start (one id in 64), so such ids are drawn again, as Kafka's
    own ``Uuid.randomUuid`` does.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def server_properties(node_id: int, brokers: int, data_dir: Path) -> str:
    """The ``server.properties`` of node ``node_id`` in a ``brokers``-node cluster."""
    ports = layout.KafkaPorts(node_id)
    host = layout.HOST
    voters = ",".join(
        f"{n}@{host}:{layout.KafkaPorts(n).controller}" for n in range(1, brokers + 1)
    )
    replication = min(3, brokers)
    settings = {
        "process.roles": "broker,controller",
        "node.id": node_id,
        "controller.quorum.voters": voters,
        "listeners": f"CLIENT://{host}:{ports.client},INTERNAL://{host}:{ports.internal},"
        f"CONTROLLER://{host}:{ports.controller}",
        "advertised.listeners": f"CLIENT://{host}:{ports.proxy},INTERNAL://{host}:{ports.internal}",
        "listener.security.protocol.map": "CLIENT:PLAINTEXT,INTERNAL:PLAINTEXT,"
        "CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "INTERNAL",
        "controller.listener.names": "CONTROLLER",
        "log.dirs": data_dir,
        "num.partitions": 1,
        "default.replication.factor": replication,
        "offsets.topic.replication.factor": replication,
        "transaction.state.log.replication.factor": replication,
        "transaction.state.log.min.isr": min(2, brokers),
        "share.coordinator.state.topic.replication.factor": replication,
        "share.coordinator.state.topic.min.isr": min(2, brokers),
        "group.initial.rebalance.delay.ms": 0,
        "auto.create.topics.enable": "true",
        "unclean.leader.election.enable": "false",
        # Shorter than the 30 s default so a paused follower leaves the ISR, and acks=all
        # writes resume, within a test's patience.
        "replica.lag.time.max.ms": 10000,
        "num.network.threads": 2,
        "num.io.threads": 4,
        "log.segment.bytes": 64 * 1024 * 1024,
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def java_argv(libs: Path, node_dir: Path, main: str, *args: str) -> list[str]:
    return [
        "java",
        *HEAP_OPTS,
        *JVM_OPTS,
        f"-Dlog4j2.configurationFile={node_dir / 'log4j2.properties'}",
        "-cp",
        f"{libs}/*",
        main,
        *args,
    ]


def prepare_node(node_id: int, brokers: int, libs: Path, run_dir: Path) -> NodeState:
    """Write node ``node_id``'s config into a fresh directory; return how to run it."""
    name = layout.kafka_node_name(node_id)
    node_dir = run_dir / name
    data_dir = node_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    (node_dir / "server.properties").write_text(server_properties(node_id, brokers, data_dir))
    (node_dir / "log4j2.properties").write_text(LOG4J2)
    ports = layout.KafkaPorts(node_id)
    return NodeState(
        name=name,
        kind="kafka",
        argv=java_argv(libs, node_dir, MAIN_CLASS, str(node_dir / "server.properties")),
        cwd=str(node_dir),
        data_dir=str(data_dir),
        log_file=str(run_dir / "logs" / f"{name}.log"),
        ports=ports.as_dict(),
        proxy=name,
        probe="kafka",
        probe_port=ports.client,
        cgroup=netcut.cgroup_for(name),
    )


def format_commands(nodes: list[NodeState], libs: Path, cluster_id: str) -> list[list[str]]:
    return [
        java_argv(libs, Path(node.cwd), STORAGE_TOOL, "format", "--ignore-formatted",
                  "-t", cluster_id, "-c", str(Path(node.cwd) / "server.properties"))
        for node in nodes
    ]  # fmt: skip


def format_storage(nodes: list[NodeState], libs: Path, cluster_id: str) -> None:
    """Format every node's log dir for ``cluster_id``, the JVMs running side by side."""
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for argv in format_commands(nodes, libs, cluster_id)
    ]
    failures = []
    for node, proc in zip(nodes, procs, strict=True):
        out, _ = proc.communicate(timeout=180)
        if proc.returncode != 0:
            failures.append(f"{node.name}: {out.strip()[-2000:]}")
    if failures:
        raise StackError(
            "Formatting Kafka storage failed; fix the cause shown below and run "
            "`harness stack up` again:\n" + "\n".join(failures)
        )


__all__ = ["format_storage", "new_cluster_id", "prepare_node", "server_properties"]
