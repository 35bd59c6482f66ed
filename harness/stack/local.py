"""The local backend: brings the stack up as supervised processes on loopback, and down.

``up`` starts Toxiproxy (with one proxy per client-facing listener), RabbitMQ with its own
epmd, 0-3 Kafka nodes and, asked for, one or three NATS servers, the moto emulator (SNS,
EventBridge) and the Pub/Sub emulator on fresh data dirs, saving the state file after every start so a
failed or interrupted ``up`` can still be taken ``down``. It returns once every node answers
its protocol *through its proxy*, which proves the proxies route.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from harness.errors import HarnessError, StackError
from harness.stack import (
    elasticmq,
    kafka,
    layout,
    moto,
    nats,
    netcut,
    oauth,
    postgres,
    process,
    pubsub,
    rabbitmq,
)
from harness.stack.handles import NodeHandle
from harness.stack.launch import launch
from harness.stack.provision import (
    Artifacts,
    provision,
    provision_elasticmq,
    provision_oauth,
    provision_pubsub,
)
from harness.stack.state import NodeState, ProxyState, StackState, clear_state, load_state
from harness.stack.state import save_state as _save
from harness.stack.toxiproxy import ToxiproxyClient

UP_TIMEOUT = 180.0
DOWN_TIMEOUT = 30.0


def _say(message: str) -> None:
    print(f"[stack] {message}", file=sys.stderr, flush=True)


def proxies_for(
    brokers: int,
    with_rabbitmq: bool,
    with_postgres: bool = False,
    nats_nodes: int = 0,
    with_moto: bool = False,
    with_pubsub: bool = False,
    with_sqs: bool = False,
    with_oauth: bool = False,
) -> list[ProxyState]:
    """One proxy per client-facing listener, named after its node (and one per NATS route)."""
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
    if with_postgres:
        proxies.append(postgres_proxy())
    proxies.extend(nats.proxies(nats_nodes))
    if with_moto:
        proxies.append(moto.proxy())
    if with_pubsub:
        proxies.append(pubsub.proxy())
    if with_sqs:
        proxies.append(elasticmq.proxy())
    if with_oauth:
        proxies.append(oauth.proxy())
    return proxies


def postgres_proxy() -> ProxyState:
    return ProxyState(
        name=postgres.NODE,
        listen=f"{layout.HOST}:{layout.postgres_proxy_port()}",
        upstream=f"{layout.HOST}:{layout.postgres_port()}",
    )


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


def plan(
    brokers: int,
    with_rabbitmq: bool,
    artifacts: Artifacts,
    run_dir: Path,
    with_postgres: bool = False,
    nats_nodes: int = 0,
    with_moto: bool = False,
    with_pubsub: bool = False,
    with_sqs: bool = False,
    sqs_persistent: bool = False,
    with_oauth: bool = False,
) -> StackState:
    """Write every node's config under ``run_dir``; return the state to start from."""
    proxies = proxies_for(
        brokers, with_rabbitmq, with_postgres, nats_nodes, with_moto=with_moto,
        with_pubsub=with_pubsub, with_sqs=with_sqs, with_oauth=with_oauth,
    )  # fmt: skip
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
    if with_postgres:
        _plan_postgres(state, run_dir)
    if nats_nodes:
        _plan_nats(state, run_dir, nats_nodes)
    if with_moto:
        _plan_moto(state, run_dir)
    if with_pubsub:
        _plan_pubsub(state, run_dir, artifacts)
    if with_sqs:
        _plan_sqs(state, run_dir, artifacts, sqs_persistent)
    if with_oauth:
        _plan_oauth(state, run_dir, artifacts.oauth_libs or provision_oauth())
    return state


def _plan_oauth(state: StackState, run_dir: Path, libs: Path) -> NodeState:
    node = oauth.prepare(run_dir, libs)
    state.nodes[node.name] = node
    state.oauth_issuer = oauth.issuer_url()
    return node


def _plan_moto(state: StackState, run_dir: Path) -> NodeState:
    node = moto.prepare(run_dir)
    state.nodes[node.name] = node
    state.moto_endpoint = moto.endpoint()
    return node


