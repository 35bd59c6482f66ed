"""The client_credentials token source's cache, on a synthetic clock and a scripted issuer.

``_fetch`` is replaced by a script of answers (a lifetime, or an ``AuthError`` for an issuer
that is down); the integration test runs the real HTTP fetch against mock-oauth2-server."""

from __future__ import annotations

import asyncio

import pytest

from harness.auth.tokens import ClientCredentialsSource, Token
from harness.errors import AuthError, UnsafeTargetError

DOWN = AuthError("Could not fetch a token from http://127.0.0.1:8180/default/token: refused.")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Scripted(ClientCredentialsSource):
    """A source whose issuer answers from ``script``: a lifetime in seconds, or an error."""

    def __init__(self, clock: Clock, script: list[float | AuthError], **kwargs: float) -> None:
        super().__init__("http://127.0.0.1:8180/default/token", "client", "s3cret",
                         clock=clock, **kwargs)  # type: ignore[arg-type]  # fmt: skip
        self.script = script

    async def _fetch(self) -> Token:
        self.fetches += 1
        answer = self.script.pop(0)
        if isinstance(answer, AuthError):
            raise answer
        return Token(f"token-{self.fetches}", self.clock() + answer)


async def test_a_fresh_token_is_served_from_the_cache() -> None:
    clock = Clock()
    source = Scripted(clock, [300.0], refresh_margin=30)
    assert await source.token() == "token-1"
    clock.now += 200
    assert await source.token() == "token-1" and source.fetches == 1


async def test_the_token_is_refreshed_before_it_expires() -> None:
    clock = Clock()
    source = Scripted(clock, [300.0, 300.0], refresh_margin=30)
    await source.token()
    clock.now += 271  # inside the margin, still valid
    assert await source.token() == "token-2" and source.fetches == 2


async def test_an_issuer_outage_shorter_than_the_lifetime_costs_nothing() -> None:
    clock = Clock()
    source = Scripted(clock, [300.0, DOWN, DOWN, 300.0], refresh_margin=30, retry_after=5)
    await source.token()
    clock.now += 280
    assert await source.token() == "token-1"  # refresh failed, cached token still valid
    clock.now += 2
    assert await source.token() == "token-1" and source.fetches == 2  # backing off: no fetch
    clock.now += 5
    assert await source.token() == "token-1" and source.fetches == 3
    clock.now += 5
    assert await source.token() == "token-4"  # issuer back


async def test_once_the_token_expires_an_outage_is_one_clear_error() -> None:
    clock = Clock()
    source = Scripted(clock, [60.0, DOWN], refresh_margin=10)
    await source.token()
    clock.now += 61
    with pytest.raises(AuthError) as failed:
        await source.token()
    assert "Could not fetch a token" in str(failed.value) and "s3cret" not in str(failed.value)


async def test_concurrent_callers_share_one_fetch() -> None:
    clock = Clock()
    source = Scripted(clock, [300.0])
    tokens = await asyncio.gather(*(source.token() for _ in range(10)))
    assert set(tokens) == {"token-1"} and source.fetches == 1


async def test_refresh_fetches_even_when_fresh_and_keeps_the_cache_on_failure() -> None:
    clock = Clock()
    source = Scripted(clock, [300.0, 300.0, DOWN])
    await source.token()
    assert await source.refresh() == "token-2"
    with pytest.raises(AuthError):
        await source.refresh()
    assert await source.token() == "token-2"


def test_the_secret_is_never_shown_and_remote_issuers_are_refused() -> None:
    source = Scripted(Clock(), [])
    assert "s3cret" not in repr(source)
    assert "token-" not in repr(Token("token-1", 1.0))
    with pytest.raises(UnsafeTargetError):
        ClientCredentialsSource("https://login.example.com/token", "c", "s")
    with pytest.raises(AuthError, match="not an http"):
        ClientCredentialsSource("127.0.0.1:8180/token", "c", "s")
