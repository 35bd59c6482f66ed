"""Build the producer and the consumer (the built-in system under test) a scenario asks for.

The scenario's typed settings map onto the drivers' configs here and nowhere else; each run
gets a fresh topic or queue (suffixed with the run id) so that nothing left by an earlier run
can be taken for this run's events.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from secrets import token_urlsafe
from urllib.parse import urlsplit

from harness.auth import ClientCredentialsSource, FaultTokens, SigningKey
from harness.drivers import (
    AmqpTarget,
    CommitPolicy,
    Consumer,
    EffectMode,
    FanoutProducerConfig,
    FanoutProducerDriver,
    FanoutTopology,
    KafkaConsumerConfig,
    KafkaConsumerDriver,
    KafkaProducerConfig,
    KafkaProducerDriver,
    NatsConsumerConfig,
    NatsConsumerDriver,
    NatsProducerConfig,
    NatsProducerDriver,
    NatsTarget,
    Producer,
    RabbitConsumerConfig,
    RabbitConsumerDriver,
    RabbitPublisherConfig,
    RabbitPublisherDriver,
    Recorder,
    SqsConsumerConfig,
    SqsConsumerDriver,
    SqsProducerConfig,
    SqsProducerDriver,
    SubscriberPlan,
    create_topic,
    delete_queues,
    delete_stream,
    delete_topic,
)
from harness.drivers.pubsub import PubsubProducerConfig, PubsubProducerDriver
from harness.drivers.pubsub_consumer import PubsubConsumerConfig, PubsubConsumerDriver
from harness.drivers.pubsub_target import PubsubTarget, delete_topology
from harness.drivers.schema_reader import SchemaReader
from harness.drivers.sns import EmulatorDelivers
from harness.drivers.sqs_target import SqsTarget as SqsDriverTarget
from harness.drivers.webhook import WebhookConfig, WebhookSender
from harness.errors import ConfigError, StackError
from harness.faults import Healer, Undo
from harness.load.keys import key_names
from harness.observe import ObserveContext, Observers, build_observers
from harness.observe.endpoint_front import ENDPOINT_NAME, EndpointFront
from harness.observe.kinds.sns_subscriber import SnsSubscriber, SubscriberQueue
from harness.observe.pubsub_push import PUSH_RECEIVER, PubsubPushReceiver, PushReceiverConfig
from harness.safety import check_address, check_target
from harness.scenario import Acks, Commit, DeliveryMode, Scenario, SutMode
from harness.scenario.webhook import WebhookOAuth, WebhookTarget
from harness.stack import Stack, oauth
from harness.stack.local import add_sqs
from harness.stack.toxiproxy import ToxiproxyClient
from harness.sut import ExternalEndpoint, WebhookEndpoint, build_external_sut
from harness.webhooks import PRESETS, SCHEMES, RetryPolicy, fresh_secret

_COMMITS = {
    Commit.AFTER_EFFECT: CommitPolicy.AFTER_EFFECT,
    Commit.BEFORE_EFFECT: CommitPolicy.BEFORE_EFFECT,
}


@dataclass
class Clients:
    """The run's producer and consumer, and where they meet (topic or queue)."""

    producer: Producer
    consumer: Consumer
    destination: str
    kind: str  # "kafka", "rabbitmq", "nats", "pubsub", "sqs" or "webhook"
    bootstrap: str = ""
    dead_letters: str = ""
    observers: Observers = field(default_factory=lambda: Observers([]))
    group: str = ""
    """The Kafka consumer group the consumer commits in (crash triggers watch its offsets)."""
    repair: Repair | None = None
    """Where a webhook target's proxy registers its removal."""
    _proxy_token: int | None = None
    nats: NatsTarget | None = None
    """The NATS subject and stream of the run (its stream is deleted by ``discard``)."""
    sqs: SqsDriverTarget | None = None
    """The SQS queues of the run (deleted by ``discard``)."""
    redelivery_s: float = 0.0
    """How long a delivery lost to a fault can stay hidden before the broker offers it again
    (SQS: the visibility timeout); the drain waits at least that long before it gives up."""
    pubsub: PubsubTarget | None = None
    """The Pub/Sub topic and subscription of the run (deleted by ``discard``)."""
    front: EndpointFront | None = None
    fanout: FanoutTopology | None = None
    """An SNS or EventBridge run's topic or bus, subscriber queues and subscriptions."""
    """A webhook target's HTTP fault point (fault target ``endpoint``), started by ``prepare``."""

    push: PubsubPushReceiver | None = None
    """A Pub/Sub push subscription's receiver (the consumer; fault target ``push``)."""

    def fronts(self) -> dict[str, EndpointFront | PubsubPushReceiver]:
        """The HTTP fault points by fault-target name (``endpoint``, ``push``), for the fault
        context."""
        found: dict[str, EndpointFront | PubsubPushReceiver] = {}
        if self.front is not None:
            found[ENDPOINT_NAME] = self.front
        if self.push is not None:
            found[PUSH_RECEIVER] = self.push
        return found

    async def prepare(self, scenario: Scenario) -> None:
        """Create the run's topic (and wait for its leaders); queues are declared by the
        drivers themselves; a webhook endpoint gets a Toxiproxy proxy in front of it."""
        webhook = scenario.target.webhook
        if webhook is not None:
            await self._proxy_endpoint(webhook)
            return
        if self.fanout is not None:
            await asyncio.to_thread(self.fanout.create)
            return
        kafka = scenario.target.kafka
        if kafka is not None:
            await create_topic(
                self.bootstrap,
                self.destination,
                partitions=kafka.partitions,
                replication_factor=kafka.replication_factor,
                min_insync_replicas=kafka.min_insync_replicas,
                configs={
                    "unclean.leader.election.enable": str(kafka.unclean_leader_election).lower()
                },
            )

    async def _proxy_endpoint(self, webhook: WebhookTarget) -> None:
        sender = self.producer
        assert isinstance(sender, WebhookSender)
        repair = self.repair or Repair()
        if webhook.proxy and repair.toxiproxy is not None:
            await self._toxiproxy_endpoint(webhook, sender, repair)
        await self._front_endpoint(sender)

    async def _front_endpoint(self, sender: WebhookSender) -> None:
        """Put the HTTP fault point between the sender and the endpoint (or its proxy)."""
        parts = urlsplit(sender.config.url)
        front = self.front or EndpointFront(f"{parts.hostname}:{parts.port}")
        front.upstream = f"{parts.hostname}:{parts.port}"
        front.proxy = sender.proxy
        self.front = front
        await front.start()
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        sender.config = dataclasses.replace(sender.config, url=f"{front.url}{path}")

    async def _toxiproxy_endpoint(
        self, webhook: WebhookTarget, sender: WebhookSender, repair: Repair
    ) -> None:
        assert repair.toxiproxy is not None
        name = f"webhook-{self.destination}"
        if repair.healer is not None:
            self._proxy_token = await repair.healer.register(Undo("delete_proxy", name))
        upstream = f"{webhook.host}:{webhook.port}"
        created = await asyncio.to_thread(
            repair.toxiproxy.create_proxy, name, "127.0.0.1:0", upstream
        )
        check_address(created.listen)
        sender.proxy = name
        url = f"http://{created.listen}{webhook.path}"
        sender.config = dataclasses.replace(sender.config, url=url)

    async def discard(self) -> None:
        """Delete the run's topic (its events are in the history now), or the proxy in front
        of a webhook endpoint."""
        if self.kind == "webhook":
            if self.front is not None:
                await self.front.stop()
            repair = self.repair or Repair()
            if self._proxy_token is not None and repair.healer is not None:
                await repair.healer.heal(self._proxy_token)
            return
        if self.kind == "kafka":
            await delete_topic(self.bootstrap, self.destination)
            await delete_topic(self.bootstrap, self.dead_letters)
        if self.nats is not None:
            await delete_stream(self.nats)
        if self.fanout is not None:
            await asyncio.to_thread(self.fanout.delete)
        if self.pubsub is not None:
            await delete_topology(self.pubsub)
        if self.sqs is not None:
            await asyncio.to_thread(delete_queues, self.sqs)


