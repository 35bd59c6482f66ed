"""SNS fan-out and EventBridge rules on the real moto emulator the stack starts.

The stack node (readiness through its proxy, kill and restart, a proxy cut failing publishes
with ``fail``), then the shipped pairs run by ``harness run``: one lost subscription (or rule)
among three is ``lost`` for that subscriber only; a leaking filter policy (or rule pattern) is
``unexpected`` for that subscriber only; the correct configurations are clean. moto is slow
on a loaded machine (about a minute a run here), so one scenario of each kind runs here (SNS
for the failing halves, SNS and EventBridge for the passing ones); the EventBridge failing
halves ship beside them and run with `harness run`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.drivers import (
    FanoutProducerConfig,
    FanoutProducerDriver,
    FanoutTopology,
    ListRecorder,
    SubscriberPlan,
)
from harness.stack import Stack, moto
from tests.integration.integration_support import harness_run, make_events, wait_for

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@pytest.fixture(autouse=True)
def _heal_after_each_test(moto_stack: Stack) -> Iterator[None]:
    yield
    moto_stack.heal()


def _subscribers(summary: dict[str, Any], name: str) -> dict[str, int]:
    prefix = "subscriber:"
    found: dict[str, dict[str, int]] = {}
    for key, value in summary["counts"].items():
        if key.startswith(prefix):
            sub, what = key[len(prefix) :].rsplit(":", 1)
            found.setdefault(sub, {})[what] = value
    return {sub: counts[name] for sub, counts in found.items()}


def test_moto_answers_through_its_proxy_and_comes_back_after_a_pause_and_a_kill(
    moto_stack: Stack,
):
    handle = moto_stack.nodes["moto"]
    proxied = handle.state.ports["proxy"]
    assert moto.ready(proxied)
    handle.pause()
    try:
        assert not moto.ready(proxied, timeout=0.5)
    finally:
        handle.resume()
    wait_for(lambda: moto.ready(proxied), 15, "moto to answer again after SIGCONT")
    handle.kill()
    wait_for(lambda: not moto.ready(proxied, timeout=0.5), 15, "moto to stop answering")
    handle.restart()
    wait_for(lambda: moto.ready(proxied), 30, "moto to answer again via its proxy")


def test_a_cut_proxy_fails_publishes_and_healing_restores_them(moto_stack: Stack):
    topology = FanoutTopology(
        "sns", moto_stack.moto_endpoint, "cut-check", (SubscriberPlan("only", "cut-check-only"),)
    )
    topology.create()
    recorder = ListRecorder()
    config = FanoutProducerConfig(topology, "region", lambda key: "eu", publish_timeout_s=1.0)

    async def go() -> None:
        async with FanoutProducerDriver(config, recorder) as producer:
            events = make_events(6)
            with moto_stack.toxiproxy() as toxiproxy:
                toxiproxy.set_enabled("moto", False)
                for event in events[:3]:
                    producer.send(event)
                assert await producer.flush(20)
                toxiproxy.set_enabled("moto", True)
            for event in events[3:]:
                producer.send(event)
            assert await producer.flush(20)

    try:
        asyncio.run(go())
    finally:
        topology.delete()
    statuses = [r["status"] for r in recorder.of("send")]
    assert sorted(statuses[:3]) == ["fail", "fail", "fail"], recorder.of("send")[:3]
    assert statuses[3:] == ["ok", "ok", "ok"]


@pytest.mark.parametrize("name", ["sns-fanout-lost-subscription"])
def test_one_lost_subscription_is_lost_for_that_subscriber_only(
    moto_stack: Stack, tmp_path: Path, name: str
):
    summary = harness_run(SCENARIOS / f"{name}.yaml", tmp_path, seed=5)
    sent = summary["counts"]["sends_ok"]
    assert sent > 0
    assert _subscribers(summary, "lost") == {"audit": sent, "billing": 0, "shipping": 0}
    assert summary["anomalies"]["lost"] == sent
    assert summary["anomalies"]["unexpected"] == 0


def test_every_subscription_in_place_loses_nothing(moto_stack: Stack, tmp_path: Path):
    summary = harness_run(SCENARIOS / "sns-fanout-complete.yaml", tmp_path, seed=5)
    sent = summary["counts"]["sends_ok"]
    assert _subscribers(summary, "received") == {"audit": sent, "billing": sent, "shipping": sent}
    assert summary["anomalies"]["lost"] == 0


@pytest.mark.parametrize("name", ["sns-filter-policy-leaks", "eventbridge-rule-pattern-leaks"])
def test_a_leaking_policy_is_unexpected_for_that_subscriber_only(
    moto_stack: Stack, tmp_path: Path, name: str
):
    summary = harness_run(SCENARIOS / f"{name}.yaml", tmp_path, seed=5)
    unexpected = _subscribers(summary, "unexpected")
    leaked = unexpected.pop("eu-orders")
    assert leaked > 0 and set(unexpected.values()) == {0}, unexpected
    assert summary["anomalies"]["unexpected"] == leaked
    assert set(_subscribers(summary, "lost").values()) == {0}


@pytest.mark.parametrize("name", ["sns-filter-policy-correct", "eventbridge-rule-pattern-correct"])
def test_the_correct_policy_delivers_exactly_what_each_subscriber_expects(
    moto_stack: Stack, tmp_path: Path, name: str
):
    summary = harness_run(SCENARIOS / f"{name}.yaml", tmp_path, seed=5)
    assert set(_subscribers(summary, "unexpected").values()) == {0}
    assert set(_subscribers(summary, "lost").values()) == {0}
    received = _subscribers(summary, "received")
    sent = summary["counts"]["sends_ok"]
    assert received["eu-orders"] + received["us-orders"] == sent
    assert min(received["eu-orders"], received["us-orders"]) > 0
