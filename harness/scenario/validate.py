"""Cross-field checks: what no single field can know, checked before anything runs.

``cross_check(scenario)`` returns every problem (never just the first): a fault after the
storm ends, a replication factor above the stack's brokers, a partition out of range, a
Kafka-only fault on a RabbitMQ scenario, rate parameters that the shape does not use...
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from harness.scenario.base import Path, Problem
from harness.scenario.durations import format_duration
from harness.scenario.faults import END_FIELDS, Fault
from harness.scenario.kinds import (
    KAFKA_NODES,
    KAFKA_PRODUCER_FIELDS,
    RABBITMQ_PRODUCER_FIELDS,
    Acks,
    Commit,
    Distribution,
    Engine,
    Shape,
)
from harness.scenario.observe import observe_problems
from harness.scenario.rates import expected_count

if TYPE_CHECKING:  # models calls cross_check: at run time this module needs only kinds
    from harness.scenario.models import Rate, Scenario

MAX_EVENTS = 20_000_000
MAX_PAYLOAD = 1_000_000

# Rate fields each shape needs, and the ones it may take.
_SHAPE_REQUIRED: dict[Shape, tuple[str, ...]] = {
    Shape.CONSTANT: ("per_second",),
    Shape.POISSON: ("per_second",),
    Shape.RAMP: ("from_", "to"),
    Shape.SPIKE: ("per_second", "spike_at", "spike_for", "spike_factor"),
    Shape.BURST: ("burst_every", "burst_size"),
}
_SHAPE_OPTIONAL: dict[Shape, tuple[str, ...]] = {Shape.BURST: ("per_second",)}


def cross_check(scenario: Scenario) -> list[Problem]:
    """Every cross-field problem of ``scenario``, in field order."""
    return [
        *_target(scenario),
        *_producer(scenario),
        *_consumer(scenario),
        *_storm(scenario),
        *_load(scenario),
        *_faults(scenario),
        *_observe(scenario),
        *_expect(scenario),
    ]


def _target(s: Scenario) -> Iterator[Problem]:
    target = s.target
    if target.given != 1:
        yield Problem(
            ("target",),
            "set exactly one of 'kafka', 'rabbitmq', 'nats', 'pubsub', 'sqs', 'webhook', 'sns' "
            "or 'eventbridge'",
        )
        return
    yield from _nats_target(s)
    yield from _pubsub_target(s)
    sqs = target.sqs
    if sqs is not None and sqs.read_timeout <= 0:
        yield Problem(("target", "sqs", "read_timeout"), "must be longer than 0s")
    kafka = target.kafka
    if kafka is None:
        return
    if kafka.replication_factor > len(KAFKA_NODES):
        yield Problem(
            ("target", "kafka", "replication_factor"),
            f"{kafka.replication_factor} exceeds the stack's {len(KAFKA_NODES)} brokers",
        )
    if kafka.min_insync_replicas > kafka.replication_factor:
        yield Problem(
            ("target", "kafka", "min_insync_replicas"),
            f"{kafka.min_insync_replicas} exceeds replication_factor {kafka.replication_factor}: "
            "no write could ever be acknowledged with acks=all",
        )


def _pubsub_target(s: Scenario) -> Iterator[Problem]:
    pubsub = s.target.pubsub
    if pubsub is None:
        return
    base: Path = ("target", "pubsub")
    if pubsub.push_endpoint is not None:
        yield Problem(
            (*base, "push_endpoint"),
            "the harness runs the push endpoint itself, on loopback: replace push_endpoint "
            "with push: {} (or push: {port: P, path: /p})",
        )
    if pubsub.push is not None and pubsub.process_ms:
        yield Problem(
            (*base, "process_ms"),
            "a pull consumer setting; slow the push receiver with a downstream fault "
            "(downstream: {name: push, delay: 2s})",
        )


def _nats_target(s: Scenario) -> Iterator[Problem]:
    nats = s.target.nats
    if nats is None:
        return
    base: Path = ("target", "nats")
    if not nats.jetstream:
        streamed = ("replicas", "storage", "msg_id", "duplicate_window", "ack_wait", "max_deliver")
        defaults = type(nats).model_fields
        for name in streamed:
            if getattr(nats, name) != defaults[name].get_default():
                yield Problem(
                    (*base, name),
                    "a JetStream setting; core NATS stores nothing (set jetstream: true)",
                )
    if nats.jetstream and nats.duplicate_window <= 0:
        yield Problem((*base, "duplicate_window"), "must be longer than 0s")
    if nats.publish_timeout <= 0:
        yield Problem((*base, "publish_timeout"), "must be longer than 0s")
    if nats.jetstream and nats.ack_wait <= 0:
        yield Problem((*base, "ack_wait"), "must be longer than 0s")
    if nats.max_deliver == 0:
        yield Problem((*base, "max_deliver"), "must be -1 (unlimited) or at least 1")


def _producer(s: Scenario) -> Iterator[Problem]:
    if s.target.given != 1:
        return
    if s.target.kind in ("nats", "pubsub", "sqs"):
        yield from _nats_producer(s)
        return
    if s.target.kind in ("webhook", "sns", "eventbridge"):
        return  # their delivery settings are under target.<kind>
    is_kafka = s.target.kind == "kafka"
    foreign = RABBITMQ_PRODUCER_FIELDS if is_kafka else KAFKA_PRODUCER_FIELDS
    # A foreign field at its default is harmless (a dumped scenario carries every default).
    defaults = type(s.producer).model_fields
    changed = [
        n
        for n in foreign
        if getattr(s.producer, n) != defaults[n].get_default(call_default_factory=True)
    ]
    for name in changed:
        owner = "RabbitMQ" if is_kafka else "Kafka"
        yield Problem(
            ("producer", name), f"a {owner} producer setting; this scenario targets {s.target.kind}"
        )
    if is_kafka and s.producer.retries is not None:
        yield Problem(
            ("producer", "retries"),
            "aiokafka has no retry count: it retries until request_timeout_ms passes; "
            "remove retries and bound retrying with request_timeout_ms instead",
        )
    if is_kafka and s.producer.enable_idempotence and s.producer.acks != Acks.ALL:
        yield Problem(
            ("producer", "enable_idempotence"),
            f"an idempotent producer needs acks: all (got acks: {s.producer.acks.value})",
        )


def _nats_producer(s: Scenario) -> Iterator[Problem]:
    """A NATS or SQS scenario takes no Kafka or RabbitMQ producer setting (``retries`` it
    does)."""
    defaults = type(s.producer).model_fields
    foreign = [n for n in (*KAFKA_PRODUCER_FIELDS, *RABBITMQ_PRODUCER_FIELDS) if n != "retries"]
    for name in foreign:
        if getattr(s.producer, name) != defaults[name].get_default(call_default_factory=True):
            yield Problem(
                ("producer", name),
                f"a Kafka or RabbitMQ producer setting; this scenario targets {s.target.kind} "
                f"(its settings are under target.{s.target.kind})",
            )


def _consumer(s: Scenario) -> Iterator[Problem]:
    consumer = s.consumer
    if s.target.kind == "rabbitmq" and not consumer.manual_ack and consumer.commit != Commit.AUTO:
        yield Problem(
            ("consumer", "commit"),
            f"{consumer.commit.value} needs manual_ack: true (with auto-ack use commit: auto)",
        )
    if consumer.count != 1:
        yield Problem(
            ("consumer", "count"),
            "a run drives one consumer member (built-in or command); several are not supported yet",
        )
    sut = s.system_under_test
    if sut.is_builtin and sut.env:
        yield Problem(("system_under_test", "env"), "env applies only to a 'command'")
    if sut.is_builtin and sut.ready is not None:
        yield Problem(("system_under_test", "ready"), "ready applies only to a 'command'")
    if s.target.kind in ("sns", "eventbridge") and not sut.is_builtin:
        yield Problem(
            ("system_under_test", "command"),
            f"an {s.target.kind} target's subscribers are queues the harness reads; remove the "
            "command",
        )
    if s.target.kind == "pubsub" and not sut.is_builtin:
        yield Problem(
            ("system_under_test", "command"),
            "a pubsub target runs the built-in consumer only so far; remove the command",
        )
    if s.target.kind == "pubsub" and s.producer.retries:
        yield Problem(
            ("producer", "retries"),
            "the Pub/Sub client retries on its own until target.pubsub.publish_timeout; "
            "remove retries",
        )
    if s.target.kind == "nats" and not sut.is_builtin:
        yield Problem(
            ("system_under_test", "command"),
            "a NATS target runs the built-in consumer only so far: a service started by "
            "command needs a report channel and readiness on NATS, which the harness does not "
            "offer yet; remove the command (mode: correct|buggy still picks the built-in "
            "consumer's behaviour), or run the service against a kafka: or rabbitmq: target",
        )
    if s.target.kind == "sqs" and not sut.is_builtin:
        yield Problem(
            ("system_under_test", "command"),
            "an sqs target runs the built-in consumer only so far; remove the command",
        )
    if sut.is_builtin:
        yield from _builtin_consumer(s)
    else:
        yield from _command_consumer(s)


def _command_consumer(s: Scenario) -> Iterator[Problem]:
    """Settings an external command cannot receive on this target (the rest are handed over
    as HARNESS_COMMIT, HARNESS_PREFETCH, HARNESS_MANUAL_ACK and HARNESS_GROUP)."""
    consumer = s.consumer
    if s.target.kind == "kafka" and not consumer.manual_ack:
        yield Problem(
            ("consumer", "manual_ack"),
            "Kafka has no per-message acks, so a Kafka command cannot honour manual_ack: false; "
            "remove it and say when offsets are committed with consumer.commit",
        )
    default_group = type(consumer).model_fields["group"].get_default()
    if s.target.kind == "rabbitmq" and consumer.group != default_group:
        yield Problem(
            ("consumer", "group"),
            "RabbitMQ has no consumer groups, so a RabbitMQ command is not handed a group; "
            "remove consumer.group",
        )


def _observe(s: Scenario) -> Iterator[Problem]:
    if not s.observe:
        return
    if s.system_under_test.is_builtin:
        yield Problem(
            ("observe",),
            "observation watches a service the harness starts: set system_under_test.command "
            "(the built-in consumer records its own effects)",
        )
    for path, reason in observe_problems(s.observe):
        yield Problem(("observe", *path), reason)


def _builtin_consumer(s: Scenario) -> Iterator[Problem]:
    """What the harness's own consumer cannot do (an external command may)."""
    consumer = s.consumer
    if s.target.kind == "kafka" and consumer.commit == Commit.AUTO:
        yield Problem(
            ("consumer", "commit"),
            "the built-in Kafka consumer commits by hand: use after_effect or before_effect "
            "(auto-commit needs a system_under_test command, e.g. examples/order_consumer.py)",
        )
    if s.target.kind == "rabbitmq" and not consumer.manual_ack:
        yield Problem(
            ("consumer", "manual_ack"),
            "the built-in RabbitMQ consumer acknowledges by hand after each effect",
        )


