"""A Kafka producer over confluent-kafka (librdkafka) that records one ``send`` row per event.

Why not aiokafka here: Locust runs on gevent, and librdkafka does its network I/O on its own
native threads, so ``produce()`` only queues and never blocks the gevent hub; delivery reports
arrive when someone calls ``poll(0)``, which a greenlet does every few milliseconds (see
docs/decisions.md for the measured alternatives). Nothing here imports gevent: the caller
decides who polls.

Outcomes reuse ``harness.drivers.outcomes``: a librdkafka error is translated to the aiokafka
exception of the same Kafka protocol code (or, for librdkafka's local codes, to the aiokafka
exception that means the same thing), then ``classify_kafka`` decides ``fail`` or ``unknown``.

    producer = RdKafkaProducer(RdKafkaConfig("127.0.0.1:9091", "orders"), recorder)
    producer.send(event)        # queued; the row is recorded by a later poll()
    producer.poll()
    producer.close(10.0)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiokafka.errors as kerr
from confluent_kafka import KafkaError, KafkaException, Producer

from harness import clock, events
from harness.drivers import EventLike, Outcome, Recorder, SendLog, Stage, classify_kafka
from harness.errors import ConfigError, UnsafeTargetError
from harness.safety import check_addresses, check_target

OnOutcome = Callable[[dict[str, Any], int], None]
"""Called with each recorded ``send`` row and the payload size, after it is recorded."""

# librdkafka's local (negative) error codes, as the aiokafka exception that means the same.
_LOCAL: dict[int, type[BaseException]] = {
    KafkaError._MSG_TIMED_OUT: kerr.KafkaTimeoutError,
    KafkaError._TIMED_OUT: kerr.KafkaTimeoutError,
    KafkaError._TRANSPORT: kerr.KafkaConnectionError,
    KafkaError._ALL_BROKERS_DOWN: kerr.KafkaConnectionError,
    KafkaError._DESTROY: kerr.KafkaConnectionError,
    KafkaError._UNKNOWN_TOPIC: kerr.UnknownTopicOrPartitionError,
    KafkaError._UNKNOWN_PARTITION: kerr.UnknownTopicOrPartitionError,
}
# Never handed to a broker: the record was still in librdkafka's queue.
_NEVER_SENT = frozenset(
    {KafkaError._QUEUE_FULL, KafkaError._PURGE_QUEUE, KafkaError._TIMED_OUT_QUEUE}
)


def classify_rdkafka(error: KafkaError) -> Outcome:
    """``fail`` or ``unknown`` for a librdkafka delivery error, by ``classify_kafka``'s rules.

    >>> classify_rdkafka(KafkaError(KafkaError._MSG_TIMED_OUT))
    <Outcome.UNKNOWN: 'unknown'>
    >>> classify_rdkafka(KafkaError(KafkaError.NOT_ENOUGH_REPLICAS))
    <Outcome.FAIL: 'fail'>
    >>> classify_rdkafka(KafkaError(KafkaError._PURGE_QUEUE))
    <Outcome.FAIL: 'fail'>
    """
    code = error.code()
    if code in _NEVER_SENT:
        return classify_kafka(kerr.KafkaError(), Stage.ENQUEUE)
    if code > 0:
        exc_class: type[BaseException] = kerr.for_code(code)
    else:
        exc_class = _LOCAL.get(code, kerr.KafkaError)
    return classify_kafka(exc_class())


def describe_rdkafka(error: KafkaError) -> str:
    """``NAME: text`` for the history's ``error`` column."""
    return f"{error.name()}: {error.str()}"


@dataclass(frozen=True)
class RdKafkaConfig:
    """Producer guarantees, named as in ``KafkaProducerConfig``; ``extra`` is raw librdkafka."""

    bootstrap: str
    topic: str
    acks: int | str = "all"
    enable_idempotence: bool = False
    linger_ms: int = 5
    request_timeout_ms: int = 30_000
    delivery_timeout_ms: int = 120_000
    client_id: str = "harness-locust"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if str(self.acks) not in ("0", "1", "all", "-1"):
            raise ConfigError(
                f"acks={self.acks!r} is not one of 0, 1, 'all'; use 'all' to lose nothing when "
                "a broker fails."
            )
        if self.enable_idempotence and str(self.acks) not in ("all", "-1"):
            raise ConfigError(
                f"enable_idempotence needs acks='all', got acks={self.acks!r}; set acks to 'all'."
            )
        check_addresses(self.bootstrap)

    def client_config(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.bootstrap,
            "acks": str(self.acks),
            "enable.idempotence": self.enable_idempotence,
            "linger.ms": self.linger_ms,
            "request.timeout.ms": self.request_timeout_ms,
            "message.timeout.ms": self.delivery_timeout_ms,
            "client.id": self.client_id,
            # The queue is the open model's buffer: never refuse an event for lack of room.
            "queue.buffering.max.messages": 2_000_000,
            "queue.buffering.max.kbytes": 2_097_151,
            **self.extra,
        }


