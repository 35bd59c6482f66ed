"""The private Google Cloud Pub/Sub server: the Pub/Sub emulator, or its Go fallback.

Two servers speak the same gRPC API, and the stack runs whichever is here:

- ``emulator``: Debian's ``google-cloud-cli-pubsub-emulator`` (the Java emulator that
  ``gcloud beta emulators pubsub start`` runs), started as
  ``cloud-pubsub-emulator --host=127.0.0.1 --port=P``. It keeps everything in memory.
- ``pstest``: where that package is absent, a small server built from the Go module
  ``cloud.google.com/go/pubsub/v2`` (its in-memory fake ``pstest`` behind a few lines of
  ``main``), built once into ``$HARNESS_HOME/bin`` by ``harness stack provision`` the way
  Toxiproxy is. It has no push delivery.

Clients reach the server through the Toxiproxy proxy ``pubsub`` (``PUBSUB_EMULATOR_HOST``
holds its address). Readiness is the server's HTTP/2 answer: the probe sends the HTTP/2
connection preface and waits for the server's SETTINGS frame, which both servers send only
once their gRPC listener serves.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

from harness.errors import StackError
from harness.stack import layout
from harness.stack.state import NodeState, ProxyState

KIND = "pubsub"
PROBE_TIMEOUT = 2.0
EMULATOR = Path("/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator")
EMULATOR_ENV = "HARNESS_PUBSUB_EMULATOR"
"""Set to a path to run that emulator script instead; set to ``none`` to ignore the installed
emulator (and run the Go fallback)."""
# A small heap and the client compiler: the emulator starts faster and leaves room on a
# shared machine.
JAVA_OPTS = "-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1"

FALLBACK_MAIN = """\
// Command pubsub-fake serves cloud.google.com/go/pubsub/v2/pstest on one TCP address.
package main

import (
\t"flag"
\t"fmt"
\t"os"
\t"os/signal"
\t"syscall"

\t"cloud.google.com/go/pubsub/v2/pstest"
)

func main() {
\thost := flag.String("host", "127.0.0.1", "address to listen on")
\tport := flag.Int("port", 8085, "port to listen on")
\tflag.Parse()
\tsrv := pstest.NewServerWithAddress(fmt.Sprintf("%s:%d", *host, *port))
\tfmt.Printf("pstest listening on %s\\n", srv.Addr)
\tstop := make(chan os.Signal, 1)
\tsignal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
\t<-stop
\t_ = srv.Close()
}
"""


def fallback_path(version: str = layout.PUBSUB_FALLBACK_VERSION) -> Path:
    """Where ``harness stack provision`` puts the built Go fallback server."""
    return layout.harness_home() / "bin" / f"pubsub-pstest-{version}"


def installed_emulator() -> Path | None:
    """The Java emulator's start script, when installed (and not switched off)."""
    chosen = os.environ.get(EMULATOR_ENV, "").strip()
    if chosen.lower() == "none":
        return None
    path = Path(chosen) if chosen else EMULATOR
    return path if path.exists() and shutil.which("java") else None


def locate_server() -> tuple[Path, str]:
    """The server to run and its flavour (``emulator`` or ``pstest``); no build here."""
    emulator = installed_emulator()
    if emulator is not None:
        return emulator, "emulator"
    built = fallback_path()
    if built.exists():
        return built, "pstest"
    raise StackError(
        f"No Pub/Sub server: the emulator ({EMULATOR}, Debian's "
        "google-cloud-cli-pubsub-emulator, needs java) is not installed and the Go fallback "
        f"is not built at {built}. Run `harness stack provision --with pubsub` (builds "
        f"{layout.PUBSUB_FALLBACK_MODULE}@{layout.PUBSUB_FALLBACK_VERSION} pstest with Go), "
        "or start the stack without --with pubsub."
    )


def can_push(node: NodeState) -> bool:
    """Whether the server ``node`` runs delivers push subscriptions: the emulator does, the Go
    ``pstest`` fallback does not (it stores the push config and never posts). An env file's
    node (no command known) is taken at its word."""
    return not (node.argv and Path(node.argv[0]).name.startswith("pubsub-pstest-"))


def prepare_node(server: Path, flavour: str, run_dir: Path) -> NodeState:
    """The emulator's node state: its command line, log and ports (state is in memory)."""
    node_dir = run_dir / layout.PUBSUB_NODE
    shutil.rmtree(node_dir, ignore_errors=True)
    node_dir.mkdir(parents=True)
    port = layout.pubsub_port()
    env = {"JAVA_OPTS": JAVA_OPTS} if flavour == "emulator" else {}
    return NodeState(
        name=layout.PUBSUB_NODE,
        kind=KIND,
        argv=[str(server), f"--host={layout.HOST}", f"--port={port}"],
        env=env,
        cwd=str(node_dir),
        data_dir=str(node_dir),
        log_file=str(run_dir / "logs" / f"{layout.PUBSUB_NODE}.log"),
        ports={"proxy": layout.pubsub_proxy_port(), "client": port},
        proxy=layout.PUBSUB_NODE,
        probe=KIND,
        probe_port=port,
    )


def proxy() -> ProxyState:
    return ProxyState(
        name=layout.PUBSUB_NODE,
        listen=f"{layout.HOST}:{layout.pubsub_proxy_port()}",
        upstream=f"{layout.HOST}:{layout.pubsub_port()}",
    )


_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_H2_EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
_H2_SETTINGS = 0x4


def grpc_ready(port: int, host: str = layout.HOST, timeout: float = PROBE_TIMEOUT) -> bool:
    """True when whatever listens on ``port`` answers the HTTP/2 preface with a SETTINGS
    frame, as a gRPC server does once it serves."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(_H2_PREFACE + _H2_EMPTY_SETTINGS)
            header = b""
            while len(header) < 9:
                chunk = sock.recv(9 - len(header))
                if not chunk:
                    return False
                header += chunk
    except OSError:
        return False
    return header[3] == _H2_SETTINGS


__all__ = [
    "EMULATOR",
    "FALLBACK_MAIN",
    "can_push",
    "KIND",
    "fallback_path",
    "grpc_ready",
    "installed_emulator",
    "locate_server",
    "prepare_node",
    "proxy",
]
