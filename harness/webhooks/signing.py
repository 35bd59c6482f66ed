"""Webhook signature schemes: what a provider puts in the headers, and how a receiver checks it.

Each scheme is one ``Scheme`` object in ``SCHEMES``, stateless and free of secrets: secrets are
passed to ``sign`` and ``verify`` on each call and never kept, logged or shown in a ``repr``.

    scheme = SCHEMES["standard"]
    headers = scheme.sign(msg_id="msg_1", timestamp=1700000000, body=b"{}", secrets=[secret])
    scheme.verify(headers=headers, body=b"{}", secrets=[secret], now=1700000001).ok  # True

- ``standard``: Standard Webhooks v1 (``webhook-id``, ``webhook-timestamp``,
  ``webhook-signature``; ``whsec_`` + base64 secrets; HMAC-SHA256 over ``id.timestamp.body``;
  several space-separated ``v1,`` signatures during key rotation; 300 s tolerance, as the
  ``standardwebhooks`` library's verifier).
- ``stripe``: ``Stripe-Signature: t=<ts>,v1=<hex>[,v1=<hex>...]``, HMAC-SHA256 over
  ``ts.body`` keyed with the whole ``whsec_...`` string; 300 s tolerance (Stripe's default).
  The event id travels in the body (``{"id": ...}``), as Stripe sends it.
- ``github``: ``X-Hub-Signature-256: sha256=<hex>``, HMAC-SHA256 over the body; no timestamp
  (so no tolerance), one secret (the first), the delivery id in ``X-GitHub-Delivery``.

Header lookup is case-insensitive. ``verify`` returns a ``Verification`` whose ``reason`` is
one of ``REASONS`` when it is not ``ok``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import secrets
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MISSING_HEADERS = "missing_headers"
BAD_TIMESTAMP = "bad_timestamp"
STALE_TIMESTAMP = "stale_timestamp"
BAD_SIGNATURE = "bad_signature"
NO_SECRET = "no_secret"
REASONS = (MISSING_HEADERS, BAD_TIMESTAMP, STALE_TIMESTAMP, BAD_SIGNATURE, NO_SECRET)

STANDARD_PREFIX = "whsec_"


@dataclass(frozen=True)
class Verification:
    """The outcome of checking one delivery: ``ok``, else why not (one of ``REASONS``)."""

    ok: bool
    reason: str | None = None
    msg_id: str | None = None


def header(headers: Mapping[str, str], name: str) -> str | None:
    """``headers[name]`` looked up case-insensitively (HTTP header names are)."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def _hmac_sha256(key: bytes, data: bytes) -> bytes:
    return hmac.digest(key, data, hashlib.sha256)


def _any_equal(candidates: Sequence[bytes], expected: Sequence[bytes]) -> bool:
    """Whether any candidate equals any expected value, each compared in constant time."""
    found = False
    for got in candidates:
        for want in expected:
            found |= hmac.compare_digest(got, want)
    return found


def _check_timestamp(raw: str | None, now: float, tolerance: float | None) -> str | None:
    """The reason ``raw`` (unix seconds) is not acceptable at ``now``, or None."""
    if raw is None:
        return MISSING_HEADERS
    try:
        ts = int(raw.strip())
    except ValueError:
        return BAD_TIMESTAMP
    if tolerance is not None and abs(now - ts) > tolerance:
        return STALE_TIMESTAMP
    return None


