"""The event envelope, and its CloudEvents binary-mode bindings for Kafka and AMQP 0-9-1.

An event carries the harness's fields as CloudEvents attributes, so any consumer can read
them without knowing the payload:

=============== ============================ ==============================================
attribute       Kafka header / AMQP header   value
=============== ============================ ==============================================
specversion     ce_specversion / ce-...      ``1.0``
id              ce_id                        the event id, unique per storm (``r7-1234``)
source, type    ce_source, ce_type           who made it, what it is
time            ce_time                      RFC 3339 wall time of the send
datacontenttype content-type / content_type  ``application/json``
partitionkey    ce_partitionkey              the key (also the Kafka message key)
seq             ce_seq                       per-key sequence number, from 1
intended        ce_intended                  intended send time, run clock, float seconds
sent            ce_sent                      actual send time, run clock, float seconds
poison          ce_poison                    ``true`` for a deliberately malformed event
=============== ============================ ==============================================

Kafka uses the ``ce_`` prefix (Kafka protocol binding); AMQP 0-9-1 uses ``ce-`` (the RabbitMQ
binding that the cloudevents SDK implements), and so do NATS headers. ``intended`` and ``sent`` are full-precision
run-clock readings (``harness.clock.now``), not AMQP's whole-second timestamp. The encoders
are hand-written for speed and produce exactly what the cloudevents SDK 2.2 produces for the
same attributes (a unit test holds them to it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

from harness.clock import wall_offset as _wall_offset

SPECVERSION = "1.0"
DEFAULT_SOURCE = "/harness/storm"
DEFAULT_TYPE = "dev.harness.storm.order"
CONTENT_TYPE = "application/json"
KAFKA_PREFIX = "ce_"
AMQP_PREFIX = "ce-"
KAFKA_CONTENT_TYPE_HEADER = "content-type"


class Event(NamedTuple):
    """One event of a storm, as sent. Times are run-clock seconds.

    A named tuple rather than a dataclass: one is built per send, and this is 5x cheaper.
    """

    id: str
    key: str
    seq: int
    intended: float
    sent: float
    payload: bytes
    poison: bool = False
    source: str = DEFAULT_SOURCE
    type: str = DEFAULT_TYPE


class DecodedEvent(NamedTuple):
    """An event as received. ``time`` is the RFC 3339 wall time of the send."""

    id: str
    key: str
    seq: int
    intended: float
    sent: float
    payload: bytes
    poison: bool
    source: str
    type: str
    time: str
    content_type: str | None


class AmqpMessage(NamedTuple):
    """What ``pika``'s ``basic_publish`` needs: ``BasicProperties(**properties)`` and body."""

    body: bytes
    properties: dict[str, Any]
    content_type: str