@dataclass(frozen=True)
class Repair:
    """What observation sources register their clean-up with (None outside a run)."""

    healer: Healer | None = None
    toxiproxy: ToxiproxyClient | None = None


def build_clients(
    scenario: Scenario,
    stack: Stack,
    run_id: str,
    recorder: Recorder,
    work: Path,
    repair: Repair | None = None,
) -> Clients:
    """The drivers for ``scenario`` on ``stack``; effect stores live under ``work``.

    The observation sources of ``scenario.observe`` are built too (started by the runner)."""
    mode = EffectMode(scenario.system_under_test.mode or SutMode.CORRECT)
    observers = Observers([])
    if scenario.target.webhook is not None:
        clients = _webhook(scenario, stack, run_id, recorder, work, observers)
        clients.repair = repair
    elif scenario.target.kafka is not None:
        clients = _kafka(scenario, stack, run_id, recorder, work, mode, observers)
    elif scenario.target.nats is not None:
        clients = _nats(scenario, stack, run_id, recorder, work, mode)
    elif scenario.target.fanout is not None:
        clients = _fanout(scenario, stack, run_id, recorder, work, observers)
    elif scenario.target.pubsub is not None:
        clients = _pubsub(scenario, stack, run_id, recorder, work, mode)
    elif scenario.target.sqs is not None:
        clients = _sqs(scenario, stack, run_id, recorder, work, mode)
    else:
        clients = _rabbitmq(scenario, stack, run_id, recorder, work, mode, observers)
    if scenario.observe:
        repair = repair or Repair()
        ctx = ObserveContext(
            stack=stack,
            run_id=run_id,
            recorder=recorder,
            work_dir=work,
            state_dir=work / "sut-state" / run_id,
            target_kind=clients.kind,
            destination=clients.destination,
            dead_letters=clients.dead_letters,
            healer=repair.healer,
            toxiproxy=repair.toxiproxy,
            replication_factor=_replication(scenario, stack),
        )
        observers.sources.extend(build_observers(scenario, ctx).sources)
    clients.observers = observers
    return clients


