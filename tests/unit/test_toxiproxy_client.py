"""The Toxiproxy client's requests and error messages, over httpx's MockTransport (no server)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from harness.errors import FaultError, UnsafeTargetError
from harness.safety import ALLOW_ENV
from harness.stack import toxiproxy as tp
from harness.stack.toxiproxy import Stream, ToxicType, ToxiproxyClient

URL = "http://127.0.0.1:8474"
PROXY = {"name": "kafka-1", "listen": "127.0.0.1:9091", "upstream": "127.0.0.1:19091",
         "enabled": True, "toxics": []}  # fmt: skip
TOXIC = {"name": "slow", "type": "latency", "stream": "downstream", "toxicity": 1.0,
         "attributes": {"latency": 300, "jitter": 10}}  # fmt: skip


def client_answering(
    seen: list[httpx.Request], reply: Callable[[httpx.Request], httpx.Response]
) -> ToxiproxyClient:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return reply(request)

    return ToxiproxyClient(URL, transport=httpx.MockTransport(handler))


def body(request: httpx.Request) -> object:
    return json.loads(request.content) if request.content else None


@pytest.mark.parametrize(
    ("spec", "kind", "attributes"),
    [
        (tp.latency(300, jitter_ms=10), ToxicType.LATENCY, {"latency": 300, "jitter": 10}),
        (tp.bandwidth(64), ToxicType.BANDWIDTH, {"rate": 64}),
        (tp.timeout(0), ToxicType.TIMEOUT, {"timeout": 0}),
        (tp.reset_peer(500), ToxicType.RESET_PEER, {"timeout": 500}),
        (tp.slow_close(200), ToxicType.SLOW_CLOSE, {"delay": 200}),
        (tp.slicer(64, 16, 100), ToxicType.SLICER,
         {"average_size": 64, "size_variation": 16, "delay": 100}),
        (tp.limit_data(1024), ToxicType.LIMIT_DATA, {"bytes": 1024}),
    ],
)  # fmt: skip
def test_toxic_specs_carry_the_apis_attribute_names(spec, kind, attributes) -> None:
    assert spec.type is kind and spec.attributes == attributes


def test_add_toxic_posts_type_stream_toxicity_and_attributes() -> None:
    seen: list[httpx.Request] = []
    client = client_answering(seen, lambda r: httpx.Response(200, json=TOXIC))
    toxic = client.add_toxic("kafka-1", tp.latency(300, 10), Stream.UPSTREAM, 0.5, name="slow")
    (request,) = seen
    assert (request.method, request.url.path) == ("POST", "/proxies/kafka-1/toxics")
    assert body(request) == {"type": "latency", "stream": "upstream", "toxicity": 0.5,
                             "attributes": {"latency": 300, "jitter": 10}, "name": "slow"}  # fmt: skip
    assert toxic == tp.Toxic("slow", ToxicType.LATENCY, Stream.DOWNSTREAM, 1.0,
                             {"latency": 300, "jitter": 10})  # fmt: skip


def test_toxicity_outside_zero_to_one_is_refused_before_any_request() -> None:
    seen: list[httpx.Request] = []
    client = client_answering(seen, lambda r: httpx.Response(200, json=TOXIC))
    with pytest.raises(FaultError, match="toxicity"):
        client.add_toxic("kafka-1", tp.latency(1), toxicity=1.5)
    assert seen == []


@pytest.mark.parametrize(
    ("call", "method", "path", "sent"),
    [
        (lambda c: c.disable("kafka-1"), "POST", "/proxies/kafka-1", {"enabled": False}),
        (lambda c: c.enable("kafka-1"), "POST", "/proxies/kafka-1", {"enabled": True}),
        (lambda c: c.get_proxy("kafka-1"), "GET", "/proxies/kafka-1", None),
        (lambda c: c.create_proxy("kafka-1", "127.0.0.1:9091", "127.0.0.1:19091"), "POST",
         "/proxies", {k: v for k, v in PROXY.items() if k != "toxics"}),
    ],
)  # fmt: skip
def test_proxy_calls(call, method, path, sent) -> None:
    seen: list[httpx.Request] = []
    client = client_answering(seen, lambda r: httpx.Response(200, json=PROXY))
    assert call(client) == tp.Proxy("kafka-1", "127.0.0.1:9091", "127.0.0.1:19091")
    assert (seen[0].method, seen[0].url.path, body(seen[0])) == (method, path, sent)


def test_list_update_delete_and_reset() -> None:
    seen: list[httpx.Request] = []

    def reply(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE" or request.url.path == "/reset":
            return httpx.Response(204)
        if request.url.path == "/proxies":
            return httpx.Response(200, json={"kafka-1": {**PROXY, "toxics": [TOXIC]}})
        return httpx.Response(200, json=TOXIC)

    client = client_answering(seen, reply)
    assert client.proxies()["kafka-1"].toxics[0].name == "slow"
    client.update_toxic("kafka-1", "slow", attributes={"latency": 50}, toxicity=0.2)
    client.remove_toxic("kafka-1", "slow")
    client.delete_proxy("kafka-1")
    client.reset()
    calls = [(r.method, r.url.path) for r in seen]
    assert calls == [("GET", "/proxies"), ("POST", "/proxies/kafka-1/toxics/slow"),
                     ("DELETE", "/proxies/kafka-1/toxics/slow"), ("DELETE", "/proxies/kafka-1"),
                     ("POST", "/reset")]  # fmt: skip
    assert body(seen[1]) == {"attributes": {"latency": 50}, "toxicity": 0.2}


def test_populate_sends_every_proxy_and_reads_back_the_created_ones() -> None:
    seen: list[httpx.Request] = []
    client = client_answering(seen, lambda r: httpx.Response(201, json={"proxies": [PROXY]}))
    created = client.populate([tp.Proxy("kafka-1", "127.0.0.1:9091", "127.0.0.1:19091")])
    assert [p.name for p in created] == ["kafka-1"]
    assert seen[0].url.path == "/populate" and len(body(seen[0])) == 1


def test_refusal_carries_the_servers_error_text() -> None:
    client = client_answering([], lambda r: httpx.Response(409, json={"error": "toxic exists"}))
    with pytest.raises(FaultError, match=r"refused POST .*409 toxic exists"):
        client.add_toxic("kafka-1", tp.latency(1), name="dup")


def test_a_server_that_does_not_answer_is_named_with_what_to_do() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = ToxiproxyClient(URL, transport=httpx.MockTransport(refuse))
    with pytest.raises(
        FaultError, match=r"Toxiproxy at http://127.0.0.1:8474 did not answer.*stack up"
    ):
        client.reset()


def refusing_transport(seen: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    return httpx.MockTransport(handler)


@pytest.mark.parametrize("url", ["http://192.0.2.7:8474", "http://[2001:db8::1]:8474"])
def test_a_toxiproxy_off_loopback_is_refused_before_any_request(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    seen: list[httpx.Request] = []
    with pytest.raises(UnsafeTargetError, match=r"Refusing to target '.*'.*HARNESS_ALLOW_HOSTS"):
        ToxiproxyClient(url, transport=refusing_transport(seen))
    assert seen == []


def test_an_allow_listed_toxiproxy_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx.Request] = []
    monkeypatch.setenv(ALLOW_ENV, "192.0.2.7")
    ToxiproxyClient("http://192.0.2.7:8474", transport=refusing_transport(seen)).reset()
    monkeypatch.delenv(ALLOW_ENV)
    ToxiproxyClient(
        "http://192.0.2.8:8474", transport=refusing_transport(seen), allow=["192.0.2.8"]
    ).reset()
    assert [r.url.host for r in seen] == ["192.0.2.7", "192.0.2.8"]


def test_a_url_without_a_host_says_how_to_write_it() -> None:
    with pytest.raises(FaultError, match=r"names no host.*http://127.0.0.1:8474"):
        ToxiproxyClient("8474")
