"""A private RabbitMQ node: its own config, data, cookie, epmd and loopback ports.

Debian's package ships a system service; the harness never uses it. It runs RabbitMQ's own
start script with every path pointed into the run directory, and its own ``epmd`` on a
non-standard port so nothing of the stack outlives ``stack down`` or collides with a system
Erlang.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

from harness.errors import StackError
from harness.stack import layout
from harness.stack.state import NodeState

CONFIG = """listeners.tcp.default = {host}:{port}
loopback_users = none
log.console = true
log.console.level = info
log.file = false
"""

_ERL_LOOPBACK = "-kernel inet_dist_use_interface {127,0,0,1}"


def _env(node_dir: Path) -> dict[str, str]:
    """The environment shared by the server and ``rabbitmqctl`` (same node, cookie, epmd)."""
    return {
        "HOME": str(node_dir),
        "RABBITMQ_NODENAME": layout.RABBITMQ_NODENAME,
        "RABBITMQ_CONF_ENV_FILE": str(node_dir / "rabbitmq-env.conf"),
        "RABBITMQ_CONFIG_FILE": str(node_dir / "rabbitmq.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(node_dir / "advanced.config"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(node_dir / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(node_dir / "data"),
        "RABBITMQ_LOG_BASE": str(node_dir / "log"),
        "RABBITMQ_PID_FILE": str(node_dir / "rabbitmq.pid"),
        "RABBITMQ_LOGS": "-",
        "RABBITMQ_NODE_IP_ADDRESS": layout.HOST,
        "RABBITMQ_NODE_PORT": str(layout.rabbitmq_amqp_port()),
        "RABBITMQ_DIST_PORT": str(layout.rabbitmq_dist_port()),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": _ERL_LOOPBACK,
        "ERL_EPMD_PORT": str(layout.epmd_port()),
        "ERL_EPMD_ADDRESS": layout.HOST,
        # Makes the start script exec the Erlang VM, so the pid we keep is the broker itself.
        "RUNNING_UNDER_SYSTEMD": "true",
    }


def prepare(bin_dir: Path, run_dir: Path) -> tuple[NodeState, NodeState]:
    """Write the node's files; return the RabbitMQ node and its epmd helper."""
    node_dir = run_dir / "rabbitmq"
    (node_dir / "data").mkdir(parents=True, exist_ok=True)
    (node_dir / "log").mkdir(parents=True, exist_ok=True)
    (node_dir / "rabbitmq.conf").write_text(
        CONFIG.format(host=layout.HOST, port=layout.rabbitmq_amqp_port())
    )
    (node_dir / "rabbitmq-env.conf").write_text("")
    (node_dir / "enabled_plugins").write_text("[].\n")
    cookie = node_dir / ".erlang.cookie"
    if not cookie.exists():
        cookie.write_text(secrets.token_hex(16).upper())
    cookie.chmod(0o400)
    env = _env(node_dir)
    node = NodeState(
        name="rabbitmq",
        kind="rabbitmq",
        argv=[str(bin_dir / "rabbitmq-server")],
        env=env,
        cwd=str(node_dir),
        data_dir=str(node_dir / "data"),
        log_file=str(run_dir / "logs" / "rabbitmq.log"),
        ports={"proxy": layout.rabbitmq_proxy_port(), "amqp": layout.rabbitmq_amqp_port(),
               "dist": layout.rabbitmq_dist_port()},
        proxy="rabbitmq",
        probe="amqp",
        probe_port=layout.rabbitmq_amqp_port(),
    )  # fmt: skip
    epmd = NodeState(
        name="epmd",
        kind="epmd",
        argv=[shutil.which("epmd") or "epmd", "-port", str(layout.epmd_port()),
              "-address", layout.HOST],
        env={},
        cwd=str(node_dir),
        data_dir=str(node_dir),
        log_file=str(run_dir / "logs" / "epmd.log"),
        ports={"epmd": layout.epmd_port()},
        probe="tcp",
        probe_port=layout.epmd_port(),
    )  # fmt: skip
    return node, epmd


def ctl_argv(bin_dir: Path, *args: str) -> list[str]:
    return [str(bin_dir / "rabbitmqctl"), *args]


def ctl(node: NodeState, *args: str, timeout: float = 60.0) -> str:
    """Run ``rabbitmqctl`` against ``node`` (its cookie, epmd and name); return its output."""
    argv = ctl_argv(Path(node.argv[0]).parent, *args)
    try:
        done = subprocess.run(argv, env={**os.environ, **node.env}, capture_output=True,
                              text=True, timeout=timeout)  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"rabbitmqctl {' '.join(args)} did not answer within {timeout:.0f} s; "
                         f"see `harness stack logs {node.name}`") from exc  # fmt: skip
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()[-500:]
        raise StackError(f"rabbitmqctl {' '.join(args)} failed (exit {done.returncode}): {detail}; "
                         f"see `harness stack logs {node.name}`")  # fmt: skip
    return done.stdout


def flush_metadata(node: NodeState) -> None:
    """Make every metadata change the broker has acknowledged (declared queues, bindings) survive
    a SIGKILL.

    RabbitMQ 3.10 keeps metadata in Mnesia, which logs a transaction's commit record before it
    replies but its "committed" decision shortly after; a SIGKILL in between makes the restarted
    node presume the transaction aborted, so a queue whose declare-ok the client already holds
    is gone. Dumping the log writes committed transactions into the table files.
    """
    ctl(node, "eval", "mnesia:dump_log().")


__all__ = ["ctl", "ctl_argv", "flush_metadata", "prepare"]
