"""A Prometheus histogram fed whole arrays at a time, not one ``observe()`` call per value.

``prometheus_client.Histogram.observe`` is a Python call and a lock per value; a storm of
tens of thousands of events a second would pay that on the thread that flushes the history.
``BatchHistogram.add`` bins a NumPy array with one ``searchsorted`` and one ``bincount``;
``family`` renders it as a ``HistogramMetricFamily`` for a collector.

    h = BatchHistogram((0.01, 0.1, 1.0))
    h.add(np.array([0.005, 0.2]))
    h.count, h.sum   # 2, 0.205
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from prometheus_client.core import HistogramMetricFamily


class BatchHistogram:
    """Bucket counts and sum of the values added; not thread-safe (the owner locks)."""

    def __init__(self, bounds: Sequence[float]) -> None:
        if list(bounds) != sorted(set(bounds)) or not bounds:
            raise ValueError(f"bucket bounds must be increasing and distinct, got {bounds!r}")
        self.bounds = np.asarray(bounds, dtype=np.float64)
        self._counts = np.zeros(len(bounds) + 1, dtype=np.int64)  # the last: above every bound
        self.sum = 0.0

    @property
    def count(self) -> int:
        return int(self._counts.sum())

    def add(self, values: np.ndarray) -> None:
        """Add every finite value of ``values`` (NaN and infinities are dropped)."""
        values = values[np.isfinite(values)]
        if not len(values):
            return
        # side="left": a value equal to a bound belongs to that bound's bucket (le = <=).
        index = np.searchsorted(self.bounds, values, side="left")
        self._counts += np.bincount(index, minlength=len(self._counts))
        self.sum += float(values.sum())

    def cumulative(self) -> list[tuple[str, int]]:
        """``(le, count of values <= le)`` per bound, then ``("+Inf", count)``."""
        running = np.cumsum(self._counts)
        pairs = [(_bound(b), int(c)) for b, c in zip(self.bounds, running[:-1], strict=True)]
        return [*pairs, ("+Inf", int(running[-1]))]

    def into(self, family: HistogramMetricFamily, labels: Sequence[str]) -> None:
        """Add this histogram to ``family`` as the sample with ``labels``."""
        family.add_metric(list(labels), self.cumulative(), self.sum)


def _bound(value: float) -> str:
    return repr(float(value))


__all__ = ["BatchHistogram"]
