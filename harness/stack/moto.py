"""A private moto server: the SNS and EventBridge emulator (``moto[server]``), one process.

moto is an *emulator*: an in-memory Python imitation of the AWS APIs, not AWS. It answers
boto3 the way SNS, SQS and EventBridge do, evaluates SNS filter policies and EventBridge event
patterns, and fans a publish out to its subscribers inside the ``Publish`` call. It is slow
(SQS sends on it fell from 79 to 17 msg/s as a queue filled), so the harness uses it for SNS
fan-out and EventBridge rules with small storms, and reads the subscriber queues it holds.

The server listens on loopback (``moto.server -H 127.0.0.1``); clients reach it through the
Toxiproxy proxy ``moto``, whose address is the stack's ``moto_endpoint``. Its state lives in
memory only: a kill or restart forgets every topic, bus, rule and queue.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from pathlib import Path

from harness.stack import layout
from harness.stack.state import NodeState, ProxyState

KIND = "moto"
NODE = "moto"
PROBE_TIMEOUT = 2.0
READY_PATH = "/moto-api/"
"""moto's own dashboard: it answers 200 once the server routes requests (no AWS state read)."""


def argv() -> list[str]:
    """The server's command line: this Python's ``moto.server``, bound to loopback."""
    return [sys.executable, "-m", "moto.server", "-H", layout.HOST, "-p", str(layout.moto_port())]


def prepare(run_dir: Path) -> NodeState:
    """The moto node's state (it keeps nothing on disk; its dir holds only its cwd)."""
    node_dir = run_dir / NODE
    node_dir.mkdir(parents=True, exist_ok=True)
    return NodeState(
        name=NODE,
        kind=KIND,
        argv=argv(),
        cwd=str(node_dir),
        data_dir=str(node_dir),
        log_file=str(run_dir / "logs" / f"{NODE}.log"),
        ports={"proxy": layout.moto_proxy_port(), "client": layout.moto_port()},
        proxy=NODE,
        probe=KIND,
        probe_port=layout.moto_port(),
    )


def proxy() -> ProxyState:
    return ProxyState(
        name=NODE,
        listen=f"{layout.HOST}:{layout.moto_proxy_port()}",
        upstream=f"{layout.HOST}:{layout.moto_port()}",
    )


def ready(port: int, host: str = layout.HOST, timeout: float = PROBE_TIMEOUT) -> bool:
    """True when a moto server on ``port`` answers its dashboard with 200 (through a proxy,
    too: the probe the stack uses to prove the ``moto`` proxy routes)."""
    url = f"http://{host}:{port}{READY_PATH}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def endpoint() -> str:
    """The proxied endpoint URL boto3 clients use (``http://127.0.0.1:4566``)."""
    return f"http://{layout.HOST}:{layout.moto_proxy_port()}"


__all__ = ["KIND", "NODE", "argv", "endpoint", "prepare", "proxy", "ready"]
