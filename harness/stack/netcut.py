"""Network cuts between brokers on loopback: one cgroup v2 per broker, iptables rules per pair.

Every broker listens on 127.0.0.1, so addresses cannot tell brokers apart; their processes can.
Each broker's process starts in its own cgroup (``harness-<offset>/kafka-N`` under the
cgroup v2 mount; a socket belongs to the cgroup its process was in when it opened it, so a
broker moved there later would keep its open connections uncut). A cut adds rules to the harness's own chain (``HARNESS-NET-<offset>``, jumped
to from ``OUTPUT``) that drop (or reject) what one broker's cgroup sends to another broker:

- packets to the other broker's INTERNAL and CONTROLLER ports (connections it opens), and
- packets on connections the other broker opened to it (its replies): every broker's packets
  towards a peer's listener mark the connection with the opener's node id (``CONNMARK``), so
  the replies can be matched by that mark.

So ``X must not hear from Y`` is exactly "drop every packet Y's process sends to X", on
replication and controller traffic only: client traffic goes through Toxiproxy, whose process
is in no broker's cgroup, and is never cut. Two stacks (two port offsets) use distinct chains
and cgroups. docs/decisions.md says why this mechanism.

    >>> rules = cut_rules({"kafka-1": {"kafka-2"}}, peers, tag="f1")
    >>> apply(rules)          # ...and later: remove("f1"), or flush() for everything
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.errors import StackError
from harness.stack import layout

CHAIN_PREFIX = "HARNESS-NET-"
MARK_MASK = 0xFF0000
MARK_SHIFT = 16
ACTIONS = ("drop", "reject")
COMMENT_PREFIX = "harness-fault:"
IPTABLES_TIMEOUT = 10.0


@dataclass(frozen=True)
class Peer:
    """One broker as the rules see it: its node id (the connection mark), its cgroup (relative
    to the cgroup v2 mount) and the ports of its replication and controller listeners."""

    name: str
    node_id: int
    cgroup: str
    ports: tuple[int, ...]


def chain() -> str:
    """The harness's own chain for this port offset."""
    return f"{CHAIN_PREFIX}{layout.port_offset()}"


def cgroup_for(node_name: str) -> str:
    """The cgroup (relative to the cgroup v2 mount) a broker's process is moved into."""
    return f"harness-{layout.port_offset()}/{node_name}"


def mark(node_id: int) -> str:
    """The connection mark of connections ``node_id`` opened, with its mask."""
    return f"{node_id << MARK_SHIFT:#x}/{MARK_MASK:#x}"


def _tag_args(tag: str) -> list[str]:
    return ["-m", "comment", "--comment", f"{COMMENT_PREFIX}{tag}"]


def cut_rules(
    grudge: Mapping[str, Iterable[str]],
    peers: Mapping[str, Peer],
    tag: str,
    action: str = "drop",
) -> list[list[str]]:
    """The ``iptables -A CHAIN ...`` argument lists that carry out ``grudge`` (node -> the nodes
    it must not hear from), each tagged with ``tag`` so the fault's rules can be removed alone.

    Marking rules come first (one per broker that is cut from anyone: its packets to any
    peer's listener mark the connection as opened by it), then two drop rules per grudge pair.
    Pure: no rule is applied here.
    """
    if action not in ACTIONS:
        raise StackError(f"A cut's action is one of {', '.join(ACTIONS)}, not {action!r}.")
    target = ["-j", "DROP"] if action == "drop" else ["-j", "REJECT"]
    pairs = sorted((x, y) for x, ys in grudge.items() for y in ys if y != x)
    for name in {n for pair in pairs for n in pair}:
        if name not in peers:
            raise StackError(f"Cannot cut {name}: it is not a broker of this stack.")
    involved = sorted({n for pair in pairs for n in pair}, key=lambda n: peers[n].node_id)
    rules: list[list[str]] = []
    for name in involved:
        me = peers[name]
        others = sorted(p for other in involved if other != name for p in peers[other].ports)
        if not others:
            continue
        rules.append(
            ["-p", "tcp", "-m", "cgroup", "--path", me.cgroup, "-m", "multiport",
             "--dports", ",".join(map(str, others)), *_tag_args(tag),
             "-j", "CONNMARK", "--set-xmark", mark(me.node_id)]
        )  # fmt: skip
    for deaf, sender in pairs:
        x, y = peers[deaf], peers[sender]
        rules.append(
            ["-p", "tcp", "-m", "cgroup", "--path", y.cgroup, "-m", "multiport",
             "--dports", ",".join(map(str, x.ports)), *_tag_args(tag), *target]
        )  # fmt: skip
        rules.append(
            ["-p", "tcp", "-m", "cgroup", "--path", y.cgroup, "-m", "connmark",
             "--mark", mark(x.node_id), *_tag_args(tag), *target]
        )  # fmt: skip
    return rules


# ---- the machine: iptables and cgroups ----------------------------------------------------


