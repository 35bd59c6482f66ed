"""The verifier refuses each security fault token for its own reason and accepts the good one.

The JWKS comes from the fault kit's local key, handed to ``PyJWKClient`` in place of its HTTP
fetch (the integration test fetches the real issuer's)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.auth.faults import EXPECTED_REASONS, FaultTokens, SigningKey, unsigned
from harness.auth.verify import Verifier
from harness.errors import AuthError, TokenRejectedError, UnsafeTargetError

ISSUER = "http://127.0.0.1:8180/default"
AUDIENCE = "api://orders"


@pytest.fixture(scope="module")
def kit() -> FaultTokens:
    return FaultTokens(ISSUER, AUDIENCE)


def verifier_for(jwks: dict[str, Any], fetches: list[int] | None = None) -> Verifier:
    verifier = Verifier(f"{ISSUER}/jwks", ISSUER, AUDIENCE, leeway=5, jwks_cooldown=0)

    def fetch() -> Any:
        if fetches is not None:
            fetches.append(1)
        return jwks

    verifier._client.fetch_data = fetch  # type: ignore[method-assign]
    return verifier


def test_the_good_token_is_accepted_with_its_claims(kit: FaultTokens) -> None:
    claims = verifier_for(kit.jwks()).verify(kit.good())
    assert claims["iss"] == ISSUER and claims["aud"] == AUDIENCE and claims["sub"] == "harness"


def test_a_bearer_prefix_is_tolerated(kit: FaultTokens) -> None:
    assert verifier_for(kit.jwks()).verify(f"Bearer {kit.good()}")["sub"] == "harness"


@pytest.mark.parametrize("name", sorted(EXPECTED_REASONS))
def test_each_bad_token_is_refused_for_its_reason(kit: FaultTokens, name: str) -> None:
    verifier = verifier_for(kit.jwks())
    with pytest.raises(TokenRejectedError) as refused:
        verifier.verify(kit.bad()[name])
    assert refused.value.reason == EXPECTED_REASONS[name]
    assert str(refused.value).startswith(f"Bearer token refused ({refused.value.reason})")
    assert verifier.rejected == {EXPECTED_REASONS[name]: 1}


def test_expiry_within_the_leeway_is_accepted(kit: FaultTokens) -> None:
    now = int(kit.clock())
    token = kit.key.sign(kit.claims(exp=now - 2))
    assert verifier_for(kit.jwks()).verify(token)["exp"] == now - 2


def test_alg_none_without_a_kid_and_garbage_are_refused(kit: FaultTokens) -> None:
    verifier = verifier_for(kit.jwks())
    with pytest.raises(TokenRejectedError) as refused:
        verifier.verify(unsigned(kit.claims()))
    assert refused.value.reason == "algorithm"
    with pytest.raises(TokenRejectedError) as refused:
        verifier.verify("not.a.jwt")
    assert refused.value.reason == "malformed"


def test_a_token_without_an_audience_is_refused(kit: FaultTokens) -> None:
    claims = kit.claims()
    del claims["aud"]
    with pytest.raises(TokenRejectedError) as refused:
        verifier_for(kit.jwks()).verify(kit.key.sign(claims))
    assert refused.value.reason == "missing_claim"


def test_a_key_rotated_under_the_same_kid_is_refetched(kit: FaultTokens) -> None:
    rotated = SigningKey.generate(kit.key.kid)
    jwks = kit.jwks()
    fetches: list[int] = []
    verifier = verifier_for(jwks, fetches)
    verifier.verify(kit.good())
    jwks["keys"] = [rotated.jwk()]  # the issuer restarted with a new key, same kid
    claims = verifier.verify(rotated.sign(kit.claims()))
    assert claims["sub"] == "harness" and len(fetches) == 2


def test_a_verifier_refuses_symmetric_and_none_algorithms_and_remote_jwks() -> None:
    with pytest.raises(AuthError, match="none is never allowed"):
        Verifier(f"{ISSUER}/jwks", ISSUER, AUDIENCE, algorithms=("none", "RS256"))
    with pytest.raises(AuthError, match="cannot be verified"):
        Verifier(f"{ISSUER}/jwks", ISSUER, AUDIENCE, algorithms=("HS256",))
    with pytest.raises(UnsafeTargetError):
        Verifier("https://issuer.example.com/jwks", ISSUER, AUDIENCE)
    with pytest.raises(AuthError, match="not an http"):
        Verifier("file:///etc/passwd", ISSUER, AUDIENCE)
