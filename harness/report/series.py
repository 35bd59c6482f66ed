"""Per-window aggregates of a history: what the charts plot, never one point per event.

Every series has one row per window (``window`` seconds, ``t`` = window start in seconds since
the storm began), so a chart of a 10,000,000-event run draws a few hundred points. Counts use
``np.bincount`` over window indices; latency quantiles per window reuse
``harness.checks.latency.series`` (exact nearest-rank quantiles).

    windows = choose_window(duration_s=60.0)        # 0.5 s for a minute-long run
    throughput(prepared, origin, windows)            # t, sent, acked, received (per second)
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from harness.checks import Prepared, latency
from harness.checks.frame import OK

TARGET_POINTS = 240
"""About this many windows per chart, whatever the run's length."""
NICE_WINDOWS = (0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0)
NINES_MAX = 4.0
"""The quantile chart reaches 99.99% (four nines), as OpenMessaging Benchmark draws it."""


def choose_window(duration_s: float) -> float:
    """The smallest round window giving at most ``TARGET_POINTS`` windows (at least 0.5 s)."""
    for window in NICE_WINDOWS:
        if duration_s / window <= TARGET_POINTS:
            return window
    return math.ceil(duration_s / TARGET_POINTS)


def rate(times: np.ndarray, origin: float, window: float, n_windows: int) -> np.ndarray:
    """Events per second in each window (times before the origin or past the end dropped)."""
    times = times[np.isfinite(times)]
    index = np.floor((times - origin) / window).astype(np.int64)
    index = index[(index >= 0) & (index < n_windows)]
    return np.bincount(index, minlength=n_windows)[:n_windows] / window


def _n_windows(prepared: Prepared, origin: float, window: float) -> int:
    """Windows needed to cover every op of the history from ``origin``."""
    last = origin
    for times in (prepared.sends.t, prepared.sends.t_ack, prepared.recvs.t):
        finite = times[np.isfinite(times)]
        if len(finite):
            last = max(last, float(finite.max()))
    return max(1, int(math.floor((last - origin) / window)) + 1)


def throughput(prepared: Prepared, origin: float, window: float) -> pd.DataFrame:
    """Sent, acknowledged and received events per second, per window."""
    count = _n_windows(prepared, origin, window)
    sends = prepared.sends
    return pd.DataFrame(
        {
            "t": np.arange(count) * window,
            "sent": rate(sends.t, origin, window, count),
            "acked": rate(sends.t_ack[sends.status == OK], origin, window, count),
            "received": rate(prepared.recvs.t, origin, window, count),
        }
    )


def consumer_lag(prepared: Prepared, origin: float, window: float) -> pd.DataFrame:
    """Events acknowledged but not yet received by any consumer, at the end of each window.

    Counts from the history alone (no broker offsets needed): cumulative acks minus cumulative
    first receives of acknowledged ids. Lost events stay in the lag for good, which is the
    honest picture of a consumer that will never catch up with them.
    """
    count = _n_windows(prepared, origin, window)
    sends = prepared.sends
    acked_ok = sends.status == OK
    acked_times = np.full(prepared.n_ids, np.inf)
    np.fmin.at(acked_times, sends.id[acked_ok], sends.t_ack[acked_ok])
    first_recv = np.full(prepared.n_ids, np.inf)
    np.fmin.at(first_recv, prepared.recvs.id, prepared.recvs.t)
    first_recv = first_recv[np.isfinite(acked_times)]
    acks = _cumulative(acked_times, origin, window, count)
    recvs = _cumulative(first_recv, origin, window, count)
    return pd.DataFrame({"t": np.arange(count) * window, "lag": np.maximum(acks - recvs, 0)})


def _cumulative(times: np.ndarray, origin: float, window: float, count: int) -> np.ndarray:
    times = times[np.isfinite(times)]
    index = np.clip(np.floor((times - origin) / window).astype(np.int64), 0, count - 1)
    return np.cumsum(np.bincount(index, minlength=count))


def latency_windows(sample: latency.Samples, origin: float, window: float) -> pd.DataFrame:
    """Per-window latency quantiles (ms), ``t`` relative to ``origin``; nearest-rank, as
    ``harness.checks.latency.series`` computes them, but with one float sort instead of a
    two-key ``lexsort`` (several times faster on ten million samples).

    The window index and the value are packed into one float key, ``bin * span + value``:
    sorting it orders by window, then by value. Values come back exact to within a few
    nanoseconds (the key's float resolution), far below what a chart shows.
    """
    columns = ["t", "count", *[f"{n}_ms" for n, _ in latency.QUANTILES], "max_ms"]
    if len(sample) == 0:
        return pd.DataFrame({c: [] for c in columns})
    bins = np.floor((sample.at - origin) / window)
    low = float(sample.value.min())
    span = float(sample.value.max()) - low + 1.0
    key = bins * span + (sample.value - low)
    key.sort()
    sorted_bins = np.floor(key / span)
    values = key - sorted_bins * span + low
    starts = np.flatnonzero(np.r_[True, sorted_bins[1:] != sorted_bins[:-1]])
    counts = np.diff(np.r_[starts, len(key)])
    frame: dict[str, np.ndarray] = {"t": sorted_bins[starts] * window, "count": counts}
    for name, q in latency.QUANTILES:
        rank = np.maximum(np.ceil(q * counts).astype(np.int64) - 1, 0)
        frame[f"{name}_ms"] = values[starts + rank] * 1000.0
    frame["max_ms"] = values[starts + counts - 1] * 1000.0
    return pd.DataFrame(frame, columns=columns)


def nines(sample: latency.Samples) -> pd.DataFrame:
    """The latency quantile curve: ``q`` from 0 to 99.99% on a "nines" scale, values in ms.

    ``x`` is ``-log10(1 - q)`` (0 at the median's left end, 2 at p99, 4 at p99.99); the curve
    stops at the highest quantile the sample can resolve (one in ``n``).
    """
    n = len(sample)
    if n == 0:
        return pd.DataFrame({"x": [], "q": [], "ms": []})
    reach = min(NINES_MAX, math.log10(n)) if n > 1 else 0.0
    x = np.linspace(0.0, reach, max(2, int(reach * 40) + 1))
    q = 1.0 - 10.0**-x
    values = np.quantile(sample.value, q, method="inverted_cdf") * 1000.0
    return pd.DataFrame({"x": x, "q": q, "ms": values})


__all__ = [
    "NINES_MAX",
    "choose_window",
    "consumer_lag",
    "latency_windows",
    "nines",
    "rate",
    "throughput",
]
