"""The local backend: brings the stack up as supervised processes on loopback, and down.

``up`` starts Toxiproxy (with one proxy per client-facing listener), RabbitMQ with its own
epmd, and 1-3 Kafka nodes on fresh data dirs, saving the state file after every start so a
failed or interrupted ``up`` can still be taken ``down``. It returns once every node answers
its protocol *through its proxy*, which proves the proxies route.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import time
from pathlib import Path

from harness.errors import StackError
from harness.stack import kafka, layout, process, rabbitmq
from harness.stack.handles import NodeHandle
from harness.stack.provision import Artifacts, provision
from harness.stack.state import NodeState, ProxyState, StackState, clear_state, load_state
from harness.stack.state import save_state as _save

UP_TIMEOUT = 180.0
DOWN_TIMEOUT = 30.0


def _say(message: str) -> None:
    print(f"[stack] {message}", file=sys.stderr, flush=True)


def proxies_for(brokers: int, with_rabbitmq: bool) -> list[ProxyState]:
    """One proxy per client-facing listener, named after its node."""
    host = layout.HOST
    proxies = [
        ProxyState(
            name=layout.kafka_node_name(n),
            listen=f"{host}:{layout.KafkaPorts(n).proxy}",
            upstream=f"{host}:{layout.KafkaPorts(n).client}",
        )
        for n in range(1, brokers + 1)
    ]
    if with_rabbitmq:
        proxies.append(
            ProxyState(
                name="rabbitmq",
                listen=f"{host}:{layout.rabbitmq_proxy_port()}",
                upstream=f"{host}:{layout.rabbitmq_amqp_port()}",
            )
        )
    return proxies


def toxiproxy_config(proxies: list[ProxyState]) -> str:
    """The server's ``-config`` file: the proxies it creates at start."""
    return json.dumps([{**p.model_dump(), "enabled": True} for p in proxies], indent=2)


def _toxiproxy_node(artifacts: Artifacts, run_dir: Path, proxies: list[ProxyState]) -> NodeState:
    node_dir = run_dir / "toxiproxy"
    node_dir.mkdir(parents=True, exist_ok=True)
    config = node_dir / "proxies.json"
    config.write_text(toxiproxy_config(proxies))
    dash = "--" if artifacts.toxiproxy_flavour == "noxious" else "-"
    argv = [str(artifacts.toxiproxy_server), f"{dash}host", layout.HOST,
            f"{dash}port", str(layout.toxiproxy_api_port()), f"{dash}config", str(config)]  # fmt: skip
    return NodeState(
        name="toxiproxy", kind="toxiproxy", argv=argv, cwd=str(node_dir), data_dir=str(node_dir),
        log_file=str(run_dir / "logs" / "toxiproxy.log"),
        ports={"api": layout.toxiproxy_api_port()}, probe="http",
        probe_port=layout.toxiproxy_api_port(),
    )  # fmt: skip


def plan(brokers: int, with_rabbitmq: bool, artifacts: Artifacts, run_dir: Path) -> StackState:
    """Write every node's config under ``run_dir``; return the state to start from."""
    proxies = proxies_for(brokers, with_rabbitmq)
    state = StackState(
        kafka_brokers=brokers,
        rabbitmq=with_rabbitmq,
        cluster_id=kafka.new_cluster_id(),
        kafka_bootstrap=layout.kafka_bootstrap(brokers),
        rabbitmq_url=layout.rabbitmq_url() if with_rabbitmq else None,
        proxies=proxies,
    )
    state.services["toxiproxy"] = _toxiproxy_node(artifacts, run_dir, proxies)
    for n in range(1, brokers + 1):
        node = kafka.prepare_node(n, brokers, artifacts.kafka_libs, run_dir)
        state.nodes[node.name] = node
    if with_rabbitmq:
        rabbit, epmd = rabbitmq.prepare(artifacts.rabbitmq_bin, run_dir)
        state.nodes[rabbit.name] = rabbit
        state.services[epmd.name] = epmd
    return state


def check_brokers(brokers: int) -> None:
    if not 1 <= brokers <= layout.MAX_KAFKA_BROKERS:
        raise StackError(
            f"--kafka-brokers must be between 1 and {layout.MAX_KAFKA_BROKERS}, got {brokers!r}. "
            "Give a count in that range."
        )


def running_nodes(state: StackState) -> list[str]:
    return [n.name for n in state.all_processes() if process.is_running(n.pid, n.start_ticks)]


def _check_ports_free(brokers: int, with_rabbitmq: bool) -> None:
    busy = [p for p in layout.stack_ports(brokers, with_rabbitmq) if not process.port_free(p)]
    if busy:
        raise StackError(
            f"Ports {busy} on {layout.HOST} are already in use, so the stack cannot bind them. "
            "Stop whatever listens there (`ss -ltnp` names it), or `harness stack down` if it "
            "is an earlier stack."
        )


