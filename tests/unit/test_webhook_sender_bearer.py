"""Webhook deliveries carrying a bearer token: the header on each attempt, a 401 answered by a
fresh token on the retry, and an attempt with no token to be had never sent (``no_token``)."""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable

import jwt
import pytest
from aiohttp import web

from harness.auth import FaultTokens
from harness.auth.tokens import ClientCredentialsSource, Token
from harness.drivers import ListRecorder
from harness.drivers.webhook import WebhookConfig, WebhookSender
from harness.errors import AuthError
from harness.events import Event
from harness.webhooks import SCHEMES, RetryPolicy
from harness.webhooks.attacks import TOKEN_ATTACKS

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


async def serve(
    handle: Callable[[web.Request], Awaitable[web.Response]],
) -> tuple[web.AppRunner, int]:
    """An endpoint on a free loopback port answering POST /hook with ``handle``."""
    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


async def run(source: Numbered, answers: list[int]) -> tuple[ListRecorder, list[str | None]]:
    seen: list[str | None] = []

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        seen.append(request.headers.get("Authorization"))
        return web.Response(status=answers[min(len(seen) - 1, len(answers) - 1)])

    runner, port = await serve(handle)
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


async def test_token_attacks_are_signed_right_and_carry_only_a_bad_token() -> None:
    seen: list[tuple[str | None, bool]] = []

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        check = SCHEMES["standard"].verify(headers=headers, body=body, secrets=[SECRET],
                                           now=int(time.time()))  # fmt: skip
        seen.append((request.headers.get("Authorization"), check.ok))
        return web.Response(status=401)

    runner, port = await serve(handle)
    policy = RetryPolicy(delays=(), total_timeout=2.0, connect_timeout=1.0)
    issuer = "http://127.0.0.1:8180/default"
    tokens = FaultTokens(issuer, "api://orders")
    config = WebhookConfig(f"http://127.0.0.1:{port}/hook", SCHEMES["standard"], policy,
                           (SECRET,), bearer=Numbered(), fault_tokens=tokens)  # fmt: skip
    recorder = ListRecorder()
    sender = WebhookSender(config, recorder)
    await sender.start()
    try:
        for attack in TOKEN_ATTACKS:
            await sender.attack(attack, label=attack)
        await sender.attack("wrong_secret", label="sig")
    finally:
        await sender.close()
        await runner.cleanup()
    by_attack = dict(zip([*TOKEN_ATTACKS, "wrong_secret"], seen, strict=True))
    assert all(ok for _, ok in list(by_attack.values())[:-1])  # token attacks: good signatures
    assert by_attack["token_missing"][0] is None
    claims = {name: jwt.decode(auth.removeprefix("Bearer "), options={"verify_signature": False})
              for name, (auth, _) in by_attack.items()
              if auth and name not in ("token_missing", "token_alg_none", "wrong_secret")}  # fmt: skip
    assert claims["token_expired"]["exp"] < time.time()
    assert claims["token_wrong_audience"]["aud"] != "api://orders"
    assert claims["token_wrong_issuer"]["iss"] != issuer
    assert (
        jwt.get_unverified_header(by_attack["token_alg_none"][0].removeprefix("Bearer "))["alg"]
        == "none"
    )
    # a signature attack carries the real token, so only its signature is wrong
    assert by_attack["wrong_secret"] == ("Bearer t1", False)
    rows = recorder.of("request")
    assert [r["reason"] for r in rows] == [*TOKEN_ATTACKS, "wrong_secret"]
    assert {r["http_status"] for r in rows} == {401}


async def test_a_token_attack_without_tokens_on_the_deliveries_is_refused() -> None:
    policy = RetryPolicy(delays=(), total_timeout=2.0, connect_timeout=1.0)
    config = WebhookConfig("http://127.0.0.1:9/hook", SCHEMES["standard"], policy, (SECRET,))
    sender = WebhookSender(config, ListRecorder())
    with pytest.raises(ValueError, match="carry no bearer token"):
        await sender.attack("token_expired", label="x")
