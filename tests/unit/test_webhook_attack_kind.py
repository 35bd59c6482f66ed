"""The webhook_attack fault kind: where it may be used and which attacks ``all`` means."""

from __future__ import annotations

import pytest

from harness.faults.kinds.webhook_attack import WebhookAttack
from harness.scenario import Scenario
from harness.webhooks.attacks import ATTACKS, TIMED_ATTACKS, TOKEN_ATTACKS


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


OAUTH = {"webhook": {**WEBHOOK["webhook"], "oauth": {"audience": "api://orders"}}}


def test_all_on_an_endpoint_taking_tokens_adds_the_token_attacks() -> None:
    parsed = Scenario.model_validate(scenario(OAUTH))
    settings = WebhookAttack.model_validate(parsed.faults[0].settings)
    assert settings.attacks("standard", bearer=True) == [*ATTACKS, *TOKEN_ATTACKS]
    assert settings.attacks("standard") == list(ATTACKS)


@pytest.mark.parametrize("attack", TOKEN_ATTACKS)
def test_a_token_attack_needs_deliveries_that_carry_tokens(attack: str) -> None:
    with pytest.raises(ValueError, match="carry no bearer token; give target.webhook.oauth"):
        Scenario.model_validate(scenario(WEBHOOK, attack))
    assert Scenario.model_validate(scenario(OAUTH, attack)).faults[0].action == "webhook_attack"


def test_the_oauth_settings_refuse_a_secret_in_place_of_a_variable_name() -> None:
    data = scenario({"webhook": {**WEBHOOK["webhook"],
                                 "oauth": {"client_secret_env": "s3cr3t value!"}}})  # fmt: skip
    with pytest.raises(ValueError, match="not an environment variable name") as caught:
        Scenario.model_validate(data)
    assert "s3cr3t" not in str(caught.value)  # it may be the secret itself: never echoed


def test_an_audience_with_white_space_is_refused() -> None:
    data = scenario({"webhook": {**WEBHOOK["webhook"], "oauth": {"audience": "api://a b"}}})
    with pytest.raises(ValueError, match="white space"):
        Scenario.model_validate(data)


def test_key_rotation_targets_only_the_issuer_of_a_run_that_takes_tokens() -> None:
    data = scenario(OAUTH)
    data["faults"] = [{"at": "1s", "key_rotation": {"target": "oauth"}}]
    assert Scenario.model_validate(data).faults[0].action == "key_rotation"
    data["faults"] = [{"at": "1s", "key_rotation": {"target": "endpoint"}}]
    with pytest.raises(ValueError, match="the target is oauth"):
        Scenario.model_validate(data)
    data = scenario(WEBHOOK)
    data["faults"] = [{"at": "1s", "key_rotation": {"target": "oauth"}}]
    with pytest.raises(ValueError, match="takes no tokens"):
        Scenario.model_validate(data)


def test_the_issuer_is_a_proxy_fault_target_only_when_tokens_are_taken() -> None:
    data = scenario(OAUTH)
    data["faults"] = [{"at": "1s", "duration": "1s", "proxy_down": {"target": "oauth"}}]
    assert Scenario.model_validate(data).faults[0].action == "proxy_down"
    data["target"] = WEBHOOK
    with pytest.raises(ValueError, match="oauth"):
        Scenario.model_validate(data)
