"""Open-model schedules: the intended send times of a storm, fixed before it starts.

``intended_offsets(rate, duration, rng)`` returns a sorted float64 array of seconds from the
storm's start. The times never depend on how fast the system answers (coordinated omission):
a driver that falls behind sends late and records the slip, it never thins the schedule.

The deterministic shapes place event ``i`` where the cumulative rate reaches ``i``
(``t_i = Λ⁻¹(i)``), so counts are exact and there is no per-event Python loop:

- ``constant``: ``per_second`` throughout;
- ``ramp``: linearly from ``from`` to ``to`` over the storm;
- ``spike``: ``per_second``, times ``spike_factor`` in ``[spike_at, spike_at + spike_for)``;
- ``burst``: ``per_second`` (default 0) plus ``burst_size`` events at once every ``burst_every``
  (at ``burst_every``, ``2 * burst_every``... before the end);
- ``poisson``: exponential gaps of mean ``1 / per_second`` drawn from ``rng``.

``expected_count`` (the count without building anything) lives in ``harness.scenario.rates``,
so that validating a scenario never imports this stage; it is re-exported here.
"""

from __future__ import annotations

import math

import numpy as np

from harness.scenario import Rate, Shape, expected_count
from harness.scenario.rates import EPS as _EPS


def intended_offsets(rate: Rate, duration: float, rng: np.random.Generator) -> np.ndarray:
    """Sorted intended send offsets (seconds from the storm's start) in ``[0, duration)``."""
    per_second = rate.per_second or 0.0
    if rate.shape == Shape.CONSTANT:
        return _constant(per_second, duration)
    if rate.shape == Shape.RAMP:
        return _ramp(rate.from_ or 0.0, rate.to or 0.0, duration)
    if rate.shape == Shape.SPIKE:
        start, length = rate.spike_at or 0.0, rate.spike_for or 0.0
        return _spike(per_second, start, start + length, rate.spike_factor or 1.0, duration)
    if rate.shape == Shape.BURST:
        return _burst(per_second, rate.burst_every or duration, rate.burst_size or 0, duration)
    return _poisson(per_second, duration, rng)


def _constant(per_second: float, duration: float) -> np.ndarray:
    if per_second <= 0:
        return np.empty(0)
    count = math.floor(per_second * duration + _EPS)
    return np.arange(count, dtype=np.float64) / per_second


def _ramp(start: float, end: float, duration: float) -> np.ndarray:
    # Λ(t) = a t + k t², k = (b - a) / 2D; t = 2i / (a + sqrt(a² + 4ki)) is stable for any k.
    count = math.floor((start + end) / 2 * duration + _EPS)
    i = np.arange(count, dtype=np.float64)
    k = (end - start) / (2 * duration)
    root = np.sqrt(np.maximum(start * start + 4 * k * i, 0.0))
    denominator = start + root
    safe = np.where(denominator > 0, denominator, 1.0)
    times = np.where(denominator > 0, 2 * i / safe, 0.0)
    return np.minimum(times, np.nextafter(duration, 0))


def _spike(
    per_second: float, start: float, end: float, factor: float, duration: float
) -> np.ndarray:
    before = per_second * start
    during = before + per_second * factor * (end - start)
    count = math.floor(during + per_second * (duration - end) + _EPS)
    i = np.arange(count, dtype=np.float64)
    times = np.where(
        i < before,
        i / per_second,
        np.where(
            i < during,
            start + (i - before) / (per_second * factor),
            end + (i - during) / per_second,
        ),
    )
    return times


def _burst(per_second: float, every: float, size: int, duration: float) -> np.ndarray:
    base = _constant(per_second, duration)
    starts = np.arange(every, duration - _EPS, every) if every > 0 else np.empty(0)
    bursts = np.repeat(starts, size)
    return np.sort(np.concatenate([base, bursts]), kind="stable")


def _poisson(per_second: float, duration: float, rng: np.random.Generator) -> np.ndarray:
    if per_second <= 0:
        return np.empty(0)
    expected = per_second * duration
    chunk = int(expected + 6 * math.sqrt(expected) + 16)
    times = np.cumsum(rng.exponential(1.0 / per_second, size=chunk))
    while times[-1] < duration:
        more = np.cumsum(rng.exponential(1.0 / per_second, size=chunk)) + times[-1]
        times = np.concatenate([times, more])
    return times[: np.searchsorted(times, duration, side="left")]


__all__ = ["expected_count", "intended_offsets"]