def rfc3339(unix_time: float) -> str:
    """``2024-05-01T12:00:00.123456Z``, as the cloudevents SDK writes ``time``."""
    text = datetime.fromtimestamp(unix_time, tz=UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _attributes(event: Event, offset: float | None) -> list[tuple[str, str]]:
    when = event.sent + (_wall_offset() if offset is None else offset)
    return [
        ("specversion", SPECVERSION),
        ("id", event.id),
        ("source", event.source),
        ("type", event.type),
        ("time", rfc3339(when)),
        ("partitionkey", event.key),
        ("seq", str(event.seq)),
        ("intended", repr(event.intended)),
        ("sent", repr(event.sent)),
        ("poison", "true" if event.poison else "false"),
    ]


_KAFKA_SPECVERSION = ("ce_specversion", SPECVERSION.encode())
_KAFKA_CONTENT_TYPE = (KAFKA_CONTENT_TYPE_HEADER, CONTENT_TYPE.encode())
_TRUE, _FALSE = b"true", b"false"


def encode_kafka(
    event: Event, wall_offset: float | None = None
) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """``(key, value, headers)`` for ``AIOKafkaProducer.send``, in CloudEvents binary mode.

    ``wall_offset`` (run clock to Unix time) may be passed to skip reading the clocks.
    """
    when = event.sent + (_wall_offset() if wall_offset is None else wall_offset)
    key = event.key.encode()
    headers = [
        _KAFKA_SPECVERSION,
        ("ce_id", event.id.encode()),
        ("ce_source", event.source.encode()),
        ("ce_type", event.type.encode()),
        ("ce_time", rfc3339(when).encode()),
        ("ce_partitionkey", key),
        ("ce_seq", str(event.seq).encode()),
        ("ce_intended", repr(event.intended).encode()),
        ("ce_sent", repr(event.sent).encode()),
        ("ce_poison", _TRUE if event.poison else _FALSE),
        _KAFKA_CONTENT_TYPE,
    ]
    return key, event.payload, headers


def decode_kafka(key: bytes | None, value: bytes, headers: Any) -> DecodedEvent:
    """The event in a Kafka record (``headers`` as aiokafka gives them: pairs of str, bytes)."""
    found = {name[3:].lower(): raw.decode() for name, raw in headers if name[:3].lower() == "ce_"}
    if "partitionkey" not in found and key is not None:
        found["partitionkey"] = key.decode()
    content_type = next(
        (raw.decode() for name, raw in headers if name.lower() == KAFKA_CONTENT_TYPE_HEADER), None
    )
    return _decoded(found, value, content_type)


def encode_amqp(event: Event, wall_offset: float | None = None) -> AmqpMessage:
    """Body and ``pika.BasicProperties`` keyword arguments, in CloudEvents binary mode."""
    headers = {AMQP_PREFIX + name: value for name, value in _attributes(event, wall_offset)}
    properties = {"headers": headers, "content_type": CONTENT_TYPE, "message_id": event.id}
    return AmqpMessage(event.payload, properties, CONTENT_TYPE)


NATS_MSG_ID_HEADER = "Nats-Msg-Id"


def encode_nats(
    event: Event, wall_offset: float | None = None, msg_id: bool = False
) -> tuple[dict[str, str], bytes]:
    """``(headers, payload)`` for a NATS publish, CloudEvents attributes as ``ce-`` headers
    (the AMQP binding's names; NATS headers are text). ``msg_id`` adds ``Nats-Msg-Id`` (the
    event id), which JetStream uses to drop a re-published duplicate inside its window."""
    headers = {AMQP_PREFIX + name: value for name, value in _attributes(event, wall_offset)}
    headers["content-type"] = CONTENT_TYPE
    if msg_id:
        headers[NATS_MSG_ID_HEADER] = event.id
    return headers, event.payload


def decode_nats(headers: Any, payload: bytes) -> DecodedEvent:
    """The event in a NATS message (``headers`` as nats-py gives them: a dict or ``None``)."""
    found = {
        name[3:].lower(): str(value)
        for name, value in (headers or {}).items()
        if name[:3].lower() == AMQP_PREFIX
    }
    content_type = (headers or {}).get("content-type")
    return _decoded(found, payload, content_type)


def decode_amqp(properties: Any, body: bytes) -> DecodedEvent:
    """The event in an AMQP message; ``properties`` is a ``pika.BasicProperties`` or a dict."""
    if isinstance(properties, dict):
        headers, content_type = properties.get("headers") or {}, properties.get("content_type")
    else:
        headers, content_type = properties.headers or {}, properties.content_type
    found = {
        name[3:].lower(): raw.decode() if isinstance(raw, bytes) else str(raw)
        for name, raw in headers.items()
        if name[:3].lower() == AMQP_PREFIX
    }
    return _decoded(found, body, content_type)


def _decoded(found: dict[str, str], payload: bytes, content_type: str | None) -> DecodedEvent:
    missing = [name for name in ("id", "seq", "intended", "sent") if name not in found]
    if missing:
        raise ValueError(
            f"not a harness event: CloudEvents attributes {', '.join(missing)} are missing "
            "(was it sent by the harness?); point the consumer at a topic or queue only the "
            "harness writes to"
        )
    get = found.get
    return DecodedEvent(
        found["id"],
        get("partitionkey", ""),
        int(found["seq"]),
        float(found["intended"]),
        float(found["sent"]),
        payload,
        get("poison") == "true",
        get("source", ""),
        get("type", ""),
        get("time", ""),
        content_type,
    )


__all__ = [
    "AMQP_PREFIX",
    "CONTENT_TYPE",
    "DEFAULT_SOURCE",
    "DEFAULT_TYPE",
    "KAFKA_PREFIX",
    "NATS_MSG_ID_HEADER",
    "SPECVERSION",
    "AmqpMessage",
    "DecodedEvent",
    "Event",
    "decode_amqp",
    "decode_kafka",
    "decode_nats",
    "encode_amqp",
    "encode_kafka",
    "encode_nats",
    "rfc3339",
]
