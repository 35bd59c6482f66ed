"""A private SQS server: ElasticMQ (``org.elasticmq:elasticmq-server_2.13`` from Maven Central).

One JVM, its REST (SQS query and JSON protocol) listener bound to ``127.0.0.1`` by its config
file, clients at the Toxiproxy proxy ``sqs``. The node address ElasticMQ writes into every
queue URL is the proxy's, so a client that follows a ``QueueUrl`` still crosses Toxiproxy.

Two configurations, chosen when the node is planned (``harness stack up --with sqs
[--sqs-persistent]``, or a scenario's ``target.sqs.persistent``, which re-plans the node):

- in memory (the default): queues and messages live in the JVM only; a kill or restart
  loses every queue and every message in it.
- persistent: queue definitions are written to ``queues.conf`` (``queues-storage``) and
  messages to an H2 database (``messages-storage``) under the node's data dir, with H2's
  write delay at 0 so an acknowledged send is in the file before ElasticMQ answers; a
  restart on the same data dir brings both back.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from harness.stack import layout
from harness.stack.state import NodeState, ProxyState

KIND = "sqs"
MAIN_CLASS = "org.elasticmq.server.Main"
PROBE_TIMEOUT = 2.0
HEAP_OPTS = ["-Xms64m", "-Xmx384m"]
JVM_OPTS = ["-XX:+UseSerialGC", "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true"]
REGION = "elasticmq"
ACCOUNT_ID = "000000000000"

LOGBACK = """<configuration>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%d{HH:mm:ss.SSS} %-5level %logger{36} - %msg%n</pattern></encoder>
  </appender>
  <logger name="org.elasticmq" level="INFO"/>
  <logger name="org.apache.pekko" level="WARN"/>
  <root level="WARN"><appender-ref ref="STDOUT"/></root>
</configuration>
"""


def _quote(value: str) -> str:
    return json.dumps(value)  # HOCON accepts JSON strings


def config_text(data_dir: Path, persistent: bool) -> str:
    """ElasticMQ's HOCON config: loopback REST listener, proxy node address, storage."""
    host = layout.HOST
    lines = [
        'include classpath("application.conf")',
        f"node-address {{ protocol = http, host = {_quote(host)}, "
        f'port = {layout.sqs_proxy_port()}, context-path = "" }}',
        f"rest-sqs {{ enabled = true, bind-port = {layout.sqs_port()}, "
        f"bind-hostname = {_quote(host)}, sqs-limits = strict }}",
        f"rest-stats {{ enabled = false, bind-port = {layout.sqs_port() + 1}, "
        f"bind-hostname = {_quote(host)} }}",
        "generate-node-address = false",
        f"aws {{ region = {_quote(REGION)}, accountId = {_quote(ACCOUNT_ID)} }}",
    ]
    if persistent:
        queues = data_dir / "queues.conf"
        h2 = data_dir / "h2" / "messages"
        lines += [
            f"queues-storage {{ enabled = true, path = {_quote(str(queues))} }}",
            f"messages-storage {{ enabled = true, uri = {_quote(f'jdbc:h2:file:{h2};WRITE_DELAY=0')}, "
            "prune-data-on-init = false }",
        ]
    else:
        lines += [
            'queues-storage { enabled = false, path = "" }',
            "messages-storage { enabled = false }",
        ]
    return "\n".join(lines) + "\n"


def java_argv(libs: Path, node_dir: Path) -> list[str]:
    return [
        "java", *HEAP_OPTS, *JVM_OPTS,
        f"-Dconfig.file={node_dir / 'elasticmq.conf'}",
        f"-Dlogback.configurationFile={node_dir / 'logback.xml'}",
        "-cp", f"{libs}/*", MAIN_CLASS,
    ]  # fmt: skip


def prepare_node(libs: Path, run_dir: Path, persistent: bool, *, fresh: bool = True) -> NodeState:
    """Write the node's config (and, ``fresh``, an empty data dir); return its state."""
    node_dir = run_dir / layout.SQS_NODE
    data_dir = node_dir / "data"
    if fresh:
        shutil.rmtree(data_dir, ignore_errors=True)
    (data_dir / "h2").mkdir(parents=True, exist_ok=True)
    (node_dir / "elasticmq.conf").write_text(config_text(data_dir, persistent))
    (node_dir / "logback.xml").write_text(LOGBACK)
    return NodeState(
        name=layout.SQS_NODE,
        kind=KIND,
        argv=java_argv(libs, node_dir),
        cwd=str(node_dir),
        data_dir=str(data_dir),
        log_file=str(run_dir / "logs" / f"{layout.SQS_NODE}.log"),
        ports={"proxy": layout.sqs_proxy_port(), "client": layout.sqs_port()},
        proxy=layout.SQS_NODE,
        probe=KIND,
        probe_port=layout.sqs_port(),
    )


def proxy() -> ProxyState:
    return ProxyState(
        name=layout.SQS_NODE,
        listen=f"{layout.HOST}:{layout.sqs_proxy_port()}",
        upstream=f"{layout.HOST}:{layout.sqs_port()}",
    )


def persistent_config(node: NodeState) -> bool:
    """Whether the node's config file keeps messages (read back from the file itself)."""
    try:
        text = (Path(node.cwd) / "elasticmq.conf").read_text()
    except OSError:
        return False
    return "messages-storage { enabled = true" in text


def ready(port: int, host: str = layout.HOST, timeout: float = PROBE_TIMEOUT) -> bool:
    """True when whatever listens on ``port`` answers an SQS ``ListQueues`` with 200."""
    url = f"http://{host}:{port}/?Action=ListQueues"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return reply.status == 200 and b"ListQueues" in reply.read()
    except (OSError, urllib.error.URLError, ValueError):
        return False


__all__ = [
    "ACCOUNT_ID",
    "KIND",
    "REGION",
    "config_text",
    "java_argv",
    "persistent_config",
    "prepare_node",
    "proxy",
    "ready",
]
