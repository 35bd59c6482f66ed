"""Messages a service wrote, as history rows: what the ``output`` and ``dead_letters`` sources share.

A reader (``KafkaTopicReader``, ``RabbitQueueReader``) turns each message it takes from a topic
or queue into a ``StreamMessage`` and hands it to ``MessageRows``, which finds the input event's
id in it (an ``IdField``: a header, or a JSONPath into the body) and records one row through the
source's ``record``. The same reader and the same row-making serve both sources; only the op
they record differs (``effect`` for an output, ``dead_letter`` for a dead letter).

A message whose id cannot be found is not a row: it is counted (``unreadable``) and the first
few are logged, because a wrong ``id`` setting would otherwise look like every effect missing.

    rows = MessageRows(settings.id, source.record, what="output topic 'orders-out-7'")
    rows.take(StreamMessage(headers={"ce_id": b"e7-1"}, body=b"{}", t=clock.now()))
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.scenario.observe import CLOUDEVENTS_ID_HEADERS

log = logging.getLogger(__name__)

LOGGED_UNREADABLE = 5
"""How many unreadable messages each source logs before it only counts them."""
REASON_HEADERS = (
    "x-dead-letter-reason",
    "x-exception-message",
    "kafka_dlt-exception-message",
    "__connect.errors.exception.message",
)
"""Headers a dead-letter record commonly carries its reason in (checked in this order)."""

Header = bytes | str


@dataclass(slots=True)
class StreamMessage:
    """One message a service wrote, as a reader took it.

    ``t`` is on the run clock: when the service wrote it where the broker says (a Kafka record's
    timestamp), else when the reader took it.
    """

    headers: Mapping[str, Header]
    body: bytes
    t: float
    partition: int | None = None
    offset: int | None = None
    queue: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Broker-specific facts a row may want (e.g. RabbitMQ's ``x-death`` reason)."""


class IdLike(Protocol):
    """What ``MessageRows`` needs of an ``IdField``."""

    header: str | None
    jsonpath: str | None

    def extract(self, headers: Mapping[str, Header], body: bytes) -> str | None: ...


IdReader = Callable[[Mapping[str, Header], bytes], "str | None"]


def id_reader(id_field: IdLike) -> IdReader:
    """``id_field.extract`` with its header names worked out once, not per message: the same
    answer for every message (a law the unit tests fuzz), at a fraction of the cost on a
    stream of tens of thousands of messages a second."""
    if id_field.jsonpath is not None:
        return id_field.extract
    named = id_field.header
    wanted = frozenset(n.lower() for n in ((named,) if named else CLOUDEVENTS_ID_HEADERS))

    def read(headers: Mapping[str, Header], body: bytes) -> str | None:
        for name, value in headers.items():
            if value is not None and (name in wanted or name.lower() in wanted):
                text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                if text:
                    return text
                break  # the first named header decides; an empty one names no id
        return None if named else id_field.extract({}, body)

    return read


Record = Callable[..., None]
"""``record(event_id, t, **fields)``: ``Source.record``."""


def kafka_headers(headers: Iterable[tuple[str, bytes | None]] | None) -> dict[str, Header]:
    """A Kafka record's header list as a mapping; the first of repeated names wins and a null
    value is left out (it names nothing)."""
    found: dict[str, Header] = {}
    for name, value in headers or ():
        if value is not None and name not in found:
            found[name] = value
    return found


def amqp_headers(headers: Mapping[str, Any] | None) -> dict[str, Header]:
    """AMQP table headers as a mapping of text or bytes: scalars kept (numbers as text), nested
    tables and lists left out (an id is never one)."""
    found: dict[str, Header] = {}
    for name, value in (headers or {}).items():
        if isinstance(value, (bytes, str)):
            found[str(name)] = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            found[str(name)] = str(value)
    return found


def amqp_death_reason(headers: Mapping[str, Any] | None) -> str | None:
    """The reason of the newest ``x-death`` entry RabbitMQ added when it dead-lettered a
    message (``rejected``, ``expired``, ``maxlen``, ``delivery_limit``), or None."""
    deaths = (headers or {}).get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], Mapping):
        reason = deaths[0].get("reason")
        if isinstance(reason, bytes):
            reason = reason.decode(errors="replace")
        return reason if isinstance(reason, str) else None
    return None


def where(message: StreamMessage) -> dict[str, Any]:
    """The fields of an ``effect`` row besides id and t: where the message was."""
    fields: dict[str, Any] = {}
    if message.partition is not None:
        fields["partition"] = message.partition
    if message.offset is not None:
        fields["offset"] = message.offset
    if message.queue is not None:
        fields["queue"] = message.queue
    return fields


def dead_letter_fields(message: StreamMessage) -> dict[str, Any]:
    """The fields of a ``dead_letter`` row: where it was, and why, if the message says."""
    fields = where(message)
    reason = message.extra.get("reason")
    if reason is None:
        for name in REASON_HEADERS:
            value = message.headers.get(name)
            if value is not None:
                reason = value.decode(errors="replace") if isinstance(value, bytes) else value
                break
    if reason:
        fields["reason"] = str(reason)[:500]
    return fields


class MessageRows:
    """Messages in, rows out through ``record``; counts what it took and what it could not read."""

    def __init__(
        self,
        id_field: IdLike,
        record: Record,
        *,
        what: str,
        fields: Callable[[StreamMessage], dict[str, Any]] = where,
    ) -> None:
        self._id = id_reader(id_field)
        self._record = record
        self._fields = fields
        self.what = what
        self.read = 0
        self.unreadable = 0
        self.last_unreadable: str | None = None

    def take(self, message: StreamMessage) -> bool:
        """Record ``message``; False (counted, maybe logged) when it names no id."""
        self.read += 1
        try:
            event_id = self._id(message.headers, message.body)
        except Exception as exc:  # a setting the message does not fit must not stop the reader
            event_id = None
            problem = f"reading its id failed ({exc!r})"
        else:
            problem = "it names no id where the scenario's `id` setting looks"
        if not event_id:
            self._unreadable(message, problem)
            return False
        self._record(event_id, message.t, **self._fields(message))
        return True

    def _unreadable(self, message: StreamMessage, problem: str) -> None:
        self.unreadable += 1
        place = ", ".join(f"{k} {v}" for k, v in where(message).items())
        self.last_unreadable = (
            f"a message on the {self.what} ({place or 'no position'}) was not recorded: "
            f"{problem}; headers {sorted(message.headers)!r}, body {message.body[:120]!r}"
        )
        if self.unreadable <= LOGGED_UNREADABLE:
            log.warning(
                "%s. Check the source's `id` setting (a header name or a JSONPath) against "
                "what the service writes.%s",
                self.last_unreadable,
                " Further ones are only counted." if self.unreadable == LOGGED_UNREADABLE else "",
            )

    def stats(self) -> dict[str, int]:
        return {"read": self.read, "unreadable": self.unreadable}


__all__ = [
    "LOGGED_UNREADABLE",
    "IdReader",
    "MessageRows",
    "StreamMessage",
    "amqp_death_reason",
    "amqp_headers",
    "dead_letter_fields",
    "id_reader",
    "kafka_headers",
    "where",
]
