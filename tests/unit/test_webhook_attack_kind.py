"""The webhook_attack fault kind: where it may be used and which attacks ``all`` means."""

from __future__ import annotations

import pytest

from harness.faults.kinds.webhook_attack import WebhookAttack
from harness.scenario import Scenario
from harness.webhooks.attacks import ATTACKS, TIMED_ATTACKS


def scenario(target: dict, attack: object = "all") -> dict:
    return {
        "name": "w",
        "target": target,
        "storm": {"duration": "2s", "rate": {"per_second": 1}},
        "faults": [{"at": "1s", "webhook_attack": {"attack": attack}}],
    }


WEBHOOK = {"webhook": {"url": "http://127.0.0.1:18090/h", "secret_env": ["S"]}}
GITHUB = {"webhook": {**WEBHOOK["webhook"], "scheme": "github"}}


def test_all_attacks_on_a_standard_endpoint() -> None:
    parsed = Scenario.model_validate(scenario(WEBHOOK))
    settings = WebhookAttack.model_validate(parsed.faults[0].settings)
    assert settings.attacks("standard") == list(ATTACKS)


def test_all_on_github_leaves_out_the_timestamp_attacks() -> None:
    settings = WebhookAttack(attack="all")
    assert set(settings.attacks("github")) == set(ATTACKS) - set(TIMED_ATTACKS)


def test_a_timestamp_attack_on_github_is_refused() -> None:
    with pytest.raises(ValueError, match="github scheme has no timestamp"):
        Scenario.model_validate(scenario(GITHUB, "replay"))


def test_an_attack_needs_a_webhook_target() -> None:
    with pytest.raises(ValueError, match="needs a webhook target"):
        Scenario.model_validate(scenario({"kafka": {"topic": "t"}}))


def test_an_unknown_attack_is_refused() -> None:
    with pytest.raises(ValueError, match="webhook_attack"):
        Scenario.model_validate(scenario(WEBHOOK, "sql_injection"))


def test_proxy_faults_may_target_the_endpoint() -> None:
    data = scenario(WEBHOOK)
    data["faults"] = [{"at": "1s", "duration": "0.5s", "proxy_down": {"target": "endpoint"}}]
    assert Scenario.model_validate(data).faults[0].action == "proxy_down"
    data["target"] = {"kafka": {"topic": "t"}}
    with pytest.raises(ValueError, match="endpoint"):
        Scenario.model_validate(data)
