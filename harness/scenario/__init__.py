"""Scenarios: the schema, the YAML loader and the Python API for scenarios as code.

    from harness.scenario import load_scenario, load_scenarios, Scenario

``Scenario`` built in Python and ``load_scenario`` on YAML run the same checks, and both raise
one ``ConfigError`` listing every problem. ``Scenario.scaled(0.2)`` shortens a run for CI.
"""

from harness.scenario.durations import Duration, format_duration, parse_duration
from harness.scenario.faults import Fault
from harness.scenario.loader import build_scenario, load_scenario, load_scenarios, parse_scenario
from harness.scenario.models import (
    KAFKA_NODES,
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
    Payload,
    Poison,
    Producer,
    RabbitMQTarget,
    Rate,
    Scenario,
    Shape,
    SizeRange,
    StormSpec,
    SutMode,
    SystemUnderTest,
    Target,
)
from harness.scenario.thresholds import ANOMALIES, KNOWN_METRICS, Threshold
from harness.vocabulary import Stream, ToxicType

__all__ = [
    "ANOMALIES",
    "KAFKA_NODES",
    "KNOWN_METRICS",
    "RABBITMQ_NODES",
    "Acks",
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
    "Payload",
    "Poison",
    "Producer",
    "RabbitMQTarget",
    "Rate",
    "Scenario",
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
    "format_duration",
    "load_scenario",
    "load_scenarios",
    "parse_duration",
    "parse_scenario",
]
