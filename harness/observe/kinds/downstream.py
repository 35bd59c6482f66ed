"""``downstream``: the service's downstream HTTP API, played by the harness.

    observe:
      - downstream:
          name: payments
          env: PAYMENTS_URL              # the service finds the API's URL here
          id: {jsonpath: "$.event_id"}   # or {header: Idempotency-Key}

A recording server (``harness.observe.http_server``) listens on a free loopback port behind a
Toxiproxy proxy created for the run (``downstream-<name>-<run id>``, deleted on every exit path:
its undo is journaled, so ``harness heal`` removes it after a SIGKILL). The service gets the
proxy's URL, so network toxics on the downstream's name reach its calls. Every call is a
``request`` op (attempt number per id, status answered, Retry-After, when); every call the
downstream applied is an ``effect`` op. ``downstream:`` faults make it answer badly for a while.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any, ClassVar

from harness.errors import StackError
from harness.faults import Undo
from harness.observe.context import ObserveContext
from harness.observe.http_server import RecordingServer, RequestRecord
from harness.observe.source import Source
from harness.safety import check_address
from harness.scenario.observe import DownstreamSource

REQUEST_OP = "request"


class Downstream(Source[DownstreamSource]):
    """One HTTP downstream of the service (``kind: downstream``)."""

    kind: ClassVar[str] = "downstream"
    observes: ClassVar[str] = "effect"

    def __init__(self, name: str, settings: DownstreamSource, ctx: ObserveContext) -> None:
        super().__init__(name, settings, ctx)
        self.server = self._server(random.Random(f"{ctx.run_id}:{name}"))
        self._proxy: str | None = None
        self._token: int | None = None
        self._url: str | None = None
        self._stopped = False

    def _server(self, rng: random.Random) -> RecordingServer:
        return RecordingServer(
            self.settings.id.extract,
            self._on_request,
            self._on_effect,
            idempotency_key=self.settings.idempotency_key,
            rng=rng,
        )

    @property
    def proxy(self) -> str | None:
        """The Toxiproxy proxy in front of the server (None: the run has no Toxiproxy)."""
        return self._proxy

    @property
    def url(self) -> str:
        if self._url is None:
            raise StackError(
                f"The downstream {self.name!r} has not started, so it has no URL yet; start "
                "the observers before the service."
            )
        return self._url

    async def start(self) -> None:
        port = await self.server.start()
        upstream = f"{self.server.host}:{port}"
        toxiproxy = self.ctx.toxiproxy
        if toxiproxy is None:
            self._url = f"http://{upstream}{self.settings.path}"
            return
        proxy = f"downstream-{self.name}-{self.ctx.run_id}"
        if self.ctx.healer is not None:
            self._token = await self.ctx.healer.register(Undo("delete_proxy", proxy))
        created = await asyncio.to_thread(toxiproxy.create_proxy, proxy, "127.0.0.1:0", upstream)
        self._proxy = proxy
        check_address(created.listen)
        self._url = f"http://{created.listen}{self.settings.path}"

    def env(self) -> dict[str, str]:
        return {self.settings.env: self.url}

    async def drain(self, timeout_s: float) -> bool:
        """Every call is recorded as it ends; wait for those still being answered."""
        return await self.server.wait_idle(timeout_s)

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            await self.server.stop()
        finally:
            await self._delete_proxy()

    async def _delete_proxy(self) -> None:
        if self._proxy is None:
            return
        proxy, self._proxy = self._proxy, None
        if self._token is not None and self.ctx.healer is not None:
            await self.ctx.healer.heal(self._token)
        elif self.ctx.toxiproxy is not None:
            await asyncio.to_thread(self.ctx.toxiproxy.delete_proxy, proxy)

    def misbehave(self, fault_id: str, settings: Any) -> None:
        self.server.misbehave(fault_id, settings)

    async def behave(self, fault_id: str) -> None:
        await self.server.behave(fault_id)

    def stats(self) -> dict[str, int]:
        """``observed`` (calls applied: effects), ``requests`` and what became of them."""
        counts = {k: v for k, v in self.server.counts.items() if k != "applied"}
        return {**super().stats(), **counts}

    def _on_effect(self, request: RequestRecord) -> None:
        self.record(request.id, request.t, attempt=request.attempt)

    def _on_request(self, request: RequestRecord) -> None:
        self.ctx.recorder.append(
            {
                "op": REQUEST_OP,
                "id": request.id,
                "t": request.t,
                "t_ack": request.t_answer,
                "attempt": request.attempt,
                "http_status": request.status,
                "retry_after": request.retry_after,
                "reason": request.outcome,
                "source": self.source,
                **request.extra,
            }
        )


KIND = Downstream

__all__ = ["KIND", "REQUEST_OP", "Downstream"]