def _plan_pubsub(state: StackState, run_dir: Path, artifacts: Artifacts | None) -> NodeState:
    if artifacts is not None and artifacts.pubsub_server is not None:
        server, flavour = artifacts.pubsub_server, artifacts.pubsub_flavour
    else:
        server, flavour = pubsub.locate_server()
    node = pubsub.prepare_node(server, flavour, run_dir)
    state.nodes[node.name] = node
    state.pubsub = True
    state.pubsub_emulator_host = layout.pubsub_emulator_host()
    return node


def _plan_nats(state: StackState, run_dir: Path, nodes: int) -> list[NodeState]:
    server = nats.locate_server()
    planned = [nats.prepare_node(n, nodes, server, run_dir) for n in range(1, nodes + 1)]
    for node in planned:
        state.nodes[node.name] = node
    state.nats_nodes = nodes
    state.nats_servers = layout.nats_servers(nodes)
    return planned


def _plan_sqs(
    state: StackState, run_dir: Path, artifacts: Artifacts | None, persistent: bool
) -> NodeState:
    libs = artifacts.elasticmq_libs if artifacts is not None else None
    if libs is None:
        libs = provision_elasticmq()
    node = elasticmq.prepare_node(libs, run_dir, persistent)
    state.nodes[node.name] = node
    state.sqs_endpoint = layout.sqs_endpoint()
    state.sqs_persistent = persistent
    return node


def _plan_postgres(state: StackState, run_dir: Path) -> NodeState:
    _say("initdb: a fresh PostgreSQL data dir")
    node, password = postgres.prepare(run_dir)
    state.nodes[node.name] = node
    state.postgres = True
    state.postgres_dsn = postgres.dsn(password)
    return node


def check_brokers(
    brokers: int,
    nats_nodes: int = 0,
    with_moto: bool = False,
    with_pubsub: bool = False,
    with_sqs: bool = False,
    with_oauth: bool = False,
) -> None:
    low = 0 if nats_nodes or with_moto or with_pubsub or with_sqs or with_oauth else 1
    if not low <= brokers <= layout.MAX_KAFKA_BROKERS:
        raise StackError(
            f"--kafka-brokers must be between {low} and {layout.MAX_KAFKA_BROKERS}, got "
            f"{brokers!r}. Give a count in that range (0 only with --with nats, sns, pubsub, "
            "sqs or oauth)."
        )
    if nats_nodes:
        nats.check_nodes(nats_nodes)


def running_nodes(state: StackState) -> list[str]:
    return [n.name for n in state.all_processes() if process.is_running(n.pid, n.start_ticks)]


def _check_ports_free(
    brokers: int,
    with_rabbitmq: bool,
    with_postgres: bool = False,
    nats_nodes: int = 0,
    with_moto: bool = False,
    with_pubsub: bool = False,
    with_sqs: bool = False,
    with_oauth: bool = False,
) -> None:
    ports = layout.stack_ports(
        brokers, with_rabbitmq, with_postgres, nats_nodes, moto=with_moto, pubsub=with_pubsub,
        sqs=with_sqs, oauth=with_oauth,
    )  # fmt: skip
    busy = [p for p in ports if not process.port_free(p)]
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


