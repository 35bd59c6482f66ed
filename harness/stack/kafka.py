"""Kafka nodes in KRaft mode: configuration, storage formatting and the command that runs one.

Each node is broker and controller at once. Three listeners keep client traffic apart:
``CLIENT`` (advertised as the node's Toxiproxy address, so every client connection, bootstrap
and per-partition leader alike, crosses the proxy), ``INTERNAL`` for replication and
``CONTROLLER`` for the Raft quorum; the last two bypass Toxiproxy so a client-side fault does
not also partition the cluster.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import tempfile
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


def java_argv(
    libs: Path, node_dir: Path, main: str, *args: str, cds: tuple[str, ...] = ()
) -> list[str]:
    return [
        "java",
        *HEAP_OPTS,
        *JVM_OPTS,
        *cds,
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
    cds = cds_options(libs)
    return NodeState(
        name=name,
        kind="kafka",
        argv=java_argv(libs, node_dir, MAIN_CLASS, str(node_dir / "server.properties"), cds=cds),
        cwd=str(node_dir),
        data_dir=str(data_dir),
        log_file=str(run_dir / "logs" / f"{name}.log"),
        ports=ports.as_dict(),
        proxy=name,
        probe="kafka",
        probe_port=ports.client,
        cgroup=netcut.cgroup_for(name),
    )


def cds_archive(libs: Path) -> Path:
    """The broker's class-data sharing archive for this classpath and JDK (maybe not made yet)."""
    listing = libs / ".complete"
    java = Path(shutil.which("java") or "java").resolve()
    stat = java.stat() if java.exists() else None
    key = b"%s|%s|%s|%s" % (
        listing.read_bytes() if listing.exists() else str(libs.resolve()).encode(),
        str(java).encode(),
        str(stat.st_mtime_ns if stat else 0).encode(),
        " ".join([*HEAP_OPTS, *JVM_OPTS]).encode(),
    )
    digest = hashlib.sha256(key).hexdigest()[:16]
    return layout.harness_home() / "cache" / f"kafka-cds-{digest}.jsa"


def cds_options(libs: Path) -> tuple[str, ...]:
    """JVM options that load the broker's classes from a class-data sharing archive.

    A broker JVM spends much of its start-up CPU loading and verifying Kafka's classes; mapped
    from an AppCDS archive they cost about a third less, which on a 2-core machine starting
    three brokers at once is seconds of ``stack up``. There is no archive until a broker has
    run: ``dump_cds`` then has the running broker write one (``jcmd VM.cds static_dump``, in
    the background), and the next ``up`` checks it (a JVM must map it) before using it. A JVM
    that cannot use an archive runs without one, so a stale archive costs speed, never
    correctness.
    """
    archive = cds_archive(libs)
    pending = archive.with_suffix(".pending")
    if not archive.exists() and pending.exists():
        if _archive_maps(pending, libs):
            os.replace(pending, archive)
        else:
            pending.unlink(missing_ok=True)
    return (f"-XX:SharedArchiveFile={archive}",) if archive.exists() else ()


def dump_cds(node: NodeState, libs: Path) -> None:
    """Have the running broker ``node`` write the class-data sharing archive in the background
    (a detached ``jcmd``; about a minute of one core, once per ``$HARNESS_HOME``)."""
    archive = cds_archive(libs)
    jcmd = shutil.which("jcmd")
    if archive.exists() or archive.with_suffix(".pending").exists() or not jcmd or not node.pid:
        return
    archive.parent.mkdir(parents=True, exist_ok=True)
    argv = [jcmd, str(node.pid), "VM.cds", "static_dump", str(archive.with_suffix(".pending"))]
    with open(Path(node.log_file).with_name("cds-dump.log"), "ab") as log:
        subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         cwd=archive.parent, start_new_session=True)  # fmt: skip


