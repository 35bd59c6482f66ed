"""Provider behaviours on the timeline (``webhook_delivery``): the scenario's settings, and the
real sender holding, shuffling, bursting and delaying deliveries to a loopback endpoint."""

from __future__ import annotations

import asyncio
import json
import random
import time

import pytest
from aiohttp import web

from harness.drivers import ListRecorder
from harness.drivers.webhook import WebhookConfig, WebhookSender
from harness.faults.kinds.webhook_delivery import KIND, WebhookDelivery
from harness.scenario import Scenario
from harness.webhooks import SCHEMES, RetryPolicy
from tests.unit.test_webhook_sender import SECRET, event

WEBHOOK = {"webhook": {"url": "http://127.0.0.1:18090/h", "secret_env": ["S"]}}
KAFKA = {"kafka": {"topic": "t"}}


def scenario(target: dict, settings: dict) -> dict:
    return {
        "name": "w",
        "target": target,
        "storm": {"duration": "2s", "rate": {"per_second": 1}},
        "faults": [{"at": "1s", "duration": "500ms", "webhook_delivery": settings}],
    }


def test_the_behaviours_parse_and_name_their_history_kind() -> None:
    for behaviour in ("out_of_order", "burst"):
        parsed = Scenario.model_validate(scenario(WEBHOOK, {"behaviour": behaviour}))
        settings = WebhookDelivery.model_validate(parsed.faults[0].settings)
        assert KIND.history_kind(settings) == f"webhook.{behaviour}"
    late = WebhookDelivery(behaviour="late", delay="2s")
    assert late.delay == 2.0 and KIND.describe(late) == "webhook_delivery late 2s"


@pytest.mark.parametrize(
    ("target", "settings", "message"),
    [
        (KAFKA, {"behaviour": "burst"}, "needs a webhook target"),
        (WEBHOOK, {"behaviour": "late"}, "late needs a delay"),
        (WEBHOOK, {"behaviour": "burst", "delay": "1s"}, "delay goes with behaviour: late"),
        (WEBHOOK, {"behaviour": "sideways"}, "behaviour"),
    ],
)
def test_bad_settings_are_refused_with_the_cause(target: dict, settings: dict, message: str):
    with pytest.raises(ValueError, match=message):
        Scenario.model_validate(scenario(target, settings))


async def endpoint() -> tuple[web.AppRunner, str, list[tuple[float, str]]]:
    seen: list[tuple[float, str]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append((time.monotonic(), json.loads(await request.read())["id"]))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/hook", seen


async def sender_for(url: str) -> tuple[WebhookSender, ListRecorder]:
    policy = RetryPolicy(delays=(0.05,), connect_timeout=1, total_timeout=2)
    recorder = ListRecorder()
    config = WebhookConfig(url, SCHEMES["standard"], policy, (SECRET,), max_connections=1)
    sender = WebhookSender(config, recorder)
    await sender.start()
    return sender, recorder


async def test_out_of_order_holds_the_window_then_sends_it_shuffled() -> None:
    runner, url, seen = await endpoint()
    sender, recorder = await sender_for(url)
    try:
        sender.hold("f1", shuffle=True, rng=random.Random(3))
        for i in range(12):
            sender.send(event(i))
        await asyncio.sleep(0.1)
        assert seen == []  # held until the window ends
        assert sender.release("f1") == 12
        sender.send(event(12))  # after the window: not held
        assert await sender.flush(5.0)
    finally:
        await sender.close()
        await runner.cleanup()
    order = [i for _, i in seen]
    assert set(order[:12]) == {f"e{i}" for i in range(12)}
    assert order[:12] != [f"e{i}" for i in range(12)]  # shuffled (seed 3)
    assert order[12] == "e12"
    assert {s["status"] for s in recorder.of("send")} == {"ok"}


async def test_a_burst_sends_the_window_at_its_end_in_order() -> None:
    runner, url, seen = await endpoint()
    sender, _ = await sender_for(url)
    try:
        sender.hold("f1")
        for i in range(5):
            sender.send(event(i))
        await asyncio.sleep(0.2)
        released = time.monotonic()
        sender.release("f1")
        assert await sender.flush(5.0)
    finally:
        await sender.close()
        await runner.cleanup()
    assert [i for _, i in seen] == [f"e{i}" for i in range(5)]
    assert all(t >= released for t, _ in seen)


async def test_late_delivery_starts_each_window_event_after_its_delay() -> None:
    runner, url, seen = await endpoint()
    sender, recorder = await sender_for(url)
    try:
        sender.hold("f1", late=0.3)
        start = time.monotonic()
        sender.send(event(0))
        sender.release("f1")  # the window ends; the late event keeps its time
        sender.send(event(1))
        assert await sender.flush(5.0)
    finally:
        await sender.close()
        await runner.cleanup()
    when = {i: t - start for t, i in seen}
    assert when["e0"] >= 0.3 and when["e1"] < 0.3
    assert [s["id"] for s in recorder.of("send")] == ["e1", "e0"]


async def test_closing_releases_a_hold_that_was_never_healed() -> None:
    runner, url, seen = await endpoint()
    sender, recorder = await sender_for(url)
    try:
        sender.hold("f1")
        sender.send(event(0))
    finally:
        await sender.close(5.0)
        await runner.cleanup()
    assert [i for _, i in seen] == ["e0"]
    assert recorder.of("send")[0]["status"] == "ok"