def _storm(s: Scenario) -> Iterator[Problem]:
    storm = s.storm
    if storm.duration <= 0:
        yield Problem(("storm", "duration"), "must be longer than 0s")
    yield from _rate(storm.rate, storm.duration)
    keys = storm.keys
    if keys.zipf_s is not None and keys.distribution != Distribution.ZIPF:
        yield Problem(("storm", "keys", "zipf_s"), "applies only to distribution: zipf")
    yield from _payload(s)
    poison = storm.poison
    if poison is not None and (poison.fraction is None) == (poison.every is None):
        yield Problem(("storm", "poison"), "set exactly one of 'fraction' or 'every'")
    if storm.schema_ is not None and s.target.kafka is None and s.target.rabbitmq is None:
        yield Problem(
            ("storm", "schema"),
            "schema-driven storms run on Kafka and RabbitMQ targets (the producers that "
            "carry the body as it is and the consumers that read with a version)",
        )


def _rate(rate: Rate, duration: float) -> Iterator[Problem]:
    base: Path = ("storm", "rate")
    required = _SHAPE_REQUIRED[rate.shape]
    allowed = set(required) | set(_SHAPE_OPTIONAL.get(rate.shape, ()))
    for name in required:
        if getattr(rate, name) is None:
            yield Problem((*base, _alias(name)), f"required by shape: {rate.shape.value}")
    unused = [n for n in type(rate).model_fields if n not in allowed and n != "shape"]
    for name in (n for n in unused if getattr(rate, n) is not None):
        yield Problem((*base, _alias(name)), f"not used by shape: {rate.shape.value}")
    if rate.shape == Shape.SPIKE and rate.spike_at is not None and rate.spike_for is not None:
        if rate.spike_at + rate.spike_for > duration:
            yield Problem(
                (*base, "spike_for"),
                f"the spike ends at {format_duration(rate.spike_at + rate.spike_for)}, "
                f"after the storm ({format_duration(duration)})",
            )
    if rate.shape == Shape.BURST and rate.burst_every is not None and rate.burst_every <= 0:
        yield Problem((*base, "burst_every"), "must be longer than 0s")
    if rate.shape in (Shape.CONSTANT, Shape.POISSON, Shape.SPIKE) and rate.per_second == 0:
        yield Problem((*base, "per_second"), "must be greater than 0")
    expected = expected_count(rate, duration)
    if expected > MAX_EVENTS:
        many = f"~{expected:,.0f}" if expected < 1e12 else f"more than {1e12:,.0f}"
        yield Problem(base, f"the storm would send {many} events (limit {MAX_EVENTS:,})")


