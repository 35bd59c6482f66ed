"""The ``downstream`` fault kind and downstreams as toxic targets, checked against scenarios."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.faults import history_kind
from harness.faults.actions import describe
from harness.faults.kinds.downstream import DownstreamFault
from harness.scenario import parse_scenario

SCENARIO = """\
name: ok
target:
  kafka: {topic: orders, partitions: 3}
system_under_test:
  command: [python, examples/http_downstream_consumer.py]
observe:
  - name: payments
    downstream: {env: PAYMENTS_URL, id: {jsonpath: "$.event_id"}}
storm:
  duration: 20s
  rate: {shape: constant, per_second: 100}
faults:
"""


def parse(faults: str, scenario: str = SCENARIO):
    return parse_scenario(scenario + faults, "scenarios/x.yaml")


def error_of(faults: str, scenario: str = SCENARIO) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(faults, scenario)
    return str(caught.value)


def test_a_downstream_fault_is_parsed_with_its_window_kind():
    scenario = parse(
        "  - {at: 2s, duration: 3s, downstream: {name: payments, respond: 429, retry_after: 2s}}\n"
        "  - {at: 6s, duration: 1s, downstream: {respond: 200, drop_response: true}}\n"
        "  - {at: 8s, duration: 1s, downstream: {hang: true, fraction: 0.5}}\n"
        "  - {at: 9s, duration: 1s, downstream: {delay: 300ms}}\n"
    )
    kinds = [history_kind(f) for f in scenario.faults]
    assert kinds == [
        "downstream.429",
        "downstream.drop_response",
        "downstream.hang",
        "downstream.delay",
    ]
    assert describe(scenario.faults[0]) == "downstream payments answers 429 retry-after 2s"
    first = scenario.faults[0].settings
    assert (first.status, first.applies, first.retry_after_s) == (429, False, 2)
    assert scenario.faults[1].settings.applies and scenario.faults[1].length == 1.0


def test_network_faults_may_target_the_downstream_by_name():
    scenario = parse(
        "  - {at: 2s, duration: 3s, toxic: {type: timeout, target: payments}}\n"
        "  - {at: 6s, duration: 1s, proxy_down: {target: payments}}\n"
    )
    assert [f.settings.target for f in scenario.faults] == ["payments", "payments"]


def test_a_process_fault_may_not_target_a_downstream():
    assert "unknown target 'payments'" in error_of(
        "  - {at: 2s, restart_after: 3s, kill: {target: payments}}\n"
    )


def test_a_downstream_fault_needs_a_downstream_it_can_name():
    without = SCENARIO.replace(
        '    downstream: {env: PAYMENTS_URL, id: {jsonpath: "$.event_id"}}', "    dead_letters: {}"
    )
    assert "needs a downstream to act on" in error_of(
        "  - {at: 2s, duration: 1s, downstream: {respond: 503}}\n", without
    )
    assert "no downstream is named 'crm' (known: payments)" in error_of(
        "  - {at: 2s, duration: 1s, downstream: {name: crm, respond: 503}}\n"
    )
    two = SCENARIO.replace("storm:", "  - name: crm\n    downstream: {env: CRM_URL}\nstorm:", 1)
    assert "several downstreams: name one of payments, crm" in error_of(
        "  - {at: 2s, duration: 1s, downstream: {respond: 503}}\n", two
    )


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ("{hang: true, drop_response: true}", "set hang or drop_response, not both"),
        ("{respond: 200, retry_after: 2s}", "retry_after goes with a refusal"),
        ("{retry_after: 2s}", "retry_after goes with a refusal"),
        ("{}", "the fault changes nothing"),
        ("{fraction: 0.5}", "the fault changes nothing"),
        ("{respond: 700}", "less than or equal to 599"),
        ("{respond: 503, fraction: 0}", "greater than 0"),
        ("{respond: 503, delay: soon}", "invalid duration"),
        ("{respond: 503, status: 1}", "unknown field"),
    ],
)
def test_a_downstream_fault_that_makes_no_sense_is_refused(settings: str, reason: str):
    assert reason in error_of(f"  - {{at: 2s, duration: 1s, downstream: {settings}}}\n")


def test_retry_after_is_sent_in_whole_seconds_rounded_up():
    seconds = [
        DownstreamFault(respond=429, retry_after=value).retry_after_s
        for value in (0.0, 0.2, 1.0, 1.01, 2.5)
    ]
    assert seconds == [0, 1, 1, 2, 3]
    assert DownstreamFault(respond=503).retry_after_s is None
