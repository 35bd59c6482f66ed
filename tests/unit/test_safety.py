"""The target policy: names refused without DNS, connected peers checked, secrets redacted."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import safety
from harness.errors import ConfigError, UnsafeTargetError
from harness.safety import (
    ALLOW_ENV,
    check_address,
    check_peer,
    check_target,
    pin_address,
    redact_text,
    redact_url,
    split_host_port,
)


@pytest.fixture(autouse=True)
def _no_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_ENV, raising=False)


@pytest.fixture
def no_dns(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Fail any resolution; the list records what was asked."""
    asked: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        asked.append(args[0])
        raise AssertionError(f"getaddrinfo({args[0]!r}) was called")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return asked


@pytest.mark.parametrize("host", ["example.com", "kafka-1", "10.0.0.1", "0.0.0.0", "::", "fe80::1"])
def test_a_non_loopback_host_is_refused_without_being_resolved(
    host: str, no_dns: list[Any]
) -> None:
    with pytest.raises(UnsafeTargetError, match=ALLOW_ENV):
        check_target(host)
    assert no_dns == []


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost", "LOCALHOST"]
)
def test_loopback_literals_and_localhost_pass_without_dns(host: str, no_dns: list[Any]) -> None:
    check_target(host)
    assert no_dns == []


def test_allow_listed_names_pass_from_the_environment_or_the_caller(
    monkeypatch: pytest.MonkeyPatch, no_dns: list[Any]
) -> None:
    check_target("kafka-1", allow=["kafka-1"])
    monkeypatch.setenv(ALLOW_ENV, " Broker.Lab , 10.0.0.9")
    check_target("broker.lab")
    check_address("10.0.0.9:9092")
    assert no_dns == []


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1:abc", "'abc'"),
        ("127.0.0.1:", "''"),
        ("127.0.0.1:0", "'0'"),
        ("127.0.0.1:70000", "'70000'"),
        ("127.0.0.1", "no host or no port"),
        ("[::1]9092", "v6-address"),
        ("[::1", "v6-address"),
        (":9092", "no host"),
    ],
)
def test_a_bad_address_is_a_clear_config_error(address: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason) as caught:
        split_host_port(address)
    assert repr(address) in str(caught.value)


def test_split_host_port_keeps_its_answers() -> None:
    assert split_host_port("127.0.0.1:9091") == ("127.0.0.1", 9091)
    assert split_host_port("[::1]:9092") == ("::1", 9092)
    assert split_host_port(" localhost:5672 ") == ("localhost", 5672)


@pytest.mark.parametrize(
    "peer", [("127.0.0.1", 9091), ("::1", 1, 0, 0), "127.9.9.9", ("::ffff:127.0.0.1", 5)]
)
def test_a_loopback_peer_passes(peer: Any) -> None:
    check_peer(peer)


@pytest.mark.parametrize("peer", [("10.0.0.1", 9091), ("0.0.0.0", 1), "2001:db8::1", None, 42])
def test_a_peer_off_loopback_or_unknown_is_refused(peer: Any) -> None:
    with pytest.raises(UnsafeTargetError):
        check_peer(peer)


def test_a_peer_of_an_allow_listed_literal_passes(no_dns: list[Any]) -> None:
    check_peer(("10.0.0.9", 9092), allow=["10.0.0.9"])
    with pytest.raises(UnsafeTargetError, match="10.0.0.8"):
        check_peer(("10.0.0.8", 9092), allow=["10.0.0.9"])


def test_check_peer_reads_a_connected_socket() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        with socket.create_connection(server.getsockname()) as client:
            check_peer(client)


def test_pin_address_returns_a_checked_literal(monkeypatch: pytest.MonkeyPatch) -> None:
    assert pin_address("127.0.0.5") == "127.0.0.5"
    assert pin_address("localhost") in {"127.0.0.1", "::1"}

    def hosts_file_gone_wrong(*_args: Any, **_kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("203.0.113.5", 0))]

    monkeypatch.setattr(socket, "getaddrinfo", hosts_file_gone_wrong)
    with pytest.raises(UnsafeTargetError, match="203.0.113.5"):
        pin_address("localhost")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("amqp://guest:s3cret@127.0.0.1:5672/%2F", "amqp://guest:***@127.0.0.1:5672/%2F"),
        ("amqp://127.0.0.1:5672/", "amqp://127.0.0.1:5672/"),
        ("http://user@127.0.0.1/", "http://user@127.0.0.1/"),
        ("amqp://u:p%40ss@[::1]:5672", "amqp://u:***@[::1]:5672"),
        ("amqp://:pw@host", "amqp://:***@host"),
    ],
)
def test_redact_url_hides_only_the_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_text_hides_urls_inside_messages() -> None:
    text = "Cannot reach amqp://guest:hunter2@127.0.0.1:5672/ (refused); also http://a:b@c/"
    assert redact_text(text) == (
        "Cannot reach amqp://guest:***@127.0.0.1:5672/ (refused); also http://a:***@c/"
    )


_secret = st.text(st.sampled_from("abcXYZ019%!$&'()*+,;=-._~"), min_size=4, max_size=20)


@given(user=st.text(st.sampled_from("abcdef"), max_size=8), password=_secret)
def test_no_password_survives_redaction(user: str, password: str) -> None:
    url = f"amqp://{user}:{password}@127.0.0.1:5672/vhost"
    for shown in (redact_url(url), redact_text(f"error at {url}: refused")):
        assert f":{password}@" not in shown
        assert safety.REDACTED in shown


def test_an_httpx_response_is_checked_at_the_address_it_came_from() -> None:
    import http.server
    import threading

    import httpx

    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            return None

    server = http.server.HTTPServer(("127.0.0.1", 0), Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        seen: list[Any] = []

        def peer(response: httpx.Response) -> None:
            seen.append(response.extensions["network_stream"].get_extra_info("server_addr"))

        hooks = {"response": [safety.check_http_peer, peer]}
        with httpx.Client(event_hooks=hooks) as client:
            assert client.get(f"http://localhost:{server.server_port}/").status_code == 200
        assert seen[0][0] in {"127.0.0.1", "::1"}
    finally:
        server.shutdown()
        server.server_close()


def test_stack_status_and_its_state_never_show_the_amqp_password(tmp_path: Path) -> None:
    import json

    from harness.stack import Stack
    from harness.stack.commands import status_report
    from harness.stack.state import StackState, save_state

    state = StackState(
        kafka_brokers=1,
        rabbitmq=True,
        kafka_bootstrap=["127.0.0.1:9091"],
        rabbitmq_url="amqp://guest:hunter2@127.0.0.1:5672/%2F",
        toxiproxy_url="http://127.0.0.1:1",
    )
    report = status_report(Stack(state, tmp_path / "state.json"))
    assert report["rabbitmq_url"] == "amqp://guest:***@127.0.0.1:5672/%2F"
    assert "hunter2" not in json.dumps(report) and "hunter2" not in repr(state)
    save_state(state, tmp_path / "state.json")
    assert (tmp_path / "state.json").stat().st_mode & 0o077 == 0


def test_an_amqp_target_does_not_show_its_password() -> None:
    from harness.drivers import AmqpTarget

    target = AmqpTarget(queue="orders", password="hunter2")
    assert "hunter2" not in repr(target) and target.password == "hunter2"
    assert target.parameters().host == "127.0.0.1"
