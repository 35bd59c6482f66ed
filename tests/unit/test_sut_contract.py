"""The external-SUT contract: the environment it gets, how its reports become history rows."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.history import FIELDS
from harness.sut import Wiring, build_env, report_to_row, resolve_command

WIRING = Wiring(
    bootstrap="127.0.0.1:9091,127.0.0.1:9092",
    topic="orders-7-abc",
    group="orders-7-abc",
    mode="buggy",
    report_topic="orders-7-abc.report",
    dlq_topic="orders-7-abc.dlq",
    state_dir=Path("/runs/x/sut-state"),
    consumer="sut",
    run_id="7-abc",
)


def test_env_carries_the_wiring_over_the_base_and_the_scenario_env() -> None:
    env = build_env(WIRING, {"ORDER_CONSUMER_COMMIT_INTERVAL_MS": "3000"}, {"PATH": "/bin"})
    assert env["PATH"] == "/bin"
    assert env["ORDER_CONSUMER_COMMIT_INTERVAL_MS"] == "3000"
    assert env["HARNESS_KAFKA_BOOTSTRAP"] == "127.0.0.1:9091,127.0.0.1:9092"
    assert env["HARNESS_TOPIC"] == "orders-7-abc"
    assert env["HARNESS_GROUP"] == "orders-7-abc"
    assert env["HARNESS_MODE"] == "buggy"
    assert env["HARNESS_REPORT_TOPIC"] == "orders-7-abc.report"
    assert env["HARNESS_DLQ_TOPIC"] == "orders-7-abc.dlq"
    assert env["HARNESS_STATE_DIR"] == "/runs/x/sut-state"
    assert env["HARNESS_RUN_ID"] == "7-abc"
    assert env["PYTHONUNBUFFERED"] == "1"


def test_scenario_env_may_not_rewire_the_system() -> None:
    with pytest.raises(ConfigError, match="HARNESS_GROUP, HARNESS_TOPIC.*remove them"):
        build_env(WIRING, {"HARNESS_TOPIC": "other", "HARNESS_GROUP": "g"}, {})


def test_base_env_defaults_to_the_harness_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUT_TEST_MARKER", "here")
    assert build_env(WIRING, {})["SUT_TEST_MARKER"] == "here"


@pytest.mark.parametrize("word", ["python", "python3"])
def test_bare_python_is_the_harness_interpreter(word: str) -> None:
    assert resolve_command([word, "examples/order_consumer.py"]) == [
        sys.executable,
        "examples/order_consumer.py",
    ]


def test_other_commands_are_kept_and_an_empty_one_is_refused() -> None:
    assert resolve_command(["./bin/orders", "--fast"]) == ["./bin/orders", "--fast"]
    with pytest.raises(ConfigError, match="command is empty"):
        resolve_command([])


REPORT = {
    "op": "effect", "id": "e1-5", "key": "k3", "seq": 4, "partition": 2, "offset": 41,
    "t": 123.5, "consumer": "sut", "group": "g", "worker": "sut-99", "rid": "effect:e1-5",
    "extra": {"ignored": True},
}  # fmt: skip


def test_report_maps_to_a_history_row_with_schema_fields_only() -> None:
    row = report_to_row(REPORT)
    assert row == {
        "op": "effect", "id": "e1-5", "key": "k3", "seq": 4, "partition": 2, "offset": 41,
        "t": 123.5, "consumer": "sut", "group": "g", "worker": "sut-99", "source": "report",
    }  # fmt: skip
    assert FIELDS.issuperset(row)


def test_dead_letter_keeps_its_reason_and_integer_time_becomes_float() -> None:
    row = report_to_row({"op": "dead_letter", "id": "e1", "t": 7, "reason": "not JSON"})
    assert row == {
        "op": "dead_letter",
        "id": "e1",
        "t": 7.0,
        "reason": "not JSON",
        "source": "report",
    }
    assert isinstance(row["t"], float)


def test_ready_is_a_signal_not_a_row() -> None:
    assert report_to_row({"op": "ready", "partitions": [0, 1]}) is None


@pytest.mark.parametrize(
    ("report", "problem"),
    [
        ({"op": "ack", "id": "e1", "t": 1.0}, "op 'ack' is not one of"),
        ({"op": "recv", "t": 1.0}, "needs the event's 'id'"),
        ({"op": "recv", "id": "e1"}, "field 't' must be"),
        ({"op": "recv", "id": "e1", "t": "soon"}, "field 't' must be"),
        ({"op": "recv", "id": "e1", "t": 1.0, "offset": "41"}, "'offset' must be an integer"),
        ({"op": "recv", "id": "e1", "t": 1.0, "seq": True}, "'seq' must be an integer"),
    ],
)
def test_malformed_reports_are_named(report: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        report_to_row(report)
