"""Pub/Sub push without an emulator: the scenario's ``push:`` block, the push endpoint's
loopback check, and the receiver's HTTP side (the real recording server on loopback, fed
push bodies as the emulator sends them): one recv per push with the message id as position,
effects once (correct) or per accepted copy (buggy), poison acked and dead-lettered, and a
``downstream`` fault's 500 leaving a message unacked."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from harness import events
from harness.drivers import EffectMode
from harness.drivers.pubsub_target import PubsubTarget, check_push_endpoint
from harness.errors import ConfigError, UnsafeTargetError
from harness.faults.kinds.downstream import DownstreamFault
from harness.observe.pubsub_push import PubsubPushReceiver, PushReceiverConfig, pushed_id
from harness.scenario import parse_scenario

SCENARIO = """\
name: ok
target:
  pubsub: {block}
storm:
  duration: 10s
  rate: {{shape: constant, per_second: 100}}
"""


def scenario(block: str, extra: str = ""):
    return parse_scenario(SCENARIO.format(block=block) + extra, "x.yaml")


def scenario_error(block: str, extra: str = "") -> str:
    with pytest.raises(ConfigError) as caught:
        scenario(block, extra)
    return str(caught.value)


def test_a_push_block_parses_with_loopback_defaults():
    push = scenario("{topic: orders, push: {}}").target.pubsub.push
    assert (push.host, push.port, push.path) == ("127.0.0.1", 0, "/pubsub/push")


@pytest.mark.parametrize(
    ("block", "fragment"),
    [
        ("{topic: orders, push: {host: 10.0.0.5}}", "not a loopback address"),
        ("{topic: orders, push: {host: example.com}}", "not a loopback address"),
        ("{topic: orders, push: {path: nope}}", "path"),
        ("{topic: orders, push: {port: 70000}}", "port"),
        ("{topic: orders, push: {}, process_ms: 5}", "slow the push receiver"),
    ],
)
def test_bad_push_blocks_get_one_clear_error(block: str, fragment: str):
    message = scenario_error(block)
    assert fragment in message and "x.yaml:" in message and "Traceback" not in message


PUSH_FAULT = """\
faults:
  - at: 1s
    downstream: {name: push, respond: 500}
    duration: 1s
