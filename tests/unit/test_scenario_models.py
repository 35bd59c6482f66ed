"""Scenarios as code, durations, thresholds and scaling."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import ConfigError
from harness.faults import NodeTarget
from harness.scenario import (
    KNOWN_METRICS,
    Fault,
    KafkaTarget,
    Rate,
    Scenario,
    StormSpec,
    Target,
    Threshold,
    build_scenario,
    format_duration,
    parse_duration,
)

BASE = {
    "name": "code",
    "target": {"kafka": {"topic": "orders"}},
    "storm": {"duration": "60s", "rate": {"shape": "constant", "per_second": 100}},
}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("60s", 60.0),
        ("500ms", 0.5),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1m30s", 90.0),
        ("1.5s", 1.5),
        (7, 7.0),
        ("3", 3.0),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "60 sec", "s", "-1s", "1d", True, None, [1]])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@given(st.floats(min_value=0.001, max_value=1e6, allow_nan=False))
def test_format_duration_reads_back(seconds):
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, rel=1e-5)


def test_scenario_from_python_models_equals_from_dict():
    from_models = Scenario(
        name="code",
        target=Target(kafka=KafkaTarget(topic="orders")),
        storm=StormSpec(duration=60, rate=Rate(per_second=100)),
        faults=[
            Fault(
                at=20, kill=NodeTarget(target="leader_of_partition", partition=0), restart_after=15
            )
        ],
        thresholds=["p99_ms < 500"],
    )
    from_dict = build_scenario(
        {
            **BASE,
            "faults": [
                {
                    "at": "20s",
                    "kill": {"target": "leader_of_partition", "partition": 0},
                    "restart_after": "15s",
                }
            ],
            "thresholds": ["p99_ms < 500"],
        }
    )
    assert from_models == from_dict
    assert from_models.faults[0].action == "kill"
    assert from_models.faults[0].length == 15


def test_python_api_raises_config_error_with_paths():
    with pytest.raises(ConfigError) as caught:
        Scenario(**{**BASE, "faults": [{"at": 1, "kill": {"target": "kafka-7"}}]})
    assert str(caught.value) == (
        "<python>: faults[0].kill.target: unknown target 'kafka-7' "
        "(known: kafka-1, kafka-2, kafka-3, leader_of_partition, followers_of_partition, random_broker, all)"
    )
    with pytest.raises(ConfigError, match=r"KafkaTarget.partitions: Input should be greater"):
        KafkaTarget(topic="t", partitions=0)


def test_scaled_shrinks_storm_and_fault_times_but_not_the_drain():
    scenario = build_scenario(
        {
            **BASE,
            "storm": {
                "duration": "60s",
                "rate": {
                    "shape": "spike",
                    "per_second": 100,
                    "spike_at": "10s",
                    "spike_for": "5s",
                    "spike_factor": 3,
                },
            },
            "faults": [
                {
                    "at": "20s",
                    "toxic": {"type": "latency", "target": "all", "attributes": {"latency": 50}},
                    "duration": "4s",
                    "every": "10s",
                    "times": 3,
                }
            ],
            "drain": {"timeout": "30s"},
        }
    )
    small = scenario.scaled(0.2)
    assert small.storm.duration == pytest.approx(12)
    assert (small.storm.rate.spike_at, small.storm.rate.spike_for) == pytest.approx((2, 1))
    fault = small.faults[0]
    assert (fault.at, fault.duration, fault.every, fault.times) == (
        pytest.approx(4),
        pytest.approx(0.8),
        pytest.approx(2),
        3,
    )
    assert fault.starts(small.storm.duration) == pytest.approx([4, 6, 8])
    assert small.drain.timeout == 30
    with pytest.raises(ValueError, match="duration_scale"):
        scenario.scaled(0)


def test_repetition_without_times_runs_until_the_storm_ends():
    fault = Fault(at=10, every=15, pause={"target": "kafka-1"}, resume_after=2)
    assert fault.starts(60) == [10, 25, 40, 55]


@pytest.mark.parametrize(
    ("text", "measured", "holds"),
    [
        ("p99_ms < 500", 499.9, True),
        ("p99_ms < 500", 500, False),
        ("lost == 0", 0, True),
        ("recovery_s <= 10", 10, True),
        ("throughput_per_s >= 900", 899, False),
        ("sent != 0", 3, True),
        ("p99_ms < 5", float("nan"), False),
    ],
)
def test_threshold_parse_and_holds(text, measured, holds):
    assert Threshold.parse(text).holds(measured) is holds


def test_threshold_unknown_metric_lists_known_ones():
    with pytest.raises(ValueError) as caught:
        Threshold.parse("p98_ms < 3")
    assert all(metric in str(caught.value) for metric in KNOWN_METRICS)


def test_threshold_round_trips_as_text():
    scenario = build_scenario({**BASE, "thresholds": ["p99_ms<500", "lost == 0"]})
    dumped = scenario.model_dump(mode="json", by_alias=True)
    assert dumped["thresholds"] == ["p99_ms < 500", "lost == 0"]
    assert dumped["storm"]["duration"] == "60s"
    assert build_scenario(dumped) == scenario


def test_system_under_test_accepts_the_word_harness():
    scenario = build_scenario({**BASE, "system_under_test": "harness"})
    assert scenario.system_under_test.is_builtin


def test_dead_letter_expectation_needs_a_dead_letter_destination():
    with pytest.raises(
        ConfigError,
        match="dlq_missing needs a dead-letter destination: set target.kafka.dead_letter_topic",
    ):
        build_scenario({**BASE, "expect": {"clean": ["dlq_missing"]}})


def test_repetitions_must_not_overlap_or_outlast_the_storm():
    fault = {
        "at": "50s",
        "proxy_down": {"target": "kafka-1"},
        "duration": "5s",
        "every": "4s",
        "times": 4,
    }
    with pytest.raises(ConfigError) as caught:
        build_scenario({**BASE, "faults": [fault]})
    message = str(caught.value)
    assert "faults[0].every: 4s is not longer than the fault (5s)" in message
    assert "faults[0].times: repetition 4 would start at 62s" in message


def test_duplicate_fault_windows_follow_the_timeline():
    from harness.scenario.faults import duplicate_windows

    scenario = build_scenario(
        {
            **BASE,
            "faults": [
                {"at": "10s", "duplicate": {"fraction": 0.2}, "duration": "5s", "every": "20s"},
                {"at": "50s", "duplicate": {"fraction": 0.1}},
            ],
        }
    )
    assert duplicate_windows(scenario.faults, 60.0) == [
        (10.0, 15.0, 0.2),
        (30.0, 35.0, 0.2),
        (50.0, 55.0, 0.2),
        (50.0, 60.0, 0.1),
    ]


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({"at": "1s", "duplicate": {"fraction": 1.5}}, "less than 1"),
        ({"at": "1s", "duplicate": {"fraction": 0.1}, "restart_after": "2s"},
         "does not apply to duplicate; duplicate ends with 'duration'"),
    ],
)  # fmt: skip
def test_duplicate_fault_rejects_bad_fields(fault, message):
    with pytest.raises(ConfigError, match=message):
        build_scenario({**BASE, "faults": [fault]})
