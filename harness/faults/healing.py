"""Guaranteed healing: every fault registers its undo before it is applied.

An ``Undo`` is plain data (what to repair, where), so it can be written to a journal on disk
before the fault happens. A run heals its faults one by one as they end and all that remain in
a ``finally`` (normal end, exception, Ctrl-C, SIGTERM); a run that was SIGKILLed leaves its
journal behind, and ``harness heal`` replays it. Healing never stops at the first failure: each
undo is tried, the failures are reported together, and the journal keeps exactly the undos that
failed until a later ``harness heal`` carries them out.

    healer = Healer(undo_on_stack(stack, toxiproxy), Journal.for_run("run-42"))
    token = await healer.register(Undo("enable_proxy", "kafka-1"))
    await asyncio.to_thread(toxiproxy.disable, "kafka-1")
    ...
    await healer.heal(token)          # or, at the end: await healer.heal_all()

What an undo action means (``remove_toxic``, ``start_node``...) is an ``UndoKind``, declared by
the fault kind that registers it (``harness/faults/kinds/``); ``stop_process`` (a system under
test the run started) and ``local`` (an in-process callback) are declared here.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.errors import FaultError
from harness.scenario.faults import fault_kinds
from harness.stack import Stack, layout, process
from harness.stack.toxiproxy import ToxiproxyClient

LOCAL = "local"
UndoAction = str  # the name of an UndoKind: "remove_toxic", "start_node", "stop_process"...


@dataclass(frozen=True)
class Undo:
    """How to repair one fault: ``action`` on ``target`` (a proxy or node name).

    ``detail`` carries what the action needs beyond the target: the toxic name for
    ``remove_toxic``, ``pid:start_ticks`` for ``stop_process`` (a process the run started, such
    as an external system under test, that must not outlive it; the start ticks tell it from a
    later process given the same pid). ``local`` undos (restarting an in-process consumer) are
    callbacks that only the running process can perform; they are not journaled, since a later
    ``harness heal`` could not run them.
    """

    action: UndoAction
    target: str
    detail: str = ""
    callback: Callable[[], Awaitable[None]] | None = field(default=None, compare=False)

    @property
    def durable(self) -> bool:
        """Whether a later process can carry it out (so it belongs in the journal)."""
        return self.callback is None and self.action != LOCAL

    def describe(self) -> str:
        kind = undo_kinds().get(self.action)
        return kind.describe(self) if kind else f"{self.action} {self.target} ({self.detail})"

    def to_json(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if k != "callback"}


@dataclass(frozen=True)
class Repairs:
    """What journaled undos act through: the stack's nodes and its Toxiproxy."""

    stack: Stack
    toxiproxy: ToxiproxyClient
    restart_timeout: float = 120.0


@dataclass(frozen=True)
class UndoKind:
    """One undo action: how it reads to people, and how any process carries it out.

    ``run`` blocks (it is called on a worker thread) and must be idempotent: ``harness heal``
    may replay an undo the crashed run had already carried out. ``run`` is None for an action
    only the running process can do (a callback).
    """

    action: str
    describe: Callable[[Undo], str]
    run: Callable[[Undo, Repairs], None] | None = None


def _stop_process(undo: Undo, repairs: Repairs) -> None:
    pid, _, ticks = undo.detail.partition(":")
    if not (pid.isdigit() and ticks.isdigit()):
        raise FaultError(
            f"The journaled process {undo.detail!r} is not 'pid:start_ticks'; find "
            f"{undo.target} with `ps` and stop it by hand."
        )
    if process.is_running(int(pid), int(ticks)):
        process.signal_group(int(pid), signal.SIGKILL)


STOP_PROCESS = UndoKind(
    "stop_process",
    lambda u: f"stop {u.target} (pid {u.detail.partition(':')[0]})",
    _stop_process,
)
LOCAL_UNDO = UndoKind(LOCAL, lambda u: f"restart {u.target}")


def undo_kinds() -> dict[str, UndoKind]:
    """Every undo action by name: those of the fault kinds, ``stop_process`` and ``local``."""
    found = {u.action: u for u in (STOP_PROCESS, LOCAL_UNDO)}
    for kind in fault_kinds().values():
        for undo_kind in getattr(kind, "undos", ()):
            found.setdefault(undo_kind.action, undo_kind)
    return found


def heal_dir() -> Path:
    """Where runs keep their pending-undo journals."""
    return layout.run_dir() / "heal"