def _archive_maps(archive: Path, libs: Path) -> bool:
    """True when a JVM with this classpath maps ``archive`` (``-Xshare:on`` fails otherwise)."""
    argv = ["java", *HEAP_OPTS, *JVM_OPTS, f"-XX:SharedArchiveFile={archive}", "-Xshare:on",
            "-cp", f"{libs}/*", "-version"]  # fmt: skip
    try:
        done = subprocess.run(argv, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def format_commands(nodes: list[NodeState], libs: Path, cluster_id: str) -> list[list[str]]:
    return [
        java_argv(libs, Path(node.cwd), STORAGE_TOOL, "format", "--ignore-formatted",
                  "-t", cluster_id, "-c", str(Path(node.cwd) / "server.properties"))
        for node in nodes
    ]  # fmt: skip


def format_storage(nodes: list[NodeState], libs: Path, cluster_id: str) -> None:
    """Format every node's log dir for ``cluster_id``.

    The first format with a Kafka classpath runs Kafka's own ``StorageTool`` (the JVMs side by
    side) and keeps one node's output as a template; later formats copy the template and write
    each node's ``meta.properties`` from it (its node id, a fresh directory id, the new cluster
    id), which is all the tool writes for a static-quorum node. That saves a JVM start per node,
    the largest single step of a warm ``stack up`` on a small machine.
    """
    template = format_template_dir(libs)
    if _template_ok(template):
        for node in nodes:
            _format_from_template(node, template, cluster_id)
        return
    _run_storage_tool(nodes, libs, cluster_id)
    _save_template(Path(nodes[0].data_dir), template)


def format_template_dir(libs: Path) -> Path:
    """Where the format template of this Kafka classpath lives (keyed by its jar list)."""
    listing = libs / ".complete"
    key = listing.read_bytes() if listing.exists() else str(libs.resolve()).encode()
    digest = hashlib.sha256(key).hexdigest()[:16]
    return layout.harness_home() / "cache" / f"kafka-format-{digest}"


def _template_ok(template: Path) -> bool:
    files = {p.name for p in template.iterdir()} if template.is_dir() else set()
    return files == set(_TEMPLATE_FILES)


def _meta_properties(template: str, node_id: int, cluster_id: str) -> str:
    """``meta.properties`` as the tool writes it, for another node, cluster and directory."""
    values = {"node.id": str(node_id), "cluster.id": cluster_id, "directory.id": new_cluster_id()}
    lines = []
    for line in template.splitlines():
        key = line.split("=", 1)[0]
        lines.append(f"{key}={values.pop(key)}" if key in values else line)
    if values:
        raise StackError(
            f"The Kafka format template lacks {sorted(values)} in meta.properties; delete "
            f"{layout.harness_home() / 'cache'} and run `harness stack up` again."
        )
    return "\n".join(lines) + "\n"


def _format_from_template(node: NodeState, template: Path, cluster_id: str) -> None:
    data = Path(node.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    node_id = int(node.name.rsplit("-", 1)[1])
    shutil.copyfile(template / "bootstrap.checkpoint", data / "bootstrap.checkpoint")
    meta = _meta_properties((template / "meta.properties").read_text(), node_id, cluster_id)
    (data / "meta.properties").write_text(meta)


def _save_template(formatted: Path, template: Path) -> None:
    """Keep a formatted log dir as the template, renamed into place whole (never half)."""
    if {p.name for p in formatted.iterdir()} != set(_TEMPLATE_FILES):
        return  # the tool wrote more than a static-quorum node needs: keep running it
    template.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=template.parent, prefix=".format-"))
    for name in _TEMPLATE_FILES:
        shutil.copyfile(formatted / name, scratch / name)
    try:
        os.replace(scratch, template)
    except OSError:  # another stack saved it first
        shutil.rmtree(scratch, ignore_errors=True)


def _run_storage_tool(nodes: list[NodeState], libs: Path, cluster_id: str) -> None:
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


_TEMPLATE_FILES = ("bootstrap.checkpoint", "meta.properties")


__all__ = [
    "cds_archive",
    "cds_options",
    "dump_cds",
    "format_storage",
    "format_template_dir",
    "new_cluster_id",
    "prepare_node",
    "server_properties",
]
