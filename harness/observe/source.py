"""The observation source interface: what one module under ``harness/observe/kinds/`` provides.

A source watches one thing the service changes (an output stream, a downstream API, a
database, the dead-letter queue) and records each change it sees as a history row of its op
(``effect`` or ``dead_letter``), marked ``source: observe:<name>``, keyed by the input event's
id. Its life in a run:

    await source.start()     # create what it watches (topic, queue, table, server) and connect
    source.env()             # variables handed to the service: where to write
    ...                      # the storm; the service runs
    await source.drain(20)   # take everything written so far
    await source.stop()      # idempotent; runs on every exit path
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar

from harness import clock
from harness.observe.context import ObserveContext
from harness.vocabulary import OBSERVED_PREFIX

Settings = TypeVar("Settings")


class Source(ABC, Generic[Settings]):
    """Base of every source kind; a kind module exports its class as ``KIND``."""

    kind: ClassVar[str]
    """The key of its entry in ``observe:`` (``output``, ``downstream``...)."""
    observes: ClassVar[str] = "effect"
    """The history op it records: ``effect`` or ``dead_letter``."""

    def __init__(self, name: str, settings: Settings, ctx: ObserveContext) -> None:
        self.name = name
        self.settings = settings
        self.ctx = ctx
        self.source = f"{OBSERVED_PREFIX}{name}"
        self._counts: dict[str, int] = {"observed": 0}
        self._lock = threading.Lock()

    @abstractmethod
    async def start(self) -> None:
        """Create and connect to what the source watches; called before the service starts."""

    def env(self) -> dict[str, str]:
        """Variables handed to the service (where it writes)."""
        return {}

    @abstractmethod
    async def drain(self, timeout_s: float) -> bool:
        """Take everything written so far; False if ``timeout_s`` passed first."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop watching and remove what ``start`` created. Idempotent."""

    def record(self, event_id: str, t: float | None = None, **fields: Any) -> None:
        """Append one observed row (thread-safe: readers may run on their own threads)."""
        row: dict[str, Any] = {"op": self.observes, "id": event_id, **fields}
        row["t"] = clock.now() if t is None else t
        row["source"] = self.source
        self.ctx.recorder.append(row)
        self.count("observed")

    def count(self, name: str, by: int = 1) -> None:
        """Add to one of the source's own counters (``stats()``)."""
        with self._lock:
            self._counts[name] = self._counts.get(name, 0) + by

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def describe(self) -> str:
        return f"{self.kind} source {self.name!r}"

    def declaration(self) -> Mapping[str, Any]:
        """The history row that says this op is observed from now on (checks trust only it)."""
        return {
            "op": "observe",
            "kind": self.observes,
            "target": self.name,
            "t_start": clock.now(),
            "source": self.source,
        }


__all__ = ["Source"]
