"""Starting a planned local stack: every server at once, each ready when its own probe says so.

``launch`` starts Toxiproxy (every proxy exists before any node answers), then each server kind
on a thread of its own: its ``start`` spawns the nodes (after what must come first, such as
epmd for RabbitMQ or the storage format for Kafka), and each node is waited for with probes,
never fixed sleeps: first its own port (``NodeHandle.wait_healthy``), then its protocol through
its proxy (the kind's ``ready``), which proves the proxy routes. The wall time of an ``up`` is
the slowest kind's, not the sum of all of them.

A new server plugs in with one ``Launcher`` in ``LAUNCHERS`` under its node kind:

    LAUNCHERS["sqs"] = Launcher(start=spawn_nodes, ready=elasticmq.ready)

``spawn_nodes`` (start every planned node of the kind) is the default start; a server whose
nodes need a step first gives a start function of its own.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.errors import StackError
from harness.stack import elasticmq, kafka, layout, moto, nats, oauth, process, pubsub
from harness.stack.handles import NodeHandle
from harness.stack.provision import Artifacts
from harness.stack.state import StackState

POLL_S = 0.05


@dataclass
class LaunchContext:
    """What a kind's start function may use: the plan, the artifacts and every handle."""

    state: StackState
    artifacts: Artifacts
    handles: dict[str, NodeHandle]
    aborted: threading.Event = field(default_factory=threading.Event)

    def wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """``process.wait_until``, cut short once another kind has failed the start."""

        def check() -> bool:
            if self.aborted.is_set():
                raise StackError(f"Stopped waiting for {what}: another server failed to start.")
            return condition()

        process.wait_until(check, timeout, what, POLL_S)


StartFn = Callable[[LaunchContext, list[NodeHandle]], None]


@dataclass(frozen=True)
class Launcher:
    """How one server kind starts (``start``) and how a client sees it ready (``ready``: the
    protocol answered on a port, here its proxy's)."""

    start: StartFn
    ready: Callable[[int], bool]
    after: StartFn | None = None
    """Run once every node of the kind is ready (e.g. caching what speeds up the next start)."""


def spawn_nodes(ctx: LaunchContext, nodes: list[NodeHandle]) -> None:
    """The default start: spawn every node of the kind."""
    for handle in nodes:
        handle.start()


def _start_kafka(ctx: LaunchContext, nodes: list[NodeHandle]) -> None:
    _say(f"formatting {len(nodes)} Kafka log dir(s), cluster id {ctx.state.cluster_id}")
    kafka.format_storage([h.state for h in nodes], ctx.artifacts.kafka_libs, ctx.state.cluster_id)
    spawn_nodes(ctx, nodes)


def _after_kafka(ctx: LaunchContext, nodes: list[NodeHandle]) -> None:
    kafka.dump_cds(nodes[0].state, ctx.artifacts.kafka_libs)


def _start_rabbitmq(ctx: LaunchContext, nodes: list[NodeHandle]) -> None:
    epmd = ctx.handles["epmd"]
    epmd.start()
    ctx.wait(lambda: process.port_open(layout.epmd_port()), 20, "epmd to listen")
    spawn_nodes(ctx, nodes)


LAUNCHERS: dict[str, Launcher] = {
    "kafka": Launcher(_start_kafka, process.kafka_ready, after=_after_kafka),
    "rabbitmq": Launcher(_start_rabbitmq, process.amqp_ready),
    "postgres": Launcher(spawn_nodes, process.postgres_ready),
    "nats": Launcher(spawn_nodes, nats.info_ready),
    "moto": Launcher(spawn_nodes, moto.ready),
    "pubsub": Launcher(spawn_nodes, pubsub.grpc_ready),
    "sqs": Launcher(spawn_nodes, elasticmq.ready),
    "oauth": Launcher(spawn_nodes, oauth.ready),
}
"""Every server kind ``launch`` can start, in start order (the slowest first)."""


def _say(message: str) -> None:
    print(f"[stack] {message}", file=sys.stderr, flush=True)


def _wait_node(ctx: LaunchContext, handle: NodeHandle, deadline: float) -> None:
    launcher = LAUNCHERS[handle.kind]

    def healthy() -> bool:
        if not handle.is_alive():
            raise StackError(f"{handle.name} exited while starting; see its log {handle.log_file}.")
        return handle.is_healthy()

    remaining = max(1.0, deadline - time.monotonic())
    ctx.wait(healthy, remaining, f"{handle.name} to serve on port {handle.state.probe_port}")
    proxied = handle.state.ports["proxy"]
    ctx.wait(lambda: launcher.ready(proxied), 20, f"{handle.name} via its proxy")
    _say(f"{handle.name} ready (pid {handle.pid}, clients at {layout.HOST}:{proxied})")


def _bring_up(ctx: LaunchContext, kind: str, nodes: list[NodeHandle], timeout: float) -> None:
    launcher = LAUNCHERS[kind]
    launcher.start(ctx, nodes)
    deadline = time.monotonic() + timeout  # from the spawn: a slow format does not eat it
    for handle in nodes:
        _wait_node(ctx, handle, deadline)
    if launcher.after is not None:
        launcher.after(ctx, nodes)


def _by_kind(state: StackState, handles: dict[str, NodeHandle]) -> dict[str, list[NodeHandle]]:
    unknown = sorted({n.kind for n in state.nodes.values()} - set(LAUNCHERS))
    if unknown:
        raise StackError(f"No launcher for node kind(s) {unknown}; register one in LAUNCHERS.")
    grouped: dict[str, list[NodeHandle]] = {}
    for kind in LAUNCHERS:
        nodes = [handles[n.name] for n in state.nodes.values() if n.kind == kind]
        if nodes:
            grouped[kind] = nodes
    return grouped


def launch(
    state: StackState,
    artifacts: Artifacts,
    timeout: float,
    save: Callable[[], None],
) -> None:
    """Start every planned node, each kind in parallel; return when all are ready through
    their proxies. ``save`` persists the state after each spawn (called under a lock)."""
    lock = threading.Lock()

    def locked_save() -> None:
        with lock:
            save()

    handles = {n.name: NodeHandle(n, locked_save) for n in state.all_processes()}
    ctx = LaunchContext(state, artifacts, handles)
    handles["toxiproxy"].start()
    api = layout.toxiproxy_api_port()
    ctx.wait(lambda: process.port_open(api), 30, f"Toxiproxy's API on port {api}")
    errors: list[BaseException] = []

    def run(kind: str, nodes: list[NodeHandle]) -> None:
        try:
            _bring_up(ctx, kind, nodes, timeout)
        except BaseException as error:  # reported by the caller's thread
            errors.append(error)
            ctx.aborted.set()

    threads = [
        threading.Thread(target=run, args=(kind, nodes), name=f"start-{kind}", daemon=True)
        for kind, nodes in _by_kind(state, handles).items()
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        ctx.aborted.set()
    if errors:
        first = next((e for e in errors if "another server failed" not in str(e)), errors[0])
        raise first


__all__ = ["LAUNCHERS", "LaunchContext", "Launcher", "launch", "spawn_nodes"]
