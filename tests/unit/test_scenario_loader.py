"""The YAML loader: shipped scenarios load; malformed ones fail with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from scenario_support import MINIMAL_SCENARIO

from harness.errors import ConfigError
from harness.scenario import load_scenario, load_scenarios, parse_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SHIPPED = sorted(SCENARIOS.glob("*.yaml"))

VALID = MINIMAL_SCENARIO


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_scenario(text, "scenarios/x.yaml")
    return str(caught.value)


def test_shipped_library_has_the_issue_scenarios():
    names = {p.stem for p in SHIPPED}
    assert {
        "kafka-leader-kill-acks1",
        "kafka-leader-kill-acks-all",
        "kafka-consumer-crash-before-commit-buggy",
        "kafka-consumer-crash-before-commit-correct",
        "rabbitmq-kill-no-confirms",
        "rabbitmq-kill-confirms-durable",
        "kafka-latency-spike",
        "poison-events-dlq",
    } <= names


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_scenario_loads_named_after_its_file(path):
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.expect.finds or scenario.expect.clean
    scaled = scenario.scaled(0.3)
    assert scaled.storm.duration == pytest.approx(scenario.storm.duration * 0.3)


def test_load_scenarios_reads_a_directory_sorted():
    scenarios = load_scenarios([SCENARIOS])
    assert [s.name for s in scenarios] == [p.stem for p in SHIPPED]


def test_load_scenarios_rejects_duplicate_names(tmp_path):
    (tmp_path / "a.yaml").write_text(VALID)
    (tmp_path / "b.yaml").write_text(VALID)
    with pytest.raises(ConfigError, match=r"b.yaml:1: name: 'ok' is also used by .*a.yaml"):
        load_scenarios([tmp_path])


def test_load_scenarios_gathers_errors_of_all_files(tmp_path):
    (tmp_path / "a.yaml").write_text(VALID.replace("1000", "-1"))
    (tmp_path / "b.yaml").write_text(VALID.replace("60s", "soon"))
    message = str(pytest.raises(ConfigError, load_scenarios, [tmp_path]).value)
    assert "a.yaml:6: storm.rate.per_second" in message
    assert "b.yaml:5: storm.duration" in message


def test_missing_file_and_empty_directory(tmp_path):
    with pytest.raises(ConfigError, match="no such scenario file"):
        load_scenarios([tmp_path / "nope.yaml"])
    with pytest.raises(ConfigError, match="no scenario files"):
        load_scenarios([tmp_path])
    with pytest.raises(ConfigError, match="cannot read the scenario"):
        load_scenario(tmp_path / "nope.yaml")


MALFORMED = [
    # (what, YAML, expected fragment of the message)
    ("yaml syntax", "name: [ok\n", "scenarios/x.yaml:2: not valid YAML"),
    ("not a mapping", "- a\n- b\n", "scenarios/x.yaml:1: the scenario must be a YAML mapping"),
    ("duplicate key", VALID + "name: again\n", "scenarios/x.yaml:7: not valid YAML"),
    (
        "unknown field",
        VALID.replace("partitions: 6", "partitionz: 6"),
        "scenarios/x.yaml:3: target.kafka.partitionz: unknown field (known: topic, partitions,",
    ),
    (
        "bad duration",
        VALID.replace("60s", "60 sec"),
        "scenarios/x.yaml:5: storm.duration: invalid duration '60 sec'",
    ),
    (
        "unknown shape",
        VALID.replace("constant", "wobble"),
        "scenarios/x.yaml:6: storm.rate.shape: Input should be 'constant'",
    ),
    (
        "missing storm",
        "name: ok\ntarget:\n  kafka: {topic: orders}\n",
        "scenarios/x.yaml:1: storm: required field is missing",
    ),
    (
        "unknown kill target",
        VALID + "faults:\n  - at: 20s\n    kill: {target: kafka-9}\n    restart_after: 5s\n",
        "scenarios/x.yaml:9: faults[0].kill.target: unknown target 'kafka-9' (known: kafka-1, "
        "kafka-2, kafka-3, leader_of_partition, followers_of_partition, random_broker, all)",
    ),
    (
        "fault after the storm",
        VALID + "faults:\n  - at: 70s\n    pause: {target: kafka-1}\n",
        "scenarios/x.yaml:8: faults[0].at: 70s is not before the end of the storm (60s)",
    ),
    (
        "partition out of range",
        VALID + "faults:\n  - at: 5s\n    kill: {target: leader_of_partition, partition: 6}\n",
        "scenarios/x.yaml:9: faults[0].kill.partition: partition 6 does not exist",
    ),
    (
        "replication factor above the brokers",
        VALID.replace("partitions: 6", "replication_factor: 4"),
        "scenarios/x.yaml:3: target.kafka.replication_factor: 4 exceeds the stack's 3 brokers",
    ),
    (
        "unknown threshold metric",
        VALID + "thresholds:\n  - p98_ms < 5\n",
        "scenarios/x.yaml:8: thresholds[0]: unknown metric 'p98_ms'",
    ),
    (
        "unknown anomaly",
        VALID + "expect:\n  finds: [lots]\n",
        "scenarios/x.yaml:8: expect.finds: unknown anomaly 'lots'",
    ),
    (
        "rate field unused by the shape",
        VALID.replace("per_second: 1000", "per_second: 1000, spike_at: 5s"),
        "scenarios/x.yaml:6: storm.rate.spike_at: not used by shape: constant",
    ),
    (
        "wrong end field",
        VALID + "faults:\n  - at: 5s\n    kill: {target: kafka-1}\n    duration: 5s\n",
        "scenarios/x.yaml:10: faults[0].duration: does not apply to kill; kill ends with 'restart_after'",
    ),
    (
        "two actions",
        VALID + "faults:\n  - at: 5s\n    kill: {target: kafka-1}\n    pause: {target: kafka-2}\n",
        "scenarios/x.yaml:8: faults[0]: set exactly one action",
    ),
    (
        "toxic attribute",
        VALID
        + "faults:\n  - at: 5s\n    duration: 2s\n    toxic:\n      type: latency\n"
        + "      target: kafka-1\n      attributes: {latncy: 100}\n",
        "scenarios/x.yaml:13: faults[0].toxic.attributes.latncy: not an attribute of a latency toxic",
    ),
    (
        "followers without partition",
        VALID
        + "faults:\n  - at: 5s\n    resume_after: 2s\n"
        + "    pause: {target: followers_of_partition}\n",
        "scenarios/x.yaml:10: faults[0].pause.partition: followers_of_partition needs 'partition: P'",
    ),
    (
        "auto-commit with the built-in Kafka consumer",
        VALID + "consumer: {commit: auto}\n",
        "scenarios/x.yaml:7: consumer.commit: the built-in Kafka consumer commits by hand",
    ),
    (
        "several built-in consumers",
        VALID + "consumer: {count: 3}\n",
        "scenarios/x.yaml:7: consumer.count: a run drives one consumer member",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_scenario_names_file_line_and_field(text, expected):
    assert expected in error_of(text)


def test_kafka_only_fault_on_rabbitmq():
    text = """\
name: r
target:
  rabbitmq: {queue: q}
producer: {acks: 1}
storm: {duration: 10s, rate: {per_second: 10}}
faults:
  - at: 1s
    kill: {target: leader_of_partition, partition: 0}
"""
    message = error_of(text)
    assert (
        "scenarios/x.yaml:4: producer.acks: a Kafka producer setting; this scenario targets rabbitmq"
        in message
    )
    assert (
        "scenarios/x.yaml:8: faults[0].kill.target: leader_of_partition needs a Kafka target"
        in message
    )


def test_every_problem_is_reported_not_just_the_first():
    text = VALID.replace("partitions: 6", "replication_factor: 5, min_insync_replicas: 6")
    text += "producer: {acks: 1, enable_idempotence: true}\n"
    text += "faults:\n  - at: 90s\n    restart: {target: rabbitmq}\n"
    message = error_of(text)
    assert message.startswith("5 problems in scenarios/x.yaml:")
    for fragment in (
        "target.kafka.replication_factor",
        "target.kafka.min_insync_replicas",
        "producer.enable_idempotence: an idempotent producer needs acks: all",
        "faults[0].at",
        "faults[0].restart.target: unknown target 'rabbitmq'",
    ):
        assert fragment in message