def up(
    brokers: int = 1,
    with_rabbitmq: bool = True,
    timeout: float = UP_TIMEOUT,
    with_postgres: bool = False,
    nats_nodes: int = 0,
    with_moto: bool = False,
    with_pubsub: bool = False,
    with_sqs: bool = False,
    sqs_persistent: bool = False,
    with_oauth: bool = False,
) -> StackState:
    """Bring the local stack up (or return the one already running with this shape; asked for
    PostgreSQL, NATS, moto, Pub/Sub, SQS or the OAuth2 issuer, a running stack without it gets
    it added; asked for SQS in the other storage configuration, ElasticMQ is started again in
    the one asked for)."""
    check_brokers(brokers, nats_nodes, with_moto, with_pubsub, with_sqs, with_oauth)
    existing = _existing(brokers, with_rabbitmq)
    if existing is not None:
        _say("the stack is already up")
        if with_postgres and not existing.postgres:
            add_postgres(existing, timeout)
        if nats_nodes:
            add_nats(existing, nats_nodes, timeout)
        if with_moto:
            add_moto(existing, timeout)
        if with_pubsub:
            add_pubsub(existing, timeout)
        if with_sqs:
            add_sqs(existing, sqs_persistent, timeout)
        if with_oauth:
            add_oauth(existing, timeout)
        return existing
    _check_ports_free(
        brokers, with_rabbitmq, with_postgres, nats_nodes, with_moto=with_moto,
        with_pubsub=with_pubsub, with_sqs=with_sqs, with_oauth=with_oauth,
    )  # fmt: skip
    artifacts = provision(
        rabbitmq=with_rabbitmq, postgres=with_postgres, kafka=brokers > 0, pubsub=with_pubsub,
        sqs=with_sqs, oauth=with_oauth,
    )  # fmt: skip
    run_dir = layout.run_dir()
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    state = plan(
        brokers, with_rabbitmq, artifacts, run_dir, with_postgres, nats_nodes,
        with_moto=with_moto, with_pubsub=with_pubsub, with_sqs=with_sqs,
        sqs_persistent=sqs_persistent, with_oauth=with_oauth,
    )  # fmt: skip
    _save(state)
    try:
        launch(state, artifacts, timeout, lambda: _save(state))
    except BaseException:
        _say(f"start failed; stopping what was started (logs stay in {run_dir / 'logs'})")
        stop_processes(state)
        raise
    return state


def add_postgres(state: StackState, timeout: float = UP_TIMEOUT) -> NodeState:
    """Start PostgreSQL (and its proxy) on a running local stack; the state file records it.

    What ``harness stack up --with postgres`` does to a stack that runs without it, and what
    tests that need a database use, so that nothing else pays its start-up."""
    if state.backend != "local":
        raise StackError(
            "PostgreSQL can be added only to a local stack; this one is "
            f"{state.backend!r}. Start the compose stack's postgres service instead."
        )
    if state.postgres and postgres.NODE in state.nodes:
        return state.nodes[postgres.NODE]
    busy = [p for p in (layout.postgres_proxy_port(), layout.postgres_port())
            if not process.port_free(p)]  # fmt: skip
    if busy:
        raise StackError(
            f"Ports {busy} on {layout.HOST} are already in use, so PostgreSQL cannot start "
            "there. Stop whatever listens there (`ss -ltnp` names it)."
        )
    node = _plan_postgres(state, layout.run_dir())
    handle = NodeHandle(node, lambda: _save(state))
    proxy = postgres_proxy()
    _save(state)
    try:
        handle.start()
        with ToxiproxyClient(state.toxiproxy_url) as toxiproxy:
            if postgres.NODE in toxiproxy.proxies():
                toxiproxy.delete_proxy(postgres.NODE)
            toxiproxy.create_proxy(proxy.name, proxy.listen, proxy.upstream)
        state.proxies = [*(p for p in state.proxies if p.name != proxy.name), proxy]
        _save(state)
        handle.wait_healthy(timeout)
        process.wait_until(lambda: process.postgres_ready(node.ports["proxy"]), 20,
                           "postgres via its proxy")  # fmt: skip
    except BaseException:
        _say(f"PostgreSQL failed to start; see {node.log_file}")
        remove_postgres(state)
        raise
    _say(f"postgres ready (pid {node.pid}, clients at {layout.HOST}:{node.ports['proxy']})")
    return node


