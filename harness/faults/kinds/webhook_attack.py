"""``webhook_attack``: provider mode sends security-fault deliveries the endpoint must refuse.

    - at: 3s
      webhook_attack: {attack: all}                 # every attack once
    - at: 5s
      webhook_attack: {attack: [tampered_body, replay], count: 3}
    - at: 6s
      webhook_attack: {attack: [token_expired, token_alg_none]}   # needs target.webhook.oauth

Each delivery is one ``request`` row (``source: webhook_attack``, ``reason`` the attack, the
endpoint's ``http_status``). A 2xx answer, or an effect of a refused one, is ``forged_accepted``.
``stale_by`` is how old a stale or replayed timestamp is (beyond the endpoint's tolerance:
Standard Webhooks' and Stripe's 300 s by default). The ``token_*`` attacks (an expired token,
a wrong audience or issuer, ``alg: none``, a key the issuer never had, no token) need a target
that sends bearer tokens (``target.webhook.oauth``); ``all`` includes them there. Nothing is
left to heal.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from harness.errors import FaultError
from harness.faults.kind import ActiveFault, FaultContext, FaultKind
from harness.scenario.base import Problem, StrictModel
from harness.scenario.durations import Duration
from harness.webhooks.attacks import ATTACKS, TIMED_ATTACKS, TOKEN_ATTACKS

if TYPE_CHECKING:
    from harness.scenario import Scenario

Attack = Literal[
    "forged_signature",
    "wrong_secret",
    "stale_timestamp",
    "replay",
    "tampered_body",
    "missing_headers",
    "rotated_key",
    "token_missing",
    "token_expired",
    "token_wrong_audience",
    "token_wrong_issuer",
    "token_alg_none",
    "token_unknown_key",
]


class WebhookAttack(StrictModel):
    """Which security faults to send, how many of each."""

    attack: Literal["all"] | Attack | list[Attack] = "all"
    count: int = Field(default=1, ge=1, le=1000)
    stale_by: Duration = 600.0
    retired_secret_env: str | None = None
    """The variable holding the retired key of a rotation (``rotated_key``); a random key
    otherwise."""

    @field_validator("attack")
    @classmethod
    def _not_empty(cls, value: Any) -> Any:
        if isinstance(value, list) and not value:
            raise ValueError("name at least one attack, or all")
        return value

    def attacks(self, scheme: str, bearer: bool = False) -> list[str]:
        """The attacks to send; ``all`` leaves out those the target cannot have (timestamps
        for GitHub's scheme, tokens without ``oauth``)."""
        if self.attack == "all":
            timed = scheme != "github"
            chosen = [a for a in ATTACKS if timed or a not in TIMED_ATTACKS]
            return chosen + list(TOKEN_ATTACKS) if bearer else chosen
        return [self.attack] if isinstance(self.attack, str) else list(self.attack)


class WebhookAttackKind(FaultKind):
    name = "webhook_attack"
    settings = WebhookAttack
    history = "webhook.attack"

    def describe(self, settings: Any) -> str:
        return f"webhook_attack {settings.attack} x{settings.count}"

    def validate(self, settings: Any, scenario: Scenario) -> Iterator[Problem]:
        webhook = scenario.target.webhook
        if webhook is None:
            yield Problem((), "needs a webhook target (target: {webhook: ...})")
            return
        bearer = webhook.oauth is not None
        for attack in settings.attacks(webhook.scheme, bearer):
            if webhook.scheme == "github" and attack in TIMED_ATTACKS:
                yield Problem(("attack",), f"{attack}: the github scheme has no timestamp")
            if attack in TOKEN_ATTACKS and not bearer:
                yield Problem(
                    ("attack",),
                    f"{attack}: the deliveries carry no bearer token; give target.webhook.oauth",
                )

    async def targets(self, settings: Any, ctx: FaultContext) -> list[str]:
        return ["endpoint"]

    async def apply(self, settings: Any, ctx: FaultContext, active: ActiveFault) -> None:
        if ctx.webhook is None:
            raise FaultError("webhook_attack needs the run's webhook sender; this run has none.")
        retired = None
        if settings.retired_secret_env:
            retired = os.environ.get(settings.retired_secret_env)
            if not retired:
                raise FaultError(
                    f"webhook_attack: the variable {settings.retired_secret_env} is not set; "
                    "export the retired key there, or leave retired_secret_env out"
                )
        config = getattr(ctx.webhook, "config", None)
        scheme = getattr(config, "scheme", None)
        bearer = getattr(config, "bearer", None) is not None
        for attack in settings.attacks(getattr(scheme, "name", "standard"), bearer):
            try:
                await ctx.webhook.attack(
                    attack, label=f"{active.id}-{attack}", count=settings.count,
                    stale_by=settings.stale_by, retired=retired,
                )  # fmt: skip
            except ValueError as error:
                raise FaultError(f"webhook_attack {attack}: {error}") from None


KIND = WebhookAttackKind()

__all__ = ["KIND", "WebhookAttack", "WebhookAttackKind"]
