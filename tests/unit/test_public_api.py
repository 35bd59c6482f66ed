"""Each package's face: exactly what other packages and users import from it.

A name added to or dropped from a face is an API change: update the literal here on purpose.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import harness

ROOT = Path(__file__).resolve().parents[2]

FACES: dict[str, set[str]] = {
    "harness.explore": {
        "TICK_S",
        "Attempt",
        "PlannedFault",
        "RunResult",
        "Runner",
        "Schedule",
        "Search",
        "SearchError",
        "SearchResult",
        "StormChoice",
        "minimal_yaml",
        "schedules",
        "settings_strategy",
        "summary",
        "to_scenario",
        "write_results",
    },
    "harness.run": {
        "SUMMARY_FORMAT",
        "Knee",
        "RunRecord",
        "RunStatus",
        "Synthetic",
        "check_stack_is_safe",
        "junit",
        "make_run",
        "parse_rates",
        "resolve_seed",
        "run_bench",
        "run_scenario",
        "summary",
        "write_summary",
    },
    "harness.report": {
        "CSS",
        "DEFAULT_TOLERANCE",
        "REPORT_NAME",
        "SUMMARY_NAME",
        "RunView",
        "Side",
        "SuiteEntry",
        "benchmark_json",
        "esc",
        "load_run",
        "load_side",
        "parse_tolerance",
        "render_run",
        "write_index",
    },
    "harness.stack": {
        "ENV_VAR",
        "CommandedNode",
        "EnvFile",
        "NodeControl",
        "env_path",
        "load_env",
        "parse_env",
        "NodeHandle",
        "NodeState",
        "ProxyState",
        "Stack",
        "StackState",
        "controller_leader",
        "followers_of_partition",
        "layout",
        "leader_of_partition",
        "load_state",
        "local",
        "netcut",
        "partition_leaders",
        "process",
    },
    "harness.drivers": {
        "AmqpTarget",
        "CommitPolicy",
        "Consumer",
        "EffectMode",
        "EffectStore",
        "EventLike",
        "FanoutProducerConfig",
        "FanoutProducerDriver",
        "FanoutTopology",
        "GroupOffsets",
        "KafkaConsumerConfig",
        "KafkaConsumerDriver",
        "KafkaProducerConfig",
        "KafkaProducerDriver",
        "ListRecorder",
        "NatsConsumerConfig",
        "NatsConsumerDriver",
        "NatsProducerConfig",
        "NatsProducerDriver",
        "NatsTarget",
        "Outcome",
        "Producer",
        "RabbitConsumerConfig",
        "RabbitConsumerDriver",
        "RabbitPublisherConfig",
        "RabbitPublisherDriver",
        "Recorder",
        "SendLog",
        "SqsConsumerConfig",
        "SqsConsumerDriver",
        "SqsProducerConfig",
        "SqsProducerDriver",
        "SqsTarget",
        "Stage",
        "SubscriberPlan",
        "WebhookConfig",
        "WebhookSender",
        "aws_client",
        "classify_amqp",
        "classify_aws",
        "classify_kafka",
        "classify_nats",
        "classify_sqs",
        "create_topic",
        "group_state",
        "declare_blocking",
        "declare_topology",
        "delete_blocking",
        "delete_queues",
        "delete_stream",
        "delete_topic",
        "ensure_stream",
        "kafka_consumer_driver",
        "nats_consumer_driver",
        "nats_producer_driver",
        "kafka_producer_driver",
        "partition_leaders",
        "rabbitmq_consumer_driver",
        "rabbitmq_producer_driver",
        "send_row",
    },
    "harness.history": {
        "FIELDS",
        "FORMAT_VERSION",
        "HistoryWriter",
        "OPS",
        "PARTIAL_SUFFIX",
        "SCHEMA",
        "STATUSES",
        "conform",
        "merge_histories",
        "partial_path",
        "read_history",
        "read_history_frame",
        "read_jsonl",
        "read_partial",
        "recover_partial",
        "write_jsonl",
    },
    "harness.checks": {
        "ANOMALIES",
        "CheckPolicy",
        "CheckResult",
        "Condition",
        "DEFAULT_ALLOWED",
        "Finding",
        "Guarantee",
        "Prepared",
        "Verdict",
        "check",
        "check_file",
        "evaluate",
        "fault_impacts",
        "judge",
        "latency",
        "prepare",
        "prepare_file",
    },
    "harness.observe": {
        "SOURCE_KINDS",
        "ObserveContext",
        "Observers",
        "Source",
        "build_observers",
        "source_class",
    },
    "harness.sut": {
        "AmqpReportObserver",
        "AmqpWiring",
        "ExternalEndpoint",
        "ExternalSut",
        "ReportObserver",
        "ReportTally",
        "SutProcess",
        "SutSpec",
        "WebhookEndpoint",
        "Wiring",
        "build_env",
        "build_external_sut",
        "report_to_row",
        "resolve_command",
    },
    "harness.webhooks": {
        "PRESETS",
        "REASONS",
        "SCHEMES",
        "RetryPolicy",
        "Scheme",
        "Verification",
        "fresh_secret",
        "header",
        "parse_retry_after",
    },
    "harness.locust": {
        "HarnessUser",
        "HeadlessLocust",
        "KafkaUser",
        "LocustResult",
        "NatsUser",
        "RabbitMQUser",
        "STARTUP_LEAD_S",
        "SendNotAcknowledged",
        "SqsUser",
        "ensure_topic",
        "run_locust_storm",
    },
}

# Resolving these imports Locust, which monkey-patches the whole process with gevent: they are
# checked from the source instead (defined at the top level of the module the face names).
LOCUST_USERS = {
    "HarnessUser", "KafkaUser", "NatsUser", "RabbitMQUser", "SendNotAcknowledged", "SqsUser",
}  # fmt: skip


@pytest.mark.parametrize("face", sorted(FACES))
def test_the_face_exports_exactly_the_expected_names(face: str) -> None:
    exported = importlib.import_module(face).__all__
    assert len(exported) == len(set(exported)), f"{face}.__all__ repeats a name"
    assert set(exported) == FACES[face]


@pytest.mark.parametrize("face", sorted(FACES))
def test_every_exported_name_resolves(face: str) -> None:
    module = importlib.import_module(face)
    for name in FACES[face]:
        if face == "harness.locust" and name in LOCUST_USERS:
            continue
        assert getattr(module, name) is not None, f"{face}.{name}"


def test_the_lazy_locust_users_are_defined_where_the_face_looks() -> None:
    import harness.locust as face

    for name in LOCUST_USERS:
        path = ROOT / "harness" / "locust" / f"{face._FACE[name]}.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined = {n.name for n in tree.body if isinstance(n, ast.ClassDef | ast.FunctionDef)}
        assert name in defined, f"{name} is not defined in {path.name}"


def test_an_unknown_name_of_the_lazy_face_is_an_attribute_error() -> None:
    import harness.locust as face

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        face.Nope  # noqa: B018


def test_the_package_exposes_its_version() -> None:
    assert harness.__all__ == ["__version__"]
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", harness.__version__)
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'version = "{harness.__version__}"' in pyproject
