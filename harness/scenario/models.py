"""The scenario schema: what one run does, as typed, frozen pydantic models.

A scenario is the same whether it comes from YAML (``load_scenario``) or from Python::

    from harness.scenario import Scenario

    scenario = Scenario(
        name="kafka-leader-kill-acks1",
        target={"kafka": {"topic": "orders", "partitions": 6}},
        producer={"acks": "1"},
        storm={"duration": "60s", "rate": {"shape": "constant", "per_second": 2000}},
        faults=[{"at": "20s", "kill": {"target": "leader_of_partition", "partition": 0},
                 "restart_after": "15s"}],
        expect={"finds": ["lost"]},
        thresholds=["p99_ms < 500"],
    )

Field checks and cross-field checks (``harness.scenario.validate``) all run before anything
else; a bad scenario raises one ``ConfigError`` listing every problem.
docs/scenario-format.md documents every field with its default.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from harness.safety import is_loopback
from harness.scenario.base import (
    ProblemsFound,
    StrictModel,
    config_error,
    plain_data,
    problems_from_validation,
    raw_validation_errors,
)
from harness.scenario.durations import Duration
from harness.scenario.explore import Explore, explore_problems
from harness.scenario.fanout import EventBridgeTarget, SnsTarget
from harness.scenario.faults import Fault
from harness.scenario.kinds import (
    KAFKA_NODES,
    KAFKA_PRODUCER_FIELDS,
    MOTO_NODES,
    NATS_NODES,
    PUBSUB_NODES,
    RABBITMQ_NODES,
    RABBITMQ_PRODUCER_FIELDS,
    SQS_NODES,
    Acks,
    Commit,
    DeliveryMode,
    Distribution,
    Engine,
    KafkaClient,
    NatsStorage,
    Shape,
    SutMode,
)
from harness.scenario.limits import check_scale, fault_limits, seed_problem
from harness.scenario.names import (
    AMQP_SUFFIX,
    amqp_name_problem,
    kafka_topic_problem,
    scenario_name_problem,
)
from harness.scenario.observe import ObserveEntry, needs_oauth
from harness.scenario.schema import StormSchema
from harness.scenario.service_metrics import ServiceMetrics
from harness.scenario.thresholds import ANOMALIES, ThresholdField
from harness.scenario.validate import cross_check
from harness.scenario.webhook import WebhookTarget

# Kafka's and aiokafka's integer settings are Java ints.
MAX_INT32 = 2**31 - 1


def _rule(problem: str | None) -> None:
    if problem is not None:
        raise ValueError(problem)


# --- target -------------------------------------------------------------------------------


class KafkaTarget(StrictModel):
    """A Kafka topic, created by the harness with these settings."""

    topic: str = Field(min_length=1)
    partitions: int = Field(default=6, ge=1, le=1000)
    replication_factor: int = Field(default=3, ge=1)
    min_insync_replicas: int = Field(default=2, ge=1)
    unclean_leader_election: bool = False
    """The topic's ``unclean.leader.election.enable``: a replica outside the ISR may lead."""
    dead_letter_topic: str | None = Field(default=None, min_length=1)

    @field_validator("topic", "dead_letter_topic")
    @classmethod
    def _kafka_name(cls, topic: str | None) -> str | None:
        _rule(None if topic is None else kafka_topic_problem(topic))
        return topic


class RabbitMQTarget(StrictModel):
    """A RabbitMQ queue, bound to an exchange (the default exchange when empty)."""

    queue: str = Field(min_length=1)
    exchange: str = ""
    durable: bool = True
    dead_letter_queue: str | None = Field(default=None, min_length=1)

    @field_validator("queue")
    @classmethod
    def _queue_name(cls, queue: str) -> str:
        _rule(amqp_name_problem(queue, reserve=AMQP_SUFFIX))
        return queue

    @field_validator("exchange", "dead_letter_queue")
    @classmethod
    def _amqp_name(cls, name: str | None) -> str | None:
        _rule(None if not name else amqp_name_problem(name))
        return name


_NATS_SUBJECT = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")