def add_nats(state: StackState, nodes: int = 1, timeout: float = UP_TIMEOUT) -> list[NodeState]:
    """Start ``nodes`` NATS servers (and their proxies) on a running local stack.

    What ``harness stack up --with nats`` does to a stack that runs without NATS; a stack that
    runs NATS with another node count is refused."""
    nats.check_nodes(nodes)
    if state.backend != "local":
        raise StackError(
            f"NATS can be added only to a local stack; this one is {state.backend!r}. Start "
            "the compose stack's nats service instead."
        )
    if state.nats_nodes == nodes:
        return [n for n in state.nodes.values() if n.kind == nats.KIND]
    if state.nats_nodes:
        raise StackError(
            f"This stack runs {state.nats_nodes} NATS node(s), not {nodes}. Run `harness stack "
            "down` first to start a different shape."
        )
    busy = [p for p in layout.nats_ports(nodes) if not process.port_free(p)]
    if busy:
        raise StackError(
            f"Ports {busy} on {layout.HOST} are already in use, so NATS cannot start there. "
            "Stop whatever listens there (`ss -ltnp` names it)."
        )
    planned = _plan_nats(state, layout.run_dir(), nodes)
    wanted = nats.proxies(nodes)
    _save(state)
    try:
        with ToxiproxyClient(state.toxiproxy_url) as toxiproxy:
            present = toxiproxy.proxies()
            for proxy in wanted:
                if proxy.name in present:
                    toxiproxy.delete_proxy(proxy.name)
                toxiproxy.create_proxy(proxy.name, proxy.listen, proxy.upstream)
        names = {p.name for p in wanted}
        state.proxies = [*(p for p in state.proxies if p.name not in names), *wanted]
        _save(state)
        for node in planned:
            NodeHandle(node, lambda: _save(state)).start()
        _wait_nats(planned, timeout)
    except BaseException:
        _say("NATS failed to start; see its logs under " + str(layout.run_dir() / "logs"))
        remove_nats(state)
        raise
    return planned