"""


def test_a_downstream_fault_may_name_the_push_receiver():
    assert scenario("{topic: orders, push: {}}", PUSH_FAULT).faults[0].action == "downstream"


def test_without_push_there_is_no_push_receiver_to_fault():
    assert "needs a downstream" in scenario_error("{topic: orders}", PUSH_FAULT)


@pytest.mark.parametrize(
    "url", ["https://127.0.0.1:9/x", "http://127.0.0.1/x", "ftp://127.0.0.1:9/", "nonsense"]
)
def test_a_push_endpoint_is_plain_http_with_a_port(url: str):
    with pytest.raises(ConfigError, match="push endpoint"):
        check_push_endpoint(url)


def test_a_remote_push_endpoint_is_refused():
    with pytest.raises(UnsafeTargetError):
        PubsubTarget(topic="orders", subscription="orders-sub",
                     push_endpoint="http://203.0.113.9:8080/push")  # fmt: skip


def test_the_message_id_is_read_under_either_spelling():
    assert pushed_id({"messageId": "7"}) == "7" and pushed_id({"message_id": "8"}) == "8"
    assert pushed_id({"data": ""}) is None


def push_body(message_id: str, event_id: str = "e-1", poison: bool = False) -> bytes:
    payload = b"not json" if poison else json.dumps({"id": event_id}).encode()
    event = events.Event(event_id, "k1", 3, 1.0, 1.5, payload, poison)
    attributes, data = events.encode_nats(event, 0.0, False)
    message = {"messageId": message_id, "message_id": message_id, "attributes": attributes,
               "data": base64.b64encode(data).decode()}  # fmt: skip
    return json.dumps({"message": message, "subscription": "projects/p/subscriptions/s"}).encode()


class Rows(list[dict[str, Any]]):
    def of(self, op: str) -> list[dict[str, Any]]:
        return [row for row in self if row["op"] == op]


async def receiver(mode: EffectMode) -> tuple[PubsubPushReceiver, Rows]:
    rows = Rows()
    target = PubsubTarget(topic="orders", subscription="orders-sub")
    push = PubsubPushReceiver(PushReceiverConfig(target=target, mode=mode), rows)
    await push._listen()  # the HTTP side only: no emulator to point at it
    return push, rows


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(http: aiohttp.ClientSession, push: PubsubPushReceiver, body: bytes) -> int:
    async with http.post(push.url, data=body) as answer:
        return answer.status


@pytest.mark.parametrize(("mode", "effects"), [(EffectMode.CORRECT, 1), (EffectMode.BUGGY, 2)])
async def test_a_redelivered_push_is_two_recvs_and_one_or_two_effects(
    http: aiohttp.ClientSession, mode: EffectMode, effects: int
):
    push, rows = await receiver(mode)
    try:
        assert [await post(http, push, push_body("41")) for _ in range(2)] == [200, 200]
    finally:
        await push.close()
    recvs = rows.of("recv")
    assert [(r["id"], r["msg_id"], r["offset"], r["attempt"]) for r in recvs] == [
        ("e-1", "41", 41, 1), ("e-1", "41", 41, 2)
    ]  # fmt: skip
    assert recvs[1]["redelivered"] and recvs[0]["queue"] == "orders-sub"
    assert len(rows.of("effect")) == effects
    assert push.stats()["received"] == 1 and push.stats()["deliveries"] == 2


async def test_a_poison_push_is_acked_and_dead_lettered_never_applied(
    http: aiohttp.ClientSession,
):
    push, rows = await receiver(EffectMode.CORRECT)
    try:
        assert await post(http, push, push_body("5", "e-poison", poison=True)) == 200
    finally:
        await push.close()
    assert [r["op"] for r in rows] == ["recv", "dead_letter"]
    assert rows[1]["id"] == "e-poison" and push.stats()["dead_lettered"] == 1


async def test_a_push_without_a_message_id_is_answered_400_and_not_recorded(
    http: aiohttp.ClientSession,
):
    push, rows = await receiver(EffectMode.CORRECT)
    try:
        assert await post(http, push, b'{"message": {"data": ""}}') == 400
        assert await post(http, push, b"not json") == 400
    finally:
        await push.close()
    assert rows == [] and push.stats()["unidentified"] == 2


async def test_a_500_fault_leaves_the_message_unacked_until_it_heals(
    http: aiohttp.ClientSession,
):
    push, rows = await receiver(EffectMode.BUGGY)
    try:
        push.misbehave("f1", DownstreamFault(name="push", respond=500))
        assert await post(http, push, push_body("9")) == 500
        assert push.stats()["received"] == 0 and rows.of("effect") == []
        await push.behave("f1")
        assert await post(http, push, push_body("9")) == 200
    finally:
        await push.close()
    assert len(rows.of("recv")) == 2 and len(rows.of("effect")) == 1
    assert push.stats()["refused"] == 1


async def test_a_crash_and_restart_listen_again_on_the_same_port_with_the_fault_kept(
    http: aiohttp.ClientSession,
):
    push, _rows = await receiver(EffectMode.CORRECT)
    url = push.url
    try:
        push.misbehave("f1", DownstreamFault(name="push", respond=503))
        await push.crash()
        with pytest.raises(aiohttp.ClientConnectionError):
            await post(http, push, push_body("1"))
        await push.restart()
        assert push.url == url
        assert await post(http, push, push_body("1")) == 503
    finally:
        await push.close()


def test_the_summary_says_a_push_receiver_consumed():
    from harness.run.artifacts import consumer_fact

    fact = consumer_fact(scenario("{topic: orders, push: {}}"))
    assert fact == "built-in push receiver (correct), acked by an answer 2xx"
