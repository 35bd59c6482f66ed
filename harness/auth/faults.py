"""Security fault tokens: bearer JWTs a correct service must refuse, minted locally.

``FaultTokens`` holds an RSA key made here with ``cryptography`` (never fetched, never written
to disk) and mints, for one issuer and audience:

==================  ===================================================  ======================
name                what is wrong                                        ``Verifier`` reason
==================  ===================================================  ======================
``good``            nothing (the control: it must be accepted)           --
``expired``         ``exp`` an hour in the past                          ``expired``
``wrong_audience``  ``aud`` names another service                        ``audience``
``wrong_issuer``    ``iss`` names another issuer                         ``issuer``
``alg_none``        ``alg: none`` and no signature (CVE-2015-9235 kind)  ``algorithm``
``unknown_key``     signed by a second key whose ``kid`` no JWKS holds   ``unknown_key``
==================  ===================================================  ======================

A service trusts these only if it trusts ``jwks()`` (the local key's public half): point the
service (or a ``Verifier``) at it to see each refusal for its own reason. Against a service that
trusts only the real issuer, every forged token must be refused anyway (``unknown_key`` for the
signed ones), which is the test of a service that skips verification.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ALGORITHM = "RS256"
KEY_BITS = 2048
WRONG_ISSUER = "http://127.0.0.1:1/not-the-issuer"
WRONG_AUDIENCE = "api://not-this-service"

EXPECTED_REASONS: dict[str, str] = {
    "expired": "expired",
    "wrong_audience": "audience",
    "wrong_issuer": "issuer",
    "alg_none": "algorithm",
    "unknown_key": "unknown_key",
}
"""Each fault token's name and the reason a correct verifier gives for refusing it."""


@dataclass(frozen=True)
class SigningKey:
    """A private RSA key and its ``kid``; ``jwk()`` is its public half as a JWK."""

    kid: str
    private: rsa.RSAPrivateKey = field(repr=False)

    @classmethod
    def generate(cls, kid: str | None = None) -> SigningKey:
        private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
        return cls(kid or f"harness-{uuid.uuid4().hex[:12]}", private)

    def jwk(self) -> dict[str, Any]:
        public: dict[str, Any] = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "alg": ALGORITHM, "use": "sig"}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.private, algorithm=ALGORITHM, headers={"kid": self.kid})


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unsigned(claims: dict[str, Any], kid: str | None = None) -> str:
    """A JWT with ``alg: none`` and an empty signature part."""
    header: dict[str, Any] = {"alg": "none", "typ": "JWT"}
    if kid:
        header["kid"] = kid
    return f"{_b64(header)}.{_b64(claims)}."


@dataclass
class FaultTokens:
    """Mints the good token and each bad one for ``issuer`` and ``audience``."""

    issuer: str
    audience: str
    subject: str = "harness"
    lifetime: float = 300.0
    clock: Callable[[], float] = time.time
    key: SigningKey = field(default_factory=SigningKey.generate)
    stranger: SigningKey = field(default_factory=SigningKey.generate)
    """The key of ``unknown_key``: never in ``jwks()``."""

    def jwks(self) -> dict[str, Any]:
        """The JWKS a service must trust for the signed tokens to verify (the local key)."""
        return {"keys": [self.key.jwk()]}

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(self.clock())
        base = {"iss": self.issuer, "aud": self.audience, "sub": self.subject, "iat": now,
                "nbf": now, "exp": now + int(self.lifetime), "jti": uuid.uuid4().hex}  # fmt: skip
        return {**base, **changes}

    def good(self) -> str:
        return self.key.sign(self.claims())

    def expired(self) -> str:
        now = int(self.clock())
        return self.key.sign(self.claims(iat=now - 7200, nbf=now - 7200, exp=now - 3600))

    def wrong_audience(self) -> str:
        return self.key.sign(self.claims(aud=WRONG_AUDIENCE))

    def wrong_issuer(self) -> str:
        return self.key.sign(self.claims(iss=WRONG_ISSUER))

    def alg_none(self) -> str:
        return unsigned(self.claims(), self.key.kid)

    def unknown_key(self) -> str:
        return self.stranger.sign(self.claims())

    def bad(self) -> dict[str, str]:
        """Every bad token by name (the keys of ``EXPECTED_REASONS``)."""
        return {name: getattr(self, name)() for name in EXPECTED_REASONS}


__all__ = ["EXPECTED_REASONS", "FaultTokens", "SigningKey", "unsigned"]
