"""Pub/Sub without a server: the scenario's pubsub target, the stack's layout and probe, the
driver target's checks, message-id positions, ``--with a,b`` and the outcome of every
google-cloud-pubsub exception a publish can end with."""

from __future__ import annotations

import argparse
import socket

import pytest
from google.api_core import exceptions as gexc
from google.cloud.pubsub_v1.publisher import exceptions as psexc
from hypothesis import given
from hypothesis import strategies as st

from harness.drivers.outcomes import Outcome, classify_pubsub
from harness.drivers.pubsub import position
from harness.drivers.pubsub_target import PubsubTarget, pinned_emulator
from harness.errors import ConfigError, UnsafeTargetError
from harness.scenario import parse_scenario
from harness.stack import commands, layout, pubsub
from harness.stack.local import check_brokers, proxies_for

SCENARIO = """\
name: ok
target:
  pubsub: {block}
storm:
  duration: 10s
  rate: {{shape: constant, per_second: 100}}
"""


def scenario_error(block: str, extra: str = "") -> str:
    with pytest.raises(ConfigError) as caught:
        parse_scenario(SCENARIO.format(block=block) + extra, "x.yaml")
    return str(caught.value)


def test_a_pubsub_target_parses_with_its_defaults():
    s = parse_scenario(SCENARIO.format(block="{topic: orders, ordering_keys: true}"), "x.yaml")
    spec = s.target.pubsub
    assert s.target.kind == "pubsub" and s.target.nodes == ("pubsub",)
    assert spec.ack_deadline_s == 10 and spec.ordering_keys and spec.project == "harness-project"


@pytest.mark.parametrize(
    ("block", "fragment"),
    [
        ("{topic: goog-x}", "not a Pub/Sub name"),
        ("{topic: 1abc}", "not a Pub/Sub name"),
        ("{topic: orders, ack_deadline_s: 0}", "ack_deadline_s"),
        ("{topic: orders, ack_deadline_s: 601}", "ack_deadline_s"),
        ("{topic: orders, push_endpoint: 'http://127.0.0.1:9/x'}", "replace push_endpoint"),
        ("{topic: orders, project: X}", "project"),
    ],
)
def test_bad_pubsub_targets_get_one_clear_error(block: str, fragment: str):
    assert fragment in scenario_error(block)


def test_producer_retries_are_refused_on_pubsub():
    assert "retries on its own" in scenario_error("{topic: orders}", "producer: {retries: 3}\n")


def test_two_targets_name_pubsub_among_the_kinds():
    error = scenario_error("{topic: orders}\n  kafka: {topic: orders}")
    assert "'pubsub'" in error


def test_the_driver_target_refuses_a_remote_emulator_and_bad_names():
    with pytest.raises(UnsafeTargetError):
        PubsubTarget(topic="orders", subscription="orders-sub", emulator="10.1.2.3:8085")
    with pytest.raises(ConfigError, match="subscription name"):
        PubsubTarget(topic="orders", subscription="x")
    with pytest.raises(ConfigError, match="ack_deadline_s"):
        PubsubTarget(topic="orders", subscription="orders-sub", ack_deadline_s=0)
    target = PubsubTarget(topic="orders", subscription="orders-sub", emulator="localhost:8085")
    assert pinned_emulator(target).endswith(":8085")
    assert target.topic_path == "projects/harness-project/topics/orders"


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_a_numeric_message_id_is_also_the_offset(number: int):
    assert position(str(number)) == {"msg_id": str(number), "partition": 0, "offset": number}


@given(st.text(min_size=1, max_size=30).filter(lambda t: not t.isdigit()))
def test_any_other_message_id_is_kept_as_text_only(message_id: str):
    assert position(message_id) == {"msg_id": message_id}


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (gexc.ServiceUnavailable("reset"), Outcome.UNKNOWN),
        (gexc.DeadlineExceeded("slow"), Outcome.UNKNOWN),
        (gexc.RetryError("spent", None), Outcome.UNKNOWN),
        (gexc.InternalServerError("x"), Outcome.UNKNOWN),
        (RuntimeError("anything"), Outcome.UNKNOWN),
        (gexc.NotFound("no topic"), Outcome.FAIL),
        (gexc.InvalidArgument("bad"), Outcome.FAIL),
        (gexc.PermissionDenied("iam"), Outcome.FAIL),
        (psexc.PublishToPausedOrderingKeyException("k"), Outcome.FAIL),
        (psexc.MessageTooLargeError("big"), Outcome.FAIL),
    ],
)
def test_each_publish_exception_maps_to_one_outcome(exc: BaseException, outcome: Outcome):
    assert classify_pubsub(exc) is outcome


def test_the_stack_layout_puts_a_proxy_before_the_emulator(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(layout.PORT_OFFSET_ENV, "100")
    (proxy,) = [p for p in proxies_for(0, False, with_pubsub=True)]
    assert proxy.name == "pubsub"
    assert proxy.listen == "127.0.0.1:8185" and proxy.upstream == "127.0.0.1:18185"
    assert layout.pubsub_emulator_host() == "127.0.0.1:8185"
    assert {8185, 18185} <= set(layout.stack_ports(0, False, pubsub=True))


def test_a_pubsub_only_stack_needs_no_kafka_broker():
    check_brokers(0, with_pubsub=True)
    with pytest.raises(Exception, match="--kafka-brokers"):
        check_brokers(0)


def test_the_emulator_node_runs_on_loopback(tmp_path):
    node = pubsub.prepare_node(pubsub.EMULATOR, "emulator", tmp_path)
    assert "--host=127.0.0.1" in node.argv and node.probe == "pubsub"
    assert node.ports["client"] == layout.pubsub_port() and "JAVA_OPTS" in node.env


def test_the_probe_says_no_to_a_silent_or_non_http2_listener():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        assert not pubsub.grpc_ready(port, timeout=0.3)
    assert not pubsub.grpc_ready(port, timeout=0.3)


def _with(*argv: str) -> list[str]:
    parser = argparse.ArgumentParser()
    commands._with_option(parser)
    return parser.parse_args(list(argv)).with_


def test_with_takes_comma_separated_and_repeated_nodes():
    assert _with("--with", "nats,pubsub") == ["nats", "pubsub"]
    assert _with("--with", "postgres", "--with", "pubsub,postgres") == ["postgres", "pubsub"]
    assert _with() == []


def test_with_refuses_an_unknown_node(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        _with("--with", "nats,sqsx")
    assert "--with takes optional nodes" in capsys.readouterr().err


def test_only_the_go_fallback_is_known_not_to_push(tmp_path):
    emulator = pubsub.prepare_node(tmp_path / "cloud-pubsub-emulator", "emulator", tmp_path)
    fallback = pubsub.prepare_node(pubsub.fallback_path(), "pstest", tmp_path)
    assert pubsub.can_push(emulator) and not pubsub.can_push(fallback)
    fallback.argv = []  # an env file's node: no command known, taken at its word
    assert pubsub.can_push(fallback)
