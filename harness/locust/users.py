"""Locust users that send harness events to Kafka, RabbitMQ, NATS or SQS and record them in a
history.

Importing this module imports Locust, which monkey-patches the process for gevent: import it
only from a locustfile (``from harness.locust import KafkaUser``), never from the harness's
own asyncio processes.

A user is configured by class attributes, like Locust's ``contrib`` clients::

    class Orders(KafkaUser):
        topic = "orders"
        rate = 500.0            # events per second, per user (open model)
        acks = "all"

Each user follows an open-model plan (``harness.locust.plan``): it sends every event at its
intended time without waiting for the previous one's ack; a slow broker makes events late
(schedule slip), never fewer. The users of one process share one client and one history
shard. A Locust ``request`` event fires when the broker **acknowledges** (or refuses) a send,
with ``response_time`` measured from the event's intended time, so Locust's percentiles are
corrected for coordinated omission. ``exception`` is set for ``fail`` and ``unknown`` sends.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from collections.abc import Mapping
from typing import Any, ClassVar

import gevent
import gevent.lock
from locust import User, constant, events, task
from locust.env import Environment

from harness import clock
from harness.drivers import (
    AmqpTarget,
    NatsProducerConfig,
    NatsProducerDriver,
    NatsTarget,
    RabbitPublisherConfig,
    RabbitPublisherDriver,
    SqsProducerConfig,
    SqsProducerDriver,
    SqsTarget,
)
from harness.locust import clocksync, finalflush
from harness.locust.greenloop import GreenletLoop
from harness.locust.plan import Plan, RatePlan
from harness.locust.rdkafka import RdKafkaConfig, RdKafkaProducer
from harness.locust.shard import ShardRecorder, history_dir, worker_tag

log = logging.getLogger(__name__)

MAX_WAIT_S = 0.5
"""Longest a user sleeps at once, so it notices a stop promptly."""


FINAL_FLUSH_DEADLINE_S = 40.0
"""How long a master waits, at the end of a run, for its workers to give every send an outcome
(a user's ``flush_timeout_s``, 30 s by default, bounds each worker's flush)."""


class SendNotAcknowledged(Exception):
    """The broker did not acknowledge a send (``fail``: refused; ``unknown``: no answer)."""


class _Shared:
    """One process's client and shard for one user class."""

    def __init__(self, user: HarnessUser) -> None:
        self.environment = user.environment
        self.recorder = ShardRecorder(history_dir(user.history_dir))
        self.request_type, self.name = user.request_type, user.request_name or user.destination()
        self.client = user.open_client(self.recorder, self.fire)

    def fire(self, row: Mapping[str, Any], size: int) -> None:
        status = row["status"]
        self.environment.events.request.fire(
            request_type=self.request_type,
            name=self.name,
            response_time=(row["t_ack"] - row["t_intended"]) * 1000.0,
            response_length=size,
            exception=None
            if status == "ok"
            else SendNotAcknowledged(f"{status}: {row.get('error') or 'no answer'}"),
            context={"id": row["id"]},
        )

    def close(self, timeout_s: float) -> None:
        try:
            self.client.close(timeout_s)
        finally:
            path = self.recorder.close()
            log.info("harness: %d ops recorded in %s", self.recorder.rows, path)


