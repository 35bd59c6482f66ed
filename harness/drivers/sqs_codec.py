"""The event envelope as an SQS message: CloudEvents attributes as message attributes.

SQS allows at most ten message attributes, which is exactly the ten CloudEvents attributes the
harness sets (``ce-id`` ... ``ce-poison``, the AMQP binding's names); the content type, which
SQS has no field for, is always ``application/json`` and is not sent. The body is the payload
as UTF-8 text (SQS bodies are text).
"""

from __future__ import annotations

from typing import Any

from harness import clock, events
from harness.drivers.effects import validate

PREFIX = events.AMQP_PREFIX
MAX_ATTRIBUTES = 10


def _string(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


def encode_sqs(event: Any, wall_offset: float | None = None) -> tuple[str, dict[str, Any]]:
    """``(body, message_attributes)`` for ``SendMessage``."""
    when = event.sent + (clock.wall_offset() if wall_offset is None else wall_offset)
    attributes = {
        "specversion": events.SPECVERSION,
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "time": events.rfc3339(when),
        "partitionkey": event.key,
        "seq": str(event.seq),
        "intended": repr(event.intended),
        "sent": repr(event.sent),
        "poison": "true" if event.poison else "false",
    }
    body = event.payload.decode("utf-8", "replace")
    return body, {PREFIX + name: _string(value) for name, value in attributes.items()}


def attributes_of(message: dict[str, Any]) -> dict[str, str]:
    """The ``ce-`` attributes of a received message, prefix stripped."""
    found = message.get("MessageAttributes") or {}
    return {
        name[len(PREFIX) :].lower(): str(value.get("StringValue", ""))
        for name, value in found.items()
        if name[: len(PREFIX)].lower() == PREFIX
    }


def decode_sqs(message: dict[str, Any]) -> events.DecodedEvent:
    """The event in a received message (boto3's dict), validated; raises for poison."""
    found = attributes_of(message)
    missing = [name for name in ("id", "seq", "intended", "sent") if name not in found]
    if missing:
        raise ValueError(
            f"not a harness event: CloudEvents attributes {', '.join(missing)} are missing "
            "(was it sent by the harness?); point the consumer at a queue only the harness "
            "writes to"
        )
    event = events.DecodedEvent(
        found["id"], found.get("partitionkey", ""), int(found["seq"]), float(found["intended"]),
        float(found["sent"]), str(message.get("Body", "")).encode(),
        found.get("poison") == "true", found.get("source", ""), found.get("type", ""),
        found.get("time", ""), events.CONTENT_TYPE,
    )  # fmt: skip
    return validate(event)


__all__ = ["MAX_ATTRIBUTES", "attributes_of", "decode_sqs", "encode_sqs"]
