"""``webhook_attack``: provider mode sends security-fault deliveries the endpoint must refuse.

    - at: 3s
      webhook_attack: {attack: all}                 # every attack once
    - at: 5s
      webhook_attack: {attack: [tampered_body, replay], count: 3}

Each delivery is one ``request`` row (``source: webhook_attack``, ``reason`` the attack, the
endpoint's ``http_status``). A 2xx answer, or an effect of a refused one, is ``forged_accepted``.
``stale_by`` is how old a stale or replayed timestamp is (beyond the endpoint's tolerance:
Standard Webhooks' and Stripe's 300 s by default). Nothing is left to heal.
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
from harness.webhooks.attacks import ATTACKS, TIMED_ATTACKS

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

    def attacks(self, scheme: str) -> list[str]:
        """The attacks to send; ``all`` leaves out those the scheme cannot have."""
        if self.attack == "all":
            timed = scheme != "github"
            return [a for a in ATTACKS if timed or a not in TIMED_ATTACKS]
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
        if webhook.scheme == "github":
            for attack in settings.attacks("github"):
                if attack in TIMED_ATTACKS:
                    yield Problem(("attack",), f"{attack}: the github scheme has no timestamp")

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
        scheme = getattr(getattr(ctx.webhook, "config", None), "scheme", None)
        for attack in settings.attacks(getattr(scheme, "name", "standard")):
            try:
                await ctx.webhook.attack(
                    attack, label=f"{active.id}-{attack}", count=settings.count,
                    stale_by=settings.stale_by, retired=retired,
                )  # fmt: skip
            except ValueError as error:
                raise FaultError(f"webhook_attack {attack}: {error}") from None


KIND = WebhookAttackKind()

__all__ = ["KIND", "WebhookAttack", "WebhookAttackKind"]
