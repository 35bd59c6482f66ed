"""SNS/EventBridge fan-out: the scenario model, subscriber message parsing, the per-subscriber
checks on literal histories, and the boto error mapping."""

from __future__ import annotations

import json
from typing import Any

import botocore.exceptions as berr
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.checks import check
from harness.drivers.outcomes import Outcome, classify_aws
from harness.errors import ConfigError
from harness.observe.kinds.sns_subscriber import event_id
from harness.scenario import build_scenario
from harness.scenario.fanout import SnsTarget, Subscriber, key_index
from tests.unit.test_checks_cases import recv, send


def declare(group: str, keys: list[str]) -> dict[str, Any]:
    policy = json.dumps({"subscriber": {"group": group, "keys": keys}})
    return {"op": "observe", "kind": "recv", "target": group, "t_start": 0.5,
            "source": f"observe:subscriber-{group}", "policy": policy}  # fmt: skip


def got(i: str, group: str, key: str) -> dict[str, Any]:
    return recv(i, 2.0, key=key, group=group, source=f"observe:subscriber-{group}")


def test_a_declared_subscriber_that_received_nothing_has_lost_everything_owed_to_it() -> None:
    rows = [declare("a", ["k"]), declare("b", ["k"]), send("e1", key="k"), send("e2", 2, key="k")]
    result = check(pd.DataFrame([*rows, got("e1", "a", "k"), got("e2", "a", "k")]))
    assert result.anomalies["lost"] == 2
    assert result.counts["subscriber:b:lost"] == 2
    assert result.counts["subscriber:a:lost"] == 0
    assert "out_of_order" in result.skipped


def test_an_event_a_subscriber_should_not_get_is_unexpected_for_it_only() -> None:
    rows = [declare("eu", ["k-0"]), declare("all", ["k-0", "k-1"]),
            send("e1", key="k-0"), send("e2", key="k-1")]  # fmt: skip
    received = [got("e1", "eu", "k-0"), got("e2", "eu", "k-1"),
                got("e1", "all", "k-0"), got("e2", "all", "k-1")]  # fmt: skip
    result = check(pd.DataFrame([*rows, *received]))
    assert result.anomalies["unexpected"] == 1
    assert result.examples["unexpected"] == ["e2"]
    assert result.counts["subscriber:eu:unexpected"] == 1
    assert result.counts["subscriber:all:unexpected"] == 0
    assert result.anomalies["lost"] == 0


def test_an_id_never_sent_is_still_unexpected() -> None:
    rows = [declare("a", ["k"]), send("e1", key="k"), got("e1", "a", "k"), got("zz", "a", "k")]
    assert check(pd.DataFrame(rows)).anomalies["unexpected"] == 1


def test_attribute_values_follow_the_key_index() -> None:
    target = SnsTarget(topic="t", values=["eu", "us"], subscribers=[Subscriber(name="a")])
    assert [target.value_of(k) for k in ("key-0", "key-1", "key-2", "key-13")] == [
        "eu", "us", "eu", "us"
    ]  # fmt: skip
    eu = Subscriber(name="eu", expect=["eu"])
    assert target.expected_keys(eu, ["key-0", "key-1", "key-2"]) == ["key-0", "key-2"]
    assert key_index("odd") == 0


def _scenario(target: dict[str, Any]) -> dict[str, Any]:
    return {"name": "x", "target": target,
            "storm": {"duration": 1, "rate": {"shape": "constant", "per_second": 10}}}  # fmt: skip


def test_a_valid_sns_scenario_builds() -> None:
    subs = [{"name": "eu", "filter_policy": {"region": ["eu"]}, "expect": ["eu"]}]
    scenario = build_scenario(_scenario({"sns": {"topic": "orders", "subscribers": subs}}))
    assert scenario.target.kind == "sns"
    assert scenario.target.nodes == ("moto",)


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ({"sns": {"topic": "o", "subscribers": [{"name": "a", "pattern": {}}]}}, "filter_policy"),
        ({"eventbridge": {"bus": "o", "subscribers": [{"name": "a", "filter_policy": {}}]}},
         "pattern"),
        ({"sns": {"topic": "o", "subscribers": [{"name": "a"}, {"name": "a"}]}}, "differ"),
        ({"sns": {"topic": "o", "subscribers": [{"name": "a", "expect": ["mars"]}]}}, "mars"),
        ({"sns": {"topic": "o", "subscribers": [{"name": "a b"}]}}, "subscriber name"),
        ({"sns": {"topic": "o", "subscribers": []}}, "subscribers"),
    ],
)  # fmt: skip
def test_bad_fanout_targets_get_one_clear_error(target: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        build_scenario(_scenario(target))


def test_subscriber_messages_give_their_event_id() -> None:
    assert event_id(json.dumps({"id": "e1", "key": "k"})) == "e1"
    assert event_id(json.dumps({"source": "s", "detail": {"id": "e2"}})) == "e2"
    assert event_id("not json") is None
    assert event_id("[1, 2]") is None
    assert event_id(json.dumps({"id": 3})) is None


@given(st.text(max_size=200))
def test_the_subscriber_message_parser_never_raises(body: str) -> None:
    found = event_id(body)
    assert found is None or isinstance(found, str)


def test_aws_errors_map_to_outcomes() -> None:
    refused = berr.ClientError({"Error": {"Code": "NotFound"},
                                "ResponseMetadata": {"HTTPStatusCode": 404}}, "Publish")  # fmt: skip
    broken = berr.ClientError({"Error": {"Code": "InternalError"},
                               "ResponseMetadata": {"HTTPStatusCode": 500}}, "Publish")  # fmt: skip
    assert classify_aws(refused) is Outcome.FAIL
    assert classify_aws(broken) is Outcome.UNKNOWN
    assert classify_aws(berr.EndpointConnectionError(endpoint_url="http://x")) is Outcome.FAIL
    assert classify_aws(berr.ReadTimeoutError(endpoint_url="http://x")) is Outcome.UNKNOWN
    assert classify_aws(RuntimeError("?")) is Outcome.UNKNOWN