def _replication(scenario: Scenario, stack: Stack) -> int:
    kafka = scenario.target.kafka
    brokers = len(stack.kafka_nodes())
    return max(1, min(kafka.replication_factor if kafka else 3, brokers))


def _kafka(
    scenario: Scenario,
    stack: Stack,
    run_id: str,
    recorder: Recorder,
    work: Path,
    mode: EffectMode,
    observers: Observers,
) -> Clients:
    target = scenario.target.kafka
    assert target is not None
    topic = f"{target.topic}-{run_id}"
    bootstrap = stack.kafka_bootstrap_servers
    p = scenario.producer
    producer = KafkaProducerDriver(
        KafkaProducerConfig(
            bootstrap=bootstrap,
            topic=topic,
            acks=_acks(p.acks),
            enable_idempotence=p.enable_idempotence,
            linger_ms=p.linger_ms,
            max_batch_size=p.batch_size,
            request_timeout_ms=p.request_timeout_ms,
            delivery_timeout_s=p.delivery_timeout_ms / 1000.0,
        ),
        recorder,
    )
    c = scenario.consumer
    dlq = f"{target.dead_letter_topic}-{run_id}" if target.dead_letter_topic else f"{topic}.dlq"
    consumer: Consumer
    if scenario.system_under_test.command:
        consumer = build_external_sut(
            scenario, stack, topic, run_id, recorder, work, late_env=observers.env
        )
        dlq = f"{topic}.dlq"
    else:
        consumer = KafkaConsumerDriver(
            KafkaConsumerConfig(
                bootstrap=bootstrap,
                topic=topic,
                group=f"{c.group}-{run_id}",
                mode=mode,
                commit=_COMMITS[c.commit],
                max_poll_records=c.prefetch,
                dlq_topic=dlq,
                dlq_replication_factor=min(target.replication_factor, len(stack.kafka_nodes())),
                effect_store=work / "effects.txt",
            ),
            recorder,
            decode=_schema_reader(scenario).kafka if scenario.storm.schema_ else None,
        )
    group = f"{c.group}-{run_id}"  # build_external_sut names the command's group alike
    return Clients(producer, consumer, topic, "kafka", bootstrap, dead_letters=dlq, group=group)