def check_rdkafka_brokers(client: Any, timeout_s: float = 5.0) -> None:
    """Raise ``UnsafeTargetError`` if the metadata ``client`` (a confluent-kafka producer or
    admin client) gets advertises a broker off loopback that is not allow-listed.

    librdkafka connects to the brokers it learns on its own threads and offers no hook before
    it does; with sparse connections (its default) it connects to a learned broker only once
    it needs it, so checking right after the bootstrap and before the first send is the
    earliest point. A cluster that does not answer has nothing to check yet.
    """
    try:
        metadata = client.list_topics(timeout=timeout_s)
    except KafkaException:
        return
    for broker in metadata.brokers.values():
        try:
            check_target(broker.host)
        except UnsafeTargetError as error:
            raise UnsafeTargetError(
                f"Refusing the cluster metadata librdkafka received: it advertises broker "
                f"{broker.id} at {broker.host}:{broker.port}. {error}"
            ) from error


class _Pending:
    """One send between ``produce()`` and its delivery report; its ``report`` is the callback."""

    __slots__ = ("owner", "event", "t", "size")

    def __init__(self, owner: RdKafkaProducer, event: EventLike, t: float, size: int) -> None:
        self.owner = owner
        self.event = event
        self.t = t
        self.size = size

    def report(self, error: KafkaError | None, message: Any) -> None:
        self.owner._delivered(self, error, message)


class RdKafkaProducer:
    """Queues events with confluent-kafka; ``poll()`` records the outcomes that arrived."""

    def __init__(
        self,
        config: RdKafkaConfig,
        recorder: Recorder,
        *,
        name: str = "locust-kafka",
        on_outcome: OnOutcome | None = None,
    ) -> None:
        self.config = config
        self.name = name
        self._on_outcome = on_outcome
        self._producer = Producer(config.client_config())
        try:
            check_rdkafka_brokers(self._producer)
        except UnsafeTargetError:
            self._producer.purge()
            raise
        self._offset = clock.wall_offset()
        self.in_flight = 0
        self.closed = False
        self._log = SendLog(recorder, name)
        self.counts = self._log.counts

    def send(self, event: Any) -> None:
        """Queue ``event`` (a ``harness.events.Event``); never blocks."""
        if self.closed:
            raise RuntimeError(
                f"Cannot send {event.id!r}, as producer {self.name!r} has been closed; "
                "create a new producer to send more."
            )
        t = clock.now()
        key, value, headers = events.encode_kafka(event._replace(sent=t), self._offset)
        pending = _Pending(self, event, t, len(value))
        self._log.sent()
        self.in_flight += 1
        try:
            self._producer.produce(
                self.config.topic, value, key, headers=headers, on_delivery=pending.report
            )
        except BufferError:
            self._finish(pending, Outcome.FAIL, "BufferError: librdkafka's queue is full")
        except KafkaError as exc:  # raised with the error as its only argument
            error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            why = describe_rdkafka(error) if error is not None else repr(exc)
            self._finish(pending, Outcome.FAIL, why)

    def poll(self) -> int:
        """Record every delivery report that has arrived; never blocks. Returns how many."""
        return self._producer.poll(0)

    def _delivered(self, pending: _Pending, error: KafkaError | None, message: Any) -> None:
        if error is not None:
            self._finish(pending, classify_rdkafka(error), describe_rdkafka(error))
            return
        offset = message.offset()
        if offset is None or offset < 0:  # acks=0: nothing more than "written to the socket"
            self._finish(pending, Outcome.OK, None)
        else:
            self._finish(pending, Outcome.OK, None, message.partition(), offset)

    def _finish(
        self,
        pending: _Pending,
        status: Outcome,
        error: str | None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> None:
        self.in_flight -= 1
        row = self._log.record_kafka(pending.event, pending.t, status, error, partition, offset)
        if self._on_outcome is not None:
            self._on_outcome(row, pending.size)

    def flush(self, timeout_s: float, sleep: Callable[[float], None] = time.sleep) -> bool:
        """Poll until every send has an outcome or ``timeout_s`` passed; ``sleep`` yields
        (pass ``gevent.sleep`` under Locust). True when nothing is left in flight."""
        deadline = clock.now() + timeout_s
        while self.in_flight and clock.now() < deadline:
            self.poll()
            sleep(0.005)
        self.poll()
        return self.in_flight == 0

    def close(self, timeout_s: float = 30.0, sleep: Callable[[float], None] = time.sleep) -> None:
        """Flush, then give every send still in flight its final outcome. Idempotent.

        Queued records are purged (``fail``: never sent); records already sent to a broker are
        purged too and recorded ``unknown`` (they may still be written).
        """
        if self.closed:
            return
        self.closed = True
        if not self.flush(timeout_s, sleep):
            self._producer.purge(in_queue=True, in_flight=True, blocking=False)
            self.flush(5.0, sleep)


__all__ = [
    "check_rdkafka_brokers",
    "OnOutcome",
    "RdKafkaConfig",
    "RdKafkaProducer",
    "classify_rdkafka",
    "describe_rdkafka",
]