def _alias(name: str) -> str:
    return "from" if name == "from_" else name


def _payload(s: Scenario) -> Iterator[Problem]:
    payload = s.storm.payload
    base: Path = ("storm", "payload")
    if (payload.bytes_ is None) == (payload.fixed is None):
        yield Problem(base, "set exactly one of 'bytes: {min, max}' or 'fixed'")
        return
    if payload.bytes_ is not None and payload.bytes_.min > payload.bytes_.max:
        yield Problem(
            (*base, "bytes", "min"), f"{payload.bytes_.min} exceeds max {payload.bytes_.max}"
        )
    largest = payload.fixed if payload.fixed is not None else payload.bytes_.max  # type: ignore[union-attr]
    if largest > MAX_PAYLOAD:
        yield Problem(base, f"{largest} bytes exceeds the {MAX_PAYLOAD:,}-byte limit of a message")


def _load(s: Scenario) -> Iterator[Problem]:
    if s.load.engine is Engine.LOCUST and s.target.kind not in ("kafka", "rabbitmq"):
        yield Problem(
            ("load", "engine"),
            f"the Locust engine has users for Kafka and RabbitMQ only, not {s.target.kind}; "
            "use engine: harness"
            + (" (harness.locust.NatsUser serves your own locustfile)" if s.target.nats else ""),
        )