class HarnessUser(User):
    """Base of ``KafkaUser`` and ``RabbitMQUser``: the open-model send loop and the history."""

    abstract = True
    wait_time = constant(0)

    rate: float = 100.0
    """Events per second sent by each user (``RatePlan``)."""
    keys: int = 16
    """Keys per user; each user owns its keys, so per-key order is one user's order."""
    payload_bytes: int = 512
    max_events: int | None = None
    """Stop sending after this many events per user (``None``: until the test stops)."""
    run_id: str = os.environ.get("HARNESS_RUN_ID", "locust")
    history_dir: str | None = None
    """Shard directory (default ``$HARNESS_LOCUST_HISTORY_DIR`` or ``./locust-history``)."""
    request_name: str | None = None
    """The name in Locust's statistics (default: the topic or queue)."""
    request_type: ClassVar[str] = "send"
    flush_timeout_s: float = 30.0
    """At test stop, how long to wait for the outcome of sends still in flight."""

    _shared: ClassVar[dict[type, _Shared]] = {}
    _lock: ClassVar[gevent.lock.Semaphore] = gevent.lock.Semaphore()
    _numbers: ClassVar[itertools.count[int]] = itertools.count()

    def destination(self) -> str:
        raise NotImplementedError

    def open_client(self, recorder: ShardRecorder, fire: Any) -> Any:
        """The process's client: ``send(event)``, ``flush(timeout_s)``, ``close(timeout_s)``."""
        raise NotImplementedError

    def make_plan(self, number: int) -> Plan:
        """This user's plan; ``number`` counts the users this process started, from 0."""
        prefix = f"{self.run_id}.{worker_tag()}.u{number}"
        return RatePlan(
            prefix,
            rate=self.rate,
            start=clock.now(),
            keys=self.keys,
            size=self.payload_bytes,
            limit=self.max_events,
            seed=number,
        )

    def on_start(self) -> None:
        with HarnessUser._lock:
            shared = HarnessUser._shared.get(type(self))
            if shared is None:
                shared = HarnessUser._shared[type(self)] = _Shared(self)
        self.client = shared.client
        self.plan = self.make_plan(next(HarnessUser._numbers))
        self._flushed = False

    @task
    def send_due(self) -> None:
        """Send every event that is due; otherwise sleep until the next one is."""
        at = self.plan.next_at()
        if at is None:
            if not self._flushed:
                self._flushed = self.client.flush(self.flush_timeout_s) or True
            gevent.sleep(MAX_WAIT_S)
            return
        wait = at - clock.now()
        if wait > 0:
            gevent.sleep(min(wait, MAX_WAIT_S))
            return
        send = self.client.send
        for event in self.plan.due(clock.now()):
            send(event)
        gevent.sleep(0)


class _KafkaClient:
    """``RdKafkaProducer`` with a greenlet that serves its delivery reports."""

    def __init__(self, producer: RdKafkaProducer, poll_interval_s: float) -> None:
        self.producer = producer
        self.send = producer.send
        self._interval = poll_interval_s
        self._poller = gevent.spawn(self._poll)

    def _poll(self) -> None:
        while not self.producer.closed:
            self.producer.poll()
            gevent.sleep(self._interval)

    def flush(self, timeout_s: float) -> bool:
        return self.producer.flush(timeout_s, gevent.sleep)

    def close(self, timeout_s: float) -> None:
        self.producer.close(timeout_s, gevent.sleep)
        self._poller.kill(block=False)


class KafkaUser(HarnessUser):
    """Sends harness events to a Kafka topic with confluent-kafka (librdkafka).

    Set ``topic``; ``bootstrap`` defaults to the local stack's proxied brokers. Producer
    settings mirror the scenario's: ``acks``, ``enable_idempotence``, ``linger_ms``,
    ``request_timeout_ms``, ``delivery_timeout_ms``; ``librdkafka_config`` adds raw settings.
    """

    abstract = True
    request_type = "kafka"
    bootstrap: str | None = None
    topic: str = ""
    acks: int | str = "all"
    enable_idempotence: bool = False
    linger_ms: int = 5
    request_timeout_ms: int = 30_000
    delivery_timeout_ms: int = 120_000
    librdkafka_config: ClassVar[dict[str, Any]] = {}
    poll_interval_s: float = 0.002

    def destination(self) -> str:
        return self.topic

    def open_client(self, recorder: ShardRecorder, fire: Any) -> _KafkaClient:
        if not self.topic:
            raise ValueError(f"{type(self).__name__}.topic is empty; set the topic to send to.")
        config = RdKafkaConfig(
            bootstrap=self.bootstrap or _stack_bootstrap(),
            topic=self.topic,
            acks=self.acks,
            enable_idempotence=self.enable_idempotence,
            linger_ms=self.linger_ms,
            request_timeout_ms=self.request_timeout_ms,
            delivery_timeout_ms=self.delivery_timeout_ms,
            client_id=f"locust-{recorder.worker}",
            extra=dict(self.librdkafka_config),
        )
        producer = RdKafkaProducer(
            config, recorder, name=f"locust-{recorder.worker}", on_outcome=fire
        )
        return _KafkaClient(producer, self.poll_interval_s)


class _RabbitClient:
    """The harness's pika publisher driver, driven from gevent.

    Under Locust its thread is a greenlet and pika's ioloop waits on gevent's ``select``, so
    the driver runs as it is; its few ``async`` lifecycle calls run on a short-lived asyncio
    loop, one at a time.
    """

    _lifecycle = gevent.lock.Semaphore()

    def __init__(self, driver: RabbitPublisherDriver) -> None:
        self.driver = driver
        self.send = driver.send
        self._run(driver.start())

    def _run(self, coroutine: Any) -> Any:
        with self._lifecycle:
            return asyncio.run(coroutine)

    def flush(self, timeout_s: float) -> bool:
        return bool(self._run(self.driver.flush(timeout_s)))

    def close(self, timeout_s: float) -> None:
        self._run(self.driver.close(timeout_s))


