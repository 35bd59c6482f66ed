"""Node handles driven by commands: the controls of a node the harness did not start.

An env file gives each node's ``kill``, ``pause``, ``resume`` and ``restart`` as commands
(``docker kill kafka-2``, ``systemctl restart kafka``, ``kubectl delete pod kafka-2``). A
``CommandedNode`` runs them (argv, no shell, bounded by the node's ``timeout``) behind the same
interface as the local stack's pid-based ``NodeHandle``, so every process fault works on either.
After ``restart`` it waits until the node's address answers its protocol.

The harness cannot see a commanded node's process: ``is_paused`` and ``is_alive`` say what it
did to the node itself; ``heal`` asks the node's address instead (resume, then restart, whatever
stays silent).

    >>> node = Stack.from_env(load_env("docker/env.yaml"), "docker/env.yaml").node("kafka-2")
    >>> node.kill(); node.restart()
"""

from __future__ import annotations

import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import StackError
from harness.safety import redact_text, split_host_port
from harness.stack import nats, process
from harness.stack.envfile import NodeControl
from harness.stack.handles import NodeHandle

RESUME_SETTLE_S = 10.0
"""``heal``: how long a resumed node may take to answer before it is restarted instead."""


def run_command(argv: list[str], timeout: float, what: str) -> None:
    """Run ``argv`` (no shell, no stdin) within ``timeout``; ``StackError`` saying why it failed."""
    try:
        result = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
            check=False,
        )  # fmt: skip
    except FileNotFoundError:
        raise StackError(
            f"{what}: the program {argv[0]!r} is not on PATH; install it or give its full path "
            "in the env file"
        ) from None
    except PermissionError:
        raise StackError(f"{what}: {argv[0]!r} is not executable; check its permissions") from None
    except subprocess.TimeoutExpired:
        raise StackError(
            f"{what}: the command did not finish within {timeout:g}s and was killed; raise the "
            "node's control.timeout in the env file, or check the command by hand"
        ) from None
    if result.returncode != 0:
        said = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise StackError(
            f"{what}: the command exited with status {result.returncode} "
            f"({redact_text(said[0][:300])}); run it by hand to see why"
        )


@dataclass
class CommandedNode(NodeHandle):
    """A node of an env file, controlled by its commands and probed at its address."""

    control: NodeControl | None = None
    address: str | None = None
    """host:port of the node itself: where readiness is probed."""
    client: str | None = None
    """host:port its clients use (the proxy's listen address), when the env file says."""
    source: str = "the env file"
    _paused: bool = field(default=False, repr=False)
    _killed: bool = field(default=False, repr=False)
    _busy: Any = field(default_factory=threading.RLock, repr=False)
    """Held while a command runs: a question about the node (``is_alive``) asked meanwhile
    waits for the answer the command gives, so a restart due while a slow kill command still
    runs is not skipped (the node would stay dead)."""

    def can(self, control: str) -> bool:
        return self.control is not None and self.control.has(control)

    @property
    def client_address(self) -> str | None:
        return self.client

    def _run(self, control: str) -> None:
        if self.control is None or not self.control.has(control):
            raise StackError(
                f"{self.name} has no {control!r} command in {self.source}; add one under its "
                f"control: ({', '.join(self.control.available()) if self.control else 'none'} "
                "given), or drop the fault that needs it"
            )
        argv = getattr(self.control, control)
        with self._busy:
            run_command(argv, self.control.timeout, f"{control} {self.name} ({argv[0]})")

    def answers(self, timeout: float = 2.0) -> bool:
        """True when the node's address answers its protocol (False if none is known)."""
        if not self.address:
            return False
        host, port = split_host_port(self.address)
        check = {
            "kafka": process.kafka_ready,
            "rabbitmq": process.amqp_ready,
            "postgres": process.postgres_ready,
            "nats": nats.info_ready,  # a NATS server greets every client with INFO
        }.get(self.kind)
        if check is None:
            return process.port_open(port, host, timeout)
        return check(port, host, timeout)

    def is_alive(self) -> bool:
        with self._busy:
            return not self._killed

    def is_paused(self) -> bool:
        with self._busy:
            return self._paused

    def is_healthy(self, timeout: float = 2.0) -> bool:
        """Not killed or paused by this harness, and (where its address is known) answering."""
        if not self.is_alive() or self.is_paused():
            return False
        return self.answers(timeout) if self.address else True

    def kill(self) -> None:
        with self._busy:
            self._run("kill")
            self._killed = True

    def pause(self) -> None:
        with self._busy:
            self._run("pause")
            self._paused = True

    def resume(self) -> None:
        with self._busy:
            self._run("resume")
            self._paused = False

    def terminate(self, timeout: float = 30.0) -> None:
        raise StackError(
            f"{self.name} belongs to {self.source}; the harness does not stop it (use that "
            "environment's own tools)"
        )

    def start(self) -> None:
        self.restart()

    def wait_healthy(self, timeout: float | None = None) -> None:
        if not self.address:
            return
        limit = timeout if timeout is not None else self._ready_timeout()
        process.wait_until(self.answers, limit, f"{self.name} to answer at {self.address}")

    def _ready_timeout(self) -> float:
        return self.control.ready_timeout if self.control is not None else 120.0

    def restart(self, timeout: float | None = None) -> None:
        """Run the restart command, then wait until the node's address answers."""
        with self._busy:
            self._run("restart")
            self._killed = self._paused = False
        self.wait_healthy(max(timeout or 0.0, self._ready_timeout()))

    def heal(self, timeout: float | None = None) -> list[str]:
        """Bring a silent node back: resume it, and restart it if it stays silent."""
        if not self.address:
            if self._paused and self.can("resume"):
                self.resume()
                return [f"resumed {self.name}"]
            if self._killed and self.can("restart"):
                self.restart(timeout)
                return [f"restarted {self.name}"]
            return []
        if self.answers():
            self._killed = self._paused = False
            return []
        done: list[str] = []
        if self.can("resume"):
            try:
                self.resume()
                done.append(f"resumed {self.name}")
                settle = min(RESUME_SETTLE_S, self._ready_timeout())
                process.wait_until(self.answers, settle, f"{self.name} to answer")
                return done
            except StackError:
                pass  # not paused, or still silent: a restart is next
        if self.can("restart"):
            self.restart(timeout)
            return [*done, f"restarted {self.name}"]
        raise StackError(
            f"{self.name} does not answer at {self.address} and {self.source} gives no restart "
            "command for it; bring it back by hand"
        )

    @property
    def data_dir(self) -> Path:
        return Path(self.source)

    @property
    def log_file(self) -> Path:
        return Path(self.source)


__all__ = ["CommandedNode", "run_command"]