def _faults(s: Scenario) -> Iterator[Problem]:
    if s.target.given != 1:
        return  # targets cannot be checked against an unknown broker; _target reports it
    for index, fault in enumerate(s.faults):
        yield from _fault(s, fault, ("faults", index))


def _fault(s: Scenario, fault: Fault, base: Path) -> Iterator[Problem]:
    """Timing here; what the action's settings mean on this scenario is the kind's to say."""
    kind = fault.kind
    yield from _fault_timing(s, fault, fault.action, base)
    for problem in kind.validate(fault.settings, s):
        yield Problem((*base, fault.action, *problem.path), problem.reason)


def _fault_timing(s: Scenario, fault: Fault, action: str, base: Path) -> Iterator[Problem]:
    duration = s.storm.duration
    if fault.at >= duration:
        yield Problem(
            (*base, "at"),
            f"{format_duration(fault.at)} is not before the end of the storm ({format_duration(duration)})",
        )
    own = fault.kind.end_field
    for name in END_FIELDS:
        if name != own and getattr(fault, name) is not None:
            hint = f"; {action} ends with '{own}'" if own else f"; {action} is instantaneous"
            yield Problem((*base, name), f"does not apply to {action}{hint}")
    if fault.times is not None and fault.every is None:
        yield Problem((*base, "times"), "needs 'every' (the interval between repetitions)")
    if fault.every is None:
        return
    if fault.every <= 0:
        yield Problem((*base, "every"), "must be longer than 0s")
        return
    length = fault.length
    wait = getattr(fault.kind, "max_wait", lambda _settings: 0.0)(fault.settings)
    if length is not None and length + wait >= fault.every:
        waiting = f", after up to {format_duration(wait)} waiting for its trigger" if wait else ""
        yield Problem(
            (*base, "every"),
            f"{format_duration(fault.every)} is not longer than the fault ({format_duration(length)}"
            f"{waiting}): repetitions would overlap",
        )
    last = fault.last_start(duration)  # arithmetic: starts() would materialise every repetition
    if fault.times is not None and last >= duration:
        yield Problem(
            (*base, "times"),
            f"repetition {fault.times} would start at {format_duration(last)}, "
            f"after the storm ends ({format_duration(duration)})",
        )


def _expect(s: Scenario) -> Iterator[Problem]:
    expect = s.expect
    for name in sorted(set(expect.finds) & set(expect.clean)):
        yield Problem(("expect",), f"{name!r} is in both 'finds' and 'clean'")
    wants_dlq = {"dlq_missing", "dlq_unexpected"} & set(expect.finds + expect.clean)
    has_dlq = (
        (s.target.kafka is not None and s.target.kafka.dead_letter_topic)
        or (s.target.rabbitmq is not None and s.target.rabbitmq.dead_letter_queue)
        or (s.target.sqs is not None and s.target.sqs.dead_letter_queue)
        # an external command on Kafka is always handed one (HARNESS_DLQ_TOPIC), and a
        # dead_letters source reads the run's own
        or (s.target.kafka is not None and not s.system_under_test.is_builtin)
        or any(entry.kind == "dead_letters" for entry in s.observe)
    )
    if wants_dlq and not has_dlq:
        where = {"kafka": "kafka.dead_letter_topic", "nats": "nats (JetStream has no DLQ; "
                 "the consumer terminates poison)", "sqs": "sqs.dead_letter_queue"}.get(
                     s.target.kind, "rabbitmq.dead_letter_queue")  # fmt: skip
        yield Problem(
            ("expect",),
            f"{sorted(wants_dlq)[0]} needs a dead-letter destination: set target.{where}",
        )


__all__ = ["MAX_EVENTS", "MAX_PAYLOAD", "cross_check"]