class NatsTarget(StrictModel):
    """A NATS subject: core NATS (``jetstream: false``, nothing stored) or a JetStream stream
    the harness creates on it, with its replicas, ``Nats-Msg-Id`` duplicate window, and the
    durable pull consumer's ack wait and delivery limit."""

    subject: str = Field(min_length=1, max_length=200)
    jetstream: bool = False
    replicas: int = Field(default=1, ge=1, le=len(NATS_NODES))
    storage: NatsStorage = NatsStorage.FILE
    msg_id: bool = True
    duplicate_window: Duration = 120.0
    publish_timeout: Duration = 2.0
    ack_wait: Duration = 30.0
    max_deliver: int = Field(default=-1, ge=-1, le=MAX_INT32)
    process_ms: float = Field(default=0.0, ge=0, le=60_000)

    @field_validator("subject")
    @classmethod
    def _subject(cls, subject: str) -> str:
        if not _NATS_SUBJECT.match(subject):
            raise ValueError(
                f"{subject!r} is not a literal NATS subject: dot-separated tokens of letters, "
                "digits, '-' and '_' (no wildcards or spaces)"
            )
        return subject

    @property
    def stream(self) -> str:
        """The stream's base name (the run id is appended)."""
        return re.sub(r"[^A-Za-z0-9_-]", "_", self.subject).upper()


_PUBSUB_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9._~+-]{2,200}$")


class PubsubPush(StrictModel):
    """A push subscription: the emulator POSTs every message to a receiver the harness runs
    on loopback (the recording HTTP server of ``observe: - downstream:``), which answers 2xx
    to ack it; any other answer, or none, means a redelivery."""

    host: str = Field(default="127.0.0.1", min_length=1, max_length=253)
    """Where the receiver listens: a loopback address (the emulator runs on this machine)."""
    port: int = Field(default=0, ge=0, le=65535)
    """Its port; 0 picks a free one."""
    path: str = Field(default="/pubsub/push", pattern=r"^/[A-Za-z0-9._~/-]{0,200}$")

    @field_validator("host")
    @classmethod
    def _loopback(cls, host: str) -> str:
        if not is_loopback(host):
            raise ValueError(
                f"{host!r} is not a loopback address: the push receiver runs on this machine, "
                "beside the emulator (use 127.0.0.1)"
            )
        return host


