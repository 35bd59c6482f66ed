"""Scenarios: the schema, the YAML loader and the Python API for scenarios as code.

    from harness.scenario import load_scenario, load_scenarios, Scenario

``Scenario`` built in Python and ``load_scenario`` on YAML run the same checks, and both raise
one ``ConfigError`` listing every problem. ``Scenario.scaled(0.2)`` shortens a run for CI (and validates the result again).
``check_paths`` validates files and folders without raising, for ``harness validate``.
"""

from harness.scenario.base import Located, ScenarioError
from harness.scenario.durations import Duration, format_duration, parse_duration
from harness.scenario.faults import Fault
from harness.scenario.limits import MAX_SEED, check_scale, parse_scale, parse_seed
from harness.scenario.loader import (
    Checked,
    build_scenario,
    check_paths,
    load_scenario,
    load_scenarios,
    load_suite,
    parse_scenario,
)
from harness.scenario.models import (
    KAFKA_NODES,
    NATS_NODES,
    RABBITMQ_NODES,
    Acks,
    Commit,
    Consumer,
    DeliveryMode,
    Distribution,
    Drain,
    Duplicates,
    Expect,
    KafkaTarget,
    Keys,
    NatsTarget,
    Payload,
    Poison,
    Producer,
    RabbitMQTarget,
    Rate,
    Scenario,
    Shape,
    SizeRange,
    SqsTarget,
    StormSpec,
    SutMode,
    SystemUnderTest,
    Target,
)
from harness.scenario.rates import expected_count
from harness.scenario.thresholds import ANOMALIES, KNOWN_METRICS, Threshold
from harness.vocabulary import Stream, ToxicType

__all__ = [
    "ANOMALIES",
    "KAFKA_NODES",
    "KNOWN_METRICS",
    "MAX_SEED",
    "NATS_NODES",
    "RABBITMQ_NODES",
    "Acks",
    "Checked",
    "Commit",
    "Consumer",
    "DeliveryMode",
    "Distribution",
    "Drain",
    "Duplicates",
    "Duration",
    "Expect",
    "Fault",
    "KafkaTarget",
    "Keys",
    "Located",
    "NatsTarget",
    "SqsTarget",
    "Payload",
    "Poison",
    "Producer",
    "RabbitMQTarget",
    "Rate",
    "Scenario",
    "ScenarioError",
    "Shape",
    "SizeRange",
    "StormSpec",
    "Stream",
    "SutMode",
    "SystemUnderTest",
    "Target",
    "Threshold",
    "ToxicType",
    "build_scenario",
    "check_paths",
    "check_scale",
    "expected_count",
    "format_duration",
    "load_scenario",
    "load_scenarios",
    "load_suite",
    "parse_duration",
    "parse_scale",
    "parse_scenario",
    "parse_seed",
]
