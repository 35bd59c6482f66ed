"""Fixtures for tests against the real local stack.

``stack`` (session): the three-broker stack with RabbitMQ, started here unless one of that shape
is already running; taken down at the end only if this session started it. The session holds
an exclusive lock meanwhile, so two test sessions on one machine never fault each other's
brokers.
``postgres`` (module): PostgreSQL on that stack, added for the modules that ask for it (about a
second) and removed at their end, so sessions that need no database never start one.
``nats_stack`` (module): a three-node NATS cluster (JetStream R3) behind its proxies, added to
the running stack, or, when none runs, on a stack of its own with no Kafka or RabbitMQ, so the
NATS modules never pay for the Kafka stack. NATS modules override ``_heal_after_each_test`` to
heal that stack instead.
``moto_stack`` (module): the SNS/EventBridge emulator (moto) behind its proxy, added to the
running stack or, when none runs, on a stack of its own with no Kafka or RabbitMQ; moto
modules override ``_heal_after_each_test`` to heal that stack instead.
``pubsub_stack`` (module): the Pub/Sub emulator behind its proxy, added to the running stack,
or, when none runs, on a stack of its own with no Kafka or RabbitMQ.
``sqs_stack`` (module): ElasticMQ (in memory) behind its proxy, the same way.
``oauth_stack`` (module): the OAuth2 issuer (mock-oauth2-server) behind its proxy, the same way.
``toxiproxy``: a client for its Toxiproxy API.
``_heal_after_each_test`` (autouse): after every test, resumes paused nodes, restarts dead
ones and resets Toxiproxy, so no test's fault leaks into the next.
"""

from __future__ import annotations

import contextlib
import fcntl
import uuid
from collections.abc import Callable, Iterator

import pytest

from harness.stack import Stack, StackState, layout, load_state, local
from harness.stack.toxiproxy import ToxiproxyClient

BROKERS = 3
NATS_NODES = 3
_LOCKED: list[bool] = []  # set while this session holds the lock (flock would block on itself)


@contextlib.contextmanager
def _session_lock() -> Iterator[None]:
    if _LOCKED:
        yield
        return
    lock_path = layout.harness_home() / "integration-tests.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _LOCKED.append(True)
        try:
            yield
        finally:
            _LOCKED.clear()


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    with _session_lock():
        yield from _stack()


@pytest.fixture(scope="module")
def nats_stack() -> Iterator[Stack]:
    with _session_lock():
        state = load_state()
        running = state is not None and bool(local.running_nodes(state))
        started = added = False
        if not running:
            local.up(0, with_rabbitmq=False, nats_nodes=NATS_NODES)
            started = True
        elif state is not None and state.nats_nodes != NATS_NODES:
            if state.nats_nodes:
                local.remove_nats(state)
            local.add_nats(state, NATS_NODES)
            added = True
        handle = Stack.load()
        handle.heal()
        yield handle
        if started:
            local.down()
        elif added:
            current = load_state()
            if current is not None:
                local.remove_nats(current)


def _with_emulator(
    has: Callable[[StackState], bool],
    up: dict[str, bool],
    add: Callable[[StackState], object],
    remove: Callable[[StackState], None],
) -> Iterator[Stack]:
    """A module's emulator: added to the running stack (and removed after), or, with none
    running, on a stack of its own with no Kafka or RabbitMQ (taken down after)."""
    with _session_lock():
        state = load_state()
        running = state is not None and bool(local.running_nodes(state))
        started = added = False
        if not running:
            local.up(0, with_rabbitmq=False, **up)
            started = True
        elif state is not None and not has(state):
            add(state)
            added = True
        handle = Stack.load()
        handle.heal()
        yield handle
        if started:
            local.down()
        elif added:
            current = load_state()
            if current is not None:
                remove(current)


@pytest.fixture(scope="module")
def moto_stack() -> Iterator[Stack]:
    yield from _with_emulator(
        lambda state: "moto" in state.nodes, {"with_moto": True}, local.add_moto,
        local.remove_moto,
    )  # fmt: skip


@pytest.fixture(scope="module")
def pubsub_stack() -> Iterator[Stack]:
    yield from _with_emulator(
        lambda state: state.pubsub, {"with_pubsub": True}, local.add_pubsub, local.remove_pubsub
    )


@pytest.fixture(scope="module")
def oauth_stack() -> Iterator[Stack]:
    yield from _with_emulator(
        lambda state: "oauth" in state.nodes, {"with_oauth": True}, local.add_oauth,
        local.remove_oauth,
    )  # fmt: skip


def _stack() -> Iterator[Stack]:
    state = load_state()
    running = state is not None and bool(local.running_nodes(state))
    shaped = running and state is not None and state.kafka_brokers == BROKERS and state.rabbitmq
    if running and not shaped:
        local.down()
    started = not shaped
    if started:
        local.up(BROKERS, with_rabbitmq=True)
    handle = Stack.load()
    handle.heal()
    yield handle
    if started:
        local.down()


@pytest.fixture(scope="module")
def postgres(stack: Stack) -> Iterator[Stack]:
    stack.reload()
    added = not stack.has_postgres
    if added:
        local.add_postgres(stack.state)
        stack.reload()
    yield stack
    if added:
        state = load_state()
        if state is not None:
            local.remove_postgres(state)
        stack.reload()


@pytest.fixture
def toxiproxy(stack: Stack) -> Iterator[ToxiproxyClient]:
    with stack.toxiproxy() as client:
        yield client


@pytest.fixture(autouse=True)
def _heal_after_each_test(stack: Stack) -> Iterator[None]:
    yield
    stack.reload()
    stack.heal()


@pytest.fixture
def topic_name() -> str:
    return f"it-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def sqs_stack() -> Iterator[Stack]:
    """ElasticMQ (in memory) behind the ``sqs`` proxy, added to the running stack, or on a
    stack of its own with no Kafka or RabbitMQ when none runs."""
    yield from _with_emulator(
        lambda state: bool(state.sqs_endpoint), {"with_sqs": True}, local.add_sqs,
        local.remove_sqs,
    )  # fmt: skip