def _existing(brokers: int, with_rabbitmq: bool) -> StackState | None:
    """The running stack when it has the requested shape; an error when another runs."""
    state = load_state()
    if state is None:
        return None
    alive = running_nodes(state)
    if not alive:
        clear_state()
        return None
    if state.kafka_brokers == brokers and state.rabbitmq == with_rabbitmq:
        return state
    raise StackError(
        f"A stack with {state.kafka_brokers} broker(s), rabbitmq={state.rabbitmq} is running "
        f"({', '.join(alive)}). Run `harness stack down` first to start a different one."
    )


def _start_all(state: StackState, artifacts: Artifacts) -> None:
    def save() -> None:
        _save(state)

    handles = {n.name: NodeHandle(n, save) for n in state.all_processes()}
    handles["toxiproxy"].start()
    if state.rabbitmq:
        handles["epmd"].start()
        process.wait_until(lambda: process.port_open(layout.epmd_port()), 20, "epmd to listen")
        handles["rabbitmq"].start()
    kafka_nodes = [n for n in state.nodes.values() if n.kind == "kafka"]
    _say(f"formatting {len(kafka_nodes)} Kafka log dir(s), cluster id {state.cluster_id}")
    kafka.format_storage(kafka_nodes, artifacts.kafka_libs, state.cluster_id)
    for node in kafka_nodes:
        handles[node.name].start()


def _wait_ready(state: StackState, timeout: float) -> None:
    """Wait until every node answers through its proxy (and Toxiproxy's API answers)."""
    deadline = time.monotonic() + timeout
    api = layout.toxiproxy_api_port()
    process.wait_until(lambda: process.port_open(api), 30, f"Toxiproxy's API on port {api}")
    for node in state.nodes.values():
        handle = NodeHandle(node)
        remaining = max(1.0, deadline - time.monotonic())
        handle.wait_healthy(remaining)
        proxied = node.ports["proxy"]
        ready = process.kafka_ready if node.kind == "kafka" else process.amqp_ready
        process.wait_until(lambda p=proxied, r=ready: r(p), 20, f"{node.name} via its proxy")
        _say(f"{node.name} ready (pid {node.pid}, clients at {layout.HOST}:{proxied})")


def up(brokers: int = 1, with_rabbitmq: bool = True, timeout: float = UP_TIMEOUT) -> StackState:
    """Bring the local stack up (or return the one already running with this shape)."""
    check_brokers(brokers)
    existing = _existing(brokers, with_rabbitmq)
    if existing is not None:
        _say("the stack is already up")
        return existing
    _check_ports_free(brokers, with_rabbitmq)
    artifacts = provision(rabbitmq=with_rabbitmq)
    run_dir = layout.run_dir()
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    state = plan(brokers, with_rabbitmq, artifacts, run_dir)
    _save(state)
    try:
        _start_all(state, artifacts)
        _wait_ready(state, timeout)
    except BaseException:
        _say(f"start failed; stopping what was started (logs stay in {run_dir / 'logs'})")
        stop_processes(state)
        raise
    return state


def stop_processes(state: StackState, timeout: float = DOWN_TIMEOUT) -> list[str]:
    """SIGTERM every process at once, SIGKILL what remains at the deadline; return names
    of processes that were running."""
    stopped = []
    for node in state.all_processes():
        if process.is_running(node.pid, node.start_ticks):
            assert node.pid is not None
            stopped.append(node.name)
            process.signal_group(node.pid, signal.SIGTERM)
            process.signal_group(node.pid, signal.SIGCONT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running_nodes(state):
        time.sleep(0.2)
    for node in state.all_processes():
        if process.is_running(node.pid, node.start_ticks):
            assert node.pid is not None
            process.signal_group(node.pid, signal.SIGKILL)
    process.wait_until(lambda: not running_nodes(state), 10, "the stack's processes to exit")
    return stopped


def down(timeout: float = DOWN_TIMEOUT) -> list[str]:
    """Stop everything the saved stack started and forget it; return what was stopped."""
    state = load_state()
    if state is None:
        return []
    stopped = stop_processes(state, timeout)
    ports = layout.stack_ports(state.kafka_brokers, state.rabbitmq)
    process.wait_until(
        lambda: all(process.port_free(p) for p in ports), 15, f"ports {ports} to close"
    )
    clear_state()
    return stopped


__all__ = [
    "check_brokers",
    "down",
    "plan",
    "proxies_for",
    "stop_processes",
    "toxiproxy_config",
    "up",
]
