"""OAuth2 and JWT against the real mock-oauth2-server the stack starts (``--with oauth``).

A client_credentials token fetched through the issuer's Toxiproxy proxy verifies against its
JWKS; with that proxy disabled the cached token keeps working, and a forced refresh fails with
one clear ``AuthError``; a 401 is retried once with a fresh token; a new key and a restart
rotate the issuer's signing key (under the same ``kid``) and the verifier follows; the locally
forged fault tokens are all refused by a verifier that trusts only the real issuer.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import aiohttp
import pytest

from harness.auth import ClientCredentialsSource, Token, Verifier
from harness.auth.faults import FaultTokens
from harness.errors import AuthError, TokenRejectedError
from harness.stack import Stack, oauth

AUDIENCE = "api://orders"


@pytest.fixture(autouse=True)
def _heal_after_each_test(oauth_stack: Stack) -> Iterator[None]:
    yield
    oauth_stack.reload()
    oauth_stack.heal()


def _source(stack: Stack, **kwargs: float) -> ClientCredentialsSource:
    return ClientCredentialsSource(
        f"{stack.oauth_issuer}/token", "orders-client", "not-a-real-secret", scope=AUDIENCE,
        **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


def _verifier(stack: Stack) -> Verifier:
    issuer = stack.oauth_issuer
    return Verifier(f"{issuer}/jwks", issuer, AUDIENCE, leeway=5, jwks_cooldown=0)


def _jwks(stack: Stack) -> dict[str, object]:
    with urllib.request.urlopen(f"{stack.oauth_issuer}/jwks", timeout=5) as reply:
        return dict(json.loads(reply.read()))


async def test_a_token_fetched_through_the_proxy_verifies_against_the_jwks(
    oauth_stack: Stack,
) -> None:
    assert oauth.ready(oauth_stack.node("oauth").state.ports["proxy"])
    claims = _verifier(oauth_stack).verify(await _source(oauth_stack).token())
    assert claims["iss"] == oauth_stack.oauth_issuer and AUDIENCE in claims["aud"]
    assert claims["iss"].startswith(f"http://127.0.0.1:{oauth.proxy().listen.rsplit(':')[1]}/")


async def test_with_the_issuer_cut_the_cached_token_works_and_a_refresh_fails_cleanly(
    oauth_stack: Stack,
) -> None:
    # A margin longer than the token's life: every token() call tries to refresh first.
    source = _source(oauth_stack, refresh_margin=7200, retry_after=0)
    verifier = _verifier(oauth_stack)
    token = await source.token()
    verifier.verify(token)  # caches the JWKS
    with oauth_stack.toxiproxy() as toxiproxy:
        toxiproxy.disable("oauth")
    try:
        assert await source.token() == token  # the refresh failed, the cached token serves
        assert verifier.verify(token)["sub"] == "orders-client"
        with pytest.raises(AuthError) as failed:
            await source.refresh()
        message = str(failed.value)
        assert message.startswith(f"Could not fetch a token from {oauth_stack.oauth_issuer}")
        assert "not-a-real-secret" not in message and "\n" not in message
        with pytest.raises(TokenRejectedError) as refused:
            _verifier(oauth_stack).verify(token)  # a fresh verifier cannot reach the JWKS
        assert refused.value.reason == "jwks_unavailable"
    finally:
        with oauth_stack.toxiproxy() as toxiproxy:
            toxiproxy.enable("oauth")
    assert await source.refresh() != token


async def test_a_401_is_retried_once_with_a_fresh_token(oauth_stack: Stack) -> None:
    source = _source(oauth_stack)
    await source.token()
    source._cached = Token("revoked-token", source.clock() + 600)  # what a revocation leaves
    async with aiohttp.ClientSession() as session:
        reply = await source.request(session, "GET", f"{oauth_stack.oauth_issuer}/userinfo")
        async with reply:
            assert reply.status == 200
            assert (await reply.json(content_type=None))["sub"] == "orders-client"
    assert source.fetches == 2


async def test_a_new_key_and_a_restart_rotate_the_signing_key_and_the_verifier_follows(
    oauth_stack: Stack,
) -> None:
    verifier = _verifier(oauth_stack)
    before = await _source(oauth_stack).token()
    verifier.verify(before)
    keys_before = _jwks(oauth_stack)
    node = oauth_stack.node("oauth")
    oauth.rotate_key(node.state)
    node.restart()
    keys_after = _jwks(oauth_stack)
    assert keys_after != keys_before  # a new key under the same kid
    after = await _source(oauth_stack).token()
    assert verifier.verify(after)["sub"] == "orders-client"
    with pytest.raises(TokenRejectedError) as refused:
        verifier.verify(before)
    assert refused.value.reason == "signature"


async def test_forged_fault_tokens_are_refused_by_a_verifier_of_the_real_issuer(
    oauth_stack: Stack,
) -> None:
    verifier = _verifier(oauth_stack)
    forged = FaultTokens(oauth_stack.oauth_issuer, AUDIENCE).bad()
    reasons = {}
    for name, token in forged.items():
        with pytest.raises(TokenRejectedError) as refused:
            verifier.verify(token)
        reasons[name] = refused.value.reason
    assert reasons["alg_none"] == "algorithm"
    assert {reasons[n] for n in forged if n != "alg_none"} == {"unknown_key"}
    other = ClientCredentialsSource(f"{oauth_stack.oauth_issuer}/token", "orders-client", "x",
                                    scope="api://payments")  # fmt: skip
    with pytest.raises(TokenRejectedError) as refused:
        verifier.verify(await other.token())  # signed by the issuer, for another audience
    assert refused.value.reason == "audience"