def _rabbitmq(
    scenario: Scenario,
    stack: Stack,
    run_id: str,
    recorder: Recorder,
    work: Path,
    mode: EffectMode,
    observers: Observers,
) -> Clients:
    target = scenario.target.rabbitmq
    assert target is not None
    queue = f"{target.queue}-{run_id}"
    amqp = AmqpTarget.from_url(stack.rabbitmq_url, queue, durable=target.durable)
    p = scenario.producer
    producer = RabbitPublisherDriver(
        RabbitPublisherConfig(
            target=amqp,
            confirms=p.confirms,
            persistent=p.delivery_mode is DeliveryMode.PERSISTENT,
        ),
        recorder,
    )
    consumer: Consumer
    if scenario.system_under_test.command:
        consumer = build_external_sut(
            scenario, stack, queue, run_id, recorder, work, late_env=observers.env
        )
    else:
        consumer = RabbitConsumerDriver(
            RabbitConsumerConfig(
                target=amqp,
                mode=mode,
                prefetch=scenario.consumer.prefetch,
                effect_store=work / "effects.txt",
            ),
            recorder,
            decode=_schema_reader(scenario).amqp if scenario.storm.schema_ else None,
        )
    return Clients(producer, consumer, queue, "rabbitmq", dead_letters=amqp.dlq)


def _schema_reader(scenario: Scenario) -> SchemaReader:
    assert scenario.storm.schema_ is not None
    return SchemaReader(scenario.storm.schema_)


def _webhook(
    scenario: Scenario,
    stack: Stack,
    run_id: str,
    recorder: Recorder,
    work: Path,
    observers: Observers,
) -> Clients:
    target = scenario.target.webhook
    assert target is not None
    check_target(target.host)
    starts_endpoint = scenario.system_under_test.command is not None
    secrets, handed = webhook_secrets(target, make_missing=starts_endpoint)
    bearer, fault_tokens = None, None
    if target.oauth is not None:
        bearer, fault_tokens, told = webhook_bearer(target.oauth, stack)
        handed = {**handed, **told}
    config = WebhookConfig(
        url=target.url,
        scheme=SCHEMES[target.scheme],
        policy=webhook_policy(target),
        secrets=secrets,
        headers=dict(target.headers),
        max_connections=target.max_connections,
        bearer=bearer,
        fault_tokens=fault_tokens,
    )
    sender = WebhookSender(config, recorder)
    consumer: Consumer
    if starts_endpoint:
        late = observers.env
        consumer = WebhookEndpoint(scenario, run_id, work, late_env=lambda: {**handed, **late()})
    else:
        consumer = ExternalEndpoint(target.host, target.port)
    clients = Clients(sender, consumer, f"endpoint-{run_id}", "webhook")  # type: ignore[arg-type]
    clients.front = EndpointFront(f"{target.host}:{target.port}")
    return clients


