"""The harness's webhook signatures, checked by the providers' own verifiers and by laws."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest
import standardwebhooks
import stripe
import svix
from hypothesis import given
from hypothesis import strategies as st

from harness.webhooks import REASONS, SCHEMES, Scheme

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
OLD = "whsec_" + base64.b64encode(b"o" * 32).decode()
OTHER = "whsec_" + base64.b64encode(b"x" * 32).decode()
BODY = json.dumps({"id": "evt_1", "object": "event", "type": "order.created"}).encode()

secrets_st = st.binary(min_size=24, max_size=48).map(
    lambda raw: "whsec_" + base64.b64encode(raw).decode()
)
ids_st = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=30)
bodies_st = st.binary(max_size=300)
stamps_st = st.integers(min_value=0, max_value=4_000_000_000)


def sign(scheme: str, secrets: list[str], *, ts: int | None = None, body: bytes = BODY) -> dict:
    stamp = int(time.time()) if ts is None else ts
    return SCHEMES[scheme].sign(msg_id="msg_1", timestamp=stamp, body=body, secrets=secrets)


# --- the providers' own libraries accept what the harness signs ------------------------------


def test_standardwebhooks_verifies_the_harness_signature() -> None:
    headers = sign("standard", [SECRET])
    assert standardwebhooks.Webhook(SECRET).verify(BODY, headers)["id"] == "evt_1"


@given(secrets_st, ids_st, stamps_st, st.text(max_size=300))
def test_the_signature_is_byte_for_byte_the_reference_signers(secret, msg_id, stamp, text) -> None:
    """The harness signs with the stdlib's HMAC (the sender's hot path); the reference library
    signs the same content to the same header."""
    ours = SCHEMES["standard"].sign(
        msg_id=msg_id, timestamp=stamp, body=text.encode(), secrets=[secret]
    )["webhook-signature"]
    theirs = standardwebhooks.Webhook(secret).sign(
        msg_id, datetime.fromtimestamp(stamp, tz=UTC), text
    )
    assert ours == theirs


def test_svix_verifies_the_harness_signature_with_either_key_of_a_rotation() -> None:
    headers = sign("standard", [SECRET, OLD])
    for secret in (SECRET, OLD):
        svix.Webhook(secret).verify(BODY, headers)  # raises on a bad signature


def test_stripe_construct_event_accepts_the_harness_signature() -> None:
    headers = sign("stripe", [SECRET])
    event = stripe.Webhook.construct_event(BODY, headers["Stripe-Signature"], SECRET)
    assert event.id == "evt_1"


def test_stripe_accepts_either_v1_signature_during_a_rotation() -> None:
    header = sign("stripe", [SECRET, OLD])["Stripe-Signature"]
    for secret in (SECRET, OLD):
        assert stripe.Webhook.construct_event(BODY, header, secret).id == "evt_1"


# --- and refuse what is forged, tampered or stale ---------------------------------------------


@pytest.mark.parametrize(
    "headers,body",
    [
        (lambda: sign("standard", [OTHER]), BODY),  # wrong secret
        (lambda: sign("standard", [SECRET]), BODY + b" "),  # tampered body
        (lambda: sign("standard", [SECRET], ts=int(time.time()) - 600), BODY),  # stale
        (lambda: {**sign("standard", [SECRET]), "webhook-signature": "v1,AAAA"}, BODY),
    ],
    ids=["wrong-secret", "tampered", "stale", "forged"],
)
def test_standardwebhooks_and_svix_refuse_bad_deliveries(headers, body) -> None:
    made = headers()
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(SECRET).verify(body, made)
    with pytest.raises(svix.webhooks.WebhookVerificationError):
        svix.Webhook(SECRET).verify(body, made)


@pytest.mark.parametrize(
    "make,body",
    [
        (lambda: sign("stripe", [OTHER]), BODY),
        (lambda: sign("stripe", [SECRET]), BODY.replace(b"evt_1", b"evt_2")),
        (lambda: sign("stripe", [SECRET], ts=int(time.time()) - 301), BODY),
        (lambda: {"Stripe-Signature": f"t={int(time.time())},v1={'0' * 64}"}, BODY),
    ],
    ids=["wrong-secret", "tampered", "stale", "forged"],
)
def test_stripe_refuses_bad_deliveries(make, body) -> None:
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, make()["Stripe-Signature"], SECRET)


def test_the_harness_verifier_agrees_with_the_libraries_on_a_rotated_key() -> None:
    """A delivery signed with only the old key fails where only the new key is trusted."""
    headers = sign("standard", [OLD])
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(SECRET).verify(BODY, headers)
    result = SCHEMES["standard"].verify(
        headers=headers, body=BODY, secrets=[SECRET], now=time.time()
    )
    assert (result.ok, result.reason) == (False, "bad_signature")


# --- the harness's own verifier -----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_headers_are_found_whatever_their_case(name: str) -> None:
    scheme = SCHEMES[name]
    headers = scheme.sign(msg_id="m", timestamp=100, body=BODY, secrets=[SECRET])
    shouted = {k.upper(): v for k, v in headers.items()}
    assert scheme.verify(headers=shouted, body=BODY, secrets=[SECRET], now=100).ok


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_missing_headers_are_named(name: str) -> None:
    result = SCHEMES[name].verify(headers={}, body=BODY, secrets=[SECRET], now=100)
    assert (result.ok, result.reason) == (False, "missing_headers")


@pytest.mark.parametrize("name", ["standard", "stripe"])
def test_a_stale_or_future_timestamp_is_refused_beyond_the_tolerance(name: str) -> None:
    scheme = SCHEMES[name]
    headers = scheme.sign(msg_id="m", timestamp=1000, body=BODY, secrets=[SECRET])
    for now in (1301, 699):
        assert scheme.verify(headers=headers, body=BODY, secrets=[SECRET], now=now).reason == (
            "stale_timestamp"
        )
    assert scheme.verify(headers=headers, body=BODY, secrets=[SECRET], now=1300).ok
    late = scheme.verify(headers=headers, body=BODY, secrets=[SECRET], now=1400, tolerance=500)
    assert late.ok


def test_stripe_and_standard_report_the_message_id() -> None:
    now = 1000
    for name, expected in (("standard", "msg_9"), ("stripe", "evt_1"), ("github", "msg_9")):
        scheme = SCHEMES[name]
        headers = scheme.sign(msg_id="msg_9", timestamp=now, body=BODY, secrets=[SECRET])
        assert scheme.verify(headers=headers, body=BODY, secrets=[SECRET], now=now).msg_id == (
            expected
        )


def test_a_bad_standard_secret_is_refused_without_showing_it() -> None:
    with pytest.raises(ValueError) as caught:
        sign("standard", ["whsec_"])
    assert "whsec_" in str(caught.value) and "characters" in str(caught.value)
    secret = "whsec_" + "s3cr3t"
    assert secret not in repr(SCHEMES["standard"])


def test_signing_needs_a_secret() -> None:
    for scheme in SCHEMES.values():
        with pytest.raises(ValueError, match="at least one secret"):
            scheme.sign(msg_id="m", timestamp=1, body=b"", secrets=[])


def test_verifying_without_a_secret_is_refused() -> None:
    for scheme in SCHEMES.values():
        headers = scheme.sign(msg_id="m", timestamp=1, body=b"x", secrets=[SECRET])
        assert scheme.verify(headers=headers, body=b"x", secrets=[], now=1).reason == "no_secret"


@given(
    name=st.sampled_from(sorted(SCHEMES)),
    msg_id=ids_st,
    ts=stamps_st,
    body=bodies_st,
    secret=secrets_st,
)
def test_a_signature_verifies_with_its_secret(name, msg_id, ts, body, secret) -> None:
    scheme: Scheme = SCHEMES[name]
    headers = scheme.sign(msg_id=msg_id, timestamp=ts, body=body, secrets=[secret])
    assert scheme.verify(headers=headers, body=body, secrets=[secret], now=ts).ok


@given(
    name=st.sampled_from(sorted(SCHEMES)),
    ts=stamps_st,
    body=bodies_st,
    secret=secrets_st,
    other=secrets_st,
    flip=st.integers(min_value=0),
)
def test_a_changed_body_or_another_secret_fails(name, ts, body, secret, other, flip) -> None:
    scheme = SCHEMES[name]
    headers = scheme.sign(msg_id="m", timestamp=ts, body=body, secrets=[secret])
    if body:
        i = flip % len(body)
        tampered = body[:i] + bytes([body[i] ^ 1]) + body[i + 1 :]
    else:
        tampered = b"x"
    result = scheme.verify(headers=headers, body=tampered, secrets=[secret], now=ts)
    assert (result.ok, result.reason) == (False, "bad_signature")
    if other != secret:
        wrong = scheme.verify(headers=headers, body=body, secrets=[other], now=ts)
        assert (wrong.ok, wrong.reason) == (False, "bad_signature")


@given(
    name=st.sampled_from(["standard", "stripe"]),
    ts=stamps_st,
    new=secrets_st,
    old=secrets_st,
)
def test_during_a_rotation_either_key_verifies(name, ts, new, old) -> None:
    scheme = SCHEMES[name]
    headers = scheme.sign(msg_id="m", timestamp=ts, body=BODY, secrets=[new, old])
    for trusted in ([new], [old], [old, new]):
        assert scheme.verify(headers=headers, body=BODY, secrets=trusted, now=ts).ok


@given(
    name=st.sampled_from(sorted(SCHEMES)),
    headers=st.dictionaries(st.text(max_size=20), st.text(max_size=80), max_size=5),
    body=bodies_st,
)
def test_the_verifier_never_raises_on_arbitrary_headers(name, headers, body) -> None:
    """Fuzz: any header soup gives a Verification with a known reason, never an exception."""
    result = SCHEMES[name].verify(headers=headers, body=body, secrets=[SECRET], now=0)
    assert result.ok is False and result.reason in REASONS


# --- security faults: each forged delivery fails the harness's verifier and the libraries' ---

from harness.webhooks.attacks import ATTACKS, TIMED_ATTACKS, forge  # noqa: E402


@pytest.mark.parametrize("name", sorted(SCHEMES))
@pytest.mark.parametrize("attack", ATTACKS)
def test_every_attack_is_refused_by_a_correct_verifier(name: str, attack: str) -> None:
    scheme = SCHEMES[name]
    now = int(time.time())
    if attack in TIMED_ATTACKS and scheme.default_tolerance is None:
        with pytest.raises(ValueError, match="no timestamp"):
            forge(attack, scheme=scheme, secrets=[SECRET], msg_id="atk", now=now)
        return
    forged = forge(
        attack, scheme=scheme, secrets=[SECRET], msg_id="atk-1", now=now,
        replayed=("evt_1", BODY), retired=OLD,
    )  # fmt: skip
    result = scheme.verify(headers=forged.headers, body=forged.body, secrets=[SECRET], now=now)
    assert not result.ok, attack
    if name == "standard":
        with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
            standardwebhooks.Webhook(SECRET).verify(forged.body, forged.headers)
    if name == "stripe":
        with pytest.raises((stripe.SignatureVerificationError, ValueError)):
            stripe.Webhook.construct_event(
                forged.body, forged.headers.get("Stripe-Signature"), SECRET
            )
