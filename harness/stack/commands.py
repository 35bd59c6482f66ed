"""``harness stack provision|up|down|status|logs``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import deque
from typing import Any

from harness.errors import HarnessError, StackError
from harness.safety import redact_text, redact_url
from harness.stack import compose, layout, local
from harness.stack.handles import NodeHandle
from harness.stack.localenv import env_file, write_local_env
from harness.stack.provision import provision
from harness.stack.stack import Stack
from harness.stack.state import load_state

OPTIONAL_NODES = ["postgres", "nats", "sns", "pubsub", "sqs", "oauth"]


def _provision(args: argparse.Namespace) -> int:
    started = time.monotonic()
    artifacts = provision(
        rabbitmq=not args.no_rabbitmq, postgres="postgres" in args.with_,
        pubsub="pubsub" in args.with_, sqs="sqs" in args.with_, oauth="oauth" in args.with_,
    )  # fmt: skip
    print(f"kafka libs:        {artifacts.kafka_libs}")
    print(f"toxiproxy server:  {artifacts.toxiproxy_server} ({artifacts.toxiproxy_flavour})")
    if not args.no_rabbitmq:
        print(f"rabbitmq:          {artifacts.rabbitmq_bin}")
    if artifacts.postgres_bin:
        print(f"postgresql:        {artifacts.postgres_bin}")
    if artifacts.pubsub_server:
        print(f"pubsub server:     {artifacts.pubsub_server} ({artifacts.pubsub_flavour})")
    if artifacts.elasticmq_libs:
        print(f"elasticmq libs:    {artifacts.elasticmq_libs}")
    if artifacts.elasticmq_libs:
        print(f"elasticmq libs:    {artifacts.elasticmq_libs}")
    if artifacts.oauth_libs:
        print(f"oauth2 issuer:     {artifacts.oauth_libs} (mock-oauth2-server)")
    print(f"ready in {time.monotonic() - started:.1f}s")
    return 0


def _up(args: argparse.Namespace) -> int:
    started = time.monotonic()
    with_rabbitmq = not args.no_rabbitmq
    with_postgres = "postgres" in args.with_
    nats_nodes = args.nats_nodes if "nats" in args.with_ else 0
    with_moto = "sns" in args.with_
    with_pubsub = "pubsub" in args.with_
    with_sqs = "sqs" in args.with_
    if args.sqs_persistent and not with_sqs:
        raise StackError("--sqs-persistent configures ElasticMQ; add --with sqs.")
    with_oauth = "oauth" in args.with_
    if args.backend == "compose":
        if with_moto:
            raise StackError("The compose backend does not start moto yet; run `docker compose "
                             "--profile sns up -d moto` beside it, or use the local backend.")  # fmt: skip
        if nats_nodes > 1:
            raise StackError("The compose backend runs one NATS server; use --nats-nodes 1, or "
                             "the local backend for a three-node cluster.")  # fmt: skip
        state = compose.up(
            args.kafka_brokers, with_rabbitmq, with_postgres, with_nats=bool(nats_nodes),
            with_pubsub=with_pubsub, with_sqs=with_sqs, with_oauth=with_oauth,
        )  # fmt: skip
    else:
        state = local.up(
            args.kafka_brokers, with_rabbitmq, args.timeout, with_postgres, nats_nodes,
            with_moto=with_moto, with_pubsub=with_pubsub, with_sqs=with_sqs,
            sqs_persistent=args.sqs_persistent, with_oauth=with_oauth,
        )  # fmt: skip
    print(f"stack up in {time.monotonic() - started:.1f}s ({state.backend} backend)")
    if state.kafka_bootstrap:
        print(f"kafka bootstrap:  {','.join(state.kafka_bootstrap)}")
    if state.rabbitmq_url:
        print(f"rabbitmq url:     {redact_url(state.rabbitmq_url)}")
    if state.postgres_dsn:
        print(f"postgres dsn:     {redact_url(state.postgres_dsn)}")
    if state.nats_servers:
        print(f"nats servers:     {','.join(state.nats_servers)}")
    if state.moto_endpoint:
        print(f"sns/eventbridge:  {state.moto_endpoint}  (moto, an emulator)")
    if state.pubsub_emulator_host:
        print(f"pubsub emulator:  {state.pubsub_emulator_host}  (PUBSUB_EMULATOR_HOST)")
    if state.sqs_endpoint:
        kept = "persistent" if state.sqs_persistent else "in memory"
        print(f"sqs endpoint:     {state.sqs_endpoint}  ({kept})")
    if state.oauth_issuer:
        print(f"oauth2 issuer:    {state.oauth_issuer}  (mock-oauth2-server)")
    print(f"toxiproxy api:    {state.toxiproxy_url}")
    if (state.kafka_bootstrap or state.rabbitmq_url or state.nats_nodes or state.moto_endpoint
            or state.pubsub_emulator_host or state.sqs_endpoint):  # fmt: skip
        print(f"env file:         {write_local_env(state)}  (harness run --env FILE)")
    else:  # nothing an env file's sections describe (no broker, no emulator)
        env_file().unlink(missing_ok=True)
        print("env file:         none (an env file needs a broker or an emulator in the stack)")
    return 0


def _down(args: argparse.Namespace) -> int:
    state = load_state()
    env_file().unlink(missing_ok=True)
    if state is not None and state.backend == "compose":
        compose.down(state)
        print("stack down (compose)")
        return 0
    stopped = local.down()
    print(f"stack down: stopped {', '.join(stopped)}" if stopped else "no stack was running")
    return 0


def _node_status(handle: NodeHandle) -> dict[str, Any]:
    alive = handle.is_alive()
    paused = alive and handle.is_paused()
    return {
        "kind": handle.kind,
        "pid": handle.pid,
        "alive": alive,
        "paused": paused,
        "healthy": alive and not paused and handle.is_healthy(timeout=1.0),
        "ports": handle.ports,
        "proxy": handle.proxy,
        "data_dir": str(handle.data_dir),
        "log_file": str(handle.log_file),
    }


def _proxies_status(stack: Stack) -> dict[str, Any]:
    try:
        with stack.toxiproxy(timeout=2.0) as client:
            return {
                name: {"listen": p.listen, "upstream": p.upstream, "enabled": p.enabled,
                       "toxics": [t.name for t in p.toxics]}
                for name, p in client.proxies().items()
            }  # fmt: skip
    except HarnessError as error:  # status reports a dead API rather than failing on it
        return {"error": redact_text(str(error))}


def status_report(stack: Stack) -> dict[str, Any]:
    """Nodes, pids, ports, proxies and health, as ``status --json`` prints them."""
    nodes = {n: _node_status(h) for n, h in {**stack.nodes, **stack.services}.items()}
    return {
        "backend": stack.state.backend,
        "kafka_brokers": stack.state.kafka_brokers,
        "kafka_bootstrap": stack.kafka_bootstrap,
        "rabbitmq_url": redact_url(stack.state.rabbitmq_url) if stack.state.rabbitmq_url else None,
        "postgres_dsn": redact_url(stack.state.postgres_dsn) if stack.state.postgres_dsn else None,
        "nats_servers": list(stack.state.nats_servers),
        "moto_endpoint": stack.state.moto_endpoint,
        "pubsub_emulator_host": stack.state.pubsub_emulator_host,
        "sqs_endpoint": stack.state.sqs_endpoint,
        "sqs_persistent": stack.state.sqs_persistent,
        "oauth_issuer": stack.state.oauth_issuer,
        "toxiproxy_url": stack.toxiproxy_url,
        "healthy": all(n["healthy"] for n in nodes.values()),
        "nodes": nodes,
        "proxies": _proxies_status(stack),
    }


def _status(args: argparse.Namespace) -> int:
    if load_state() is None:
        report: dict[str, Any] = {"up": False, "nodes": {}}
        print(json.dumps(report) if args.json else "no stack is up (`harness stack up`)")
        return 0
    report = {"up": True, **status_report(Stack.load())}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for name, node in report["nodes"].items():
        health = "paused" if node["paused"] else "healthy" if node["healthy"] else "DOWN"
        ports = " ".join(f"{k}={v}" for k, v in node["ports"].items())
        print(f"{name:10} {health:8} pid={node['pid']!s:8} {ports}")
    for name, proxy in report["proxies"].items():
        print(f"proxy {name:10} {proxy}")
    if report["postgres_dsn"]:
        print(f"postgres dsn     {report['postgres_dsn']}")
    return 0 if report["healthy"] else 1


def _logs(args: argparse.Namespace) -> int:
    node = Stack.load().node(args.node)
    try:
        with open(node.log_file, errors="replace") as log:
            sys.stdout.writelines(deque(log, maxlen=args.lines))
    except FileNotFoundError as error:
        raise StackError(
            f"{node.name} has no log yet at {node.log_file}. Start the stack with "
            "`harness stack up`, then look again."
        ) from error
    return 0


def _node_action(args: argparse.Namespace) -> int:
    """``kill-node``/``pause-node``/``resume-node``/``restart-node NAME``: the local stack's
    process controls as commands (what its env file names)."""
    node = Stack.load().node(args.node)
    action = args.node_action
    if action == "restart":
        node.restart(args.timeout)
        print(f"restarted {node.name} (pid {node.pid}); it answers again")
    elif action == "resume":
        node.resume()
        print(f"resumed {node.name}")
    else:
        getattr(node, action)()
        print(f"{'killed' if action == 'kill' else 'paused'} {node.name}")
    return 0


def _register_node_actions(commands: argparse._SubParsersAction) -> None:
    helps = {
        "kill": "SIGKILL a recorded node (its process group)",
        "pause": "SIGSTOP a recorded node",
        "resume": "SIGCONT a paused node",
        "restart": "restart a recorded node on its data dir and wait until it is ready",
    }
    for action, text in helps.items():
        parser = commands.add_parser(f"{action}-node", help=text)
        parser.add_argument("node", metavar="NODE", help=f"e.g. {layout.kafka_node_name(1)}")
        if action == "restart":
            parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait")
        parser.set_defaults(func=_node_action, node_action=action)


class _WithNodes(argparse.Action):
    """``--with a,b`` and ``--with a --with b`` alike: the named optional nodes, checked."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        names = [n.strip() for n in str(values).split(",") if n.strip()]
        unknown = [n for n in names if n not in OPTIONAL_NODES]
        if unknown or not names:
            parser.error(
                f"--with takes optional nodes from {', '.join(OPTIONAL_NODES)} (comma-separated "
                f"or repeated), got {values!r}"
            )
        chosen = list(getattr(namespace, self.dest, None) or [])
        setattr(namespace, self.dest, [*chosen, *(n for n in names if n not in chosen)])


