"""The built-in system under test's side effect, shared by the Kafka and RabbitMQ consumers.

An effect is what a real consumer does with an event (charge a card, write a row). Here it is
an ``effect`` row in the history. In ``correct`` mode the effect is idempotent: an
``EffectStore`` remembers applied ids, so a redelivered event is acknowledged without a second
effect. In ``buggy`` mode every delivery applies it again, which is how a consumer that crashes
after its effects but before committing produces ``duplicate_effect``.
"""

from __future__ import annotations

import json
from typing import Any

from harness import clock, events
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


class PoisonError(ValueError):
    """An event whose payload fails the consumer's validation: it goes to the dead-letter queue.

    ``event`` is the decoded envelope (id, key, seq), so the rows can still name the event.
    """

    def __init__(self, message: str, event: Any = None) -> None:
        super().__init__(message)
        self.event = event


def validate(event: events.DecodedEvent) -> events.DecodedEvent:
    """What the built-in consumer checks before applying an effect.

    The payload must be a JSON object naming the same id as the envelope. The ``poison``
    attribute is deliberately not consulted: the consumer finds poison the way a real one would.
    """
    try:
        body = json.loads(event.payload)
    except ValueError as exc:
        raise PoisonError(f"payload is not JSON ({exc})", event) from None
    if not isinstance(body, dict) or body.get("id") != event.id:
        raise PoisonError(f"payload does not describe event {event.id!r}", event)
    return event


def decode_kafka_record(record: Any) -> events.DecodedEvent:
    """Decode an aiokafka ``ConsumerRecord`` and validate it; raises for poison."""
    return validate(events.decode_kafka(record.key, record.value, record.headers))


def decode_amqp_message(properties: Any, body: bytes) -> events.DecodedEvent:
    """Decode a pika delivery and validate it; raises for poison."""
    return validate(events.decode_amqp(properties, body))


__all__ = [
    "EffectApplier",
    "PoisonError",
    "decode_amqp_message",
    "decode_kafka_record",
    "validate",
]