class _SizedRecorder:
    """Passes rows to the shard and fires the Locust event for each ``send`` row."""

    def __init__(self, recorder: ShardRecorder, fire: Any, size: int) -> None:
        self._recorder, self._fire, self._size = recorder, fire, size

    def append(self, record: Mapping[str, Any]) -> None:
        self._recorder.append(record)
        if record.get("op") == "send":
            self._fire(record, self._size)


class RabbitMQUser(HarnessUser):
    """Publishes harness events to a RabbitMQ queue (default exchange), with confirms.

    Set ``queue``; ``url`` defaults to the local stack's proxied AMQP URL. ``confirms``,
    ``persistent``, ``durable`` and ``dead_letter`` mirror the scenario and driver settings.
    """

    abstract = True
    request_type = "amqp"
    url: str | None = None
    queue: str = ""
    confirms: bool = True
    persistent: bool = True
    durable: bool = True
    dead_letter: bool = True

    def destination(self) -> str:
        return self.queue

    def open_client(self, recorder: ShardRecorder, fire: Any) -> _RabbitClient:
        if not self.queue:
            raise ValueError(f"{type(self).__name__}.queue is empty; set the queue to publish to.")
        target = AmqpTarget.from_url(
            self.url or _stack_rabbitmq_url(),
            self.queue,
            durable=self.durable,
            dead_letter=self.dead_letter,
        )
        config = RabbitPublisherConfig(
            target=target,
            confirms=self.confirms,
            persistent=self.persistent,
            name=f"locust-{recorder.worker}",
        )
        sized = _SizedRecorder(recorder, fire, self.payload_bytes)
        return _RabbitClient(RabbitPublisherDriver(config, sized))


class _LoopClient:
    """One of the harness's asyncio producer drivers (nats-py, or boto3 on the driver's own
    threads, which gevent makes greenlets) on an asyncio loop hosted in a greenlet
    (``harness.locust.greenloop``): sends are handed to the loop and never block a user."""

    def __init__(self, driver: NatsProducerDriver | SqsProducerDriver, connect_timeout_s: float):
        self.driver = driver
        self.loop = GreenletLoop()
        try:
            self.loop.run(driver.start(), connect_timeout_s)
        except BaseException:
            self.loop.close()
            raise

    def send(self, event: Any) -> None:
        self.loop.call(self.driver.send, event)

    def flush(self, timeout_s: float) -> bool:
        return bool(self.loop.run(self.driver.flush(timeout_s), timeout_s + 5.0))

    def close(self, timeout_s: float) -> None:
        try:
            self.loop.run(self.driver.close(timeout_s), timeout_s + 10.0)
        finally:
            self.loop.close()


class NatsUser(HarnessUser):
    """Publishes harness events to a NATS subject with nats-py: core NATS, or a JetStream
    stream (each publish acknowledged by its PubAck) when ``stream`` is set.

    Set ``subject``; ``servers`` defaults to the local stack's proxied NATS URLs (or those of
    ``$HARNESS_ENV``). ``msg_id`` (``Nats-Msg-Id`` deduplication), ``publish_timeout_s``,
    ``retries``, ``replicas`` and ``duplicate_window_s`` mirror the scenario's ``target.nats``.
    One locust process runs NATS users or RabbitMQ users, not both (``greenloop``).
    """

    abstract = True
    request_type = "nats"
    servers: ClassVar[list[str] | None] = None
    subject: str = ""
    stream: str | None = None
    replicas: int = 1
    duplicate_window_s: float = 120.0
    msg_id: bool = True
    publish_timeout_s: float = 2.0
    retries: int = 0
    connect_timeout_s: float = 30.0

    def destination(self) -> str:
        return self.subject

    def open_client(self, recorder: ShardRecorder, fire: Any) -> _LoopClient:
        if not self.subject:
            raise ValueError(f"{type(self).__name__}.subject is empty; set the subject to send to.")
        target = NatsTarget(
            subject=self.subject,
            servers=tuple(self.servers or _stack_nats_servers()),
            stream=self.stream,
            replicas=self.replicas,
            duplicate_window_s=self.duplicate_window_s,
        )
        config = NatsProducerConfig(
            target=target,
            msg_id=self.msg_id and self.stream is not None,
            publish_timeout_s=self.publish_timeout_s,
            retries=self.retries,
            name=f"locust-{recorder.worker}",
        )
        sized = _SizedRecorder(recorder, fire, self.payload_bytes)
        return _LoopClient(NatsProducerDriver(config, sized), self.connect_timeout_s)


