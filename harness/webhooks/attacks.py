"""Security faults: deliveries a correct endpoint must refuse (4xx) and never apply.

``forge`` builds one such delivery (id, headers, body) for a scheme. Each is wrong in exactly
one way; every other part is what the real provider would send:

- ``forged_signature``: a signature of the right shape over nothing (random bytes);
- ``wrong_secret``: a real signature, made with a secret the endpoint never had;
- ``stale_timestamp``: signed with the right secret, timestamped ``stale_by`` seconds ago;
- ``replay``: an already-delivered id and body, re-sent after the tolerance (stale timestamp);
- ``tampered_body``: signed, then the body changed in transit;
- ``missing_headers``: no signature headers at all;
- ``rotated_key``: signed with only the retired key of a rotation (the endpoint trusts the new).

GitHub's scheme has no timestamp, so ``stale_timestamp`` and ``replay`` do not apply to it.

Against an endpoint that takes bearer tokens (``target.webhook.oauth``), ``forge_token`` builds
the token attacks: a delivery signed exactly as the provider signs it, whose one flaw is its
``Authorization`` header, a ``harness.auth.FaultTokens`` token (``token_expired``,
``token_wrong_audience``, ``token_wrong_issuer``, ``token_alg_none``, ``token_unknown_key``),
or none at all (``token_missing``).
"""

from __future__ import annotations

import base64
import json
import secrets as random_secrets
from collections.abc import Sequence
from typing import NamedTuple

from harness.auth import FaultTokens
from harness.webhooks.signing import Scheme

ATTACKS: tuple[str, ...] = (
    "forged_signature",
    "wrong_secret",
    "stale_timestamp",
    "replay",
    "tampered_body",
    "missing_headers",
    "rotated_key",
)
TOKEN_ATTACKS: tuple[str, ...] = (
    "token_missing",
    "token_expired",
    "token_wrong_audience",
    "token_wrong_issuer",
    "token_alg_none",
    "token_unknown_key",
)
"""Attacks on the bearer token: only for an endpoint that takes one."""
TIMED_ATTACKS: tuple[str, ...] = ("stale_timestamp", "replay")
"""Attacks on the timestamp: meaningless for a scheme without one (GitHub)."""
SIGNATURE_HEADERS = {
    "standard": ("webhook-signature", "webhook-timestamp"),
    "stripe": ("Stripe-Signature",),
    "github": ("X-Hub-Signature-256",),
}


class Forged(NamedTuple):
    msg_id: str
    headers: dict[str, str]
    body: bytes


def attack_body(msg_id: str, attack: str) -> bytes:
    """A plausible event body for a forged delivery (its ``id`` is the delivery's)."""
    return json.dumps({"id": msg_id, "key": "attack", "seq": 0, "attack": attack}).encode()


def random_secret() -> str:
    """A fresh Standard Webhooks-shaped secret nobody else has."""
    return "whsec_" + base64.b64encode(random_secrets.token_bytes(32)).decode()


def forge(
    attack: str,
    *,
    scheme: Scheme,
    secrets: Sequence[str],
    msg_id: str,
    now: int,
    stale_by: float = 600.0,
    replayed: tuple[str, bytes] | None = None,
    retired: str | None = None,
) -> Forged:
    """One delivery of ``attack`` against an endpoint trusting ``secrets``.

    ``replayed`` (id, body) is the delivered event a ``replay`` re-sends; ``retired`` the old
    key of a rotation (a random one when None).
    """
    if attack not in ATTACKS:
        raise ValueError(f"unknown attack {attack!r}; use one of {', '.join(ATTACKS)}")
    if attack in TIMED_ATTACKS and scheme.default_tolerance is None:
        raise ValueError(f"the {scheme.name} scheme has no timestamp, so {attack} cannot apply")
    body = attack_body(msg_id, attack)

    def signed(
        stamp: int = now, keys: Sequence[str] = secrets, payload: bytes = body, i: str = msg_id
    ) -> dict[str, str]:
        return scheme.sign(msg_id=i, timestamp=stamp, body=payload, secrets=keys)

    if attack == "forged_signature":
        headers = signed(keys=[random_secret()])
        garbage = base64.b64encode(random_secrets.token_bytes(32)).decode()
        return Forged(msg_id, _replace_signature(scheme, headers, garbage, now), body)
    if attack == "wrong_secret":
        return Forged(msg_id, signed(keys=[random_secret()]), body)
    if attack == "rotated_key":
        return Forged(msg_id, signed(keys=[retired or random_secret()]), body)
    if attack == "stale_timestamp":
        return Forged(msg_id, signed(stamp=int(now - stale_by)), body)
    if attack == "replay":
        if replayed is None:
            raise ValueError("a replay needs an already-delivered event to re-send")
        old_id, old_body = replayed
        return Forged(
            old_id, signed(stamp=int(now - stale_by), payload=old_body, i=old_id), old_body
        )
    if attack == "tampered_body":
        headers = signed()
        tampered = body.replace(b'"seq": 0', b'"seq": 1')
        return Forged(msg_id, headers, tampered)
    # missing_headers
    headers = signed()
    dropped = {h.lower() for h in SIGNATURE_HEADERS.get(scheme.name, ())}
    return Forged(msg_id, {k: v for k, v in headers.items() if k.lower() not in dropped}, body)


def forge_token(
    attack: str,
    *,
    scheme: Scheme,
    secrets: Sequence[str],
    msg_id: str,
    now: int,
    tokens: FaultTokens,
) -> Forged:
    """One correctly signed delivery whose bearer token is ``attack``'s (none: ``token_missing``)."""
    if attack not in TOKEN_ATTACKS:
        raise ValueError(f"unknown token attack {attack!r}; use one of {', '.join(TOKEN_ATTACKS)}")
    body = attack_body(msg_id, attack)
    headers = scheme.sign(msg_id=msg_id, timestamp=now, body=body, secrets=secrets)
    if attack != "token_missing":
        token = getattr(tokens, attack.removeprefix("token_"))()  # one token, not all five
        headers["Authorization"] = f"Bearer {token}"
    return Forged(msg_id, headers, body)


def _replace_signature(scheme: Scheme, headers: dict[str, str], garbage: str, now: int) -> dict:
    if scheme.name == "standard":
        return {**headers, "webhook-signature": f"v1,{garbage}"}
    digest = base64.b64decode(garbage).hex()
    if scheme.name == "stripe":
        return {**headers, "Stripe-Signature": f"t={now},v1={digest}"}
    return {**headers, "X-Hub-Signature-256": f"sha256={digest}"}


__all__ = [
    "ATTACKS",
    "TIMED_ATTACKS",
    "TOKEN_ATTACKS",
    "Forged",
    "attack_body",
    "forge",
    "forge_token",
    "random_secret",
]
