"""A downstream's ``auth: {oauth: ...}``: what a scenario may say, what is refused and how, and
the issuer's short-lived ``ttl-<n>`` issuers that give its tokens their lifetime."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scenario_support import MINIMAL_SCENARIO

from harness.errors import ConfigError
from harness.faults.targets import scenario_nodes
from harness.scenario import parse_scenario
from harness.scenario.observe import needs_oauth
from harness.stack import oauth

SUT = """\
system_under_test:
  command: [python, examples/http_downstream_consumer.py]
"""


def scenario(auth: str, *, second: str = "", faults: str = "") -> str:
    return (
        MINIMAL_SCENARIO
        + SUT
        + "observe:\n"
        + f"  - name: payments\n    downstream: {{env: PAYMENTS_URL, auth: {auth}}}\n"
        + second
        + faults
    )


def refusal(text: str) -> str:
    return str(pytest.raises(ConfigError, parse_scenario, text, "scenarios/x.yaml").value)


def test_a_downstream_with_oauth_needs_the_issuer_and_may_fault_it() -> None:
    faults = "faults:\n  - at: 1s\n    proxy_down: {target: oauth}\n    duration: 1s\n"
    loaded = parse_scenario(
        scenario("{oauth: {audience: 'api://payments', token_lifetime: 6s}}", faults=faults),
        "scenarios/x.yaml",
    )
    settings = loaded.observe[0].downstream
    assert settings is not None and settings.auth is not None
    assert settings.auth.oauth.audience == "api://payments"
    assert settings.auth.oauth.lifetime_s == 6 and settings.auth.oauth.leeway == 0
    assert needs_oauth(loaded.observe) and "oauth" in scenario_nodes(loaded)


def test_without_auth_the_issuer_is_neither_needed_nor_a_target() -> None:
    text = (
        MINIMAL_SCENARIO
        + "faults:\n  - at: 1s\n    proxy_down: {target: oauth}\n    duration: 1s\n"
    )
    assert "unknown target 'oauth'" in refusal(text)


@pytest.mark.parametrize(
    ("auth", "fragment"),
    [
        ("{oauth: {}}", "observe[0].downstream.auth.oauth.audience"),
        ("{oauth: {audience: 'has space'}}", "is not an audience"),
        ("{oauth: {audience: a, token_lifetime: 1500ms}}", "token_lifetime is whole seconds"),
        ("{oauth: {audience: a, token_lifetime: 61s}}", "from 1s to 60s"),
        ("{oauth: {audience: a, token_lifetime: 4s, leeway: 4s}}", "must be shorter than"),
        ("{basic: {}}", "unknown field"),
        ("{}", "observe[0].downstream.auth.oauth"),
    ],
)
def test_bad_auth_settings_get_one_clear_message(auth: str, fragment: str) -> None:
    message = refusal(scenario(auth))
    assert fragment in message and "Traceback" not in message
    assert "scenarios/x.yaml:11: observe[0].downstream.auth" in message


def test_only_one_downstream_may_demand_tokens() -> None:
    second = "  - name: crm\n    downstream: {env: CRM_URL, auth: {oauth: {audience: b}}}\n"
    message = refusal(scenario("{oauth: {audience: a}}", second=second))
    assert "only one downstream may set auth" in message


def test_the_issuer_config_declares_one_short_lived_issuer_per_second(tmp_path: Path) -> None:
    node = oauth.prepare(tmp_path, tmp_path / "libs")
    config = json.loads(Path(node.env["JSON_CONFIG_PATH"]).read_text())
    callbacks = {c["issuerId"]: c for c in config["tokenCallbacks"]}
    assert len(callbacks) == oauth.MAX_SHORT_LIFETIME
    assert callbacks["ttl-6"]["tokenExpiry"] == 6
    (mapping,) = callbacks["ttl-6"]["requestMappings"]
    assert mapping["claims"] == {"sub": "${clientId}", "aud": ["${scope}"]}
    assert "tokenProvider" in config  # the signing key is still there


def test_an_issuer_url_turns_into_its_short_lived_sibling() -> None:
    base = "http://127.0.0.1:8180/default"
    assert oauth.with_lifetime(base, 4) == "http://127.0.0.1:8180/ttl-4"
    assert oauth.with_lifetime(base, None) == base
    with pytest.raises(ValueError, match="1 to 60 s"):
        oauth.with_lifetime(base, 0)
    assert oauth.issuer_url(8180, lifetime=3) == "http://127.0.0.1:8180/ttl-3"


def test_a_run_on_a_stack_without_the_issuer_is_refused_naming_the_command() -> None:
    from types import SimpleNamespace

    from harness.errors import StackError
    from harness.run.commands import _require_healthy

    loaded = parse_scenario(scenario("{oauth: {audience: a}}"), "scenarios/x.yaml")
    state = SimpleNamespace(oauth_issuer=None, pubsub_emulator_host=None, sqs_endpoint=None)
    stack = SimpleNamespace(nodes={}, services={}, state=state, kafka_brokers=1, env=None)
    with pytest.raises(StackError, match=r"harness stack up --with oauth") as refused:
        _require_healthy(stack, [loaded])  # type: ignore[arg-type]
    assert str(refused.value).startswith("ok needs the OAuth2 issuer")
