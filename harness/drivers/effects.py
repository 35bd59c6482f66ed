"""The built-in system under test's side effect, shared by the Kafka and RabbitMQ consumers.

An effect is what a real consumer does with an event (charge a card, write a row). Here it is
an ``effect`` row in the history. In ``correct`` mode the effect is idempotent: an
``EffectStore`` remembers applied ids, so a redelivered event is acknowledged without a second
effect. In ``buggy`` mode every delivery applies it again, which is how a consumer that crashes
after its effects but before committing produces ``duplicate_effect``.
"""

from __future__ import annotations

from typing import Any

from harness import clock
from harness.drivers._types import EffectMode, EffectStore, Recorder


class EffectApplier:
    """Applies and records effects for one consumer."""

    def __init__(
        self,
        recorder: Recorder,
        mode: EffectMode,
        store: EffectStore,
        *,
        consumer: str,
        group: str | None = None,
    ) -> None:
        self._recorder = recorder
        self.mode = EffectMode(mode)
        self.store = store
        self._consumer = consumer
        self._group = group
        self.applied = 0
        self.skipped = 0

    def apply(self, event: Any, where: dict[str, Any]) -> bool:
        """Apply ``event``'s effect unless correct mode already did; True if applied."""
        if self.mode is EffectMode.CORRECT and not self.store.add(event.id):
            self.skipped += 1
            return False
        if self.mode is EffectMode.BUGGY:
            self.store.add(event.id)
        row = {
            "op": "effect",
            "id": event.id,
            "key": event.key,
            "seq": event.seq,
            "t": clock.now(),
            "consumer": self._consumer,
            **where,
        }
        if self._group is not None:
            row["group"] = self._group
        self._recorder.append(row)
        self.applied += 1
        return True


__all__ = ["EffectApplier"]