def _fanout(
    scenario: Scenario,
    stack: Stack,
    run_id: str,
    recorder: Recorder,
    work: Path,
    observers: Observers,
) -> Clients:
    """SNS or EventBridge: a producer on boto3 threads and one source per subscriber."""
    target = scenario.target.fanout
    assert target is not None
    kind = scenario.target.kind
    base = scenario.target.sns.topic if scenario.target.sns else scenario.target.eventbridge.bus  # type: ignore[union-attr]
    name = f"{base}-{run_id.replace('.', '-')}"[:200]
    plans = tuple(
        SubscriberPlan(sub.name, f"{name}-{sub.name}"[:80], sub.filter_policy, sub.pattern,
                       sub.subscribe)
        for sub in target.subscribers
    )  # fmt: skip
    source = scenario.target.eventbridge.source if scenario.target.eventbridge else ""
    topology = FanoutTopology(kind, stack.moto_endpoint, name, plans, event_source=source)
    detail_type = scenario.target.eventbridge.detail_type if scenario.target.eventbridge else ""
    producer = FanoutProducerDriver(
        FanoutProducerConfig(
            topology, target.attribute, target.value_of, detail_type=detail_type,
            publish_timeout_s=target.publish_timeout, threads=target.threads,
            name=f"{kind}-producer",
        ),
        recorder,
    )  # fmt: skip
    clients = Clients(producer, EmulatorDelivers(), name, kind)  # type: ignore[arg-type]
    clients.fanout = topology
    ctx = ObserveContext(
        stack=stack, run_id=run_id, recorder=recorder, work_dir=work,
        state_dir=work / "sut-state" / run_id, target_kind=kind, destination=name,
        dead_letters="",
    )  # fmt: skip
    keys = [str(k) for k in key_names(scenario.storm.keys.count)]
    observers.sources.extend(
        SnsSubscriber(
            f"subscriber-{sub.name}",
            SubscriberQueue(sub.name, topology, tuple(target.expected_keys(sub, keys))),
            ctx,
        )
        for sub in target.subscribers
    )
    return clients


def webhook_policy(target: WebhookTarget) -> RetryPolicy:
    """The target's retry policy: a preset or its own, timeouts overridden, then scaled."""
    spec = target.retry_policy
    if isinstance(spec, str):
        policy = PRESETS[spec]
    else:
        policy = RetryPolicy(
            delays=tuple(spec.delays),
            connect_timeout=spec.connect_timeout,
            total_timeout=spec.total_timeout,
            honour_retry_after=spec.honour_retry_after,
            disable_on_410=spec.disable_on_410,
        )
    total = target.total_timeout or policy.total_timeout
    connect = min(target.connect_timeout or policy.connect_timeout, total)
    policy = dataclasses.replace(policy, connect_timeout=connect, total_timeout=total)
    return policy.scaled(target.time_scale)


def webhook_secrets(
    target: WebhookTarget, *, make_missing: bool = False
) -> tuple[tuple[str, ...], dict[str, str]]:
    """The signing secrets from the variables the target names (never shown), and the ones made
    for this run. A variable that is not set is an error, unless the harness starts the
    endpoint itself (``make_missing``): then a fresh secret is made and handed to it under that
    name, so a shipped scenario runs on a machine where nobody exported one."""
    missing = [name for name in target.secret_env if not os.environ.get(name)]
    if missing and not make_missing:
        raise ConfigError(
            f"target.webhook.secret_env names {', '.join(missing)}, but "
            f"{'it is' if len(missing) == 1 else 'they are'} not set (or empty); export the "
            "signing secret there before the run (the endpoint is not started by the harness, "
            "so it cannot be handed one)"
        )
    handed = {name: fresh_secret(target.scheme) for name in missing}
    return tuple(os.environ.get(n) or handed[n] for n in target.secret_env), handed


def webhook_bearer(
    spec: WebhookOAuth, stack: Stack
) -> tuple[ClientCredentialsSource, FaultTokens, dict[str, str]]:
    """The token source of ``target.webhook.oauth`` on the stack's issuer, the minter of the
    token attacks (signed with the issuer's own key where the stack holds it), and what an
    endpoint the harness starts is told: the issuer and audience to check."""
    issuer = stack.oauth_issuer
    secret = os.environ.get(spec.client_secret_env) if spec.client_secret_env else None
    if spec.client_secret_env and not secret:
        raise ConfigError(
            f"target.webhook.oauth.client_secret_env names {spec.client_secret_env}, but it is "
            "not set (or empty); export the client secret there, or leave it out (the stack's "
            "issuer takes any)"
        )
    source = ClientCredentialsSource(
        f"{issuer}/token", spec.client_id, secret or token_urlsafe(24),
        scope=spec.audience, refresh_margin=spec.refresh_margin,
    )  # fmt: skip
    key = stack.oauth_signing_key()
    signing = SigningKey(oauth.ISSUER_ID, key) if key is not None else SigningKey.generate()
    tokens = FaultTokens(issuer, spec.audience, key=signing)
    told = {"HARNESS_OAUTH_ISSUER": issuer, "HARNESS_OAUTH_AUDIENCE": spec.audience}
    return source, tokens, told


