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

With ``auth: {oauth: {audience: ..., token_lifetime: 4s}}`` every call must carry a bearer JWT
of the stack's OAuth2 issuer (``harness stack up --with oauth``; the short-lived ``ttl-<n>``
issuer when ``token_lifetime`` is set) for that audience: it is checked with
``harness.auth.Verifier`` against the issuer's JWKS (fetched through the ``oauth`` proxy, and
warmed at start, so an issuer outage during the run does not stop verification), before any
fault or effect. A call without a valid token is answered 401 and applied nowhere; its
``request`` row says why in ``auth`` (``missing``, or the verifier's reason: ``expired``,
``audience``...), a valid one ``auth: valid``. The service gets ``HARNESS_OAUTH_TOKEN_URL``,
``HARNESS_OAUTH_CLIENT_ID``, ``HARNESS_OAUTH_CLIENT_SECRET`` (made for the run),
``HARNESS_OAUTH_AUDIENCE`` (ask for it as the scope), ``HARNESS_OAUTH_ISSUER`` and
``HARNESS_OAUTH_JWKS``.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import Mapping
from typing import Any, ClassVar

import aiohttp

from harness.auth import ClientCredentialsSource, Verifier
from harness.errors import AuthError, StackError, TokenRejectedError
from harness.faults import Undo
from harness.observe.context import ObserveContext
from harness.observe.http_server import RecordingServer, RequestRecord, Screening
from harness.observe.source import Source
from harness.safety import check_address
from harness.scenario.observe import DownstreamAuth, DownstreamOAuth, DownstreamSource
from harness.stack.oauth import with_lifetime

REQUEST_OP = "request"
VALID = "valid"
MISSING = "missing"
UNAUTHORIZED = 401
LIFETIME_SLACK_S = 1.0
"""A probe token may live this much longer than ``token_lifetime`` (the issuer rounds)."""


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
        self._verifier: Verifier | None = None
        self._oauth_env: dict[str, str] = {}

    def _server(self, rng: random.Random) -> RecordingServer:
        auth = self._auth()
        return RecordingServer(
            self.settings.id.extract,
            self._on_request,
            self._on_effect,
            idempotency_key=self.settings.idempotency_key,
            rng=rng,
            screen=self._check_bearer if auth is not None else None,
        )

    def _auth(self) -> DownstreamAuth | None:
        """The bearer settings (kinds built on this one, a webhook receiver, have none)."""
        auth = getattr(self.settings, "auth", None)
        return auth if isinstance(auth, DownstreamAuth) else None

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
        auth = self._auth()
        if auth is not None:
            await self._start_auth(auth.oauth)
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
        return {self.settings.env: self.url, **self._oauth_env}

    async def _start_auth(self, oauth: DownstreamOAuth) -> None:
        """The verifier, its JWKS warmed; the service's client settings, proven to work."""
        issuer = with_lifetime(self.ctx.stack.oauth_issuer, oauth.lifetime_s)
        client_id, secret = f"harness-{self.ctx.run_id}", secrets.token_urlsafe(24)
        source = ClientCredentialsSource(f"{issuer}/token", client_id, secret,
                                         scope=oauth.audience, refresh_margin=0.0)  # fmt: skip
        try:
            probe = await source.token()
            verifier = Verifier(f"{issuer}/jwks", issuer, oauth.audience, leeway=oauth.leeway)
            await verifier.verify_async(probe)
        except (AuthError, OSError, aiohttp.ClientError) as error:
            raise StackError(
                f"The downstream {self.name!r} cannot use the OAuth2 issuer {issuer}: {error} "
                "Is the oauth node up (`harness stack status`; `harness stack up --with oauth` "
                "adds it)?"
            ) from None
        cached = source.cached
        lived = None if cached is None else cached.expires_at - source.clock()
        if (
            oauth.lifetime_s is not None
            and lived is not None
            and (lived > oauth.lifetime_s + LIFETIME_SLACK_S)
        ):
            raise StackError(
                f"The stack's OAuth2 issuer gave a {lived:.0f} s token where {issuer} should "
                f"give {oauth.lifetime_s} s ones: its node was started before short-lived "
                "issuers existed. Restart the stack's issuer with its new config: `harness "
                "stack down`, then `harness stack up --with oauth` (and the nodes you use)."
            )
        self._verifier = verifier
        self._oauth_env = {
            "HARNESS_OAUTH_TOKEN_URL": source.token_url,
            "HARNESS_OAUTH_CLIENT_ID": client_id,
            "HARNESS_OAUTH_CLIENT_SECRET": secret,
            "HARNESS_OAUTH_AUDIENCE": oauth.audience,
            "HARNESS_OAUTH_ISSUER": issuer,
            "HARNESS_OAUTH_JWKS": f"{issuer}/jwks",
        }

    async def _check_bearer(self, headers: Mapping[str, str], body: bytes) -> Screening:
        """A valid bearer token lets the call through; anything else is a 401."""
        assert self._verifier is not None
        header = headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            self.count("unauthorized")
            return Screening({"auth": MISSING}, UNAUTHORIZED)
        try:
            await self._verifier.verify_async(token.strip())
        except TokenRejectedError as error:
            self.count("unauthorized")
            return Screening({"auth": error.reason}, UNAUTHORIZED)
        return Screening({"auth": VALID})

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

__all__ = ["KIND", "MISSING", "REQUEST_OP", "UNAUTHORIZED", "VALID", "Downstream"]
