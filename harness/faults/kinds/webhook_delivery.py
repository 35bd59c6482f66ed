"""``webhook_delivery``: provider mode delivers badly for the fault's duration, as real
providers do (a queue backed up, a worker pool restarted, a region failing over).

    - at: 2s
      webhook_delivery: {behaviour: out_of_order}   # held, then sent shuffled at the window's end
      duration: 1s
    - at: 4s
      webhook_delivery: {behaviour: late, delay: 2s} # each event's first attempt 2 s late
      duration: 1s
    - at: 6s
      webhook_delivery: {behaviour: burst}           # held, then sent all at once, in order
      duration: 1s

Only the events the storm sends during the window are affected; their retries follow the
policy as usual. Healing releases what is held (``out_of_order``, ``burst``); late deliveries
already have their time. Duplicate deliveries (same webhook id) are the ``duplicate`` fault on
the storm. The shuffle is drawn from the run's seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from pydantic import model_validator

from harness.errors import FaultError
from harness.faults.healing import LOCAL, Undo
from harness.faults.kind import ActiveFault, FaultContext, FaultKind
from harness.scenario.base import Problem, StrictModel
from harness.scenario.durations import Duration

if TYPE_CHECKING:
    from harness.scenario import Scenario


class WebhookDelivery(StrictModel):
    """How the provider delivers the events sent while the fault lasts."""

    behaviour: Literal["out_of_order", "late", "burst"]
    delay: Duration | None = None
    """``late`` only: how long after its send each event's first attempt goes."""

    @model_validator(mode="after")
    def _coherent(self) -> WebhookDelivery:
        if self.behaviour == "late" and not self.delay:
            raise ValueError("late needs a delay (e.g. delay: 2s)")
        if self.behaviour != "late" and self.delay is not None:
            raise ValueError(
                f"delay goes with behaviour: late; {self.behaviour} holds the window's events "
                "until its end"
            )
        return self


class WebhookDeliveryKind(FaultKind):
    name = "webhook_delivery"
    settings = WebhookDelivery
    end_field = "duration"
    history = "webhook.delivery"

    def history_kind(self, settings: Any) -> str:
        return f"webhook.{settings.behaviour}"

    def describe(self, settings: Any) -> str:
        late = f" {settings.delay:g}s" if settings.delay else ""
        return f"webhook_delivery {settings.behaviour}{late}"

    def validate(self, settings: Any, scenario: Scenario) -> Iterator[Problem]:
        if scenario.target.webhook is None:
            yield Problem((), "needs a webhook target (target: {webhook: ...})")

    async def targets(self, settings: Any, ctx: FaultContext) -> list[str]:
        return ["producer"]

    async def apply(self, settings: Any, ctx: FaultContext, active: ActiveFault) -> None:
        sender = ctx.webhook
        if sender is None:
            raise FaultError("webhook_delivery needs the run's webhook sender; this run has none.")

        async def release() -> None:
            sender.release(active.id)

        undo = Undo(LOCAL, f"webhook sender {settings.behaviour}", callback=release)
        active.tokens.append(await ctx.healer.register(undo))
        sender.hold(
            active.id,
            late=settings.delay if settings.behaviour == "late" else None,
            shuffle=settings.behaviour == "out_of_order",
            rng=random.Random(ctx.rng.random()),
        )


KIND = WebhookDeliveryKind()

__all__ = ["KIND", "WebhookDelivery", "WebhookDeliveryKind"]
