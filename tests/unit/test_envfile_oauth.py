"""The env file's ``oauth:`` section: the issuer a run takes bearer tokens from, its errors (one
``file:line: field: reason`` each), the allow-list over its addresses, the stack it presents,
and the local stack writing it into run/env.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError, UnsafeTargetError
from harness.stack import Stack, load_env, parse_env
from harness.stack.localenv import write_local_env
from harness.stack.state import NodeState, StackState

ENV = """\
version: 1
toxiproxy: {api: "http://127.0.0.1:8474"}
sqs: {endpoint: "http://127.0.0.1:9324"}
oauth:
  issuer: "http://127.0.0.1:8180/default"
  node:
    proxy: oauth
    listen: "127.0.0.1:8180"
    address: "127.0.0.1:18180"
    control: {kill: docker kill oauth, restart: docker restart oauth}
"""


def test_the_issuer_is_presented_as_the_stacks_and_faults_can_name_its_node() -> None:
    env = parse_env(ENV, "env.yaml")
    assert env.oauth is not None and env.oauth.issuer == "http://127.0.0.1:8180/default"
    stack = Stack.from_env(env, "env.yaml")
    assert stack.oauth_issuer == "http://127.0.0.1:8180/default"
    assert stack.node("oauth").state.probe == "oauth"
    assert stack.oauth_signing_key() is None  # an env file's issuer keeps its key


def test_an_issuer_alone_is_no_env_file() -> None:
    text = 'version: 1\ntoxiproxy: {api: "http://127.0.0.1:8474"}\noauth: {issuer: "http://127.0.0.1:8180/x"}\n'
    with pytest.raises(ConfigError, match="a broker or an emulator"):
        parse_env(text, "env.yaml")


@pytest.mark.parametrize(
    ("new", "field", "why"),
    [
        ('issuer: "127.0.0.1:8180/default"', "oauth.issuer", "http:// or https://"),
        ('issuer: "http://user:pw@127.0.0.1:8180/default"', "oauth.issuer", "no user"),
        ('issuer: "http://127.0.0.1:0/default"', "oauth.issuer", "port from 1 to 65535"),
        ('issuer: "http://127.0.0.1:8180/default"\n  audience: x', "oauth.audience",
         "unknown field (known: issuer, node)"),
    ],
)  # fmt: skip
def test_each_issuer_problem_is_one_error_naming_file_line_and_field(
    new: str, field: str, why: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_env(ENV.replace('issuer: "http://127.0.0.1:8180/default"', new), "env.yaml")
    first = str(caught.value).splitlines()[0]
    assert first.startswith("env.yaml:") and f": {field}: " in first, first
    assert first.split(":")[1].isdigit(), first
    assert why in str(caught.value)
    assert "pw" not in str(caught.value)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('issuer: "http://127.0.0.1:8180/default"', 'issuer: "http://10.1.2.3:8180/default"',
         "oauth.issuer"),
        ('address: "127.0.0.1:18180"', 'address: "10.1.2.4:18180"', "oauth.node.address"),
    ],
)  # fmt: skip
def test_the_issuers_addresses_are_checked_against_the_allow_list(
    monkeypatch: pytest.MonkeyPatch, old: str, new: str, field: str
) -> None:
    monkeypatch.delenv("HARNESS_ALLOW_HOSTS", raising=False)
    env = parse_env(ENV.replace(old, new), "staging.yaml")
    with pytest.raises(UnsafeTargetError) as caught:
        Stack.from_env(env, "staging.yaml")
    assert str(caught.value).startswith(f"staging.yaml: {field}: Refusing to target")


def test_the_local_stack_writes_its_issuer_into_its_env_file(tmp_path: Path) -> None:
    state = StackState(
        backend="local", kafka_brokers=0, rabbitmq=False, kafka_bootstrap=[],
        toxiproxy_url="http://127.0.0.1:9474", sqs_endpoint="http://127.0.0.1:9324",
        oauth_issuer="http://127.0.0.1:8180/default",
    )  # fmt: skip
    state.nodes["oauth"] = NodeState(
        name="oauth", kind="oauth", argv=["x"], cwd=str(tmp_path), data_dir=str(tmp_path),
        log_file=str(tmp_path / "n.log"), proxy="oauth", probe="oauth",
        ports={"proxy": 8180, "client": 18180}, probe_port=18180,
    )  # type: ignore[arg-type]  # fmt: skip
    env = load_env(write_local_env(state, tmp_path / "env.yaml"))
    assert env.oauth is not None and env.oauth.issuer == "http://127.0.0.1:8180/default"
    assert env.oauth.node is not None and env.oauth.node.address == "127.0.0.1:18180"
    assert env.oauth.node.listen == "127.0.0.1:8180"
