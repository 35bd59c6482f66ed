"""The ``oauth`` stack node: its plan (ports, proxy, env), launcher and probe, without a JVM."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from harness.stack import layout, local, oauth
from harness.stack.launch import LAUNCHERS
from harness.stack.provision import Artifacts


def test_the_node_listens_on_loopback_behind_its_proxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(layout.PORT_OFFSET_ENV, "100")
    node = oauth.prepare(tmp_path, tmp_path / "libs")
    assert node.kind == "oauth" and node.probe == "oauth" and node.proxy == "oauth"
    assert node.ports == {"proxy": 8280, "client": 18280}
    assert node.env["SERVER_HOSTNAME"] == "127.0.0.1" and node.env["SERVER_PORT"] == "18280"
    assert node.argv[-1] == oauth.MAIN_CLASS and f"{tmp_path / 'libs'}/*" in node.argv
    assert oauth.proxy().upstream == "127.0.0.1:18280"
    assert oauth.issuer_url() == "http://127.0.0.1:8280/default"


def test_the_signing_key_is_private_and_rotate_key_replaces_it(tmp_path: Path) -> None:
    node = oauth.prepare(tmp_path, tmp_path / "libs")
    config = Path(node.env["JSON_CONFIG_PATH"])
    assert config.stat().st_mode & 0o777 == 0o600
    before = config.read_text()
    assert '\\"d\\"' in before and '\\"kid\\": \\"default\\"' in before
    oauth.rotate_key(node)
    assert config.read_text() != before and config.stat().st_mode & 0o777 == 0o600


def test_a_planned_stack_with_oauth_has_its_proxy_node_and_issuer(tmp_path: Path) -> None:
    artifacts = Artifacts(tmp_path, tmp_path / "toxiproxy", tmp_path, "go",
                          oauth_libs=tmp_path / "libs")  # fmt: skip
    state = local.plan(0, False, artifacts, tmp_path, with_oauth=True)
    assert "oauth" in state.nodes and [p.name for p in state.proxies] == ["oauth"]
    assert state.oauth_issuer == oauth.issuer_url()
    assert "oauth" in LAUNCHERS
    assert layout.oauth_proxy_port() in layout.stack_ports(0, False, oauth=True)


def test_the_probe_is_false_where_nothing_listens() -> None:
    assert oauth.ready(1, timeout=0.5) is False


def test_the_signing_key_read_back_is_the_one_the_jwks_will_publish(tmp_path: Path) -> None:
    node = oauth.prepare(tmp_path, tmp_path / "libs")
    config = json.loads(Path(node.env["JSON_CONFIG_PATH"]).read_text())
    published = json.loads(config["tokenProvider"]["keyProvider"]["initialKeys"])
    key = oauth.signing_key(node)
    assert key is not None
    assert key.public_key().public_numbers().n == int.from_bytes(
        base64.urlsafe_b64decode(published["n"] + "=="), "big"
    )
    oauth.rotate_key(node)
    rotated = oauth.signing_key(node)
    assert rotated is not None and rotated.public_key().public_numbers().n != (
        key.public_key().public_numbers().n
    )


def test_an_unreadable_config_gives_no_signing_key(tmp_path: Path) -> None:
    node = oauth.prepare(tmp_path, tmp_path / "libs")
    Path(node.env["JSON_CONFIG_PATH"]).write_text("{not json")
    assert oauth.signing_key(node) is None
    Path(node.env["JSON_CONFIG_PATH"]).unlink()
    assert oauth.signing_key(node) is None
