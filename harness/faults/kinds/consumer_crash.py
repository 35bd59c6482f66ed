"""``consumer_crash``: kill the consumer (built-in or the system under test) at a chosen
point; it is started again when the fault ends (``restart_after``, else the run's heal).

    - at: 15s
      consumer_crash: {when: before_commit}          # at 15 s, wherever the consumer is
      restart_after: 5s
    - at: 5s
      consumer_crash: {when: after_effects, effects: 300, within: 8s}
      restart_after: 2s
    - at: 5s
      consumer_crash: {when: lag_above, lag: 500}

``before_commit`` crashes at ``at``. The triggers (``harness.faults.triggers``) start watching
at ``at`` and crash when they fire; the fault's window starts then. A trigger that has not
fired after ``within`` (or by the storm's end) crashes nothing: its window is recorded with no
length and a ``reason`` saying so, and a warning is logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from harness import clock
from harness.errors import FaultError
from harness.faults.healing import LOCAL, Undo
from harness.faults.kind import ActiveFault, FaultContext, FaultKind
from harness.faults.triggers import AfterEffects, LagAbove, Reading, Trigger, wait_for
from harness.scenario.base import Problem, StrictModel
from harness.scenario.durations import Duration

if TYPE_CHECKING:
    from harness.scenario import Scenario

log = logging.getLogger(__name__)

DEFAULT_WITHIN_S = 10.0


class ConsumerCrash(StrictModel):
    """Kill the consumer (built-in or the system under test) at a chosen point."""

    when: Literal["before_commit", "after_effects", "lag_above"] = "before_commit"
    effects: int | None = Field(default=None, ge=1)
    """``after_effects``: crash once this many effects were observed since the last commit."""
    lag: int | None = Field(default=None, ge=0)
    """``lag_above``: crash once the consumer's lag exceeds this many events."""
    within: Duration | None = None
    """A trigger waits at most this long after ``at`` (default 10 s)."""

    @property
    def triggered(self) -> bool:
        return self.when != "before_commit"

    @property
    def wait_s(self) -> float:
        if not self.triggered:
            return 0.0
        return self.within if self.within is not None else DEFAULT_WITHIN_S

    def trigger(self) -> Trigger:
        if self.when == "after_effects":
            assert self.effects is not None
            return AfterEffects(self.effects)
        assert self.lag is not None
        return LagAbove(self.lag)


_NEEDS = {"after_effects": "effects", "lag_above": "lag"}


class ConsumerCrashKind(FaultKind):
    name = "consumer_crash"
    settings = ConsumerCrash
    end_field = "restart_after"
    history = "consumer.crash"

    def describe(self, settings: Any) -> str:
        if settings.when == "after_effects":
            return f"consumer crash after {settings.effects} effects since the last commit"
        if settings.when == "lag_above":
            return f"consumer crash when the lag exceeds {settings.lag}"
        return f"consumer crash {settings.when}"

    def max_wait(self, settings: Any) -> float:
        return float(settings.wait_s)

    def scaled_settings(self, settings: Any, factor: float) -> Any:
        """``within`` is a time of the timeline: it scales with it (``--duration-scale``)."""
        if not settings.triggered:
            return settings
        return settings.model_copy(update={"within": settings.wait_s * factor})

    def validate(self, settings: Any, scenario: Scenario) -> Iterator[Problem]:
        needed = _NEEDS.get(settings.when)
        for name in ("effects", "lag"):
            if name == needed and getattr(settings, name) is None:
                yield Problem((name,), f"required by when: {settings.when}")
            elif name != needed and getattr(settings, name) is not None:
                yield Problem((name,), f"not used by when: {settings.when}")
        if settings.within is not None and not settings.triggered:
            yield Problem(("within",), "applies only to a trigger (after_effects, lag_above)")
        if settings.within is not None and settings.within <= 0:
            yield Problem(("within",), "must be longer than 0s")
        if scenario.target.kind == "rabbitmq" and scenario.system_under_test.is_builtin:
            yield Problem(
                (),
                "the built-in RabbitMQ consumer cannot be crashed; crash a system_under_test "
                "command (e.g. examples/rabbitmq_consumer.py) or remove the fault",
            )
        if settings.when == "lag_above" and scenario.load.engine != "harness":
            yield Problem(
                ("when",),
                "lag_above reads the harness's own producer's acknowledgements; with "
                "load.engine: locust use after_effects or before_commit",
            )

    async def targets(self, settings: Any, ctx: FaultContext) -> list[str]:
        return ["consumer"]

    async def apply(self, settings: Any, ctx: FaultContext, active: ActiveFault) -> None:
        consumers = ctx.consumers
        if consumers is None:
            raise FaultError(
                "consumer_crash needs a consumer the harness controls; this run has none. "
                "Remove the fault or run the built-in consumer or a system_under_test command."
            )
        if settings.triggered and not await _fired(settings, ctx, active):
            return
        undo = Undo(LOCAL, "the consumer", callback=consumers.restart)
        active.tokens.append(await ctx.healer.register(undo))
        await consumers.crash()


async def _fired(settings: ConsumerCrash, ctx: FaultContext, active: ActiveFault) -> bool:
    """Wait for the trigger; on firing the window starts now. False (and the window marked
    not fired) if it did not fire within its time or the run ended first."""
    if ctx.readings is None:
        raise FaultError(
            f"consumer_crash when: {settings.when} needs readings of the consumer (effects, "
            "offsets, lag), and this run provides none; use when: before_commit."
        )
    trigger = settings.trigger()
    waited = f"{trigger.describe()}, watched from t={active.t_start:.1f}"
    try:
        reading = await wait_for(trigger, ctx.readings, settings.wait_s)
    except asyncio.CancelledError:
        _not_fired(active, f"not fired: {waited}; the run ended before it fired")
        raise
    if reading is None:
        _not_fired(active, f"not fired: {waited} for {settings.wait_s:g}s ({_seen(trigger)})")
        log.warning("Fault %s (consumer_crash) crashed nothing: %s", active.id, active.note)
        return False
    active.t_start = clock.now()
    active.note = f"fired {trigger.describe()} ({_at(trigger, reading)})"
    return True


def _not_fired(active: ActiveFault, note: str) -> None:
    active.fired = False
    active.note = note
    active.t_start = active.t_end = clock.now()


def _seen(trigger: Trigger) -> str:
    if isinstance(trigger, AfterEffects):
        return f"{trigger.commits_seen} commits seen"
    if isinstance(trigger, LagAbove):
        return "lag unknown" if trigger.highest is None else f"highest lag {trigger.highest}"
    return "no reading fired it"


def _at(trigger: Trigger, reading: Reading) -> str:
    if isinstance(trigger, AfterEffects):
        counted = trigger.since_commit(reading)
        if reading.committed is None:
            return f"{counted} effects since it started watching; no commit offsets to see"
        return f"{counted} effects since the last commit seen, {trigger.commits_seen} seen"
    return f"lag {reading.lag}"


KIND = ConsumerCrashKind()

__all__ = ["DEFAULT_WITHIN_S", "KIND", "ConsumerCrash", "ConsumerCrashKind"]