def nats_target(scenario: Scenario, stack: Stack, run_id: str) -> NatsTarget:
    """The driver-level target of a scenario's ``target.nats`` on ``stack`` (run-suffixed)."""
    spec = scenario.target.nats
    assert spec is not None
    suffix = run_id.replace(".", "-")
    return NatsTarget(
        subject=f"{spec.subject}.{suffix}",
        servers=tuple(stack.nats_servers),
        stream=f"{spec.stream}_{suffix}" if spec.jetstream else None,
        replicas=spec.replicas,
        storage=spec.storage.value,
        duplicate_window_s=spec.duplicate_window,
        ack_wait_s=spec.ack_wait,
        max_deliver=spec.max_deliver,
        durable=f"{scenario.consumer.group}-{suffix}",
    )


def _nats(
    scenario: Scenario,
    stack: Stack,
    run_id: str,
    recorder: Recorder,
    work: Path,
    mode: EffectMode,
) -> Clients:
    spec = scenario.target.nats
    assert spec is not None
    if scenario.system_under_test.command is not None:
        # validation refuses this; a scenario built past it must not silently run the
        # built-in consumer in the service's place
        raise ConfigError(
            f"Scenario {scenario.name!r}: system_under_test.command: a NATS target runs the "
            "built-in consumer only so far; remove the command, or use a kafka: or rabbitmq: "
            "target for your service."
        )
    target = nats_target(scenario, stack, run_id)
    producer = NatsProducerDriver(
        NatsProducerConfig(
            target=target,
            msg_id=spec.msg_id and spec.jetstream,
            publish_timeout_s=spec.publish_timeout,
            retries=scenario.producer.retries or 0,
        ),
        recorder,
    )
    # The consumer starts at the cluster's last node, the producer at its first: a message
    # crosses a route on its way (on one node, both use nats-1).
    servers = target.servers
    consumer_target = replace(target, servers=(*servers[-1:], *servers[:-1]))
    consumer = NatsConsumerDriver(
        NatsConsumerConfig(
            target=consumer_target,
            mode=mode,
            batch=scenario.consumer.prefetch,
            process_ms=spec.process_ms,
            effect_store=work / "effects.txt",
        ),
        recorder,
    )
    return Clients(producer, consumer, target.stream or target.subject, "nats", nats=target)


def pubsub_target(scenario: Scenario, stack: Stack, run_id: str) -> PubsubTarget:
    """The driver-level target of a scenario's ``target.pubsub`` on ``stack`` (run-suffixed)."""
    spec = scenario.target.pubsub
    assert spec is not None
    suffix = run_id.replace(".", "-")
    subscription = spec.subscription or f"{spec.topic}-{scenario.consumer.group}"
    return PubsubTarget(
        topic=f"{spec.topic}-{suffix}",
        subscription=f"{subscription}-{suffix}",
        project=_pubsub_project(spec.project, "project" in spec.model_fields_set, stack),
        emulator=stack.pubsub_emulator_host,
        ack_deadline_s=spec.ack_deadline_s,
        ordering=spec.ordering_keys,
        push_endpoint=spec.push_endpoint,
    )


def _pubsub_project(project: str, named: bool, stack: Stack) -> str:
    """The scenario's project when it names one, else the env file's, else the default."""
    return project if named else stack.state.pubsub_project or project


