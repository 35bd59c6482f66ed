"""Achieved and offered rates of a run, from its history alone.

Achieved throughput is acknowledged sends over the real span in which they happened, from the
first send to the last acknowledgement: what the system under test actually took. Offered
throughput is the sends over the span of their intended times: what the storm asked for. When
the engine falls behind its schedule the first is visibly lower than the second, which a rate
computed from the pacer's own clock would hide (it counts the time the pacer took to release
the events, not the time the broker took to acknowledge them).

The ack stall is the longest time between two consecutive acknowledgements (sorted by ack
time), from the first send to the last acknowledgement: how long produce made no progress at
all, such as while a partition's leader or the controller quorum's leader is being replaced.

Whether the *engine* kept up is judged on the release alone (sends over the span of their
actual send times, against the intended span), so that a target slowing its acknowledgements
under a fault is not mistaken for a harness that fell behind.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.checks.frame import Prepared

BEHIND_RATIO = 0.95
"""Released below this fraction of offered: the engine did not keep up with its schedule."""


@dataclass(frozen=True)
class Throughput:
    acked: int
    span_s: float
    achieved_per_s: float
    offered_per_s: float
    released_per_s: float
    ack_stall_s: float = 0.0
    """The longest gap between consecutive acknowledgements, the first send counting as one."""

    @property
    def behind(self) -> bool:
        """True when the engine released events more slowly than the storm offered them."""
        return self.offered_per_s > 0 and self.released_per_s < BEHIND_RATIO * self.offered_per_s


def throughput(history: Prepared) -> Throughput:
    sends = history.sends
    if len(sends) == 0:
        return Throughput(0, 0.0, 0.0, 0.0, 0.0)
    acked = sends.status == 0
    n_acked = int(acked.sum())
    first = float(np.nanmin(sends.t)) if np.isfinite(sends.t).any() else np.nan
    last_ack = sends.t_ack[acked]
    last_ack = last_ack[np.isfinite(last_ack)]
    span = float(last_ack.max() - first) if len(last_ack) and np.isfinite(first) else 0.0
    achieved = n_acked / span if span > 0 else 0.0
    return Throughput(
        n_acked,
        max(span, 0.0),
        achieved,
        _rate(sends.t_intended),
        _rate(sends.t),
        _longest_gap(first, last_ack),
    )


def _longest_gap(first: float, acks: np.ndarray) -> float:
    """The longest pause between consecutive acknowledgements, starting at the first send."""
    if not np.isfinite(first) or len(acks) == 0:
        return 0.0
    times = np.sort(np.concatenate(([first], acks)))
    return float(np.max(np.diff(times))) if len(times) > 1 else 0.0


def _rate(times: np.ndarray) -> float:
    times = times[np.isfinite(times)]
    if len(times) < 2:
        return 0.0
    span = float(times.max() - times.min())
    # n events at intended times spread over a span make n - 1 intervals.
    return (len(times) - 1) / span if span > 0 else 0.0


__all__ = ["BEHIND_RATIO", "Throughput", "throughput"]