class SqsUser(HarnessUser):
    """Sends harness events to an SQS queue with boto3 ``SendMessage`` (the harness's SQS
    producer driver, its blocking calls on its own threads).

    Set ``queue`` (created when missing); ``endpoint`` defaults to the local stack's proxied
    SQS endpoint (or that of ``$HARNESS_ENV``). ``fifo`` (the name gets ``.fifo``; the key is
    the message group), ``deduplication`` (the event id as ``MessageDeduplicationId``),
    ``visibility_timeout_s``, ``read_timeout_s``, ``retries`` and ``max_in_flight`` mirror the
    scenario's ``target.sqs`` and ``producer.retries``. Like ``NatsUser`` it runs on an asyncio
    loop in a greenlet, so one locust process runs SQS or NATS users, not RabbitMQ users.
    """

    abstract = True
    request_type = "sqs"
    endpoint: str | None = None
    queue: str = ""
    fifo: bool = False
    deduplication: bool = True
    visibility_timeout_s: int = 30
    read_timeout_s: float = 5.0
    retries: int = 0
    max_in_flight: int = 16
    connect_timeout_s: float = 30.0

    def destination(self) -> str:
        return self._queue_name()

    def _queue_name(self) -> str:
        return (
            f"{self.queue}.fifo" if self.fifo and not self.queue.endswith(".fifo") else self.queue
        )

    def open_client(self, recorder: ShardRecorder, fire: Any) -> _LoopClient:
        if not self.queue:
            raise ValueError(f"{type(self).__name__}.queue is empty; set the queue to send to.")
        target = SqsTarget(
            queue=self._queue_name(),
            endpoint=self.endpoint or _stack_sqs_endpoint(),
            fifo=self.fifo,
            visibility_timeout_s=self.visibility_timeout_s,
            read_timeout_s=self.read_timeout_s,
        )
        config = SqsProducerConfig(
            target=target,
            dedup=self.deduplication,
            retries=self.retries,
            max_in_flight=self.max_in_flight,
            name=f"locust-{recorder.worker}",
        )
        sized = _SizedRecorder(recorder, fire, self.payload_bytes)
        return _LoopClient(SqsProducerDriver(config, sized), self.connect_timeout_s)


def _stack_sqs_endpoint() -> str:
    from harness.stack import Stack, env_path

    return Stack.open(env_path(None)).sqs_endpoint


def _stack_nats_servers() -> list[str]:
    from harness.stack import Stack, env_path

    return Stack.open(env_path(None)).nats_servers


def _stack_bootstrap() -> str:
    from harness.stack import Stack, env_path

    return Stack.open(env_path(None)).kafka_bootstrap_servers


def _stack_rabbitmq_url() -> str:
    from harness.stack import Stack, env_path

    return Stack.open(env_path(None)).rabbitmq_url


@events.test_stop.add_listener
def _close_shared(environment: Environment, **_kwargs: Any) -> None:
    """Give every send an outcome, then finish the shards, before the last stats report."""
    with HarnessUser._lock:
        shared, HarnessUser._shared = HarnessUser._shared, {}
        HarnessUser._numbers = itertools.count()
    for user_class, each in shared.items():
        try:
            each.close(user_class.flush_timeout_s)
        except Exception:
            log.exception("harness: closing the %s client failed", user_class.__name__)


@events.quitting.add_listener
def _close_on_quit(environment: Environment, **_kwargs: Any) -> None:
    _close_shared(environment)


@events.init.add_listener
def _fresh_loop_clock(**_kwargs: Any) -> None:
    """Refresh gevent's cached loop time before Locust schedules ``--run-time``.

    libev caches "now" when the hub's loop is created (at monkey-patching, as Locust is
    imported) and Locust arms its run-time timer with ``gevent.spawn_later`` before the loop
    ever ran: the timer counts from the stale time, so every second the imports took is cut
    from the run (on a loaded machine a 30 s run ended at once, with nothing sent)."""
    gevent.get_hub().loop.update_now()


clocksync.install(events)
finalflush.install(events, deadline_s=FINAL_FLUSH_DEADLINE_S)

__all__ = [
    "HarnessUser",
    "KafkaUser",
    "NatsUser",
    "RabbitMQUser",
    "SendNotAcknowledged",
    "SqsUser",
]
