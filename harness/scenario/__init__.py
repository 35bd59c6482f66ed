"""Scenarios: the schema, the YAML loader and the Python API for scenarios as code.

    from harness.scenario import load_scenario, load_scenarios, Scenario

``Scenario`` built in Python and ``load_scenario`` on YAML run the same checks, and both raise
one ``ConfigError`` listing every problem. ``Scenario.scaled(0.2)`` shortens a run for CI.
"""

from harness.scenario.durations import Duration, format_duration, parse_duration
from harness.scenario.faults import (
    ConsumerCrash,
    DuplicateInjection,
    Fault,
    NodeTarget,
    RollingRestart,
    Stream,
    Toxic,
    ToxicType,
)
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

__all__ = [
    "ANOMALIES",
    "KAFKA_NODES",
    "KNOWN_METRICS",
    "RABBITMQ_NODES",
    "Acks",
    "Commit",
    "Consumer",
    "ConsumerCrash",
    "DeliveryMode",
    "Distribution",
    "Drain",
    "DuplicateInjection",
    "Duplicates",
    "Duration",
    "Expect",
    "Fault",
    "KafkaTarget",
    "Keys",
    "NodeTarget",
    "Payload",
    "Poison",
    "Producer",
    "RabbitMQTarget",
    "Rate",
    "RollingRestart",
    "Scenario",
    "Shape",
    "SizeRange",
    "StormSpec",
    "Stream",
    "SutMode",
    "SystemUnderTest",
    "Target",
    "Threshold",
    "Toxic",
    "ToxicType",
    "build_scenario",
    "format_duration",
    "load_scenario",
    "load_scenarios",
    "parse_duration",
    "parse_scenario",
]
