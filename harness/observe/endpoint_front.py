"""The HTTP fault point in front of a webhook target's endpoint (provider mode).

Toxiproxy speaks TCP: it can delay, reset and cut, but it cannot answer 503. So the run puts a
small aiohttp server on loopback between the webhook sender and the endpoint's Toxiproxy proxy:

    sender -> EndpointFront (127.0.0.1, this run) -> Toxiproxy proxy -> the user's endpoint

Normally it passes every request on, byte for byte, and hands back the endpoint's answer (a
broken or timed-out connection upstream becomes a broken connection to the sender). During a
``downstream:`` fault naming ``endpoint`` it is the recording server's fault logic
(``harness/observe/http_server.py``, the same settings as a downstream's faults): a refusing
fault (503, 429 with ``Retry-After``, 410) is answered here and never reaches the endpoint; a
fault that does not refuse (``delay``, ``drop_response``, ``slow_body``, ``hang``) forwards first
and then delivers the endpoint's answer late, never or slowly.

The sender records every attempt itself (``request`` rows, ``source: webhook``), so the front
records nothing: the fault's window is in the history, and the status the sender saw is in its
rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp import web

from harness.observe.http_server import Answer, ForwardFailed, RecordingServer, RequestRecord
from harness.safety import check_address

ENDPOINT_NAME = "endpoint"
"""The name faults give the front (the webhook target's fault target)."""

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


def _end_to_end(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers.items() if k.lower() not in _HOP_BY_HOP]


class EndpointFront:
    """Forwards to ``upstream`` (``host:port``) and answers faults itself; a ``DownstreamControl``
    for the fault kinds (``proxy`` is the Toxiproxy proxy behind it, for network toxics)."""

    def __init__(self, upstream: str, *, proxy: str | None = None, limit: int = 1024) -> None:
        check_address(upstream)
        self.upstream = upstream
        self.proxy = proxy
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None
        self._server = RecordingServer(
            lambda headers, body: "-", _ignore, _ignore, idempotency_key=None,
            forward=self._forward,
        )  # fmt: skip

    @property
    def url(self) -> str:
        """Where the sender should deliver (``http://127.0.0.1:<port>``)."""
        return self._server.url

    async def start(self) -> int:
        """Listen on a free loopback port; return it."""
        connector = aiohttp.TCPConnector(limit=self._limit, force_close=False)
        # No client timeout here: the sender's own timeouts end an attempt, and its giving up
        # cancels the handler and this request with it.
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=None), auto_decompress=False
        )
        return await self._server.start()

    async def stop(self) -> None:
        """Close the server and the upstream connections. Idempotent."""
        await self._server.stop()
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def misbehave(self, fault_id: str, settings: Any) -> None:
        self._server.misbehave(fault_id, settings)

    async def behave(self, fault_id: str) -> None:
        await self._server.behave(fault_id)

    async def _forward(self, request: web.Request, body: bytes) -> Answer:
        if self._session is None:
            raise ForwardFailed("the front is not started")
        url = f"http://{self.upstream}{request.rel_url}"
        try:
            async with self._session.request(
                request.method,
                url,
                data=body,
                headers=_end_to_end(request.headers),
                allow_redirects=False,
            ) as response:
                payload = await response.read()
                headers = tuple(_end_to_end(response.headers))
                return Answer(response.status, payload, headers, content_type=None)
        except aiohttp.ClientError as error:
            raise ForwardFailed(str(error)) from None


def _ignore(record: RequestRecord) -> None:
    return None


__all__ = ["ENDPOINT_NAME", "EndpointFront"]
