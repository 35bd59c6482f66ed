"""The recording HTTP downstream's record keeping, through real HTTP calls on loopback.

The server is the harness's own (it is what a service under test calls), so these tests talk to
it with a real aiohttp client; each call takes a millisecond or two.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import pytest

from harness.faults.kinds.downstream import DownstreamFault
from harness.observe.http_server import (
    APPLIED,
    REFUSED,
    REPLAYED,
    REPLAYED_HEADER,
    RecordingServer,
    RequestRecord,
    Screening,
)


def body_id(headers: Mapping[str, str], body: bytes) -> str | None:
    try:
        found = json.loads(body).get("event_id")
    except (ValueError, AttributeError):
        return None
    return found if isinstance(found, str) else None


class Downstream:
    """A server under test with what it recorded, and a client to call it."""

    def __init__(self, server: RecordingServer, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.session = session
        self.requests: list[RequestRecord] = []
        self.effects: list[RequestRecord] = []

    async def call(
        self, event_id: str | None, key: str | None = None, timeout: float = 2.0
    ) -> tuple[int | str, dict[str, str], Any]:
        """(status or the client error's name, headers, JSON body)."""
        headers = {"Idempotency-Key": key} if key else {}
        body = {"event_id": event_id, "amount": 5} if event_id else {"amount": 5}
        try:
            async with self.session.post(
                f"{self.server.url}/v1/charges",
                json=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                return response.status, dict(response.headers), await response.json()
        except (aiohttp.ClientError, TimeoutError) as error:
            return type(error).__name__, {}, None


@pytest.fixture
async def downstream() -> AsyncIterator[Downstream]:
    requests: list[RequestRecord] = []
    effects: list[RequestRecord] = []
    server = RecordingServer(body_id, requests.append, effects.append, rng=random.Random(7))
    await server.start()
    async with aiohttp.ClientSession() as session:
        ds = Downstream(server, session)
        ds.requests, ds.effects = requests, effects
        yield ds
    await server.stop()


def fault(**settings: Any) -> DownstreamFault:
    return DownstreamFault.model_validate(settings)


async def test_a_call_is_applied_once_and_recorded_with_its_attempt(downstream: Downstream):
    status, _, body = await downstream.call("e1")
    assert (status, body) == (200, {"id": "e1", "status": "applied"})
    await downstream.call("e1")
    await downstream.call("e2")
    assert [(r.id, r.attempt, r.outcome, r.status) for r in downstream.requests] == [
        ("e1", 1, APPLIED, 200),
        ("e1", 2, APPLIED, 200),
        ("e2", 1, APPLIED, 200),
    ]
    assert [e.id for e in downstream.effects] == ["e1", "e1", "e2"]  # no key: applied twice
    first = downstream.requests[0]
    assert first.t <= first.t_answer and first.retry_after is None and first.fault is None


async def test_an_idempotency_key_replays_the_first_answer_without_applying_again(
    downstream: Downstream,
):
    first = await downstream.call("e1", key="k-e1")
    again = await downstream.call("e1", key="k-e1")
    assert first[0] == again[0] == 200 and first[2] == again[2]
    assert again[1].get(REPLAYED_HEADER) == "true" and REPLAYED_HEADER not in first[1]
    assert [r.outcome for r in downstream.requests] == [APPLIED, REPLAYED]
    assert [e.id for e in downstream.effects] == ["e1"]
    assert downstream.server.counts[REPLAYED] == 1


async def test_a_refusal_applies_nothing_and_says_when_to_come_back(downstream: Downstream):
    downstream.server.misbehave("f0", fault(respond=429, retry_after="1.2s"))
    status, headers, _ = await downstream.call("e1", key="k1")
    assert (status, headers.get("Retry-After")) == (429, "2")  # whole seconds, rounded up
    await downstream.server.behave("f0")
    downstream.server.misbehave("f1", fault(respond=503))
    assert (await downstream.call("e1", key="k1"))[0] == 503
    await downstream.server.behave("f1")
    assert (await downstream.call("e1", key="k1"))[0] == 200  # a refusal stores no answer
    rows = [(r.outcome, r.status, r.retry_after, r.fault) for r in downstream.requests]
    assert rows == [
        (REFUSED, 429, 2.0, "f0"),
        (REFUSED, 503, None, "f1"),
        (APPLIED, 200, None, None),
    ]
    assert len(downstream.effects) == 1


async def test_a_dropped_answer_is_applied_yet_never_reaches_the_client(downstream: Downstream):
    downstream.server.misbehave("f0", fault(respond=200, drop_response=True))
    assert (await downstream.call("e1"))[0] == "ServerDisconnectedError"
    assert (await downstream.call("e1", key="k1"))[0] == "ServerDisconnectedError"
    assert (await downstream.call("e1", key="k1"))[0] == "ServerDisconnectedError"
    await downstream.server.behave("f0")
    status, headers, _ = await downstream.call("e1", key="k1")
    assert status == 200 and headers.get(REPLAYED_HEADER) == "true"
    assert [(r.outcome, r.status) for r in downstream.requests] == [
        (APPLIED, None),
        (APPLIED, None),
        (REPLAYED, None),
        (REPLAYED, 200),
    ]
    assert len(downstream.effects) == 2  # the keyless call and the first keyed one
    assert downstream.server.counts["unanswered"] == 3


async def test_a_hung_call_ends_when_the_client_gives_up(downstream: Downstream):
    downstream.server.misbehave("f0", fault(respond=503, retry_after="1s", hang=True))
    status, _, _ = await downstream.call("e1", timeout=0.3)
    assert status == "TimeoutError"
    await wait_for(lambda: len(downstream.requests) == 1)
    (hung,) = downstream.requests
    assert hung.status is None and hung.retry_after is None  # the Retry-After never left
    assert hung.t_answer - hung.t >= 0.25 and not downstream.effects


async def test_healing_lets_held_calls_go_and_answers_normally_again(downstream: Downstream):
    downstream.server.misbehave("f0", fault(hang=True))  # applied, then held
    call = asyncio.create_task(downstream.call("e1", timeout=10.0))
    await wait_for(lambda: downstream.server.in_flight() == 1)
    await downstream.server.behave("f0")
    assert (await call)[0] == "ServerDisconnectedError"
    assert (await downstream.call("e2"))[0] == 200
    assert [(r.id, r.outcome, r.status) for r in downstream.requests] == [
        ("e1", APPLIED, None),
        ("e2", APPLIED, 200),
    ]
    assert await downstream.server.wait_idle(1.0)


async def test_a_slow_answer_arrives_after_its_delay(downstream: Downstream):
    downstream.server.misbehave("f0", fault(delay="200ms"))
    assert (await downstream.call("e1"))[0] == 200
    (slow,) = downstream.requests
    assert slow.t_answer - slow.t >= 0.19 and slow.outcome == APPLIED


async def test_the_newest_fault_wins_until_it_heals(downstream: Downstream):
    downstream.server.misbehave("f0", fault(respond=503))
    downstream.server.misbehave("f1", fault(respond=500))
    assert (await downstream.call("e1"))[0] == 500
    await downstream.server.behave("f1")
    assert (await downstream.call("e1"))[0] == 503
    await downstream.server.behave("f0")
    await downstream.server.behave("f0")  # healing twice is harmless
    assert (await downstream.call("e1"))[0] == 200


async def test_a_fraction_of_calls_is_affected(downstream: Downstream):
    downstream.server.misbehave("f0", fault(respond=503, fraction=0.5))
    statuses = [(await downstream.call(f"e{i}"))[0] for i in range(60)]
    refused = statuses.count(503)
    assert 15 <= refused <= 45 and statuses.count(200) == 60 - refused
    assert len(downstream.effects) == 60 - refused


async def test_a_call_naming_no_event_is_refused_and_counted_not_recorded(
    downstream: Downstream,
):
    status, _, body = await downstream.call(None)
    assert status == 400 and "no event id" in body["error"]
    assert downstream.requests == [] and downstream.server.counts["unidentified"] == 1


async def test_stop_lets_held_calls_go_and_is_idempotent():
    requests: list[RequestRecord] = []
    server = RecordingServer(body_id, requests.append, lambda r: None)
    await server.start()
    server.misbehave("f0", fault(respond=503, hang=True))
    async with aiohttp.ClientSession() as session:
        call = asyncio.create_task(
            session.post(f"{server.url}/x", json={"event_id": "e1"}, timeout=None)
        )
        await wait_for(lambda: server.in_flight() == 1)
        await server.stop()
        await server.stop()
        with pytest.raises(aiohttp.ClientError):
            await call
    assert [(r.id, r.status) for r in requests] == [("e1", None)]


async def wait_for(condition: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_a_slow_body_sends_the_status_at_once_and_the_body_over_its_duration(downstream):
    downstream.server.misbehave("f1", fault(slow_body=0.4))
    started = asyncio.get_running_loop().time()
    async with downstream.session.post(
        f"{downstream.server.url}/hooks", json={"event_id": "e1"}
    ) as response:
        headers_after = asyncio.get_running_loop().time() - started
        assert response.status == 200
        body = await response.read()
    body_after = asyncio.get_running_loop().time() - started
    assert json.loads(body)["id"] == "e1"
    assert headers_after < 0.2 <= 0.35 < body_after
    assert [(r.status, r.outcome) for r in downstream.requests] == [(200, APPLIED)]


async def test_a_client_that_gives_up_mid_body_is_recorded_with_the_status_it_saw(downstream):
    downstream.server.misbehave("f1", fault(respond=200, slow_body=5.0))
    assert await downstream.call("e1", timeout=0.3) == ("TimeoutError", {}, None)
    await downstream.server.wait_idle(2.0)
    (record,) = downstream.requests
    assert record.status == 200 and record.t_answer is not None
    assert record.t_answer - record.t < 1.0


async def test_a_screen_refuses_before_any_fault_or_effect_and_its_fields_are_kept():
    requests: list[RequestRecord] = []
    effects: list[RequestRecord] = []

    def screen(headers: Mapping[str, str], body: bytes) -> Screening:
        good = headers.get("X-Sig") == "ok"
        return Screening({"signature": "valid" if good else "mismatch"}, None if good else 401)

    server = RecordingServer(body_id, requests.append, effects.append, screen=screen)
    await server.start()
    server.misbehave("f1", fault(respond=503))
    try:
        async with aiohttp.ClientSession() as session:
            for sig in ("bad", "ok"):
                async with session.post(
                    f"{server.url}/", json={"event_id": "e1"}, headers={"X-Sig": sig}
                ) as response:
                    await response.read()
    finally:
        await server.stop()
    assert [(r.status, r.outcome, r.extra["signature"]) for r in requests] == [
        (401, REFUSED, "mismatch"),
        (503, REFUSED, "valid"),
    ]
    assert [r.attempt for r in requests] == [1, 2] and effects == []