def _iptables(
    *args: str, check: bool = True, tool: str = "iptables", stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    binary = shutil.which(tool)
    if binary is None:
        raise StackError(
            f"{tool} is not installed, so brokers cannot be partitioned. Run ./scripts/bootstrap "
            "(it installs iptables), or `apt-get install iptables`."
        )
    try:
        result = subprocess.run(
            [binary, "-w", "5", *args],
            capture_output=True,
            text=True,
            input=stdin,
            timeout=IPTABLES_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise StackError(
            f"iptables {' '.join(args)} did not finish in {IPTABLES_TIMEOUT:.0f}s."
        ) from error
    if check and result.returncode != 0:
        raise StackError(
            f"iptables {' '.join(args)} failed: {result.stderr.strip() or result.returncode}. "
            "Partitions need root and the kernel's cgroup, connmark and multiport matches."
        )
    return result


def cgroup2_root() -> Path:
    """Where the cgroup v2 hierarchy is mounted (``/sys/fs/cgroup`` or, on hybrid hosts,
    ``/sys/fs/cgroup/unified``)."""
    try:
        mounts = Path("/proc/mounts").read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise StackError(f"Cannot read /proc/mounts ({error}) to find cgroup v2.") from error
    for line in mounts:
        fields = line.split()
        if len(fields) >= 3 and fields[2] == "cgroup2":
            return Path(fields[1])
    raise StackError(
        "No cgroup v2 hierarchy is mounted, so brokers cannot be told apart on loopback. Mount "
        "one (`mount -t cgroup2 none /sys/fs/cgroup/unified`) and retry."
    )


def cgroup_procs(relative: str) -> Path | None:
    """The ``cgroup.procs`` file of cgroup ``relative`` (created if missing), for a process to
    join at start; None when cgroup v2 is not mounted or not writable (the node then runs
    where it was started, and a partition fault says why it cannot cut it)."""
    try:
        directory = cgroup2_root() / relative
        directory.mkdir(parents=True, exist_ok=True)
    except (StackError, OSError):
        return None
    procs = directory / "cgroup.procs"
    return procs if os.access(procs, os.W_OK) else None


def remove_cgroups(relatives: Iterable[str]) -> None:
    """Remove the (empty) cgroups of a stack that went down, and their parent; best effort."""
    try:
        root = cgroup2_root()
    except StackError:
        return
    directories = [root / relative for relative in relatives]
    for directory in [*directories, *{d.parent for d in directories}]:
        # a process that just exited may hold its cgroup for a moment (EBUSY)
        for _ in range(10):
            try:
                directory.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.1)


def check_enclosed(pid: int, node_name: str, relative: str | None) -> str:
    """``relative`` when process ``pid`` runs in that cgroup; a ``StackError`` otherwise.

    A socket belongs to the cgroup its process was in when it opened it, so a broker moved into
    its cgroup later would keep its open connections uncut: it must have started there.
    """
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise StackError(f"Cannot read the cgroup of {node_name} (pid {pid}): {error}.") from error
    unified = next((line[3:] for line in lines if line.startswith("0::")), None)
    if relative is None or unified != f"/{relative}":
        raise StackError(
            f"{node_name} (pid {pid}) runs in the cgroup {unified!r}, not in its own "
            f"({relative!r}), so its connections cannot be cut. It was started without one (an "
            "older stack, or cgroup v2 was not writable): restart the stack with `harness stack "
            "down` and `harness stack up` as root."
        )
    return relative


def _ensure_chain() -> None:
    name = chain()
    if _iptables("-n", "-L", name, check=False).returncode != 0:
        _iptables("-N", name)
    if _iptables("-C", "OUTPUT", "-j", name, check=False).returncode != 0:
        _iptables("-I", "OUTPUT", "1", "-j", name)


def restore_text(rules: list[list[str]]) -> str:
    """The ``iptables-restore --noflush`` input that appends ``rules`` to the harness chain."""
    lines = ["*filter", *(shlex.join(["-A", chain(), *rule]) for rule in rules), "COMMIT", ""]
    return "\n".join(lines)


def apply(rules: list[list[str]]) -> None:
    """Append ``rules`` to the harness chain (created, and jumped to from OUTPUT, if needed) in
    one ``iptables-restore`` transaction: all of them or none, so an undo racing a cut that is
    still being applied never finds half of it."""
    _ensure_chain()
    if rules:
        _iptables("--noflush", tool="iptables-restore", stdin=restore_text(rules))


def listing() -> list[str]:
    """The harness chain's rules as ``iptables -S`` prints them (empty when it does not exist)."""
    if shutil.which("iptables") is None:
        return []
    result = _iptables("-S", chain(), check=False)
    if result.returncode != 0:
        return []
    return [line for line in result.stdout.splitlines() if line.startswith("-A ")]


def remove(tag: str) -> int:
    """Delete the rules of one fault (those tagged ``tag``); drop the chain once it is empty.
    Idempotent; returns how many rules were deleted."""
    needle = f"{COMMENT_PREFIX}{tag}"
    deleted = 0
    for line in listing():
        words = shlex.split(line)
        if needle in words:
            _iptables("-D", *words[1:])
            deleted += 1
    if not listing():
        flush()
    return deleted


def flush() -> bool:
    """Remove the harness chain whole (its rules and the jump to it); True if it existed."""
    if shutil.which("iptables") is None:
        return False
    name = chain()
    existed = False
    while _iptables("-D", "OUTPUT", "-j", name, check=False).returncode == 0:
        existed = True
    if _iptables("-n", "-L", name, check=False).returncode == 0:
        _iptables("-F", name)
        _iptables("-X", name)
        existed = True
    return existed


__all__ = [
    "ACTIONS",
    "CHAIN_PREFIX",
    "Peer",
    "apply",
    "cgroup2_root",
    "cgroup_for",
    "chain",
    "cut_rules",
    "cgroup_procs",
    "check_enclosed",
    "flush",
    "listing",
    "mark",
    "remove",
    "remove_cgroups",
    "restore_text",
]
