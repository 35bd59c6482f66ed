"""RabbitMQ through its Toxiproxy proxy: confirmed publish and consume, and a reset_peer toxic
that breaks the connection (acceptance test 5 of the stack)."""

from __future__ import annotations

import time
import uuid

import pika
import pika.exceptions
import pytest

from harness.errors import StackError
from harness.stack import Stack, rabbitmq
from harness.stack.toxiproxy import ToxiproxyClient, reset_peer

pytestmark = pytest.mark.integration


def connect(stack: Stack) -> pika.BlockingConnection:
    params = pika.URLParameters(stack.rabbitmq_url)
    params.socket_timeout = 10
    params.blocked_connection_timeout = 30
    return pika.BlockingConnection(params)


def test_confirmed_publish_and_consume_cross_the_proxy(stack: Stack) -> None:
    queue = f"it-{uuid.uuid4().hex[:8]}"
    conn = connect(stack)
    try:
        channel = conn.channel()
        channel.confirm_delivery()
        channel.queue_declare(queue, durable=True)
        for i in range(50):  # with confirms on, each publish returns only once the broker acked
            channel.basic_publish("", queue, f"m{i}".encode(), pika.BasicProperties(delivery_mode=2),
                                  mandatory=True)  # fmt: skip
        got = []
        for _method, _props, body in channel.consume(queue, inactivity_timeout=5):
            if body is None:
                break
            got.append(body.decode())
            if len(got) == 50:
                break
        channel.cancel()
        channel.queue_delete(queue)
    finally:
        conn.close()
    assert got == [f"m{i}" for i in range(50)]
    assert _proxy_saw_clients(stack)


def _proxy_saw_clients(stack: Stack) -> bool:
    """The AMQP port the client used is the proxy's, not the broker's own."""
    host, _, port = stack.rabbitmq_url.rsplit("@", 1)[1].split("/")[0].rpartition(":")
    proxy = stack.toxiproxy().get_proxy("rabbitmq")
    return proxy.listen == f"{host}:{port}" and proxy.upstream != proxy.listen


def test_reset_peer_toxic_breaks_the_connection(stack: Stack, toxiproxy: ToxiproxyClient) -> None:
    queue = f"it-{uuid.uuid4().hex[:8]}"
    conn = connect(stack)
    channel = conn.channel()
    channel.confirm_delivery()
    channel.queue_declare(queue, durable=True)
    channel.basic_publish("", queue, b"before", pika.BasicProperties(delivery_mode=2))
    toxiproxy.add_toxic("rabbitmq", reset_peer(0), stream="upstream", name="rst")
    deadline = time.monotonic() + 20
    with pytest.raises(pika.exceptions.AMQPError) as broken:
        while time.monotonic() < deadline:
            channel.basic_publish("", queue, b"during", pika.BasicProperties(delivery_mode=2))
            conn.process_data_events(time_limit=0.2)
    assert conn.is_closed, f"connection still open after {broken.value!r}"
    toxiproxy.remove_toxic("rabbitmq", "rst")
    again = connect(stack)
    try:
        method, _props, body = again.channel().basic_get(queue, auto_ack=True)
        assert body == b"before"
        again.channel().queue_delete(queue)
    finally:
        again.close()


def test_killed_broker_restarts_with_its_durable_messages(stack: Stack) -> None:
    queue = f"it-{uuid.uuid4().hex[:8]}"
    conn = connect(stack)
    channel = conn.channel()
    channel.confirm_delivery()
    channel.queue_declare(queue, durable=True)
    channel.basic_publish("", queue, b"kept", pika.BasicProperties(delivery_mode=2))
    node = stack.nodes["rabbitmq"]
    # Without this, a kill within milliseconds of the declare loses the queue now and then
    # (Mnesia's late commit decision; see flush_metadata). The confirmed message is safe anyway.
    rabbitmq.flush_metadata(node.state)
    node.kill()
    assert not node.is_alive()
    node.restart()
    again = connect(stack)
    try:
        _method, _props, body = again.channel().basic_get(queue, auto_ack=True)
        assert body == b"kept"
    finally:
        again.close()


def test_a_failing_rabbitmqctl_call_names_the_command_and_the_broker_error(stack: Stack) -> None:
    with pytest.raises(StackError, match=r"rabbitmqctl eval no_such_module:f\(\)\. failed \(exit"):
        rabbitmq.ctl(stack.nodes["rabbitmq"].state, "eval", "no_such_module:f().")