class PubsubTarget(StrictModel):
    """A Google Cloud Pub/Sub topic on the emulator, and the one subscription the harness
    creates on it: its ack deadline, whether it delivers in ordering-key order (and the
    producer publishes with the event key as ordering key), and whether it pulls or is
    pushed to the harness's own receiver (``push``)."""

    topic: str = Field(min_length=3, max_length=200)
    subscription: str | None = Field(default=None, min_length=3, max_length=200)
    project: str = Field(default="harness-project", pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
    ack_deadline_s: int = Field(default=10, ge=1, le=600)
    ordering_keys: bool = False
    push: PubsubPush | None = None
    push_endpoint: str | None = Field(default=None, min_length=1, max_length=2000)
    """Not taken (validation says so): the harness runs the push endpoint itself (``push``)."""
    publish_timeout: Duration = 30.0
    process_ms: float = Field(default=0.0, ge=0, le=60_000)

    @field_validator("topic", "subscription")
    @classmethod
    def _name(cls, name: str | None) -> str | None:
        if name is not None and (not _PUBSUB_NAME.match(name) or name.startswith("goog")):
            raise ValueError(
                f"{name!r} is not a Pub/Sub name: letters, digits and - _ . ~ +, starting "
                "with a letter (not 'goog')"
            )
        return name


_SQS_QUEUE = re.compile(r"^[A-Za-z0-9_-]{1,60}$")


class SqsTarget(StrictModel):
    """An SQS queue on ElasticMQ: standard or FIFO, its visibility timeout, and a redrive
    policy to a dead-letter queue the harness reads (``dead_letter_queue`` with
    ``max_receive_count``). ``persistent`` asks for ElasticMQ's on-disk configuration
    (queues and messages survive a restart); the runner starts ElasticMQ in the configuration
    the scenario asks for. ``process_ms`` is the consumer's work per message."""

    queue: str = Field(min_length=1, max_length=60)
    fifo: bool = False
    deduplication: bool = True
    visibility_timeout_s: int = Field(default=30, ge=0, le=43_200)
    dead_letter_queue: str | None = Field(default=None, min_length=1, max_length=60)
    max_receive_count: int = Field(default=3, ge=1, le=1000)
    persistent: bool = False
    process_ms: float = Field(default=0.0, ge=0, le=60_000)
    workers: int = Field(default=2, ge=1, le=32)
    read_timeout: Duration = 5.0

    @field_validator("queue", "dead_letter_queue")
    @classmethod
    def _name(cls, name: str | None) -> str | None:
        if name is not None and not _SQS_QUEUE.match(name):
            raise ValueError(
                f"{name!r} is not an SQS queue name: 1-60 letters, digits, '-' and '_' (the "
                "run id is appended, and '.fifo' for a FIFO queue)"
            )
        return name


class Target(StrictModel):
    """Exactly one of ``kafka``, ``rabbitmq``, ``nats``, ``pubsub``, ``sqs``, ``webhook``,
    ``sns`` or ``eventbridge``."""

    kafka: KafkaTarget | None = None
    rabbitmq: RabbitMQTarget | None = None
    nats: NatsTarget | None = None
    pubsub: PubsubTarget | None = None
    sqs: SqsTarget | None = None
    webhook: WebhookTarget | None = None
    sns: SnsTarget | None = None
    eventbridge: EventBridgeTarget | None = None

    @property
    def kind(
        self,
    ) -> Literal["kafka", "rabbitmq", "nats", "pubsub", "sqs", "webhook", "sns", "eventbridge"]:
        if self.kafka is not None:
            return "kafka"
        if self.nats is not None:
            return "nats"
        if self.pubsub is not None:
            return "pubsub"
        if self.sqs is not None:
            return "sqs"
        if self.webhook is not None:
            return "webhook"
        if self.sns is not None:
            return "sns"
        if self.eventbridge is not None:
            return "eventbridge"
        return "rabbitmq"

    @property
    def fanout(self) -> SnsTarget | EventBridgeTarget | None:
        """The SNS or EventBridge target (both fan out to subscribers), if either is set."""
        return self.sns or self.eventbridge

    @property
    def nodes(self) -> tuple[str, ...]:
        """The stack's node names this target runs on (a webhook endpoint is on none)."""
        return {"kafka": KAFKA_NODES, "rabbitmq": RABBITMQ_NODES, "nats": NATS_NODES,
                "pubsub": PUBSUB_NODES, "sqs": SQS_NODES, "sns": MOTO_NODES,
                "eventbridge": MOTO_NODES}.get(self.kind, ())  # fmt: skip

    @property
    def given(self) -> int:
        """How many of the target kinds are set (a valid target has exactly one)."""
        kinds = (self.kafka, self.rabbitmq, self.nats, self.pubsub, self.sqs, self.webhook,
                 self.sns, self.eventbridge)  # fmt: skip
        return sum(t is not None for t in kinds)


# --- clients ------------------------------------------------------------------------------


class Producer(StrictModel):
    """Producer guarantees. Kafka fields and RabbitMQ fields; set only those of the target."""

    client: KafkaClient = KafkaClient.AIOKAFKA
    """Kafka only: ``aiokafka`` (asyncio) or ``confluent`` (librdkafka, in storm processes)."""
    acks: Acks = Acks.ALL
    enable_idempotence: bool = False
    retries: int | None = Field(default=None, ge=0, le=MAX_INT32)
    linger_ms: int = Field(default=5, ge=0, le=MAX_INT32)
    # aiokafka keeps one batch per partition, so its batch size is also its per-partition
    # buffer; Kafka's 16 KiB default stalls every send while one slow leader drains.
    batch_size: int = Field(default=262_144, ge=1024, le=16_777_216)
    request_timeout_ms: int = Field(default=30_000, ge=1, le=MAX_INT32)
    delivery_timeout_ms: int = Field(default=120_000, ge=1, le=MAX_INT32)
    confirms: bool = True
    delivery_mode: DeliveryMode = DeliveryMode.PERSISTENT
    mandatory: bool = False

    @field_validator("acks", mode="before")
    @classmethod
    def _acks_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class Consumer(StrictModel):
    """The verifying consumers (or the settings the system under test is started with)."""

    group: str = Field(default="verifier", min_length=1)
    commit: Commit = Commit.AFTER_EFFECT
    # RabbitMQ's basic.qos prefetch count is a 16-bit number.
    prefetch: int = Field(default=100, ge=1, le=65_535)
    manual_ack: bool = True
    count: int = Field(default=1, ge=1, le=64)


class ReadyLog(StrictModel):
    """Ready once a line of the service's log matches this regular expression."""

    log: str = Field(min_length=1, max_length=500)

    @field_validator("log")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(f"not a regular expression: {error}") from None
        return pattern


ReadyWhen = Literal["report", "subscribed"] | ReadyLog


class SystemUnderTest(StrictModel):
    """The built-in consumer (no ``command``) or an external command the harness starts."""

    command: list[str] | None = Field(default=None, min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    mode: SutMode | None = None
    ready: ReadyWhen | None = None
    """When the started command counts as ready: it reports ``ready`` (the report contract),
    it is ``subscribed`` (its Kafka group has partitions / its queue has a consumer), or its log
    matches. Unset: ``report``, or ``subscribed`` when the scenario observes it from outside."""

    @model_validator(mode="before")
    @classmethod
    def _word_harness(cls, value: Any) -> Any:
        return {} if value == "harness" else value

    @property
    def is_builtin(self) -> bool:
        return self.command is None


# --- storm --------------------------------------------------------------------------------


class Rate(StrictModel):
    """Intended send rate over time. Which fields apply depends on ``shape``."""

    shape: Shape = Shape.CONSTANT
    per_second: float | None = Field(default=None, ge=0)
    from_: float | None = Field(default=None, ge=0, alias="from")
    to: float | None = Field(default=None, ge=0)
    spike_at: Duration | None = None
    spike_for: Duration | None = None
    spike_factor: float | None = Field(default=None, gt=0)
    burst_every: Duration | None = None
    burst_size: int | None = Field(default=None, ge=1)


class Keys(StrictModel):
    """How many keys, and how skewed their use is."""

    count: int = Field(default=64, ge=1, le=1_000_000)
    distribution: Distribution = Distribution.UNIFORM
    zipf_s: float | None = Field(default=None, gt=0)


class SizeRange(StrictModel):
    min: int = Field(ge=0)
    max: int = Field(ge=0)


class Payload(StrictModel):
    """Payload size: uniform in ``bytes: {min, max}``, or ``fixed``."""

    bytes_: SizeRange | None = Field(default=None, alias="bytes")
    fixed: int | None = Field(default=None, ge=0)


class Poison(StrictModel):
    """Malformed events the consumer must dead-letter: a ``fraction`` or one in ``every``."""

    fraction: float | None = Field(default=None, ge=0, lt=1)
    every: int | None = Field(default=None, ge=2)


class Duplicates(StrictModel):
    """Re-sends of already-sent ids, as a fraction of the storm's sends."""

    fraction: float = Field(default=0.0, ge=0, lt=1)


class StormSpec(StrictModel):
    duration: Duration
    rate: Rate
    keys: Keys = Field(default_factory=Keys)
    payload: Payload = Field(default_factory=lambda: Payload(fixed=512))
    poison: Poison | None = None
    duplicates: Duplicates | None = None
    schema_: StormSchema | None = Field(default=None, alias="schema")
    """Events generated from versioned schemas instead of padded JSON (``docs/schemas.md``)."""

    def scaled(self, factor: float) -> StormSpec:
        times = ("spike_at", "spike_for", "burst_every")
        update = {t: getattr(self.rate, t) * factor for t in times if getattr(self.rate, t)}
        rate = self.rate.model_copy(update=update)
        changes: dict[str, Any] = {"duration": self.duration * factor, "rate": rate}
        if self.schema_ is not None:
            changes["schema_"] = self.schema_.scaled(factor)
        return self.model_copy(update=changes)


# --- load engine --------------------------------------------------------------------------


class Load(StrictModel):
    """Which engine sends the storm: the harness's own pacer, or Locust (master + workers).

    With ``locust``, ``workers`` worker processes run ``users`` users in all; each user sends
    its share of the storm (dealt by key) at the storm's intended times.
    """

    engine: Engine = Engine.HARNESS
    users: int = Field(default=1, ge=1, le=10_000)
    workers: int = Field(default=1, ge=1, le=64)
    spawn_rate: float | None = Field(default=None, gt=0)
    processes: int | None = Field(default=None, ge=1, le=64)
    """Engine ``harness``, Kafka target: storm shards (by key), one process each; default the
    core count (``harness run --processes`` overrides it)."""

    @model_validator(mode="after")
    def _fits_engine(self) -> Load:
        if self.engine is Engine.HARNESS and (self.users, self.workers) != (1, 1):
            raise ValueError(
                "users and workers apply to engine 'locust' only; set engine: locust or drop them"
            )
        if self.engine is Engine.LOCUST and self.processes is not None:
            raise ValueError(
                "processes applies to engine 'harness' only (Locust has workers); drop it"
            )
        if self.users % self.workers:
            raise ValueError(
                f"users ({self.users}) must be a multiple of workers ({self.workers}), so "
                f"every worker runs the same number of users; set users to "
                f"{self.users + self.workers - self.users % self.workers} or change workers"
            )
        return self


# --- end of run ---------------------------------------------------------------------------


class Drain(StrictModel):
    """After the storm: how long to wait for outstanding deliveries."""

    timeout: Duration = 30.0


class Expect(StrictModel):
    """The expected outcome: ``finds`` must be > 0, ``clean`` must be 0."""

    finds: list[str] = Field(default_factory=list)
    clean: list[str] = Field(default_factory=list)

    @field_validator("finds", "clean")
    @classmethod
    def _known(cls, names: list[str]) -> list[str]:
        unknown = [n for n in names if n not in ANOMALIES]
        if unknown:
            raise ValueError(f"unknown anomaly {unknown[0]!r}; use one of {', '.join(ANOMALIES)}")
        return names


class Scenario(StrictModel):
    """One run: target, clients, storm, fault timeline, drain, expectation, thresholds."""

    path_root = ()

    name: str
    about: str = ""
    target: Target
    producer: Producer = Field(default_factory=Producer)
    consumer: Consumer = Field(default_factory=Consumer)
    system_under_test: SystemUnderTest = Field(default_factory=SystemUnderTest)
    storm: StormSpec
    faults: list[Fault] = Field(default_factory=list)
    observe: list[ObserveEntry] = Field(default_factory=list, max_length=16)
    service_metrics: ServiceMetrics | None = None
    """The service's own Prometheus endpoint, scraped during the run and charted."""
    load: Load = Field(default_factory=Load)
    drain: Drain = Field(default_factory=Drain)
    expect: Expect = Field(default_factory=Expect)
    thresholds: list[ThresholdField] = Field(default_factory=list)
    seed: int | None = None
    explore: Explore | None = None
    """The envelope ``harness explore`` searches in; ``harness run`` ignores it."""

    @field_validator("name")
    @classmethod
    def _slug(cls, name: str) -> str:
        _rule(scenario_name_problem(name))
        return name

    @field_validator("seed")
    @classmethod
    def _seed(cls, seed: int | None) -> int | None:
        _rule(None if seed is None else seed_problem(seed))
        return seed

    @model_validator(mode="after")
    def _cross_check(self) -> Scenario:
        # Bounds first, by arithmetic: the cross-field checks expand fault repetitions.
        too_long, safe_faults = fault_limits(self.faults, self.storm.duration)
        checked = self.model_copy(update={"faults": safe_faults}) if too_long else self
        problems = too_long + cross_check(checked) + list(explore_problems(checked))
        if problems:
            raise ProblemsFound(problems)
        return self

    @property
    def uses_oauth(self) -> bool:
        """Whether the run takes bearer tokens from the stack's OAuth2 issuer (node ``oauth``),
        or a downstream it plays verifies them (``auth: {oauth: ...}``)."""
        webhook = self.target.webhook
        return (webhook is not None and webhook.oauth is not None) or needs_oauth(self.observe)

    def scaled(self, duration_scale: float) -> Scenario:
        """This scenario with the storm and every fault time multiplied by ``duration_scale``.

        The drain timeout is kept: it bounds a wait, it does not set the run's length. The
        result is validated again like any scenario (a scale can push a time past what is
        valid); a ``ConfigError`` says which scale broke what.
        """
        scale = check_scale(duration_scale)
        copy = self.model_copy(
            update={
                "storm": self.storm.scaled(scale),
                "faults": [fault.scaled(scale) for fault in self.faults],
            }
        )
        source = f"{self.name} scaled by {scale!r}"
        try:
            with raw_validation_errors():
                return type(self).model_validate(plain_data(copy))
        except ValidationError as error:
            raise config_error(problems_from_validation(error, root=Scenario), source) from None
        except ProblemsFound as found:
            raise config_error(found.problems, source) from None


__all__ = [
    "KAFKA_NODES",
    "KAFKA_PRODUCER_FIELDS",
    "NATS_NODES",
    "RABBITMQ_NODES",
    "SQS_NODES",
    "RABBITMQ_PRODUCER_FIELDS",
    "Acks",
    "Commit",
    "Consumer",
    "DeliveryMode",
    "Distribution",
    "Drain",
    "Duplicates",
    "Engine",
    "Expect",
    "KafkaTarget",
    "NatsTarget",
    "PubsubTarget",
    "SqsTarget",
    "Keys",
    "Load",
    "Payload",
    "Poison",
    "Producer",
    "RabbitMQTarget",
    "Rate",
    "ReadyLog",
    "ReadyWhen",
    "Scenario",
    "Shape",
    "SizeRange",
    "StormSpec",
    "SutMode",
    "SystemUnderTest",
    "Target",
    "WebhookTarget",
]