class Scheme(ABC):
    """One provider's signature format. Stateless: secrets come with each call."""

    name: str
    default_tolerance: float | None

    @abstractmethod
    def sign(
        self, *, msg_id: str, timestamp: int, body: bytes, secrets: Sequence[str]
    ) -> dict[str, str]:
        """The headers that sign ``body``; several secrets give several signatures if allowed."""

    @abstractmethod
    def verify(
        self,
        *,
        headers: Mapping[str, str],
        body: bytes,
        secrets: Sequence[str],
        now: float,
        tolerance: float | None = None,
    ) -> Verification:
        """Whether ``headers`` sign ``body`` with one of ``secrets``, fresh at ``now``.

        ``tolerance`` (seconds) defaults to the scheme's ``default_tolerance``.
        """

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def standard_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: ``whsec_`` + base64 (prefix and padding
    optional, as the reference library reads it)."""
    raw = secret[len(STANDARD_PREFIX) :] if secret.startswith(STANDARD_PREFIX) else secret
    try:
        key = base64.b64decode(raw + "==")
    except (binascii.Error, ValueError):
        key = b""
    if not key:
        # Never echo the secret itself, not even in an error.
        raise ValueError(
            "a Standard Webhooks secret must be 'whsec_' followed by non-empty base64 "
            f"(got {len(secret)} characters that are not)"
        )
    return key


@functools.lru_cache(maxsize=16)
def _cached_standard_key(secret: str) -> bytes:
    """``standard_key`` decoded once per secret: signing is per attempt, at storm rate."""
    return standard_key(secret)


class StandardWebhooks(Scheme):
    """Standard Webhooks v1 (symmetric ``v1`` signatures)."""

    name = "standard"
    default_tolerance: float | None = 300.0

    def sign(
        self, *, msg_id: str, timestamp: int, body: bytes, secrets: Sequence[str]
    ) -> dict[str, str]:
        if not secrets:
            raise ValueError("signing needs at least one secret")
        # The content signed is the id, the timestamp and the body's bytes, exactly as the
        # reference library signs a text body (tests check with its verifier and svix's).
        content = self._content(msg_id, timestamp, body)
        signatures = [
            "v1," + base64.b64encode(_hmac_sha256(_cached_standard_key(s), content)).decode()
            for s in secrets
        ]
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": " ".join(signatures),
        }

    @staticmethod
    def _content(msg_id: str, timestamp: int, body: bytes) -> bytes:
        return f"{msg_id}.{timestamp}.".encode() + body

    def verify(
        self,
        *,
        headers: Mapping[str, str],
        body: bytes,
        secrets: Sequence[str],
        now: float,
        tolerance: float | None = None,
    ) -> Verification:
        msg_id = header(headers, "webhook-id")
        raw_ts = header(headers, "webhook-timestamp")
        raw_sig = header(headers, "webhook-signature")
        if msg_id is None or raw_ts is None or raw_sig is None:
            return Verification(False, MISSING_HEADERS, msg_id)
        if not secrets:
            return Verification(False, NO_SECRET, msg_id)
        problem = _check_timestamp(raw_ts, now, _tolerance(self, tolerance))
        if problem:
            return Verification(False, problem, msg_id)
        content = self._content(msg_id, int(raw_ts.strip()), body)
        expected = [_hmac_sha256(standard_key(s), content) for s in secrets]
        given = []
        for part in raw_sig.split():
            version, _, value = part.partition(",")
            if version != "v1":
                continue
            try:
                given.append(base64.b64decode(value, validate=True))
            except (binascii.Error, ValueError):
                continue
        ok = _any_equal(given, expected)
        return Verification(ok, None if ok else BAD_SIGNATURE, msg_id)


class Stripe(Scheme):
    """Stripe's ``Stripe-Signature`` header (``v1`` = HMAC-SHA256, hex)."""

    name = "stripe"
    default_tolerance: float | None = 300.0

    def sign(
        self, *, msg_id: str, timestamp: int, body: bytes, secrets: Sequence[str]
    ) -> dict[str, str]:
        if not secrets:
            raise ValueError("signing needs at least one secret")
        payload = f"{timestamp}.".encode() + body
        parts = [f"t={timestamp}"]
        parts += [f"v1={_hmac_sha256(s.encode(), payload).hex()}" for s in secrets]
        return {"Stripe-Signature": ",".join(parts)}

    def verify(
        self,
        *,
        headers: Mapping[str, str],
        body: bytes,
        secrets: Sequence[str],
        now: float,
        tolerance: float | None = None,
    ) -> Verification:
        msg_id = _body_id(body)
        raw = header(headers, "Stripe-Signature")
        if raw is None:
            return Verification(False, MISSING_HEADERS, msg_id)
        fields: dict[str, list[str]] = {}
        for item in raw.split(","):
            key, sep, value = item.strip().partition("=")
            if sep:
                fields.setdefault(key, []).append(value)
        stamps = fields.get("t", [])
        if len(stamps) != 1:
            return Verification(False, MISSING_HEADERS if not stamps else BAD_TIMESTAMP, msg_id)
        if not secrets:
            return Verification(False, NO_SECRET, msg_id)
        problem = _check_timestamp(stamps[0], now, _tolerance(self, tolerance))
        if problem:
            return Verification(False, problem, msg_id)
        payload = stamps[0].strip().encode() + b"." + body
        expected = [_hmac_sha256(s.encode(), payload).hex().encode() for s in secrets]
        given = [v.encode() for v in fields.get("v1", [])]
        ok = _any_equal(given, expected)
        return Verification(ok, None if ok else BAD_SIGNATURE, msg_id)


class GitHub(Scheme):
    """GitHub's ``X-Hub-Signature-256`` header (HMAC-SHA256 of the body, hex)."""

    name = "github"
    default_tolerance: float | None = None

    def sign(
        self, *, msg_id: str, timestamp: int, body: bytes, secrets: Sequence[str]
    ) -> dict[str, str]:
        if not secrets:
            raise ValueError("signing needs at least one secret")
        # GitHub has one secret per hook; during a rotation it signs with the current one.
        digest = _hmac_sha256(secrets[0].encode(), body).hex()
        return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Delivery": msg_id}

    def verify(
        self,
        *,
        headers: Mapping[str, str],
        body: bytes,
        secrets: Sequence[str],
        now: float,
        tolerance: float | None = None,
    ) -> Verification:
        msg_id = header(headers, "X-GitHub-Delivery")
        raw = header(headers, "X-Hub-Signature-256")
        if raw is None:
            return Verification(False, MISSING_HEADERS, msg_id)
        if not secrets:
            return Verification(False, NO_SECRET, msg_id)
        algorithm, _, value = raw.strip().partition("=")
        if algorithm != "sha256":
            return Verification(False, BAD_SIGNATURE, msg_id)
        expected = [_hmac_sha256(s.encode(), body).hex().encode() for s in secrets]
        ok = _any_equal([value.encode()], expected)
        return Verification(ok, None if ok else BAD_SIGNATURE, msg_id)


def _tolerance(scheme: Scheme, tolerance: float | None) -> float | None:
    return scheme.default_tolerance if tolerance is None else tolerance


def _body_id(body: bytes) -> str | None:
    """The ``id`` field of a JSON object body (where Stripe puts the event id), or None."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    found = value.get("id") if isinstance(value, dict) else None
    return found if isinstance(found, str) else None


SCHEMES: dict[str, Scheme] = {s.name: s for s in (StandardWebhooks(), Stripe(), GitHub())}


def fresh_secret(scheme: str) -> str:
    """A new random signing secret in the scheme's usual form (Standard Webhooks: ``whsec_`` and
    base64; the others: hex), for a run whose secret nobody supplied."""
    raw = secrets.token_bytes(24)
    if scheme == "standard":
        return "whsec_" + base64.b64encode(raw).decode()
    return raw.hex()
