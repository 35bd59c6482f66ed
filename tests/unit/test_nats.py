"""NATS without a server: the scenario's nats target, the stack's NATS layout and config, the
CloudEvents headers, and the outcome of every nats-py exception a publish can raise."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats.errors as nerr
import nats.js.errors as jserr
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import events
from harness.drivers import NatsTarget, Outcome, classify_nats
from harness.drivers.nats_target import consumer_config, pinned_servers, stream_config
from harness.errors import ConfigError, UnsafeTargetError
from harness.scenario import parse_scenario
from harness.stack import layout, nats
from harness.stack.local import check_brokers, proxies_for

NATS_SCENARIO = """\
name: ok
target:
  nats: {nats}
storm:
  duration: 10s
  rate: {{shape: constant, per_second: 100}}
"""


def scenario_error(nats_block: str, extra: str = "") -> str:
    with pytest.raises(ConfigError) as caught:
        parse_scenario(NATS_SCENARIO.format(nats=nats_block) + extra, "x.yaml")
    return str(caught.value)


# --- scenario model -----------------------------------------------------------------------


def test_a_jetstream_target_parses_with_its_durations_and_nodes():
    scenario = parse_scenario(
        NATS_SCENARIO.format(
            nats="{subject: orders.js, jetstream: true, replicas: 3, duplicate_window: 30s, "
            "ack_wait: 1500ms, max_deliver: 4}"
        ),
        "x.yaml",
    )
    target = scenario.target.nats
    assert target is not None and scenario.target.kind == "nats"
    assert (target.replicas, target.duplicate_window, target.ack_wait, target.max_deliver) == (
        3, 30.0, 1.5, 4,
    )  # fmt: skip
    assert target.stream == "ORDERS_JS"
    assert scenario.target.nodes == ("nats-1", "nats-2", "nats-3")


def test_core_nats_refuses_jetstream_settings():
    error = scenario_error("{subject: orders, replicas: 3, ack_wait: 5s}")
    assert "target.nats.replicas: a JetStream setting" in error
    assert "target.nats.ack_wait: a JetStream setting" in error


@pytest.mark.parametrize("subject", ["orders.*", "orders.>", "a b", "orders..x", ".x"])
def test_a_subject_must_be_literal(subject):
    assert "is not a literal NATS subject" in scenario_error(f"{{subject: {subject!r}}}")


def test_two_targets_are_refused_naming_every_kind():
    error = scenario_error("{subject: orders}\n  kafka: {topic: orders}")
    assert (
        "set exactly one of 'kafka', 'rabbitmq', 'nats', 'pubsub', 'sqs', 'webhook', 'sns' "
        "or 'eventbridge'" in error
    )


def test_kafka_producer_settings_are_refused_on_nats_but_retries_are_kept():
    assert "producer.acks: a Kafka or RabbitMQ producer setting" in scenario_error(
        "{subject: orders, jetstream: true}", "producer: {acks: '1'}\n"
    )
    scenario = parse_scenario(
        NATS_SCENARIO.format(nats="{subject: orders, jetstream: true}")
        + "producer: {retries: 3}\n",
        "x.yaml",
    )
    assert scenario.producer.retries == 3


def test_route_cut_needs_a_nats_node_and_a_nats_target():
    cut = "faults:\n  - at: 2s\n    route_cut: {target: %s}\n    duration: 2s\n"
    parse_scenario(NATS_SCENARIO.format(nats="{subject: o}") + cut % "nats-2", "x.yaml")
    assert "unknown target 'kafka-1'" in scenario_error("{subject: o}", cut % "kafka-1")
    assert "chooses among Kafka brokers" in scenario_error("{subject: o}", cut % "all")
    kafka = "name: ok\ntarget:\n  kafka: {topic: t}\nstorm:\n  duration: 10s\n  rate: {shape: constant, per_second: 1}\n"
    with pytest.raises(ConfigError, match="route_cut cuts NATS cluster routes"):
        parse_scenario(kafka + cut % "kafka-1", "x.yaml")


def test_a_nats_command_consumer_is_refused_for_now():
    error = scenario_error("{subject: o}", "system_under_test: {command: [python, x.py]}\n")
    assert "runs the built-in consumer only" in error
    assert error.count("runs the built-in consumer only") == 1  # one error, naming the field
    assert "system_under_test.command" in error and "kafka: or rabbitmq: target" in error


def test_a_nats_command_past_validation_never_runs_the_built_in_consumer(tmp_path: Path):
    from harness.run.clients import _nats
    from harness.scenario.models import SystemUnderTest

    scenario = parse_scenario(NATS_SCENARIO.format(nats="{subject: o}"), "x.yaml")
    forced = scenario.model_copy(  # model_copy skips validation, as a programmatic edit may
        update={"system_under_test": SystemUnderTest.model_construct(command=["python", "x.py"])}
    )
    with pytest.raises(ConfigError, match="runs the built-in consumer only"):
        _nats(forced, None, "r1", None, tmp_path, None)  # type: ignore[arg-type]


# --- stack layout and config --------------------------------------------------------------


def test_ports_shift_with_the_offset_and_never_collide(monkeypatch):
    monkeypatch.setenv(layout.PORT_OFFSET_ENV, "6000")
    ports = layout.nats_ports(3)
    assert len(ports) == len(set(ports)) == 3 * 4 + 6
    assert layout.NatsPorts(2).proxy == 10222
    assert layout.NatsPorts(1).route_proxy(3) == 20263
    assert not set(ports) & set(layout.stack_ports(3, True, True))
    assert layout.nats_servers(1) == ["nats://127.0.0.1:10221"]


def test_every_route_crosses_its_own_proxy_and_a_cut_covers_both_directions():
    proxies = {p.name: p for p in nats.proxies(3)}
    assert sorted(proxies) == sorted(
        ["nats-1", "nats-2", "nats-3"]
        + [f"nats-route-{a}-{b}" for a in (1, 2, 3) for b in (1, 2, 3) if a != b]
    )
    assert proxies["nats-route-1-2"].upstream == f"127.0.0.1:{layout.NatsPorts(2).cluster}"
    assert nats.route_proxies_of(1, 3) == [
        "nats-route-1-2", "nats-route-1-3", "nats-route-2-1", "nats-route-3-1",
    ]  # fmt: skip
    assert [p.name for p in nats.proxies(1)] == ["nats-1"]
    assert [p.name for p in proxies_for(0, False, nats_nodes=1)] == ["nats-1"]


def test_a_cluster_node_dials_peers_through_proxies_and_gossips_a_dead_url(tmp_path: Path):
    text = nats.config_text(2, 3, tmp_path)
    ports = layout.NatsPorts(2)
    assert f'client_advertise: "127.0.0.1:{ports.proxy}"' in text
    assert f"nats://127.0.0.1:{ports.route_proxy(1)}" in text
    assert f"nats://127.0.0.1:{ports.route_proxy(3)}" in text
    assert f'advertise: "127.0.0.1:{ports.route_proxy(2)}"' in text
    assert ports.route_proxy(2) not in layout.nats_ports(3)  # nothing listens there
    assert "pool_size: -1" in text and "no_advertise: true" in text
    assert "cluster {" not in nats.config_text(1, 1, tmp_path)


def test_node_counts_are_checked():
    check_brokers(0, nats_nodes=3)
    with pytest.raises(Exception, match="--nats-nodes must be one of"):
        nats.check_nodes(2)
    with pytest.raises(Exception, match="0 only with --with nats"):
        check_brokers(0)


# --- driver target and safety -------------------------------------------------------------


def test_the_driver_target_refuses_non_loopback_servers_and_wildcards():
    with pytest.raises(UnsafeTargetError, match="only sends traffic to loopback"):
        NatsTarget(subject="o", servers=("nats://10.1.2.3:4222",))
    with pytest.raises(ConfigError, match="literal subject"):
        NatsTarget(subject="o.*")
    target = NatsTarget(subject="o", servers=("nats://localhost:4221",))
    assert pinned_servers(target)[0] in ("nats://127.0.0.1:4221", "nats://[::1]:4221")


def test_stream_and_consumer_configs_carry_the_scenario_settings():
    target = NatsTarget(subject="o.x", stream="O_X", replicas=3, duplicate_window_s=5,
                        ack_wait_s=1.5, max_deliver=3)  # fmt: skip
    stream = stream_config(target)
    assert (stream.name, stream.subjects, stream.num_replicas, stream.duplicate_window) == (
        "O_X", ["o.x"], 3, 5,
    )  # fmt: skip
    consumer = consumer_config(target)
    assert (consumer.ack_wait, consumer.max_deliver, consumer.durable_name) == (1.5, 3, "harness")


# --- outcomes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [
        nerr.TimeoutError(),
        nerr.ConnectionClosedError(),
        nerr.StaleConnectionError(),
        nerr.UnexpectedEOF(),
        asyncio.CancelledError(),
        RuntimeError("?"),
    ],  # fmt: skip
)
def test_a_jetstream_publish_that_may_have_been_stored_is_unknown(exc):
    assert classify_nats(exc, jetstream=True) is Outcome.UNKNOWN


@pytest.mark.parametrize(
    "exc",
    [
        jserr.NoStreamResponseError(),
        jserr.ServiceUnavailableError(),
        jserr.BadRequestError(),
        nerr.OutboundBufferLimitError(),
        nerr.MaxPayloadError(),
        nerr.BadSubjectError(),
        nerr.NoRespondersError(),
    ],  # fmt: skip
)
def test_a_publish_refused_before_storing_is_fail(exc):
    assert classify_nats(exc, jetstream=True) is Outcome.FAIL
    assert classify_nats(exc, jetstream=False) is Outcome.FAIL


def test_a_core_publish_on_a_closed_connection_never_left_the_client():
    assert classify_nats(nerr.ConnectionClosedError(), jetstream=False) is Outcome.FAIL


# --- headers ------------------------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30)


@given(
    event_id=_text, key=_text, seq=st.integers(1, 2**53), intended=st.floats(0, 1e6),
    payload=st.binary(max_size=200), msg_id=st.booleans(), poison=st.booleans(),
)  # fmt: skip
def test_nats_headers_round_trip(event_id, key, seq, intended, payload, msg_id, poison):
    event = events.Event(event_id, key, seq, intended, intended + 0.5, payload, poison)
    headers, body = events.encode_nats(event, 0.0, msg_id)
    assert all(isinstance(v, str) for v in headers.values())
    assert (headers.get(events.NATS_MSG_ID_HEADER) == event_id) is msg_id
    decoded = events.decode_nats(headers, body)
    assert (decoded.id, decoded.key, decoded.seq, decoded.payload) == (event_id, key, seq, payload)
    assert decoded.intended == intended and decoded.poison is poison


@given(st.dictionaries(_text, _text, max_size=8), st.binary(max_size=64))
def test_decoding_arbitrary_headers_raises_only_value_errors(headers, payload):
    try:
        events.decode_nats(headers, payload)
    except ValueError:
        pass


# --- run-time checks of the stack ---------------------------------------------------------


def _stack_with(nodes: int, tmp_path: Path):
    from harness.stack import Stack
    from harness.stack.state import StackState

    state = StackState(kafka_brokers=0, rabbitmq=False, kafka_bootstrap=[])
    for n in range(1, nodes + 1):
        state.nodes[f"nats-{n}"] = nats.prepare_node(n, nodes, Path("/bin/true"), tmp_path)
    return Stack(state, tmp_path / "stack.json")


def test_a_run_refuses_a_stack_without_enough_nats_nodes(tmp_path: Path):
    from harness.errors import StackError
    from harness.run.commands import _require_nats

    r3 = parse_scenario(
        NATS_SCENARIO.format(nats="{subject: o, jetstream: true, replicas: 3}"), "x.yaml"
    )
    with pytest.raises(StackError, match="runs none"):
        _require_nats(_stack_with(0, tmp_path), r3)
    with pytest.raises(StackError, match="needs a JetStream stream with 3 replicas"):
        _require_nats(_stack_with(1, tmp_path), r3)
    _require_nats(_stack_with(3, tmp_path), r3)


def test_the_locust_engine_is_refused_on_nats_with_the_reason():
    error = scenario_error("{subject: orders}", "load: {engine: locust}\n")
    assert "load.engine: the Locust engine has users for Kafka and RabbitMQ only, not nats" in error
