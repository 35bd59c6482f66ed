"""A private PostgreSQL server: Debian's binaries, its own data dir, loopback port and password.

Debian's ``postgresql`` package ships a system cluster and service; the harness never uses them.
It runs the server binary itself on a data dir it ``initdb``s once per ``stack up``, listening on
``127.0.0.1`` only (no Unix socket), with password (SCRAM) authentication for the one superuser
``harness`` whose password is made fresh for each ``up``.

PostgreSQL refuses to run as root. When the harness runs as root, the server runs as Debian's
``postgres`` system user (``setpriv``, which execs, so the pid kept is the postmaster itself) and
the data dir is owned by it. Where that user cannot reach ``$HARNESS_HOME/run`` (root's home is
``0700``), the data dir lives in a private directory under ``/var/tmp`` that
``$HARNESS_HOME/run/postgres`` links to.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from harness.errors import StackError
from harness.stack import layout, process
from harness.stack.state import NodeState

NODE = "postgres"
USER = "harness"
SERVICE_USER = "postgres"
DEBIAN_ROOT = Path("/usr/lib/postgresql")
INITDB_TIMEOUT = 120.0

# Small on purpose: a test server on a shared 2-core machine. Without fsync a commit still
# write()s its WAL before it returns, so a committed row survives the server's SIGKILL (the
# faults the harness injects); only a crash of the machine itself could lose it.
CONFIG = """listen_addresses = '{host}'
port = {port}
unix_socket_directories = ''
max_connections = 100
shared_buffers = 32MB
fsync = off
synchronous_commit = on
full_page_writes = off
logging_collector = off
log_destination = 'stderr'
log_min_messages = warning
"""
HBA = """# Loopback TCP only, password (SCRAM) for every user and database.
host all all 127.0.0.1/32 scram-sha-256
"""


@dataclass(frozen=True)
class ServiceUser:
    """Who the server runs as: ``None`` fields mean "the harness's own user"."""

    name: str | None
    uid: int
    gid: int

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` run as this user (``setpriv`` execs, keeping the pid)."""
        if self.name is None:
            return argv
        return [shutil.which("setpriv") or "setpriv", f"--reuid={self.uid}",
                f"--regid={self.gid}", "--init-groups", "--", *argv]  # fmt: skip


def locate_bin() -> Path:
    """The newest installed major version's ``bin`` directory (``initdb``, ``postgres``)."""
    versions = sorted(
        (p for p in DEBIAN_ROOT.glob("*/bin") if (p / "postgres").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1]
    found = shutil.which("postgres")
    if found:
        return Path(found).parent
    raise StackError(
        f"PostgreSQL is not installed (no {DEBIAN_ROOT}/*/bin/postgres, none on PATH). Run "
        "./scripts/bootstrap, which installs Debian's postgresql package, or start the stack "
        "without --with postgres."
    )


def service_user() -> ServiceUser:
    """The harness's own user, or Debian's ``postgres`` user when the harness runs as root."""
    if os.geteuid() != 0:
        return ServiceUser(None, os.getuid(), os.getgid())
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError as error:
        raise StackError(
            f"PostgreSQL refuses to run as root, and there is no {SERVICE_USER!r} user to run "
            "it as. Install Debian's postgresql package (./scripts/bootstrap), which creates "
            "it, or run the harness as an ordinary user."
        ) from error
    return ServiceUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


def _reachable(user: ServiceUser, path: Path) -> bool:
    """True when ``user`` can enter ``path`` (every ancestor searchable)."""
    if user.name is None:
        return True
    probe = user.wrap(["test", "-x", str(path)])
    return subprocess.run(probe, capture_output=True, timeout=10).returncode == 0


def node_dir(run_dir: Path, user: ServiceUser) -> Path:
    """Make and return the node's own directory, owned by the service user."""
    link = run_dir / NODE
    if link.is_symlink():
        link.unlink()
    if _reachable(user, run_dir):
        target = link
    else:
        digest = hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:12]
        target = Path("/var/tmp") / f"harness-postgres-{digest}"
        shutil.rmtree(target, ignore_errors=True)
        link.symlink_to(target)
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True, mode=0o700)
    os.chown(target, user.uid, user.gid)
    return target


