"""Node handles: the process-level controls the fault layer uses on one service.

A handle wraps a ``NodeState`` from the state file. ``kill`` (SIGKILL), ``terminate``
(SIGTERM, then SIGKILL at the deadline), ``pause`` (SIGSTOP) and ``resume`` (SIGCONT) signal
the node's whole process group. ``restart`` starts the same command again on the same data
dir and waits until the node serves requests, so a Kafka broker rejoins its cluster with its
log intact.

    >>> node = Stack.load().nodes["kafka-2"]
    >>> node.kill(); node.restart()
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import StackError
from harness.stack import elasticmq, layout, moto, nats, netcut, oauth, postgres, process, pubsub
from harness.stack.state import NodeState

RESTART_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0


def probe(node: NodeState, timeout: float = 2.0) -> bool:
    """True when the node answers its protocol on its own (un-proxied) port."""
    if node.probe == "kafka":
        return process.kafka_ready(node.probe_port, timeout=timeout)
    if node.probe == "amqp":
        return process.amqp_ready(node.probe_port, timeout=timeout)
    if node.probe == "postgres":
        return process.postgres_ready(node.probe_port, timeout=timeout)
    if node.probe == "nats":
        return nats.healthy(node.probe_port, timeout=timeout)
    if node.probe == "moto":
        return moto.ready(node.probe_port, timeout=timeout)
    if node.probe == "pubsub":
        return pubsub.grpc_ready(node.probe_port, timeout=timeout)
    if node.probe == "sqs":
        return elasticmq.ready(node.probe_port, timeout=timeout)
    if node.probe == "oauth":
        return oauth.ready(node.probe_port, timeout=timeout)
    return process.port_open(node.probe_port, timeout=timeout)


@dataclass
class NodeHandle:
    """Controls for one supervised process of the local stack."""

    state: NodeState
    on_change: Callable[[], None] = field(default=lambda: None, repr=False)

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def kind(self) -> str:
        return self.state.kind

    @property
    def pid(self) -> int | None:
        return self.state.pid

    @property
    def ports(self) -> dict[str, int]:
        return dict(self.state.ports)

    @property
    def proxy(self) -> str | None:
        return self.state.proxy

    @property
    def client_address(self) -> str | None:
        """host:port its clients use (its proxy's listen address), if it has a proxy."""
        return f"{layout.HOST}:{self.state.ports['proxy']}" if "proxy" in self.state.ports else None

    def can(self, control: str) -> bool:
        """Whether this handle can ``kill``, ``pause``, ``resume``, ``restart`` the node: a
        supervised process can do all four."""
        return control in ("kill", "pause", "resume", "restart")

    @property
    def data_dir(self) -> Path:
        return Path(self.state.data_dir)

    @property
    def log_file(self) -> Path:
        return Path(self.state.log_file)

    def is_alive(self) -> bool:
        """True while the process exists (running or paused)."""
        return process.is_running(self.state.pid, self.state.start_ticks)

    def is_paused(self) -> bool:
        return process.process_state(self.state.pid, self.state.start_ticks) in ("T", "t")

    def is_healthy(self, timeout: float = 2.0) -> bool:
        """True when alive, not paused and answering its protocol."""
        return self.is_alive() and not self.is_paused() and probe(self.state, timeout)

    def _signal(self, sig: signal.Signals) -> None:
        if not self.is_alive():
            raise StackError(f"Cannot send {sig.name} to {self.name}: it is not running.")
        assert self.state.pid is not None
        process.signal_group(self.state.pid, sig)

    def kill(self) -> None:
        """SIGKILL: the node dies at once, without flushing or leaving its cluster."""
        self._signal(signal.SIGKILL)
        process.wait_until(lambda: not self.is_alive(), 10, f"{self.name} to die after SIGKILL")

    def pause(self) -> None:
        """SIGSTOP: the node freezes with its connections open."""
        self._signal(signal.SIGSTOP)
        process.wait_until(self.is_paused, 10, f"{self.name} to stop after SIGSTOP", 0.05)

    def resume(self) -> None:
        """SIGCONT: a paused node carries on."""
        self._signal(signal.SIGCONT)

    def terminate(self, timeout: float = STOP_TIMEOUT) -> None:
        """The node's stop signal (SIGTERM; PostgreSQL's fast shutdown is SIGINT), SIGKILL if the
        node is still there at the deadline."""
        if not self.is_alive():
            return
        assert self.state.pid is not None
        process.signal_group(self.state.pid, signal.Signals[self.state.stop_signal])
        process.signal_group(self.state.pid, signal.SIGCONT)
        try:
            process.wait_until(lambda: not self.is_alive(), timeout, f"{self.name} to exit")
        except StackError:
            process.signal_group(self.state.pid, signal.SIGKILL)
            process.wait_until(lambda: not self.is_alive(), 10, f"{self.name} to die")

    def start(self) -> None:
        """Start the node's command (used by ``restart`` and by the backend's ``up``)."""
        if self.is_alive():
            raise StackError(
                f"{self.name} is already running (pid {self.state.pid}). Stop it first, or use "
                "it as it is (`harness stack status` shows it)."
            )
        if self.state.kind == "postgres":
            postgres.clear_stale_lock(Path(self.state.data_dir))
        procs = netcut.cgroup_procs(self.state.cgroup) if self.state.cgroup else None
        pid = process.spawn(
            self.state.argv, self.state.env, Path(self.state.cwd), Path(self.state.log_file), procs
        )
        self.state.pid = pid
        self.state.start_ticks = process.start_ticks(pid)
        self.on_change()

    def wait_healthy(self, timeout: float = RESTART_TIMEOUT) -> None:
        """Block until the node answers its protocol; fail early if it dies meanwhile."""

        def ready() -> bool:
            if not self.is_alive():
                raise StackError(
                    f"{self.name} exited while starting; see its log {self.state.log_file}."
                    + process.log_tail(Path(self.state.log_file))
                )
            return probe(self.state)

        process.wait_until(ready, timeout, f"{self.name} to serve on port {self.state.probe_port}")

    def restart(self, timeout: float = RESTART_TIMEOUT) -> None:
        """Stop the node if it runs (resuming it if paused), start it on the same data dir,
        and wait until it serves requests again."""
        if self.is_alive():
            self.terminate()
        self.start()
        self.wait_healthy(timeout)


__all__ = ["NodeHandle", "probe"]
