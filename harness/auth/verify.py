"""Verifying a bearer JWT against its issuer's JWKS (PyJWT 2.x ``PyJWKClient``).

``Verifier.verify(token)`` returns the claims of a token that passes every check, and raises
``TokenRejectedError`` (with a one-word ``reason``) for one that does not:

=================  ==========================================================================
reason             the token...
=================  ==========================================================================
``malformed``      is not a JWS compact token (three base64url parts, JSON header)
``algorithm``      names an algorithm outside ``algorithms`` (``none`` included: never allowed)
``unknown_key``    names a ``kid`` the JWKS does not hold, even after one refetch
``signature``      does not verify with the key its ``kid`` names
``expired``        has an ``exp`` in the past by more than ``leeway`` seconds
``not_yet_valid``  has an ``nbf`` or ``iat`` in the future by more than ``leeway`` seconds
``issuer``         has an ``iss`` other than ``issuer``
``audience``       has no ``aud`` naming ``audience``
``missing_claim``  lacks ``exp``, ``iss`` or ``aud``
``jwks_unavailable``  could not be checked: the JWKS endpoint did not answer
=================  ==========================================================================

The JWKS is cached (``jwks_lifespan``); an unknown ``kid`` refetches it once (no more often than
``jwks_cooldown``), and so does a bad signature, since a server that rotates its key under the
same ``kid`` (mock-oauth2-server after a restart does) is otherwise refused until the cache
expires. ``PyJWKClient`` fetches with urllib, a blocking call: ``verify_async`` runs the
check on a worker thread.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

import jwt
from jwt import PyJWKClient
from jwt.exceptions import PyJWKClientConnectionError, PyJWKClientError

from harness.errors import AuthError, TokenRejectedError
from harness.safety import check_target

DEFAULT_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256")
DEFAULT_LEEWAY = 30.0
REQUIRED = ["exp", "iss", "aud"]

_CLAIM_ERRORS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.InvalidAudienceError, "audience"),
    (jwt.InvalidIssuerError, "issuer"),
    (jwt.MissingRequiredClaimError, "missing_claim"),
    (jwt.InvalidAlgorithmError, "algorithm"),
    (jwt.InvalidSignatureError, "signature"),
    (jwt.DecodeError, "malformed"),
)


class Verifier:
    """Checks bearer JWTs of one issuer for one audience."""

    def __init__(
        self,
        jwks_url: str,
        issuer: str,
        audience: str,
        *,
        leeway: float = DEFAULT_LEEWAY,
        algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS,
        jwks_lifespan: float = 300.0,
        jwks_cooldown: float = 30.0,
        timeout: float = 5.0,
        allow: tuple[str, ...] = (),
    ) -> None:
        host = urlsplit(jwks_url).hostname
        if not host or urlsplit(jwks_url).scheme not in ("http", "https"):
            raise AuthError(f"JWKS URL {jwks_url!r} is not an http(s) URL; give the issuer's "
                            "jwks_uri, e.g. http://127.0.0.1:8180/default/jwks.")  # fmt: skip
        check_target(host, allow)
        bad = sorted({a for a in algorithms if a.lower() == "none" or a.startswith("HS")})
        if bad:
            raise AuthError(f"Algorithms {bad} cannot be verified against a JWKS of public keys "
                            "(none is never allowed); give asymmetric ones such as RS256.")  # fmt: skip
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.algorithms = list(algorithms)
        self.jwks_cooldown = jwks_cooldown
        self._client = PyJWKClient(
            jwks_url, lifespan=jwks_lifespan, timeout=timeout, cooldown_duration=jwks_cooldown
        )
        self._refetched_at: float | None = None
        self.rejected: dict[str, int] = {}
        """How many tokens were refused, by reason."""

    def __repr__(self) -> str:
        return f"Verifier({self.jwks_url!r}, issuer={self.issuer!r}, audience={self.audience!r})"

    def _reject(self, reason: str, message: str) -> TokenRejectedError:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
        return TokenRejectedError(reason, f"Bearer token refused ({reason}): {message}")

    def _header(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as error:
            raise self._reject("malformed", str(error)) from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise self._reject("algorithm", f"alg {alg!r} is not one of {self.algorithms}")
        if not isinstance(header.get("kid"), str):
            raise self._reject("unknown_key", "the token names no kid")
        return header

    def _key(self, token: str) -> Any:
        try:
            return self._client.get_signing_key_from_jwt(token).key
        except PyJWKClientConnectionError as error:
            raise self._reject("jwks_unavailable", f"{self.jwks_url}: {error}") from None
        except PyJWKClientError as error:
            raise self._reject("unknown_key", str(error)) from None

    def _decode(self, token: str, key: Any) -> dict[str, Any]:
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=self.algorithms, audience=self.audience, issuer=self.issuer,
            leeway=self.leeway, options={"require": REQUIRED},
        )  # fmt: skip
        return claims

    def _may_refetch(self) -> bool:
        now = time.monotonic()
        if self._refetched_at is not None and now - self._refetched_at < self.jwks_cooldown:
            return False
        self._refetched_at = now
        return True

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims when it passes every check; ``TokenRejectedError`` otherwise."""
        token = token.removeprefix("Bearer ").strip()
        self._header(token)
        key = self._key(token)
        try:
            try:
                return self._decode(token, key)
            except jwt.InvalidSignatureError:
                if not self._may_refetch():
                    raise
                try:
                    self._client.get_jwk_set(refresh=True)
                except PyJWKClientError:
                    raise jwt.InvalidSignatureError("Signature verification failed") from None
                return self._decode(token, self._key(token))
        except jwt.InvalidTokenError as error:
            for kind, reason in _CLAIM_ERRORS:
                if isinstance(error, kind):
                    raise self._reject(reason, str(error)) from None
            raise self._reject("malformed", str(error)) from None

    async def verify_async(self, token: str) -> dict[str, Any]:
        """``verify`` on a worker thread (the JWKS fetch blocks)."""
        return await asyncio.to_thread(self.verify, token)


__all__ = ["DEFAULT_ALGORITHMS", "DEFAULT_LEEWAY", "Verifier"]
