"""How many events a rate asks for: pure arithmetic, so validation never builds a schedule.

``harness.load.schedule`` builds the schedule itself (numpy) and uses the same counts; this
module is below it (a scenario check must not import the load stage).

    >>> expected_count(Rate(shape="burst", burst_every=2, burst_size=50), 10)
    200.0
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from harness.scenario.kinds import Shape

if TYPE_CHECKING:
    from harness.scenario.models import Rate

# Slack under the storm's end: an event or burst due exactly at the end is not sent.
EPS = 1e-9


def burst_count(every: float, duration: float) -> float:
    """Bursts at ``every``, ``2 * every``... before ``duration - EPS``: the length numpy's
    ``arange(every, duration - EPS, every)`` would have, computed without building it
    (infinite when absurdly many)."""
    if not every > 0:
        return 0.0
    steps = (duration - EPS - every) / every
    if not math.isfinite(steps):
        return math.inf if steps > 0 else 0.0
    return float(max(math.ceil(steps), 0))


def expected_count(rate: Rate, duration: float) -> float:
    """The mean number of events the schedule holds (exact for the deterministic shapes);
    ``inf`` when the arithmetic overflows or is undefined, so a limit check always catches it."""
    count = _count(rate, duration)
    return count if math.isfinite(count) else math.inf


def _count(rate: Rate, duration: float) -> float:
    per_second = rate.per_second or 0.0
    if rate.shape == Shape.RAMP:
        return ((rate.from_ or 0.0) + (rate.to or 0.0)) / 2 * duration
    if rate.shape == Shape.SPIKE:
        extra = (rate.spike_for or 0.0) * ((rate.spike_factor or 1.0) - 1)
        return per_second * (duration + extra)
    if rate.shape == Shape.BURST and rate.burst_every:
        bursts = burst_count(rate.burst_every, duration)
        return per_second * duration + (rate.burst_size or 0) * bursts
    return per_second * duration


__all__ = ["EPS", "burst_count", "expected_count"]
