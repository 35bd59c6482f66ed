"""SQS pieces that need no server: the target model, the codec, outcomes, positions, the
ElasticMQ config, the stack's ports and the env file's sqs: section."""

from __future__ import annotations

from pathlib import Path

import botocore.exceptions as berr
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.drivers import Outcome, SqsTarget, classify_sqs
from harness.drivers.effects import PoisonError
from harness.drivers.sqs_codec import MAX_ATTRIBUTES, decode_sqs, encode_sqs
from harness.drivers.sqs_target import pinned_endpoint, position
from harness.errors import ConfigError, UnsafeTargetError
from harness.events import Event
from harness.scenario import parse_scenario
from harness.stack import elasticmq, layout, parse_env
from harness.stack.local import check_brokers, proxies_for

SQS_SCENARIO = """name: s
target:
  sqs: {sqs}
storm:
  duration: 2s
  rate: {{shape: constant, per_second: 10}}
"""


def scenario_error(block: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_scenario(SQS_SCENARIO.format(sqs=block), "x.yaml")
    return str(caught.value)


def test_an_sqs_target_parses_with_its_redrive_policy_and_node():
    scenario = parse_scenario(
        SQS_SCENARIO.format(sqs="{queue: orders, fifo: true, visibility_timeout_s: 2, "
                                "dead_letter_queue: orders-dlq, max_receive_count: 4}"),
        "x.yaml",
    )  # fmt: skip
    sqs = scenario.target.sqs
    assert sqs is not None and sqs.fifo and sqs.max_receive_count == 4
    assert scenario.target.kind == "sqs" and scenario.target.nodes == ("sqs",)


@pytest.mark.parametrize("name", ["a b", "orders.fifo", "", "x" * 61, "q/1"])
def test_a_queue_name_must_be_plain(name):
    assert "target.sqs.queue" in scenario_error(f"{{queue: {name!r}}}")


def test_kafka_producer_settings_are_refused_on_sqs():
    with pytest.raises(ConfigError, match="producer.acks: a Kafka or RabbitMQ producer setting"):
        parse_scenario(SQS_SCENARIO.format(sqs="{queue: q}") + "producer: {acks: 1}\n", "x.yaml")


def test_dlq_expectations_need_a_dead_letter_queue():
    text = SQS_SCENARIO.format(sqs="{queue: q}") + "expect: {clean: [dlq_missing]}\n"
    with pytest.raises(ConfigError, match="target.sqs.dead_letter_queue"):
        parse_scenario(text, "x.yaml")


def _event(poison: bool = False, key: str = "k-1") -> Event:
    body = b"POISON" if poison else b'{"id": "e-1"}'
    return Event("e-1", key, 7, 1.25, 1.5, body, poison=poison)


def _received(body: str, attributes: dict) -> dict:
    return {"MessageId": "m", "Body": body, "MessageAttributes": attributes}


def test_the_codec_fits_sqs_attribute_limit_and_round_trips():
    body, attributes = encode_sqs(_event(), wall_offset=0.0)
    assert len(attributes) <= MAX_ATTRIBUTES
    decoded = decode_sqs(_received(body, attributes))
    assert (decoded.id, decoded.key, decoded.seq, decoded.sent) == ("e-1", "k-1", 7, 1.5)


@given(key=st.text(min_size=0, max_size=40), seq=st.integers(1, 2**40))
def test_any_key_and_seq_round_trip(key, seq):
    event = _event(key=key)._replace(seq=seq)
    body, attributes = encode_sqs(event, wall_offset=0.0)
    decoded = decode_sqs(_received(body, attributes))
    assert (decoded.key, decoded.seq) == (key, seq)


def test_poison_and_foreign_messages_raise():
    body, attributes = encode_sqs(_event(poison=True), wall_offset=0.0)
    with pytest.raises(PoisonError):
        decode_sqs(_received(body, attributes))
    with pytest.raises(ValueError, match="not a harness event"):
        decode_sqs(_received("{}", {}))


@given(st.dictionaries(st.text(max_size=12), st.text(max_size=12), max_size=12), st.text())
def test_decoding_never_fails_other_than_with_value_error(attributes, body):
    message = _received(body, {k: {"StringValue": v} for k, v in attributes.items()})
    try:
        decode_sqs(message)
    except ValueError:
        pass


def test_outcomes_of_sqs_errors():
    url = "http://127.0.0.1:9324"
    assert classify_sqs(berr.EndpointConnectionError(endpoint_url=url)) is Outcome.FAIL
    assert classify_sqs(berr.ConnectTimeoutError(endpoint_url=url)) is Outcome.FAIL
    assert classify_sqs(berr.ReadTimeoutError(endpoint_url=url)) is Outcome.UNKNOWN
    gone = {"Error": {"Code": "QueueDoesNotExist"}, "ResponseMetadata": {"HTTPStatusCode": 400}}
    assert classify_sqs(berr.ClientError(gone, "SendMessage")) is Outcome.FAIL
    failed = {"Error": {"Code": "InternalError"}, "ResponseMetadata": {"HTTPStatusCode": 500}}
    assert classify_sqs(berr.ClientError(failed, "SendMessage")) is Outcome.UNKNOWN
    assert classify_sqs(RuntimeError("?")) is Outcome.UNKNOWN


@given(st.uuids())
def test_a_message_id_position_is_stable_and_fits_int64(message_id):
    text = str(message_id)
    assert position(text) == position(text)
    assert 0 <= position(text) < 2**63
    assert 0 <= position("not-a-uuid") < 2**63


def test_the_target_refuses_remote_endpoints_and_bad_names():
    with pytest.raises(UnsafeTargetError):
        SqsTarget(queue="q", endpoint="http://sqs.us-east-1.amazonaws.com")
    with pytest.raises(ConfigError):
        SqsTarget(queue="q", fifo=True)  # a FIFO queue's name ends in .fifo
    assert pinned_endpoint(SqsTarget(queue="q", endpoint="http://localhost:9324")).endswith(":9324")


@pytest.mark.parametrize("persistent", [False, True])
def test_elasticmq_binds_loopback_and_names_its_proxy(tmp_path: Path, persistent: bool):
    text = elasticmq.config_text(tmp_path, persistent)
    assert f'bind-hostname = "{layout.HOST}"' in text
    assert f"port = {layout.sqs_proxy_port()}" in text
    assert ("messages-storage { enabled = true" in text) is persistent
    assert ("WRITE_DELAY=0" in text) is persistent


def test_sqs_ports_and_proxy_join_the_stack():
    assert {layout.sqs_proxy_port(), layout.sqs_port()} <= set(
        layout.stack_ports(0, False, sqs=True)
    )
    assert not set(layout.stack_ports(3, True, True, 3)) & {layout.sqs_proxy_port(),
                                                           layout.sqs_port()}  # fmt: skip
    assert [p.name for p in proxies_for(0, False, with_sqs=True)] == ["sqs"]
    check_brokers(0, with_sqs=True)


def test_an_env_file_may_name_only_sqs():
    env = parse_env('version: 1\ntoxiproxy: {api: "http://127.0.0.1:8474"}\n'
                    'sqs: {endpoint: "http://127.0.0.1:9324"}\n')  # fmt: skip
    assert env.sqs is not None and env.sqs.endpoint == "http://127.0.0.1:9324"
    with pytest.raises(ConfigError, match="sqs.endpoint"):
        parse_env('version: 1\ntoxiproxy: {api: "http://127.0.0.1:8474"}\nsqs: {endpoint: x}\n')
