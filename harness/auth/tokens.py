"""A client_credentials token source: one cached bearer token, refreshed before it expires.

``ClientCredentialsSource.token()`` answers from the cache while the token is fresh, fetches a
new one ``refresh_margin`` seconds before expiry (concurrent callers share one fetch), and, when
that fetch fails, keeps answering with the cached token for as long as it is still valid: an
issuer down for less than the token's lifetime costs nothing. Only once no valid token is left
does it raise ``AuthError``, one message naming the issuer and the cause. After a failed fetch
it waits ``retry_after`` seconds before asking the issuer again, so an outage is not hammered.

``request()`` sends an aiohttp request with the bearer token and, on a 401, drops the cached
token and retries once with a fresh one (a revoked or rotated-away token), never more.

Times come from ``clock`` (monotonic seconds; tests pass a synthetic one). The client secret is
never shown: not in ``repr``, not in errors.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

from harness.errors import AuthError
from harness.safety import check_target

DEFAULT_REFRESH_MARGIN = 30.0
DEFAULT_RETRY_AFTER = 1.0
DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True)
class Token:
    """One access token and when (on the source's clock) it stops being valid."""

    value: str
    expires_at: float

    def __repr__(self) -> str:  # the token is a credential: never shown
        return f"Token(expires_at={self.expires_at:.1f})"




class ClientCredentialsSource:
    """Bearer tokens from an OAuth2 token endpoint (``grant_type=client_credentials``)."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str | None = None,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        retry_after: float = DEFAULT_RETRY_AFTER,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        allow: tuple[str, ...] = (),
    ) -> None:
        host = urlsplit(token_url).hostname
        if not host or urlsplit(token_url).scheme not in ("http", "https"):
            raise AuthError(f"Token URL {token_url!r} is not an http(s) URL; give the issuer's "
                            "token endpoint, e.g. http://127.0.0.1:8180/default/token.")  # fmt: skip
        check_target(host, allow)
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret
        self.scope = scope
        self.refresh_margin = refresh_margin
        self.retry_after = retry_after
        self.timeout = timeout
        self.clock = clock
        self._cached: Token | None = None
        self._failed_at: float | None = None
        self._last_error: str = ""
        self._lock = asyncio.Lock()
        self.fetches = 0
        """Token requests sent to the issuer (successful or not)."""

    def __repr__(self) -> str:
        return f"ClientCredentialsSource({self.token_url!r}, client_id={self.client_id!r})"

    @property
    def cached(self) -> Token | None:
        return self._cached

    def _valid(self, now: float) -> bool:
        return self._cached is not None and now < self._cached.expires_at

    def _fresh(self, now: float) -> bool:
        if self._cached is None:
            return False
        return now < self._cached.expires_at - self.refresh_margin

    def invalidate(self) -> None:
        """Forget the cached token (the service refused it): the next call fetches one."""
        self._cached = None
        self._failed_at = None

    async def token(self) -> str:
        """A valid access token: the cached one while fresh, else a fetched one; while the
        issuer fails, the cached one until it expires; then ``AuthError``."""
        if self._fresh(self.clock()):
            return self._value()
        async with self._lock:
            now = self.clock()
            if self._fresh(now):
                return self._value()
            backing_off = self._failed_at is not None and now < self._failed_at + self.retry_after
            if not (backing_off and self._valid(now)):
                try:
                    self._cached = await self._fetch()
                    self._failed_at = None
                except AuthError as error:
                    self._failed_at = self.clock()
                    self._last_error = str(error)
                    if not self._valid(self.clock()):
                        raise
            if not self._valid(self.clock()):
                raise AuthError(self._last_error or f"No valid token from {self.token_url}.")
            return self._value()

    def _value(self) -> str:
        assert self._cached is not None
        return self._cached.value

    async def refresh(self) -> str:
        """Fetch a new token now, whatever the cache holds; ``AuthError`` when that fails
        (the cached token is kept for ``token()``)."""
        async with self._lock:
            try:
                self._cached = await self._fetch()
            except AuthError as error:
                self._failed_at = self.clock()
                self._last_error = str(error)
                raise
            self._failed_at = None
            return self._value()

    async def _fetch(self) -> Token:
        self.fetches += 1
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        headers = {"Authorization": self._basic()}
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(self.token_url, data=form, headers=headers) as reply,
            ):
                status = reply.status
                body: Any = await reply.json(content_type=None) if status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            cause = type(error).__name__ if not str(error) else str(error)
            raise AuthError(f"Could not fetch a token from {self.token_url}: {cause}. Is the "
                            "issuer up and its proxy enabled?") from None  # fmt: skip
        if status != 200:
            raise AuthError(f"The issuer at {self.token_url} answered {status} to the token "
                            "request; check the client id, secret and scope.")  # fmt: skip
        return self._parse(body)

    def _basic(self) -> str:
        """HTTP Basic client authentication, id and secret form-encoded (RFC 6749 2.3.1)."""
        pair = f"{quote(self.client_id, safe='')}:{quote(self._secret, safe='')}"
        return "Basic " + base64.b64encode(pair.encode()).decode()

    def _parse(self, body: Any) -> Token:
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise AuthError(f"The issuer at {self.token_url} answered without an access_token; "
                            "is that URL its token endpoint?")  # fmt: skip
        lifetime = body.get("expires_in", 300)
        if not isinstance(lifetime, int | float) or lifetime <= 0:
            raise AuthError(f"The issuer at {self.token_url} gave expires_in={lifetime!r}, not "
                            "a positive number of seconds.")  # fmt: skip
        return Token(body["access_token"], self.clock() + float(lifetime))

    async def request(
        self, session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
    ) -> aiohttp.ClientResponse:
        """``session.request`` with ``Authorization: Bearer``; a 401 drops the token and the
        request is sent once more with a fresh one. The caller releases the response."""
        headers = dict(kwargs.pop("headers", None) or {})
        headers["Authorization"] = f"Bearer {await self.token()}"
        reply = await session.request(method, url, headers=headers, **kwargs)
        if reply.status != 401:
            return reply
        reply.release()
        self.invalidate()
        headers["Authorization"] = f"Bearer {await self.refresh()}"
        return await session.request(method, url, headers=headers, **kwargs)


__all__ = ["ClientCredentialsSource", "Token"]
