"""Webhook deliveries carrying a bearer token: the header on each attempt, a 401 answered by a
fresh token on the retry, and an attempt with no token to be had never sent (``no_token``)."""

from __future__ import annotations

import base64

from aiohttp import web

from harness.auth.tokens import ClientCredentialsSource, Token
from harness.drivers import ListRecorder
from harness.drivers.webhook import WebhookConfig, WebhookSender
from harness.errors import AuthError
from harness.events import Event
from harness.webhooks import SCHEMES, RetryPolicy

SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()


class Numbered(ClientCredentialsSource):
    """Tokens ``t1``, ``t2``... from a scripted issuer (``down``: every fetch fails)."""

    def __init__(self, down: bool = False) -> None:
        super().__init__("http://127.0.0.1:8180/default/token", "c", "s")
        self.down = down

    async def _fetch(self) -> Token:
        self.fetches += 1
        if self.down:
            raise AuthError("Could not fetch a token from the issuer: refused.")
        return Token(f"t{self.fetches}", self.clock() + 300)


async def run(source: Numbered, answers: list[int]) -> tuple[ListRecorder, list[str | None]]:
    seen: list[str | None] = []

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        seen.append(request.headers.get("Authorization"))
        return web.Response(status=answers[min(len(seen) - 1, len(answers) - 1)])

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    policy = RetryPolicy(delays=(0.01, 0.01), total_timeout=2.0, connect_timeout=1.0)
    config = WebhookConfig(f"http://127.0.0.1:{port}/hook", SCHEMES["standard"], policy,
                           (SECRET,), bearer=source)  # fmt: skip
    recorder = ListRecorder()
    sender = WebhookSender(config, recorder)
    await sender.start()
    try:
        sender.send(Event("e1", "k", 1, 0.0, 0.0, b'{"id":"e1"}'))
        assert await sender.flush(10.0)
    finally:
        await sender.close()
        await runner.cleanup()
    return recorder, seen


def sends(recorder: ListRecorder) -> list[dict[str, object]]:
    return recorder.of("send")


async def test_each_attempt_carries_the_token_and_a_401_brings_a_fresh_one() -> None:
    source = Numbered()
    recorder, seen = await run(source, [401, 200])
    assert seen == ["Bearer t1", "Bearer t2"]
    assert sends(recorder)[0]["status"] == "ok"


async def test_no_token_means_nothing_sent_and_a_fail_not_an_unknown() -> None:
    recorder, seen = await run(Numbered(down=True), [200])
    assert seen == []
    send = sends(recorder)[0]
    assert send["status"] == "fail" and send["reason"] == "no_token"
    errors = [r["error"] for r in recorder.of("request")]
    assert errors and all(str(e).startswith("no bearer token") for e in errors)
