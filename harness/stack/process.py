"""Detached processes and the probes that tell when they are ready.

A started service must outlive the ``harness stack up`` that started it, so each runs in a new
session (its own process group, signalled as a group) with its output appended to a log file.
A pid alone is not an identity once the process may have died and the pid been reused, so the
kernel's start time (``/proc/PID/stat`` field 22) is kept beside it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from harness.errors import StackError


def spawn(
    argv: list[str],
    env: dict[str, str],
    cwd: Path,
    log_file: Path,
    cgroup_procs: Path | None = None,
) -> int:
    """Start ``argv`` detached (new session), output appended to ``log_file``; return its pid.

    With ``cgroup_procs`` (a cgroup v2 ``cgroup.procs`` file) the child joins that cgroup before
    it execs, so every socket it ever opens belongs to the cgroup (what network cuts match)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    join = None
    if cgroup_procs is not None:
        procs = str(cgroup_procs)

        def join() -> None:
            with open(procs, "w", encoding="ascii") as handle:
                handle.write(f"{os.getpid()}\n")

    with open(log_file, "ab") as log:
        try:
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env={**os.environ, **env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=join,
            )
        except (OSError, subprocess.SubprocessError) as error:
            raise StackError(f"Cannot start {argv[0]!r}: {error}.") from error
    return proc.pid


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; everything after its closing paren is fixed.
    return raw[raw.rindex(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def process_state(pid: int | None, ticks: int | None) -> str | None:
    """The kernel's one-letter state (R, S, T, Z...) or ``None`` when the process is gone."""
    if pid is None:
        return None
    _reap(pid)
    fields = _stat_fields(pid)
    if not fields or (ticks is not None and int(fields[19]) != ticks):
        return None
    return fields[0]


def _reap(pid: int) -> None:
    """Collect our own dead child, so it does not linger as a zombie that looks alive."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def is_running(pid: int | None, ticks: int | None) -> bool:
    return process_state(pid, ticks) not in (None, "Z", "X")


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the process group the service leads (its session), falling back to the pid."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.2
) -> None:
    """Poll ``condition`` until it holds; raise ``StackError`` naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() >= deadline:
            raise StackError(
                f"Timed out after {timeout:.0f}s waiting for {what}. Check the nodes with "
                "`harness stack status` and their logs with `harness stack logs NAME`."
            )
        time.sleep(interval)


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def _exchange(port: int, request: bytes, host: str, timeout: float, want: int) -> bytes:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(request)
        data = b""
        while len(data) < want:
            chunk = sock.recv(want - len(data))
            if not chunk:
                break
            data += chunk
        return data


def kafka_ready(port: int, host: str = "127.0.0.1", timeout: float = 2.0) -> bool:
    """True when a Kafka broker answers an ApiVersions request (it serves requests only once
    it has joined the cluster, unlike its listening socket, which is bound earlier)."""
    client_id = b"harness-probe"
    body = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    try:
        reply = _exchange(port, struct.pack(">i", len(body)) + body, host, timeout, 10)
    except OSError:
        return False
    if len(reply) < 10:
        return False
    _size, correlation, error_code = struct.unpack(">iih", reply[:10])
    return correlation == 7 and error_code in (0, 35)  # 35: UNSUPPORTED_VERSION still answers


def amqp_ready(port: int, host: str = "127.0.0.1", timeout: float = 2.0) -> bool:
    """True when an AMQP 0-9-1 broker answers the protocol header with a method frame."""
    try:
        reply = _exchange(port, b"AMQP\x00\x00\x09\x01", host, timeout, 1)
    except OSError:
        return False
    return reply[:1] == b"\x01"


def postgres_ready(port: int, host: str = "127.0.0.1", timeout: float = 2.0) -> bool:
    """True when a PostgreSQL server accepts a session: it answers a startup message with an
    authentication request (``R``), not the error (``E``) it sends while starting or recovering."""
    params = b"user\x00harness\x00database\x00postgres\x00\x00"
    body = struct.pack(">i", 196608) + params  # protocol 3.0
    try:
        reply = _exchange(port, struct.pack(">i", len(body) + 4) + body, host, timeout, 1)
    except OSError:
        return False
    return reply[:1] == b"R"


LOG_TAIL_BYTES = 4096
LOG_TAIL_LINES = 8


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a server's log, indented after a lead-in, or ``""`` when the
    log is missing or empty; reads at most its last ``LOG_TAIL_BYTES`` bytes."""
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - LOG_TAIL_BYTES))
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    kept = [line for line in text.splitlines()[-lines:] if line.strip()]
    if not kept:
        return ""
    return " Its last lines:\n" + "\n".join(f"  {line}" for line in kept)


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when a server of ours could bind ``host:port`` now.

    A bind, not a connect: the local end of an outgoing connection holds a port as firmly as a
    listener does, yet refuses connections. ``SO_REUSEADDR`` as servers set it, so a port
    left only in ``TIME_WAIT`` counts as free."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


__all__ = [
    "amqp_ready",
    "is_running",
    "kafka_ready",
    "log_tail",
    "port_free",
    "port_open",
    "postgres_ready",
    "process_state",
    "signal_group",
    "spawn",
    "start_ticks",
    "wait_until",
]