class Journal:
    """The pending undos of one run, rewritten atomically (and fsync'd) on every change."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_run(cls, run_id: str) -> Journal:
        return cls(heal_dir() / f"{run_id}.json")

    def write(self, pending: list[Undo]) -> None:
        durable = [u.to_json() for u in pending if u.durable]
        if not durable:
            self.path.unlink(missing_ok=True)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump({"pid": os.getpid(), "pending": durable}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    def read(self) -> list[Undo]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            undos = [Undo(**item) for item in data["pending"]]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise FaultError(
                f"The heal journal {self.path} is unreadable ({error}). `harness heal` still "
                "resets every proxy and repairs every node of the stack without it; a system "
                "under test that run started may still be running: stop it by hand (see "
                f"`ps`), then delete {self.path}."
            ) from error
        if not all(isinstance(u.action, str) and isinstance(u.detail, str) for u in undos):
            raise FaultError(
                f"The heal journal {self.path} holds an entry that is not an undo; `harness "
                f"heal` still repairs the stack without it: then delete {self.path}."
            )
        return undos

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def pending_journals() -> list[Journal]:
    """Journals left by runs that did not finish healing (for ``harness heal``)."""
    directory = heal_dir()
    return [Journal(p) for p in sorted(directory.glob("*.json"))] if directory.is_dir() else []


Undoer = Callable[[Undo], Awaitable[None]]


class Healer:
    """Registry of applied faults' undos, healed on demand or all at once."""

    def __init__(self, undoer: Undoer, journal: Journal | None = None) -> None:
        self._undoer = undoer
        self._journal = journal
        self._pending: dict[int, Undo] = {}
        self._tokens = itertools.count(1)
        self._lock = asyncio.Lock()

    @property
    def pending(self) -> list[Undo]:
        return list(self._pending.values())

    async def register(self, undo: Undo) -> int:
        """Record ``undo`` (durably) and return a token for ``heal``; call before the fault."""
        async with self._lock:
            token = next(self._tokens)
            self._pending[token] = undo
            await asyncio.to_thread(self._write_journal)
            return token

    async def heal(self, token: int) -> None:
        """Run one undo now; it stays pending (and raises ``FaultError``) if it fails."""
        async with self._lock:
            undo = self._pending.get(token)
            if undo is None:
                return
            await self._run(undo)
            del self._pending[token]
            await asyncio.to_thread(self._write_journal)

    async def discard(self, token: int) -> None:
        """Forget an undo whose fault repaired itself (a restart that completed)."""
        async with self._lock:
            if self._pending.pop(token, None) is not None:
                await asyncio.to_thread(self._write_journal)

    async def heal_all(self) -> list[str]:
        """Try every pending undo, newest first; return one message per undo that failed.

        Shielded from cancellation, so a Ctrl-C during healing does not leave faults behind.
        """
        return await asyncio.shield(self._heal_all())

    async def _heal_all(self) -> list[str]:
        failures: list[str] = []
        async with self._lock:
            for token in sorted(self._pending, reverse=True):
                undo = self._pending[token]
                try:
                    await self._run(undo)
                except Exception as error:  # every undo is tried; failures are reported
                    failures.append(self._failure(undo, error))
                    continue
                del self._pending[token]
            await asyncio.to_thread(self._write_journal)
        return failures

    async def _run(self, undo: Undo) -> None:
        if undo.callback is not None:
            await undo.callback()
        else:
            await self._undoer(undo)

    def _failure(self, undo: Undo, error: Exception) -> str:
        message = f"could not {undo.describe()}: {error}"
        if self._journal is not None and undo.durable:
            message += f" (kept in {self._journal.path} for `harness heal`)"
        return message

    def _write_journal(self) -> None:
        if self._journal is not None:
            self._journal.write(list(self._pending.values()))


async def replay(journal: Journal, undoer: Undoer) -> tuple[list[str], list[str]]:
    """Carry out the undos of a journal a run left behind, newest first; return what was
    healed and what failed. The journal keeps exactly the undos that failed (it is gone once
    every one succeeded), so a later ``harness heal`` retries them."""
    try:
        pending = journal.read()
    except FaultError as error:
        return [], [str(error)]
    healed: list[str] = []
    failures: list[str] = []
    failed: list[Undo] = []
    for undo in reversed(pending):
        try:
            await undoer(undo)
        except Exception as error:  # every undo is tried; failures are reported
            failures.append(f"could not {undo.describe()}: {error} (kept in {journal.path})")
            failed.append(undo)
            continue
        healed.append(undo.describe())
    journal.write(list(reversed(failed)))
    return healed, failures


__all__ = [
    "LOCAL",
    "STOP_PROCESS",
    "Healer",
    "Journal",
    "Repairs",
    "Undo",
    "UndoAction",
    "UndoKind",
    "Undoer",
    "heal_dir",
    "pending_journals",
    "replay",
    "undo_kinds",
]
