"""A RabbitMQ service as the system under test: its wiring, its reports, what is refused."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from scenario_support import MINIMAL_SCENARIO

from harness.drivers import ListRecorder
from harness.errors import ConfigError, UnsafeTargetError
from harness.scenario import load_scenario, parse_scenario
from harness.stack import Stack
from harness.stack.state import StackState
from harness.sut import AmqpWiring, ReportTally, build_env, build_external_sut, report_to_row
from harness.sut.channels import AmqpReports

REPO = Path(__file__).resolve().parents[2]
URL = "amqp://guest:hunter2@127.0.0.1:5672/%2F"


def rabbit_only_stack(tmp_path: Path) -> Stack:
    """A stack with RabbitMQ and no Kafka broker at all."""
    state = StackState(kafka_brokers=0, rabbitmq=True, kafka_bootstrap=[], rabbitmq_url=URL)
    return Stack(state, tmp_path / "state.json")


@pytest.mark.parametrize("mode", ["buggy", "correct"])
def test_the_shipped_pair_wires_the_example_to_rabbitmq_only(tmp_path: Path, mode: str) -> None:
    scenario = load_scenario(REPO / f"scenarios/rabbitmq-consumer-crash-autoack-{mode}.yaml")
    sut = build_external_sut(
        scenario, rabbit_only_stack(tmp_path), "pay-1-abc", "1-abc", ListRecorder(), tmp_path
    )

    assert sut.process.command == [sys.executable, "examples/rabbitmq_consumer.py"]
    env = sut.process.env
    assert env["HARNESS_AMQP_URL"] == URL
    assert env["HARNESS_QUEUE"] == "pay-1-abc"
    assert env["HARNESS_DLX"] == "pay-1-abc.dlx"
    assert env["HARNESS_DLQ_QUEUE"] == "pay-1-abc.dlq"
    assert env["HARNESS_REPORT_QUEUE"] == "pay-1-abc.report"
    assert env["HARNESS_MODE"] == mode
    assert env["HARNESS_MANUAL_ACK"] == ("true" if mode == "correct" else "false")
    assert env["HARNESS_COMMIT"] == ("after_effect" if mode == "correct" else "auto")
    assert env["HARNESS_PREFETCH"] == "100"
    assert env["HARNESS_QUEUE_DURABLE"] == "true"
    assert env["HARNESS_STATE_DIR"] == str(tmp_path / "sut-state" / "1-abc")
    assert not any(name.startswith("HARNESS_KAFKA") for name in env)
    assert isinstance(sut.channel, AmqpReports)
    assert "hunter2" not in repr(sut.spec.wiring) and "hunter2" not in sut.spec.wiring.describe()


def wiring(url: str = URL) -> AmqpWiring:
    return AmqpWiring(
        amqp_url=url,
        queue="q",
        dlx="q.dlx",
        dlq_queue="q.dlq",
        report_queue="q.report",
        mode="correct",
        state_dir=Path("/tmp/s"),
        consumer="sut",
        run_id="1",
    )


def test_the_amqp_url_is_checked_against_the_allow_list() -> None:
    wiring().check_addresses()
    with pytest.raises(UnsafeTargetError):
        wiring("amqp://guest:guest@10.1.2.3:5672/").check_addresses()


def test_a_scenario_may_not_rewire_the_queue() -> None:
    with pytest.raises(ConfigError, match="HARNESS_QUEUE.*remove them"):
        build_env(wiring(), {"HARNESS_QUEUE": "other"}, {})


def test_rabbitmq_reports_carry_queue_delivery_tag_and_redelivered() -> None:
    report = {"op": "recv", "id": "e1", "t": 2.0, "queue": "q", "delivery_tag": 7}
    expected = {**report, "redelivered": True, "source": "report"}
    assert report_to_row({**report, "redelivered": True}) == expected
    with pytest.raises(ValueError, match="'redelivered' must be true or false"):
        report_to_row({**report, "redelivered": "yes"})


def test_one_message_may_carry_an_array_of_reports() -> None:
    rows = ListRecorder()
    tally = ReportTally(rows)
    batch = [
        {"op": "recv", "id": "e1", "t": 1.0, "rid": "a"},
        {"op": "effect", "id": "e1", "t": 1.1, "rid": "effect:e1"},
        {"op": "effect", "id": "e1", "t": 1.2, "rid": "effect:e1"},  # the same fact again
        "not an object",
    ]
    tally.take(json.dumps(batch).encode())
    assert [r["op"] for r in rows.rows] == ["recv", "effect"]
    assert tally.counts["reports"] == 4 and tally.counts["repeated_reports"] == 1
    assert tally.counts["bad_reports"] == 1


def command(consumer: str, target: str = "") -> str:
    text = MINIMAL_SCENARIO
    if target:
        text = text.replace("  kafka: {topic: orders, partitions: 6}", target)
    return text + f"consumer: {consumer}\nsystem_under_test: {{command: [./svc]}}\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (command("{manual_ack: false}"), "Kafka has no per-message acks"),
        (command("{group: g}", "  rabbitmq: {queue: q}"), "RabbitMQ has no consumer groups"),
        (command("{count: 2}", "  rabbitmq: {queue: q}"), "consumer.count"),
    ],
)
def test_settings_a_command_cannot_receive_are_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_scenario(text)


def test_every_other_setting_reaches_a_rabbitmq_command(tmp_path: Path) -> None:
    scenario = parse_scenario(
        command(
            "{manual_ack: false, commit: auto, prefetch: 7}",
            "  rabbitmq: {queue: q, durable: false}",
        )
    )
    stack = rabbit_only_stack(tmp_path)
    env = build_external_sut(scenario, stack, "q-1", "1", ListRecorder(), tmp_path).process.env
    assert (env["HARNESS_MANUAL_ACK"], env["HARNESS_COMMIT"]) == ("false", "auto")
    assert (env["HARNESS_PREFETCH"], env["HARNESS_QUEUE_DURABLE"]) == ("7", "false")


def test_the_summary_says_how_the_service_acknowledges() -> None:
    from harness.run.artifacts import consumer_fact

    buggy, correct = (
        load_scenario(REPO / f"scenarios/rabbitmq-consumer-crash-autoack-{mode}.yaml")
        for mode in ("buggy", "correct")
    )
    assert consumer_fact(buggy) == (
        "command `python examples/rabbitmq_consumer.py` (buggy), auto-ack, commit auto, "
        "prefetch 100"
    )
    assert "(correct), manual ack, commit after_effect" in consumer_fact(correct)
    assert "ack" not in consumer_fact(parse_scenario(MINIMAL_SCENARIO))  # Kafka: no acks
