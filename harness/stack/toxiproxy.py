"""A small typed client for the Toxiproxy HTTP API (2.x; noxious-server speaks the same).

Every call has a timeout, and every failure becomes a ``FaultError`` that names the server and
says what to do, so a Toxiproxy that is down reads as such rather than as a bare socket error.

    >>> tp = ToxiproxyClient("http://127.0.0.1:8474")
    >>> toxic = tp.add_toxic("kafka-1", latency(300, jitter_ms=20))
    >>> tp.disable("kafka-2"); tp.enable("kafka-2")
    >>> tp.reset()                  # every toxic removed, every proxy enabled

Toxic types (attributes): ``latency`` (latency, jitter; ms), ``bandwidth`` (rate; KB/s),
``timeout`` (timeout; ms, 0 = forever), ``reset_peer`` (timeout; ms), ``slow_close`` (delay;
ms), ``slicer`` (average_size, size_variation; bytes, delay; µs), ``limit_data`` (bytes).
``stream`` is ``downstream`` (server to client) or ``upstream`` (client to server).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from harness.errors import FaultError
from harness.safety import check_http_peer, check_target
from harness.vocabulary import Stream, ToxicType

DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True)
class ToxicSpec:
    """What a toxic does, before it is attached to a proxy."""

    type: ToxicType
    attributes: dict[str, int] = field(default_factory=dict)


def latency(latency_ms: int, jitter_ms: int = 0) -> ToxicSpec:
    return ToxicSpec(ToxicType.LATENCY, {"latency": latency_ms, "jitter": jitter_ms})


def bandwidth(rate_kb_per_s: int) -> ToxicSpec:
    return ToxicSpec(ToxicType.BANDWIDTH, {"rate": rate_kb_per_s})


def timeout(timeout_ms: int = 0) -> ToxicSpec:
    """Stop all data; close the connection after ``timeout_ms`` (0: never)."""
    return ToxicSpec(ToxicType.TIMEOUT, {"timeout": timeout_ms})


def reset_peer(timeout_ms: int = 0) -> ToxicSpec:
    """Reset connections (TCP RST) after ``timeout_ms``."""
    return ToxicSpec(ToxicType.RESET_PEER, {"timeout": timeout_ms})


def slow_close(delay_ms: int) -> ToxicSpec:
    return ToxicSpec(ToxicType.SLOW_CLOSE, {"delay": delay_ms})


def slicer(average_size: int, size_variation: int = 0, delay_us: int = 0) -> ToxicSpec:
    attributes = {"average_size": average_size, "size_variation": size_variation}
    return ToxicSpec(ToxicType.SLICER, {**attributes, "delay": delay_us})


def limit_data(limit_bytes: int) -> ToxicSpec:
    return ToxicSpec(ToxicType.LIMIT_DATA, {"bytes": limit_bytes})


@dataclass(frozen=True)
class Toxic:
    """A toxic attached to a proxy."""

    name: str
    type: ToxicType
    stream: Stream
    toxicity: float
    attributes: dict[str, int]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Toxic:
        return cls(
            name=data["name"],
            type=ToxicType(data["type"]),
            stream=Stream(data.get("stream", "downstream")),
            toxicity=float(data.get("toxicity", 1.0)),
            attributes=dict(data.get("attributes") or {}),
        )


@dataclass(frozen=True)
class Proxy:
    """A proxy: clients connect to ``listen``; it forwards to ``upstream``."""

    name: str
    listen: str
    upstream: str
    enabled: bool = True
    toxics: tuple[Toxic, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Proxy:
        return cls(
            name=data["name"],
            listen=data["listen"],
            upstream=data["upstream"],
            enabled=bool(data.get("enabled", True)),
            toxics=tuple(Toxic.from_json(t) for t in data.get("toxics") or ()),
        )

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "listen": self.listen, "upstream": self.upstream,
                "enabled": self.enabled}  # fmt: skip


def toxic_body(
    spec: ToxicSpec, stream: Stream | str, toxicity: float, name: str | None
) -> dict[str, Any]:
    """The JSON body that creates a toxic."""
    if not 0.0 <= toxicity <= 1.0:
        raise FaultError(
            f"toxicity must be within [0, 1], got {toxicity!r}. Give a fraction such as 0.5."
        )
    body: dict[str, Any] = {
        "type": str(spec.type),
        "stream": str(Stream(stream)),
        "toxicity": toxicity,
        "attributes": dict(spec.attributes),
    }
    if name:
        body["name"] = name
    return body


class ToxiproxyClient:
    """Synchronous Toxiproxy API client; cheap to create, ``close()`` or use ``with``.

    The API's host goes through the target check (``harness.safety.check_target``) before
    anything connects: a Toxiproxy off loopback is refused unless it is allow-listed
    (``allow`` or ``HARNESS_ALLOW_HOSTS``), as every other client the harness builds is.
    """

    def __init__(
        self,
        url: str = "http://127.0.0.1:8474",
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        allow: Iterable[str] = (),
    ) -> None:
        self.url = url.rstrip("/")
        check_target(_api_host(self.url), allow)
        allowed = tuple(allow)
        self._http = httpx.Client(
            base_url=self.url,
            timeout=timeout,
            transport=transport,
            # the name was checked above; this checks the address actually connected to
            event_hooks={"response": [lambda response: check_http_peer(response, allowed)]},
        )

    def __enter__(self) -> ToxiproxyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as error:
            raise FaultError(
                f"Toxiproxy at {self.url} did not answer {method} {path} ({error!r}). "
                "Is the stack up? Start it with `harness stack up`."
            ) from error
        if response.status_code >= 400:
            raise FaultError(
                f"Toxiproxy at {self.url} refused {method} {path}: HTTP "
                f"{response.status_code} {_error_text(response)}. Check its proxies with "
                "`harness stack status`; `harness heal` removes toxics a run left behind."
            )
        return response.json() if response.content else None

    def version(self) -> str:
        return str(self._call("GET", "/version"))

    def proxies(self) -> dict[str, Proxy]:
        return {n: Proxy.from_json(p) for n, p in self._call("GET", "/proxies").items()}

    def get_proxy(self, name: str) -> Proxy:
        return Proxy.from_json(self._call("GET", f"/proxies/{name}"))

    def create_proxy(self, name: str, listen: str, upstream: str, enabled: bool = True) -> Proxy:
        body = Proxy(name, listen, upstream, enabled).to_json()
        return Proxy.from_json(self._call("POST", "/proxies", body))

    def populate(self, proxies: Iterable[Proxy]) -> list[Proxy]:
        """Create or update many proxies at once (existing ones with equal settings stay)."""
        reply = self._call("POST", "/populate", [p.to_json() for p in proxies])
        return [Proxy.from_json(p) for p in reply.get("proxies", [])]

    def delete_proxy(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{name}")

    def set_enabled(self, name: str, enabled: bool) -> Proxy:
        """Disabling closes every connection through the proxy and refuses new ones."""
        return Proxy.from_json(self._call("POST", f"/proxies/{name}", {"enabled": enabled}))

    def enable(self, name: str) -> Proxy:
        return self.set_enabled(name, True)

    def disable(self, name: str) -> Proxy:
        return self.set_enabled(name, False)

    def toxics(self, proxy: str) -> list[Toxic]:
        return [Toxic.from_json(t) for t in self._call("GET", f"/proxies/{proxy}/toxics")]

    def add_toxic(
        self,
        proxy: str,
        spec: ToxicSpec,
        stream: Stream | str = Stream.DOWNSTREAM,
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> Toxic:
        body = toxic_body(spec, stream, toxicity, name)
        return Toxic.from_json(self._call("POST", f"/proxies/{proxy}/toxics", body))

    def get_toxic(self, proxy: str, name: str) -> Toxic:
        return Toxic.from_json(self._call("GET", f"/proxies/{proxy}/toxics/{name}"))

    def update_toxic(
        self,
        proxy: str,
        name: str,
        attributes: dict[str, int] | None = None,
        toxicity: float | None = None,
    ) -> Toxic:
        body: dict[str, Any] = {}
        if attributes is not None:
            body["attributes"] = attributes
        if toxicity is not None:
            body["toxicity"] = toxicity
        return Toxic.from_json(self._call("POST", f"/proxies/{proxy}/toxics/{name}", body))

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._call("POST", "/reset")


def _api_host(url: str) -> str:
    try:
        host = urlsplit(url).hostname
    except ValueError as error:
        raise FaultError(
            f"The Toxiproxy API URL {url!r} is not a URL ({error}); write it as "
            "http://HOST:PORT, e.g. http://127.0.0.1:8474."
        ) from None
    if not host:
        raise FaultError(
            f"The Toxiproxy API URL {url!r} names no host; write it as http://HOST:PORT, "
            "e.g. http://127.0.0.1:8474."
        )
    return host


def _error_text(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", response.text))
    except ValueError:
        return response.text.strip()


__all__ = [
    "Proxy",
    "Stream",
    "Toxic",
    "ToxicSpec",
    "ToxicType",
    "ToxiproxyClient",
    "bandwidth",
    "latency",
    "limit_data",
    "reset_peer",
    "slicer",
    "slow_close",
    "timeout",
    "toxic_body",
]