def _with_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--with", dest="with_", action=_WithNodes, default=[], metavar="NODE[,NODE]",
        help="also start optional nodes: postgres, nats, sns (moto: SNS and EventBridge), "
        "pubsub, sqs (ElasticMQ), oauth (mock-oauth2-server); comma-separated or repeated (on a running stack: add them)",
    )  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    stack = subparsers.add_parser("stack", help="provision, start, inspect and stop the stack")
    commands = stack.add_subparsers(dest="stack_command", metavar="ACTION")
    commands.required = True

    prov = commands.add_parser("provision", help="fetch and build Kafka, Toxiproxy (cached)")
    prov.add_argument("--no-rabbitmq", action="store_true", help="do not require RabbitMQ")
    _with_option(prov)
    prov.set_defaults(func=_provision)

    up = commands.add_parser("up", help="start Kafka, RabbitMQ and Toxiproxy on loopback")
    up.add_argument("--kafka-brokers", type=int, choices=[0, 1, 2, 3], default=1,
                    help="Kafka nodes (0 only with --with nats, sns, pubsub, sqs or oauth)")  # fmt: skip
    up.add_argument("--nats-nodes", type=int, choices=list(layout.NATS_NODE_COUNTS), default=1,
                    help="with --with nats: one server, or three (JetStream R3)")  # fmt: skip
    up.add_argument("--sqs-persistent", action="store_true",
                    help="with --with sqs: ElasticMQ keeps queues and messages on disk (H2)")  # fmt: skip
    up.add_argument("--no-rabbitmq", action="store_true", help="start Kafka and Toxiproxy only")
    _with_option(up)
    up.add_argument("--backend", choices=["local", "compose"], default="local")
    up.add_argument("--timeout", type=float, default=local.UP_TIMEOUT, help="seconds to wait")
    up.set_defaults(func=_up)

    commands.add_parser("down", help="stop everything the stack started").set_defaults(func=_down)

    status = commands.add_parser("status", help="nodes, pids, ports, proxies, health")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=_status)

    logs = commands.add_parser("logs", help="print the tail of a node's log")
    logs.add_argument("node", metavar="NODE", help=f"e.g. {layout.kafka_node_name(1)}, rabbitmq")
    logs.add_argument("-n", "--lines", type=int, default=200)
    logs.set_defaults(func=_logs)

    _register_node_actions(commands)


__all__ = ["register", "status_report"]
