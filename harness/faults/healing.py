"""Guaranteed healing: every fault registers its undo before it is applied.

An ``Undo`` is plain data (what to repair, where), so it can be written to a journal on disk
before the fault happens. A run heals its faults one by one as they end and all that remain in
a ``finally`` (normal end, exception, Ctrl-C, SIGTERM); a run that was SIGKILLed leaves its
journal behind, and ``harness heal`` replays it. Healing never stops at the first failure: each
undo is tried, and the failures are reported together.

    healer = Healer(undo_on_stack(stack), Journal.for_run("run-42"))
    token = await healer.register(Undo("enable_proxy", "kafka-1"))
    await asyncio.to_thread(toxiproxy.disable, "kafka-1")
    ...
    await healer.heal(token)          # or, at the end: await healer.heal_all()
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from harness.errors import FaultError
from harness.stack import layout

UndoAction = Literal[
    "remove_toxic", "enable_proxy", "resume_node", "start_node", "stop_process", "local"
]


@dataclass(frozen=True)
class Undo:
    """How to repair one fault: ``action`` on ``target`` (a proxy or node name).

    ``detail`` carries the toxic name for ``remove_toxic`` and ``pid:start_ticks`` for
    ``stop_process`` (a process the run started, such as an external system under test, that
    must not outlive it; the start ticks tell it from a later process given the same pid).
    ``local`` undos (restarting an
    in-process consumer) are callbacks that only the running process can perform; they are not
    journaled, since a later ``harness heal`` could not run them.
    """

    action: UndoAction
    target: str
    detail: str = ""
    callback: Callable[[], Awaitable[None]] | None = field(default=None, compare=False)

    def describe(self) -> str:
        what = {
            "remove_toxic": f"remove toxic {self.detail!r} from proxy {self.target}",
            "enable_proxy": f"enable proxy {self.target}",
            "resume_node": f"resume {self.target}",
            "start_node": f"start {self.target} again",
            "stop_process": f"stop {self.target} (pid {self.detail.partition(':')[0]})",
            "local": f"restart {self.target}",
        }
        return what[self.action]

    def to_json(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if k != "callback"}


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
        durable = [u.to_json() for u in pending if u.action != "local"]
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
            return [Undo(**item) for item in data["pending"]]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise FaultError(
                f"The heal journal {self.path} is unreadable ({error}); run "
                "`harness heal --all` to reset every proxy and repair every node instead."
            ) from error

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
                    failures.append(f"could not {undo.describe()}: {error}")
                    continue
                del self._pending[token]
            await asyncio.to_thread(self._write_journal)
        return failures

    async def _run(self, undo: Undo) -> None:
        if undo.callback is not None:
            await undo.callback()
        else:
            await self._undoer(undo)

    def _write_journal(self) -> None:
        if self._journal is not None:
            self._journal.write(list(self._pending.values()))


__all__ = ["Healer", "Journal", "Undo", "UndoAction", "Undoer", "heal_dir", "pending_journals"]
