"""The HTTP fault point in front of a webhook endpoint, with the real sender behind it and a
small aiohttp endpoint on loopback: it forwards byte for byte, answers a refusing fault itself
(the endpoint never sees those requests), and the sender retries a 503 window, honours a 429's
Retry-After and stops on a 410."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from harness.drivers import ListRecorder
from harness.drivers.webhook import WebhookConfig, WebhookSender
from harness.events import Event
from harness.faults.kinds.downstream import DownstreamFault
from harness.observe.endpoint_front import EndpointFront
from harness.webhooks import SCHEMES, RetryPolicy

SECRET = "whsec_" + base64.b64encode(b"f" * 32).decode()


@dataclass
class Endpoint:
    port: int
    runner: web.AppRunner
    seen: list[tuple[float, str, bytes, dict[str, str]]] = field(default_factory=list)


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    seen: list[tuple[float, str, bytes, dict[str, str]]] = []

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append((time.monotonic(), request.path_qs, body, dict(request.headers)))
        return web.Response(status=202, body=b"taken", headers={"X-Endpoint": "yes"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield Endpoint(port, runner, seen)
    await runner.cleanup()


@pytest.fixture
async def front(endpoint: Endpoint) -> AsyncIterator[EndpointFront]:
    front = EndpointFront(f"127.0.0.1:{endpoint.port}")
    await front.start()
    yield front
    await front.stop()


def event(i: int) -> Event:
    body = f'{{"id":"e{i}","key":"k","seq":{i}}}'.encode()
    return Event(f"e{i}", "k", i, 0.0, 0.0, body)


async def send(front: EndpointFront, events: int, policy: RetryPolicy) -> ListRecorder:
    recorder = ListRecorder()
    config = WebhookConfig(f"{front.url}/hook", SCHEMES["standard"], policy, (SECRET,))
    sender = WebhookSender(config, recorder)
    await sender.start()
    try:
        for i in range(events):
            sender.send(event(i))
        assert await sender.flush(10.0)
    finally:
        await sender.close()
    return recorder


async def test_without_a_fault_it_forwards_the_request_and_the_answer_unchanged(
    endpoint: Endpoint, front: EndpointFront
) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{front.url}/hook?x=1", data=b'{"a":1}', headers={"webhook-id": "msg_1"}
        ) as response:
            assert response.status == 202
            assert await response.read() == b"taken"
            assert response.headers["X-Endpoint"] == "yes"
    ((_, path, body, headers),) = endpoint.seen
    assert (path, body, headers["webhook-id"]) == ("/hook?x=1", b'{"a":1}', "msg_1")


async def test_a_503_window_never_reaches_the_endpoint_and_the_sender_retries_past_it(
    endpoint: Endpoint, front: EndpointFront
) -> None:
    front.misbehave("f1", DownstreamFault(respond=503))
    policy = RetryPolicy(delays=(0.05, 0.1, 0.2, 0.4), connect_timeout=1, total_timeout=2)
    sending = asyncio.create_task(send(front, 3, policy))
    await asyncio.sleep(0.25)
    assert endpoint.seen == []  # every attempt so far was answered by the front
    await front.behave("f1")
    recorder = await sending
    statuses = [a["http_status"] for a in recorder.of("request")]
    assert statuses.count(503) >= 3 and statuses.count(202) == 3
    assert {s["status"] for s in recorder.of("send")} == {"ok"}
    assert len(endpoint.seen) == 3  # each event reached it once, after the window


async def test_the_sender_honours_a_429s_retry_after(
    endpoint: Endpoint, front: EndpointFront
) -> None:
    front.misbehave("f1", DownstreamFault(respond=429, retry_after=1.0))
    policy = RetryPolicy(delays=(0.01, 0.01), connect_timeout=1, total_timeout=2).scaled(0.5)
    sending = asyncio.create_task(send(front, 1, policy))
    await asyncio.sleep(0.1)
    await front.behave("f1")  # healed long before Retry-After (1 s, scaled: 0.5 s) is up
    recorder = await sending
    first, second = recorder.of("request")
    assert (first["http_status"], first["retry_after"], second["http_status"]) == (429, 1, 202)
    assert second["t"] - first["t_ack"] >= 0.5 - 0.01


async def test_the_sender_stops_on_a_410(endpoint: Endpoint, front: EndpointFront) -> None:
    front.misbehave("f1", DownstreamFault(respond=410))
    policy = RetryPolicy(delays=(0.01, 0.01), connect_timeout=1, total_timeout=2)
    recorder = await send(front, 4, policy)
    assert endpoint.seen == []
    sends = recorder.of("send")
    assert {(s["status"], s["reason"]) for s in sends} == {("fail", "disabled")}
    assert len([a for a in recorder.of("request") if a["http_status"] == 410]) >= 1


async def test_a_broken_endpoint_connection_breaks_the_senders_too(endpoint: Endpoint) -> None:
    await endpoint.runner.cleanup()  # nothing listens upstream any more
    front = EndpointFront(f"127.0.0.1:{endpoint.port}")
    await front.start()
    try:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ClientError):
                async with session.post(f"{front.url}/hook", data=b"{}") as response:
                    await response.read()
    finally:
        await front.stop()


def test_it_refuses_an_upstream_off_loopback() -> None:
    with pytest.raises(Exception, match="10.1.2.3"):
        EndpointFront("10.1.2.3:80")
