"""The Pub/Sub emulator of the local stack: a real emulator process behind Toxiproxy.

It answers gRPC through its proxy; a toxic on the ``pubsub`` proxy reaches the client's
traffic; node handles pause, resume, kill and restart it (in memory: a restart forgets its
topics, which the docs say). The stack's env file describes it, so a stack read from that
file reaches the same emulator.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from harness.drivers.pubsub_target import PubsubTarget, publisher_client
from harness.stack import Stack, layout, load_env
from harness.stack import pubsub as pubsub_node
from harness.stack.localenv import write_local_env
from harness.stack.toxiproxy import ToxicSpec, ToxiproxyClient
from harness.vocabulary import ToxicType

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _heal_after_each_test(pubsub_stack: Stack) -> Iterator[None]:
    yield
    pubsub_stack.reload()
    pubsub_stack.heal()


def _target(stack: Stack) -> PubsubTarget:
    name = f"it-{uuid.uuid4().hex[:8]}"
    return PubsubTarget(topic=name, subscription=f"{name}-sub",
                        emulator=stack.pubsub_emulator_host)  # fmt: skip


def _create_topic(target: PubsubTarget, timeout: float = 10.0) -> float:
    """Create the target's topic through the proxy; the seconds it took."""
    client = publisher_client(target)
    started = time.monotonic()
    try:
        client.create_topic(name=target.topic_path, timeout=timeout)
    finally:
        client.transport.close()
    return time.monotonic() - started


def test_the_emulator_answers_through_its_proxy(pubsub_stack: Stack):
    node = pubsub_stack.node(layout.PUBSUB_NODE)
    assert node.is_healthy()
    assert pubsub_stack.pubsub_emulator_host == f"{layout.HOST}:{layout.pubsub_proxy_port()}"
    assert pubsub_node.grpc_ready(node.ports["proxy"])
    assert _create_topic(_target(pubsub_stack)) < 10


def test_a_latency_toxic_on_its_proxy_slows_the_client(pubsub_stack: Stack):
    target = _target(pubsub_stack)
    with ToxiproxyClient(pubsub_stack.toxiproxy_url) as toxiproxy:
        toxiproxy.add_toxic(layout.PUBSUB_NODE, ToxicSpec(ToxicType.LATENCY, {"latency": 1500}),
                            "downstream", 1.0, "it-latency")  # fmt: skip
        try:
            took = _create_topic(target, timeout=30.0)
        finally:
            toxiproxy.remove_toxic(layout.PUBSUB_NODE, "it-latency")
    assert took >= 1.4


def test_pause_resume_kill_restart(pubsub_stack: Stack):
    node = pubsub_stack.node(layout.PUBSUB_NODE)
    node.pause()
    assert node.is_paused() and not node.is_healthy(timeout=0.5)
    node.resume()
    node.wait_healthy(60)
    node.kill()
    assert not node.is_alive()
    assert not pubsub_node.grpc_ready(node.ports["proxy"], timeout=1.0)
    node.restart()
    assert node.is_healthy()
    assert _create_topic(_target(pubsub_stack)) < 10


def test_its_env_file_reaches_the_same_emulator(pubsub_stack: Stack, tmp_path):
    path = write_local_env(pubsub_stack.state, tmp_path / "env.yaml")
    env = load_env(path)
    assert env.pubsub is not None and env.pubsub.emulator_host == pubsub_stack.pubsub_emulator_host
    from_file = Stack.from_env(env, path)
    assert from_file.node(layout.PUBSUB_NODE).is_healthy()
    assert _create_topic(_target(from_file)) < 10
