"""Fault kinds declare the node controls they need; a fault the environment cannot perform is
refused before the run, naming the fault and the node."""

from __future__ import annotations

import pytest
from scenario_support import MINIMAL_SCENARIO

from harness.errors import ConfigError
from harness.faults import missing_controls
from harness.run.commands import check_faults_possible
from harness.scenario import parse_scenario
from harness.scenario.faults import fault_kinds
from harness.stack import Stack, parse_env

ALL_CONTROLS = "{kill: 'true', pause: 'true', resume: 'true', restart: 'true'}"


def _stack(kafka_1: str = ALL_CONTROLS, kafka_2: str = ALL_CONTROLS) -> Stack:
    text = f"""\
version: 1
toxiproxy: {{api: "http://127.0.0.1:8474"}}
kafka:
  bootstrap: ["127.0.0.1:9091", "127.0.0.1:9092"]
  nodes:
    kafka-1: {{proxy: kafka-1, address: "127.0.0.1:19091", control: {kafka_1}}}
    kafka-2: {{proxy: kafka-2, address: "127.0.0.1:19092", control: {kafka_2}}}
"""
    return Stack.from_env(parse_env(text, "env.yaml"), "env.yaml")


def _scenario(fault: str):  # type: ignore[no-untyped-def]
    return parse_scenario(MINIMAL_SCENARIO + "faults:\n" + fault, "s.yaml")


def test_process_kinds_declare_what_they_need() -> None:
    kinds = fault_kinds()
    assert kinds["kill"].needs == ("kill", "restart")  # type: ignore[attr-defined]
    assert kinds["pause"].needs == ("pause", "resume")  # type: ignore[attr-defined]
    assert kinds["restart"].needs == ("restart",)  # type: ignore[attr-defined]
    assert kinds["rolling_restart"].needs == ("restart",)  # type: ignore[attr-defined]
    assert kinds["toxic"].needs == ()  # type: ignore[attr-defined]


def test_a_node_with_every_control_can_take_every_fault() -> None:
    scenario = _scenario(
        "  - {at: 1s, kill: {target: leader_of_partition, partition: 0}, restart_after: 2s}\n"
        "  - {at: 5s, pause: {target: kafka-2}, resume_after: 2s}\n"
        "  - {at: 9s, rolling_restart: {targets: all}}\n"
    )
    assert missing_controls(scenario, _stack()) == []


def test_a_kill_without_a_restart_command_names_the_fault_and_node() -> None:
    scenario = _scenario("  - {at: 1s, kill: {target: kafka-2}, restart_after: 2s}\n")
    problems = missing_controls(scenario, _stack(kafka_2="{kill: 'true'}"))
    assert len(problems) == 1
    assert problems[0].startswith("ok: faults[0] (kill kafka-2): kafka-2 cannot be restarted")
    assert "'restart'" in problems[0] and "env.yaml" in problems[0]


def test_a_rule_target_needs_the_controls_on_every_broker() -> None:
    scenario = _scenario("  - {at: 1s, pause: {target: random_broker}, resume_after: 2s}\n")
    problems = missing_controls(scenario, _stack(kafka_1="{pause: 'true'}"))
    assert problems == [
        "ok: faults[0] (pause random_broker): kafka-1 cannot be resumed here: env.yaml gives it "
        "no 'resume' command (pause needs pause and resume); add them under its control:"
    ]


def test_network_faults_need_no_control() -> None:
    scenario = _scenario("  - {at: 1s, toxic: {target: kafka-1, type: latency, attributes: {latency: 100}}, "
                         "duration: 2s}\n")  # fmt: skip
    assert missing_controls(scenario, _stack(kafka_1="{}")) == []


def test_a_broker_missing_from_the_env_file_is_a_problem_for_rule_targets() -> None:
    text = """\
version: 1
toxiproxy: {api: "http://127.0.0.1:8474"}
kafka:
  bootstrap: ["127.0.0.1:9091", "127.0.0.1:9092", "127.0.0.1:9093"]
  nodes:
    kafka-1: {address: "127.0.0.1:19091", control: {kill: 'true', restart: 'true'}}
"""
    stack = Stack.from_env(parse_env(text, "env.yaml"), "env.yaml")
    scenario = _scenario(
        "  - {at: 1s, kill: {target: leader_of_partition, partition: 0}, restart_after: 2s}\n"
    )
    (problem,) = missing_controls(scenario, stack)
    assert "lists 1 node(s) for 3 broker(s)" in problem
    named = _scenario("  - {at: 1s, kill: {target: kafka-3}, restart_after: 2s}\n")
    (problem,) = missing_controls(named, stack)
    assert "the environment has no node 'kafka-3'" in problem


def test_the_run_command_refuses_before_anything_runs() -> None:
    scenario = _scenario("  - {at: 1s, kill: {target: kafka-2}, restart_after: 2s}\n")
    with pytest.raises(
        ConfigError, match=r"The environment cannot perform a fault: ok: faults\[0\]"
    ):
        check_faults_possible(_stack(kafka_2="{}"), [scenario])


def test_a_partition_on_an_env_file_stack_is_refused_before_the_run() -> None:
    """No node command can put a remote broker in a cgroup of this host: the whole kind is
    refused for the env backend, up front, whatever its shape."""
    for fault in (
        "  - {at: 1s, partition: {shape: isolate, target: kafka-1}, duration: 2s}\n",
        "  - {at: 1s, partition: {shape: halves}, duration: 2s}\n",
    ):
        problems = missing_controls(_scenario(fault), _stack())
        assert len(problems) == 1, problems
        assert problems[0].startswith("ok: faults[0] (partition: ")
        assert "'env' backend" in problems[0] and "harness stack up" in problems[0]