def _pubsub(
    scenario: Scenario,
    stack: Stack,
    run_id: str,
    recorder: Recorder,
    work: Path,
    mode: EffectMode,
) -> Clients:
    spec = scenario.target.pubsub
    assert spec is not None
    target = pubsub_target(scenario, stack, run_id)
    producer = PubsubProducerDriver(
        PubsubProducerConfig(target=target, publish_timeout_s=spec.publish_timeout), recorder
    )
    consumer: Consumer
    push: PubsubPushReceiver | None = None
    if spec.push is not None:
        consumer = push = PubsubPushReceiver(
            PushReceiverConfig(
                target=target,
                mode=mode,
                host=spec.push.host,
                port=spec.push.port,
                path=spec.push.path,
                effect_store=work / "effects.txt",
            ),
            recorder,
            rng=random.Random(f"{run_id}/push"),
        )
    else:
        consumer = PubsubConsumerDriver(
            PubsubConsumerConfig(
                target=target,
                mode=mode,
                batch=scenario.consumer.prefetch,
                process_ms=spec.process_ms,
                effect_store=work / "effects.txt",
            ),
            recorder,
        )
    clients = Clients(producer, consumer, target.subscription, "pubsub", pubsub=target)
    clients.push = push
    return clients


def _acks(acks: Acks) -> int | str:
    return "all" if acks is Acks.ALL else int(acks.value)


def sqs_target(scenario: Scenario, stack: Stack, run_id: str) -> SqsDriverTarget:
    """The driver-level target of a scenario's ``target.sqs`` on ``stack`` (run-suffixed)."""
    spec = scenario.target.sqs
    assert spec is not None
    suffix = run_id.replace(".", "-")
    tail = ".fifo" if spec.fifo else ""
    dlq = spec.dead_letter_queue
    return SqsDriverTarget(
        queue=f"{spec.queue}-{suffix}"[:75] + tail,
        endpoint=stack.sqs_endpoint,
        fifo=spec.fifo,
        visibility_timeout_s=spec.visibility_timeout_s,
        dlq=f"{dlq}-{suffix}"[:75] + tail if dlq else None,
        max_receive_count=spec.max_receive_count,
        read_timeout_s=spec.read_timeout,
    )


def match_sqs_storage(stack: Stack, scenario: Scenario) -> None:
    """Start ElasticMQ in the storage configuration ``target.sqs.persistent`` asks for, when
    the local stack runs the other one (blocking: call it on a thread)."""
    spec = scenario.target.sqs
    if spec is None or stack.state.sqs_persistent == spec.persistent:
        return
    wanted = "persistent" if spec.persistent else "in-memory"
    if stack.state.backend != "local":
        raise StackError(
            f"{scenario.name} needs a {wanted} SQS, and the {stack.state.backend} stack's "
            "ElasticMQ is configured the other way; point the run at one configured so."
        )
    add_sqs(stack.state, spec.persistent)
    stack.reload()


def _sqs(
    scenario: Scenario,
    stack: Stack,
    run_id: str,
    recorder: Recorder,
    work: Path,
    mode: EffectMode,
) -> Clients:
    spec = scenario.target.sqs
    assert spec is not None
    target = sqs_target(scenario, stack, run_id)
    producer = SqsProducerDriver(
        SqsProducerConfig(target=target, dedup=spec.deduplication,
                          retries=scenario.producer.retries or 0),
        recorder,
    )  # fmt: skip
    consumer = SqsConsumerDriver(
        SqsConsumerConfig(
            target=target, mode=mode, workers=spec.workers,
            batch=min(10, scenario.consumer.prefetch), process_ms=spec.process_ms,
            effect_store=work / "effects.txt",
        ),
        recorder,
    )  # fmt: skip
    return Clients(producer, consumer, target.queue, "sqs", dead_letters=target.dlq or "",
                   sqs=target, redelivery_s=float(spec.visibility_timeout_s))  # fmt: skip


__all__ = [
    "Clients",
    "Repair",
    "build_clients",
    "match_sqs_storage",
    "nats_target",
    "pubsub_target",
    "sqs_target",
]
