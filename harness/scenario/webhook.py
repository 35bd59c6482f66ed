"""``target: {webhook: ...}``: the harness plays a webhook provider and POSTs the storm to an
endpoint, signed with ``scheme`` and retried by ``retry_policy``.

    target:
      webhook:
        url: http://127.0.0.1:18090/webhook
        secret_env: [WEBHOOK_SECRET]        # names of variables holding the secrets, newest first
        scheme: standard                    # standard | stripe | github
        retry_policy: standard-webhooks     # a preset, or {delays: [...], ...}
        time_scale: 0.001                   # compress the schedule for a test
        oauth: {audience: api://orders}     # bearer tokens from the stack's issuer (optional)

Secrets never appear in a scenario: only the names of the variables that hold them. The names
of schemes and presets are listed here (the scenario sits below ``harness.webhooks``); a unit
test holds them equal to ``harness.webhooks.SCHEMES`` and ``PRESETS``.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from harness.scenario.base import StrictModel

SCHEME_NAMES: tuple[str, ...] = ("standard", "stripe", "github")
PRESET_NAMES: tuple[str, ...] = ("standard-webhooks", "stripe", "shopify", "github")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
MAX_RETRIES = 50


class RetryPolicySpec(StrictModel):
    """An explicit retry policy: ``delays`` (seconds before each retry) and the rest."""

    delays: list[float] = Field(max_length=MAX_RETRIES)
    connect_timeout: float = Field(default=10.0, gt=0, le=3600)
    total_timeout: float = Field(default=30.0, gt=0, le=3600)
    honour_retry_after: bool = True
    disable_on_410: bool = True

    @field_validator("delays")
    @classmethod
    def _non_negative(cls, delays: list[float]) -> list[float]:
        for i, delay in enumerate(delays):
            if not 0 <= delay <= 7 * 86400:
                raise ValueError(f"delays[{i}] is {delay!r}: a delay is 0 to 604800 seconds")
        return delays

    @model_validator(mode="after")
    def _connect_within_total(self) -> RetryPolicySpec:
        if self.connect_timeout > self.total_timeout:
            raise ValueError(
                f"connect_timeout ({self.connect_timeout}) exceeds total_timeout "
                f"({self.total_timeout}): the connection is part of the attempt"
            )
        return self


class WebhookOAuth(StrictModel):
    """Bearer tokens on every delivery, from the stack's OAuth2 issuer (``--with oauth``).

    The issuer grants ``client_credentials`` tokens whose ``aud`` is the requested ``audience``
    (sent as the ``scope``). An endpoint the harness starts is told the issuer and audience
    (``HARNESS_OAUTH_ISSUER``, ``HARNESS_OAUTH_AUDIENCE``) so it can check them."""

    audience: str = Field(default="api://webhook-endpoint", min_length=1, max_length=200)
    client_id: str = Field(default="harness-provider", min_length=1, max_length=200)
    client_secret_env: str | None = None
    """The variable holding the client secret; the stack's issuer takes any, so a fresh one is
    made when this is left out."""
    refresh_margin: float = Field(default=30.0, ge=0, le=3600)
    """Refresh a cached token this many seconds before it expires."""

    @field_validator("client_secret_env")
    @classmethod
    def _secret_env_name(cls, name: str | None) -> str | None:
        if name is not None and not _ENV_NAME.match(name):
            raise ValueError(  # the value is not echoed: it may be the secret itself
                "is not an environment variable name; give the *name* of the variable that "
                "holds the client secret, never the secret itself"
            )
        return name

    @field_validator("audience", "client_id")
    @classmethod
    def _printable(cls, value: str) -> str:
        if any(c.isspace() for c in value):
            raise ValueError(f"{value[:40]!r} holds white space; an OAuth2 scope cannot")
        return value


class WebhookTarget(StrictModel):
    """The user's webhook endpoint, and how the harness delivers to it."""

    url: str = Field(min_length=1, max_length=2000)
    secret_env: list[str] = Field(min_length=1, max_length=4)
    """Variables holding the signing secrets, current first (several: key rotation)."""
    scheme: Literal["standard", "stripe", "github"] = "standard"
    retry_policy: Literal["standard-webhooks", "stripe", "shopify", "github"] | RetryPolicySpec = (
        "standard-webhooks"
    )
    time_scale: float = Field(default=1.0, gt=0, le=1.0)
    """Multiplies the retry schedule (and Retry-After): 0.001 turns hours into seconds."""
    connect_timeout: float | None = Field(default=None, gt=0, le=3600)
    total_timeout: float | None = Field(default=None, gt=0, le=3600)
    """Override the policy's timeouts (real seconds, never scaled)."""
    headers: dict[str, str] = Field(default_factory=dict, max_length=32)
    max_connections: int = Field(default=64, ge=1, le=1024)
    proxy: bool = True
    """Deliver through a Toxiproxy proxy the run creates (fault target ``endpoint``)."""
    oauth: WebhookOAuth | None = None
    """Bearer tokens from the stack's OAuth2 issuer on every delivery (None: no header)."""

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname or parts.port is None:
            raise ValueError(
                f"{url[:80]!r} must be an http:// URL with a host and a port, such as "
                "http://127.0.0.1:18090/webhook (the proxy in front of it speaks plain TCP)"
            )
        return url

    @field_validator("secret_env")
    @classmethod
    def _env_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not _ENV_NAME.match(name):
                raise ValueError(
                    f"{name[:40]!r} is not an environment variable name; give the *name* of "
                    "the variable that holds the secret, never the secret itself"
                )
        return names

    @field_validator("headers")
    @classmethod
    def _header_names(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not _HEADER_NAME.match(name) or any(c in value for c in "\r\n"):
                raise ValueError(f"header {name[:40]!r}: not a valid HTTP header name or value")
        return headers

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 0

    @property
    def path(self) -> str:
        parts = urlsplit(self.url)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


__all__ = ["PRESET_NAMES", "SCHEME_NAMES", "RetryPolicySpec", "WebhookOAuth", "WebhookTarget"]
