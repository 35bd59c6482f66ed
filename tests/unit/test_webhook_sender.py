"""The webhook sender against a small in-process aiohttp endpoint on loopback: retries follow
the policy, Retry-After is honoured, 410 disables, 3xx fails, timeouts are no answer."""

from __future__ import annotations

import asyncio
import base64
import time

import pytest
from aiohttp import web

from harness.drivers import ListRecorder
from harness.drivers.webhook import WebhookConfig, WebhookSender
from harness.events import Event
from harness.scenario import Scenario
from harness.scenario.webhook import PRESET_NAMES, SCHEME_NAMES
from harness.webhooks import PRESETS, SCHEMES, RetryPolicy

SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()


def event(i: int) -> Event:
    body = f'{{"id":"e{i}","key":"k","seq":{i}}}'.encode()
    return Event(f"e{i}", "k", i, 0.0, 0.0, body)


async def serve(answers: list) -> tuple[web.AppRunner, str, list[float]]:
    """An endpoint answering ``answers`` in turn (a status, or (status, headers), or 'hang')."""
    seen: list[float] = []

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        seen.append(time.monotonic())
        answer = answers[min(len(seen) - 1, len(answers) - 1)]
        if answer == "hang":
            await asyncio.sleep(5)
        status, headers = answer if isinstance(answer, tuple) else (answer, {})
        return web.Response(status=status, headers=headers)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/hook", seen


async def deliver(answers: list, policy: RetryPolicy, n: int = 1):
    runner, url, seen = await serve(answers)
    recorder = ListRecorder()
    sender = WebhookSender(WebhookConfig(url, SCHEMES["standard"], policy, (SECRET,)), recorder)
    await sender.start()
    try:
        for i in range(n):
            sender.send(event(i))
        assert await sender.flush(10.0)
    finally:
        await sender.close()
        await runner.cleanup()
    return recorder, seen, sender


async def test_a_failure_is_retried_on_the_schedule_until_a_2xx() -> None:
    policy = RetryPolicy(delays=(0.05, 0.2), connect_timeout=1, total_timeout=2)
    recorder, seen, _ = await deliver([503, 500, 200], policy)
    attempts = recorder.of("request")
    assert [a["http_status"] for a in attempts] == [503, 500, 200]
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    gaps = [b - a for a, b in zip(seen, seen[1:], strict=False)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.2
    (send,) = recorder.of("send")
    assert (send["status"], send["attempt"], send["http_status"]) == ("ok", 3, 200)


async def test_retries_exhausted_is_a_fail_and_3xx_is_a_failure() -> None:
    policy = RetryPolicy(delays=(0.01,), connect_timeout=1, total_timeout=2)
    recorder, seen, _ = await deliver([(302, {"Location": "/elsewhere"})], policy)
    assert len(seen) == 2  # the redirect is not followed, and it is retried once
    (send,) = recorder.of("send")
    assert (send["status"], send["reason"], send["http_status"]) == ("fail", "exhausted", 302)


async def test_retry_after_is_honoured_scaled() -> None:
    policy = RetryPolicy(delays=(0.01,), connect_timeout=1, total_timeout=2).scaled(0.1)
    recorder, seen, _ = await deliver([(429, {"Retry-After": "3"}), 200], policy)
    assert seen[1] - seen[0] >= 0.3  # 3 s scaled by 0.1, not the 1 ms schedule
    assert recorder.of("request")[0]["retry_after"] == 3


async def test_410_disables_the_endpoint_for_every_delivery() -> None:
    policy = RetryPolicy(delays=(0.05, 0.05), connect_timeout=1, total_timeout=2)
    recorder, seen, sender = await deliver([410], policy, n=3)
    assert sender.disabled
    assert all(s["status"] == "fail" for s in recorder.of("send"))
    assert len(seen) <= 3  # no retry after the 410


async def test_a_timeout_is_no_answer_and_an_unknown_outcome() -> None:
    policy = RetryPolicy(delays=(), connect_timeout=0.2, total_timeout=0.3)
    recorder, _, _ = await deliver(["hang"], policy)
    (attempt,) = recorder.of("request")
    assert attempt["http_status"] is None and attempt["error"] == "timeout"
    assert recorder.of("send")[0]["status"] == "unknown"


async def test_every_attempt_is_signed_and_verifies() -> None:
    got: list[dict] = []

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        result = SCHEMES["standard"].verify(
            headers=dict(request.headers), body=body, secrets=[SECRET], now=time.time()
        )
        got.append({"ok": result.ok, "id": result.msg_id})
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    sender = WebhookSender(
        WebhookConfig(f"http://127.0.0.1:{port}/hook", SCHEMES["standard"],
                      RetryPolicy(delays=()), (SECRET,)),
        ListRecorder(),
    )  # fmt: skip
    await sender.start()
    for i in range(5):
        sender.send(event(i))
    await sender.flush(5)
    await sender.close()
    await runner.cleanup()
    assert sorted(g["id"] for g in got) == [f"e{i}" for i in range(5)]
    assert all(g["ok"] for g in got)


async def test_a_sender_refuses_an_endpoint_off_loopback() -> None:
    from harness.errors import UnsafeTargetError

    config = WebhookConfig("http://10.1.2.3:80/", SCHEMES["standard"], RetryPolicy(()), (SECRET,))
    with pytest.raises(UnsafeTargetError):
        await WebhookSender(config, ListRecorder()).start()


def test_the_secrets_never_show_in_the_config() -> None:
    config = WebhookConfig("http://127.0.0.1:1/", SCHEMES["standard"], RetryPolicy(()), (SECRET,))
    assert SECRET not in repr(config)


def test_the_scenarios_names_match_the_registries() -> None:
    assert set(SCHEME_NAMES) == set(SCHEMES)
    assert set(PRESET_NAMES) == set(PRESETS)


def _scenario(**webhook) -> dict:
    return {
        "name": "w",
        "target": {"webhook": {"url": "http://127.0.0.1:18090/h", "secret_env": ["S"], **webhook}},
        "storm": {"duration": "1s", "rate": {"per_second": 1}},
    }


def test_a_webhook_scenario_parses_and_refuses_a_secret_in_place_of_a_name() -> None:
    scenario = Scenario.model_validate(_scenario())
    assert scenario.target.kind == "webhook" and scenario.target.nodes == ()
    with pytest.raises(Exception, match="never the secret itself"):
        Scenario.model_validate(_scenario(secret_env=["whsec_abc+/="]))
    with pytest.raises(Exception, match="http:// URL"):
        Scenario.model_validate(_scenario(url="https://example.com/h"))