def dsn(password: str, port: int | None = None, database: str = "postgres") -> str:
    """A libpq URL for the ``harness`` superuser (``port`` defaults to the proxy's)."""
    port = layout.postgres_proxy_port() if port is None else port
    return f"postgresql://{USER}:{quote(password, safe='')}@{layout.HOST}:{port}/{database}"


def prepare(run_dir: Path) -> tuple[NodeState, str]:
    """Make the data dir (``initdb``) and config; return the node and the superuser's password."""
    bin_dir = locate_bin()
    user = service_user()
    home = node_dir(run_dir, user)
    data = home / "data"
    password = secrets.token_urlsafe(18)
    _initdb(bin_dir, user, home, data, password)
    (data / "postgresql.auto.conf").write_text(
        CONFIG.format(host=layout.HOST, port=layout.postgres_port())
    )
    (data / "pg_hba.conf").write_text(HBA)
    for name in ("postgresql.auto.conf", "pg_hba.conf"):
        os.chown(data / name, user.uid, user.gid)
    argv = user.wrap([str(bin_dir / "postgres"), "-D", str(data)])
    node = NodeState(
        name=NODE,
        kind="postgres",
        argv=argv,
        env={"LC_ALL": "C", "PGTZ": "UTC"},
        cwd=str(home),
        data_dir=str(data),
        log_file=str(run_dir / "logs" / "postgres.log"),
        ports={"proxy": layout.postgres_proxy_port(), "sql": layout.postgres_port()},
        proxy=NODE,
        probe="postgres",
        probe_port=layout.postgres_port(),
        stop_signal="SIGINT",  # "fast" shutdown; SIGTERM waits for every client to leave
    )
    return node, password


def _initdb(bin_dir: Path, user: ServiceUser, home: Path, data: Path, password: str) -> None:
    pwfile = home / "pwfile"
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(password + "\n")
    os.chown(pwfile, user.uid, user.gid)
    argv = user.wrap([str(bin_dir / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={pwfile}",
                      "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-instructions",
                      "--no-sync"])  # fmt: skip
    try:
        done = subprocess.run(argv, cwd=home, capture_output=True, text=True,
                              env={**os.environ, "LC_ALL": "C"}, timeout=INITDB_TIMEOUT)  # fmt: skip
    except subprocess.TimeoutExpired as error:
        raise StackError(f"initdb did not finish within {INITDB_TIMEOUT:.0f} s in {data}; "
                         "is the disk full or very slow?") from error  # fmt: skip
    finally:
        pwfile.unlink(missing_ok=True)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()[-800:]
        raise StackError(f"initdb failed (exit {done.returncode}) in {data}: {detail}. Fix the "
                         "cause, then run `harness stack up --with postgres` again.")  # fmt: skip


def clear_stale_lock(data_dir: Path) -> None:
    """Delete ``postmaster.pid`` when the postmaster it names is dead.

    A SIGKILLed postmaster stays a zombie until its parent reaps it, and its parent may be a
    long-lived process that never does (a test session that started the stack): PostgreSQL then
    reads the zombie as a live postmaster and refuses to start. The whole process group was
    killed with it, so no backend still holds the shared memory the lock file guards."""
    lock = data_dir / "postmaster.pid"
    try:
        first = lock.read_text().split("\n", 1)[0].strip()
    except OSError:
        return
    if first.isdigit() and not process.is_running(int(first), None):
        lock.unlink(missing_ok=True)


def remove(node: NodeState) -> None:
    """Delete the node's directory (and the link to it) once it has stopped."""
    home = Path(node.cwd)
    shutil.rmtree(home.resolve(), ignore_errors=True)
    link = Path(node.log_file).parent.parent / NODE
    if link.is_symlink():
        link.unlink()


__all__ = [
    "NODE",
    "USER",
    "ServiceUser",
    "clear_stale_lock",
    "dsn",
    "locate_bin",
    "prepare",
    "remove",
    "service_user",
]
