"""Provider mode's signing secrets: read from the named variables; made fresh for the run (and
handed to the endpoint under that name) only when the harness starts the endpoint itself."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.run.clients import webhook_secrets
from harness.scenario.webhook import WebhookTarget
from harness.webhooks import SCHEMES, fresh_secret


def target(**extra: object) -> WebhookTarget:
    return WebhookTarget.model_validate(
        {"url": "http://127.0.0.1:18490/webhook", "secret_env": ["HOOK_A", "HOOK_B"], **extra}
    )


def test_exported_secrets_are_used_and_nothing_is_handed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_A", "whsec_" + "QUJD" * 8)
    monkeypatch.setenv("HOOK_B", "whsec_" + "REVG" * 8)
    secrets, handed = webhook_secrets(target())
    assert secrets == ("whsec_" + "QUJD" * 8, "whsec_" + "REVG" * 8) and handed == {}


def test_a_missing_secret_is_refused_when_the_endpoint_is_not_ours(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HOOK_A", raising=False)
    monkeypatch.setenv("HOOK_B", "whsec_" + "REVG" * 8)
    with pytest.raises(ConfigError) as refused:
        webhook_secrets(target())
    assert "HOOK_A" in str(refused.value) and "REVG" not in str(refused.value)


def test_a_missing_secret_is_made_and_handed_when_the_harness_starts_the_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HOOK_A", raising=False)
    monkeypatch.delenv("HOOK_B", raising=False)
    secrets, handed = webhook_secrets(target(), make_missing=True)
    assert set(handed) == {"HOOK_A", "HOOK_B"} and secrets == (handed["HOOK_A"], handed["HOOK_B"])
    assert secrets[0] != secrets[1]
    headers = SCHEMES["standard"].sign(
        msg_id="m1", timestamp=1_700_000_000, body=b"{}", secrets=secrets[:1]
    )
    verdict = SCHEMES["standard"].verify(
        headers=headers, body=b"{}", secrets=secrets[:1], now=1_700_000_000
    )
    assert verdict.ok


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_fresh_secrets_sign_and_verify_in_their_scheme(scheme: str) -> None:
    secret = fresh_secret(scheme)
    assert secret.startswith("whsec_") == (scheme == "standard")
    headers = SCHEMES[scheme].sign(
        msg_id="m1", timestamp=1_700_000_000, body=b"x", secrets=[secret]
    )
    assert (
        SCHEMES[scheme].verify(headers=headers, body=b"x", secrets=[secret], now=1_700_000_000).ok
    )
