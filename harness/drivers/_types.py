"""Small shared types of the drivers: where rows go, what an event must offer, effect modes."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Recorder(Protocol):
    """Where drivers append history rows (``harness.history.HistoryWriter`` satisfies it).

    ``append`` must be thread-safe and cheap: the pika drivers call it from their own threads.
    """

    def append(self, record: Mapping[str, Any]) -> None: ...


class EventLike(Protocol):
    """What a driver reads from an event besides its encoding (``harness.events.Event`` has it)."""

    @property
    def id(self) -> str: ...

    @property
    def key(self) -> str: ...

    @property
    def seq(self) -> int: ...

    @property
    def intended(self) -> float: ...


class ListRecorder:
    """A thread-safe in-memory ``Recorder``: for tests, benchmarks and small runs."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def append(self, record: Mapping[str, Any]) -> None:
        row = dict(record)
        with self._lock:
            self.rows.append(row)

    def of(self, op: str) -> list[dict[str, Any]]:
        """The rows whose ``op`` is ``op``, in append order."""
        with self._lock:
            return [r for r in self.rows if r.get("op") == op]


class EffectMode(StrEnum):
    """How the built-in consumer applies effects.

    ``correct``: idempotent (an effect store remembers applied ids across crashes).
    ``buggy``: re-applies an effect every time a message is delivered.
    """

    CORRECT = "correct"
    BUGGY = "buggy"


class EffectStore:
    """Ids whose effect was applied, persisted to an append-only file.

    The file survives a consumer crash and restart (it is flushed after every id), so a correct
    consumer that sees a redelivered message does not apply its effect again. ``path=None`` keeps
    the ids in memory only (they then survive ``crash()``/``restart()`` of the same driver object,
    not a process death).
    """

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._ids: set[str] = set()
        self._lock = threading.Lock()
        self._file = None
        if path is not None:
            if path.exists():
                self._ids = {line for line in path.read_text().splitlines() if line}
            self._file = path.open("a", encoding="utf-8")

    def __contains__(self, event_id: object) -> bool:
        with self._lock:
            return event_id in self._ids

    def add(self, event_id: str) -> bool:
        """Remember ``event_id``; False if it was already there."""
        with self._lock:
            if event_id in self._ids:
                return False
            self._ids.add(event_id)
            if self._file is not None:
                self._file.write(event_id + "\n")
                self._file.flush()
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._ids)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


__all__ = ["EffectMode", "EffectStore", "EventLike", "ListRecorder", "Recorder"]