def _wait_nats(planned: list[NodeState], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for node in planned:
        NodeHandle(node).wait_healthy(max(1.0, deadline - time.monotonic()))
        proxied = node.ports["proxy"]
        process.wait_until(lambda p=proxied: nats.info_ready(p), 20, f"{node.name} via its proxy")
        _say(f"{node.name} ready (pid {node.pid}, clients at {layout.HOST}:{proxied})")


def remove_nats(state: StackState) -> None:
    """Stop every NATS server, delete its proxies and data; the stack runs on without NATS."""
    nodes = [n for n in state.nodes.values() if n.kind == nats.KIND]
    for node in nodes:
        NodeHandle(node).terminate()
        shutil.rmtree(node.cwd, ignore_errors=True)
        del state.nodes[node.name]
    names = {p.name for p in nats.proxies(state.nats_nodes or len(nodes))}
    try:
        with ToxiproxyClient(state.toxiproxy_url) as toxiproxy:
            for name in sorted(names & set(toxiproxy.proxies())):
                toxiproxy.delete_proxy(name)
    except HarnessError as error:
        _say(f"could not delete the NATS proxies: {error}")
    state.proxies = [p for p in state.proxies if p.name not in names]
    state.nats_nodes = 0
    state.nats_servers = []
    _save(state)


def _refuse_busy(ports: list[int], what: str) -> None:
    busy = [p for p in ports if not process.port_free(p)]
    if busy:
        raise StackError(
            f"Ports {busy} on {layout.HOST} are already in use, so {what} cannot start there. "
            "Stop whatever listens there (`ss -ltnp` names it)."
        )


def _start_added(
    state: StackState,
    node: NodeState,
    wanted: ProxyState,
    ready: Callable[[int], bool],
    remove: Callable[[StackState], None],
    timeout: float,
) -> None:
    """Put ``node``'s proxy in Toxiproxy, start it and wait until it answers through the proxy;
    on any failure (Ctrl-C too) ``remove`` takes it out of the stack again."""
    _save(state)
    try:
        with ToxiproxyClient(state.toxiproxy_url) as toxiproxy:
            if wanted.name in toxiproxy.proxies():
                toxiproxy.delete_proxy(wanted.name)
            toxiproxy.create_proxy(wanted.name, wanted.listen, wanted.upstream)
        state.proxies = [*(p for p in state.proxies if p.name != wanted.name), wanted]
        _save(state)
        NodeHandle(node, lambda: _save(state)).start()
        NodeHandle(node).wait_healthy(timeout)
        process.wait_until(lambda: ready(node.ports["proxy"]), 20, f"{node.name} via its proxy")
    except BaseException:
        _say(f"{node.name} failed to start; see {node.log_file}")
        remove(state)
        raise


def _drop_added(state: StackState, name: str) -> None:
    """Stop node ``name`` (it keeps no data) and delete its proxy ``name``."""
    node = state.nodes.pop(name, None)
    if node is not None:
        NodeHandle(node).terminate()
        shutil.rmtree(node.cwd, ignore_errors=True)
    try:
        with ToxiproxyClient(state.toxiproxy_url) as toxiproxy:
            if name in toxiproxy.proxies():
                toxiproxy.delete_proxy(name)
    except HarnessError as error:
        _say(f"could not delete the {name} proxy: {error}")
    state.proxies = [p for p in state.proxies if p.name != name]


def add_moto(state: StackState, timeout: float = UP_TIMEOUT) -> NodeState:
    """Start the moto emulator (and its proxy ``moto``) on a running local stack.

    What ``harness stack up --with sns`` does to a stack that runs without it."""
    if state.backend != "local":
        raise StackError(
            f"moto can be added only to a local stack; this one is {state.backend!r}. Start "
            "the compose stack's moto service instead (`docker compose --profile sns up -d`)."
        )
    if moto.NODE in state.nodes:
        return state.nodes[moto.NODE]
    _refuse_busy([layout.moto_proxy_port(), layout.moto_port()], "moto")
    node = _plan_moto(state, layout.run_dir())
    _start_added(state, node, moto.proxy(), moto.ready, remove_moto, timeout)
    _say(f"moto ready (pid {node.pid}, endpoint {state.moto_endpoint})")
    return node


def remove_moto(state: StackState) -> None:
    """Stop moto and delete its proxy; the stack runs on without it (moto keeps no data)."""
    _drop_added(state, moto.NODE)
    state.moto_endpoint = None
    _save(state)


def add_pubsub(state: StackState, timeout: float = UP_TIMEOUT) -> NodeState:
    """Start the Pub/Sub emulator (and its proxy) on a running local stack.

    What ``harness stack up --with pubsub`` does to a stack that runs without it."""
    if state.backend != "local":
        raise StackError(
            f"Pub/Sub can be added only to a local stack; this one is {state.backend!r}. "
            "Start the compose stack's pubsub service instead."
        )
    if state.pubsub and layout.PUBSUB_NODE in state.nodes:
        return state.nodes[layout.PUBSUB_NODE]
    _refuse_busy([layout.pubsub_proxy_port(), layout.pubsub_port()], "the Pub/Sub emulator")
    server, flavour = provision_pubsub()
    node = pubsub.prepare_node(server, flavour, layout.run_dir())
    state.nodes[node.name] = node
    state.pubsub = True
    state.pubsub_emulator_host = layout.pubsub_emulator_host()
    _start_added(state, node, pubsub.proxy(), pubsub.grpc_ready, remove_pubsub, timeout)
    _say(f"pubsub ready (pid {node.pid}, clients at {state.pubsub_emulator_host})")
    return node


def remove_pubsub(state: StackState) -> None:
    """Stop the Pub/Sub emulator and delete its proxy; the stack runs on without it."""
    _drop_added(state, layout.PUBSUB_NODE)
    state.pubsub = False
    state.pubsub_emulator_host = None
    _save(state)


def add_sqs(state: StackState, persistent: bool = False, timeout: float = UP_TIMEOUT) -> NodeState:
    """Start ElasticMQ (and its proxy ``sqs``) on a running local stack, in memory or
    ``persistent``.

    What ``harness stack up --with sqs`` does to a stack that runs without SQS. A stack whose
    ElasticMQ runs in the other configuration gets it stopped and started again in this one
    (its queues are dropped: a scenario declares its own)."""
    if state.backend != "local":
        raise StackError(
            f"SQS can be added only to a local stack; this one is {state.backend!r}. Start "
            "the compose stack's sqs service instead (`docker compose --profile sqs up -d`)."
        )
    node = state.nodes.get(layout.SQS_NODE)
    if node is not None and state.sqs_persistent == persistent:
        return node
    if node is not None:
        _say(f"restarting ElasticMQ {'persistent' if persistent else 'in memory'}")
        remove_sqs(state)
        ports = [layout.sqs_proxy_port(), layout.sqs_port()]
        process.wait_until(
            lambda: all(map(process.port_free, ports)), 15, f"ports {ports} to close"
        )
    _refuse_busy([layout.sqs_proxy_port(), layout.sqs_port()], "ElasticMQ")
    node = _plan_sqs(state, layout.run_dir(), None, persistent)
    _start_added(state, node, elasticmq.proxy(), elasticmq.ready, remove_sqs, timeout)
    _say(f"sqs ready (pid {node.pid}, endpoint {state.sqs_endpoint})")
    return node


def remove_sqs(state: StackState) -> None:
    """Stop ElasticMQ, delete its proxy and data; the stack runs on without SQS."""
    _drop_added(state, layout.SQS_NODE)
    state.sqs_endpoint = None
    state.sqs_persistent = False
    _save(state)


def add_oauth(state: StackState, timeout: float = UP_TIMEOUT) -> NodeState:
    """Start mock-oauth2-server (and its proxy ``oauth``) on a running local stack.

    What ``harness stack up --with oauth`` does to a stack that runs without it."""
    if state.backend != "local":
        raise StackError(
            f"The OAuth2 issuer can be added only to a local stack; this one is "
            f"{state.backend!r}. Use the local backend for --with oauth."
        )
    if oauth.NODE in state.nodes:
        return state.nodes[oauth.NODE]
    _refuse_busy([layout.oauth_proxy_port(), layout.oauth_port()], "the OAuth2 issuer")
    node = _plan_oauth(state, layout.run_dir(), provision_oauth())
    _start_added(state, node, oauth.proxy(), oauth.ready, remove_oauth, timeout)
    _say(f"oauth ready (pid {node.pid}, issuer {state.oauth_issuer})")
    return node


def remove_oauth(state: StackState) -> None:
    """Stop the OAuth2 issuer and delete its proxy; the stack runs on without it."""
    _drop_added(state, oauth.NODE)
    state.oauth_issuer = None
    _save(state)


def remove_postgres(state: StackState) -> None:
    """Stop PostgreSQL, delete its proxy and data; the stack runs on without it."""
    node = state.nodes.get(postgres.NODE)
    if node is not None:
        NodeHandle(node).terminate()
        postgres.remove(node)
        del state.nodes[postgres.NODE]
    try:
        with ToxiproxyClient(state.toxiproxy_url) as toxiproxy:
            if postgres.NODE in toxiproxy.proxies():
                toxiproxy.delete_proxy(postgres.NODE)
    except HarnessError as error:
        _say(f"could not delete the postgres proxy: {error}")
    state.proxies = [p for p in state.proxies if p.name != postgres.NODE]
    state.postgres = False
    state.postgres_dsn = None
    _save(state)


def stop_processes(state: StackState, timeout: float = DOWN_TIMEOUT) -> list[str]:
    """SIGTERM every process at once, SIGKILL what remains at the deadline; return names
    of processes that were running."""
    stopped = []
    for node in state.all_processes():
        if process.is_running(node.pid, node.start_ticks):
            assert node.pid is not None
            stopped.append(node.name)
            process.signal_group(node.pid, signal.Signals[node.stop_signal])
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
    netcut.flush()
    netcut.remove_cgroups(n.cgroup for n in state.nodes.values() if n.cgroup)
    if postgres.NODE in state.nodes:
        postgres.remove(state.nodes[postgres.NODE])  # its data may live outside the run dir
    ports = layout.stack_ports(
        state.kafka_brokers, state.rabbitmq, state.postgres, state.nats_nodes,
        moto=moto.NODE in state.nodes, pubsub=state.pubsub, sqs=state.sqs_endpoint is not None,
        oauth=oauth.NODE in state.nodes,
    )  # fmt: skip
    process.wait_until(
        lambda: all(process.port_free(p) for p in ports), 15, f"ports {ports} to close"
    )
    clear_state()
    return stopped


__all__ = [
    "add_moto",
    "add_nats",
    "add_oauth",
    "add_postgres",
    "add_pubsub",
    "add_sqs",
    "check_brokers",
    "down",
    "plan",
    "postgres_proxy",
    "proxies_for",
    "remove_moto",
    "remove_nats",
    "remove_oauth",
    "remove_postgres",
    "remove_pubsub",
    "remove_sqs",
    "stop_processes",
    "toxiproxy_config",
    "up",
]
