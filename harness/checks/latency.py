"""Latency from the history: summaries, per-window series, and fault-window phases.

Four measures, each a set of samples (``at``: when, on the run clock; ``value``: seconds):

- ``end_to_end_intended``: first receive minus intended send time, per id. This is the
  coordinated-omission corrected latency: a stalled producer cannot hide the stall.
- ``end_to_end_sent``: first receive minus the time the client was handed the event, per id.
- ``publish``: ack time minus send time, per acknowledged send.
- ``schedule_slip``: send time minus intended time, per send (how far the load fell behind).

Quantiles use the inverted-CDF (nearest-rank) definition; reported values are milliseconds.

    series(samples["publish"], window=1.0)        # one row per second: count, p50..max
    phases(samples["end_to_end_intended"], faults)  # before / during / after each fault
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.checks.frame import OK, Prepared

QUANTILES: tuple[tuple[str, float], ...] = (
    ("p50", 0.5),
    ("p90", 0.9),
    ("p99", 0.99),
    ("p99.9", 0.999),
)


@dataclass(frozen=True)
class Samples:
    """Latency samples: ``value[i]`` seconds, taken for an event due at ``at[i]``."""

    at: np.ndarray
    value: np.ndarray

    def __len__(self) -> int:
        return len(self.value)


def samples(history: Prepared) -> dict[str, Samples]:
    """The four latency measures of a history (see the module docstring)."""
    n = history.n_ids
    sends, recvs = history.sends, history.recvs
    first_recv = _first(n, recvs.id, recvs.t)
    intended = _first(n, sends.id, sends.t_intended)
    sent = _first(n, sends.id, sends.t)
    acked = sends.status == OK
    return {
        "end_to_end_intended": _pairwise(intended, first_recv, intended),
        "end_to_end_sent": _pairwise(sent, first_recv, sent),
        "publish": _pairwise(sends.t[acked], sends.t_ack[acked], sends.t[acked]),
        "schedule_slip": _pairwise(sends.t_intended, sends.t, sends.t_intended),
    }


def summary(sample: Samples) -> dict[str, float]:
    """Count, quantiles and max in milliseconds (an empty sample gives count 0 only)."""
    n = len(sample)
    if n == 0:
        return {"count": 0}
    ranks = [int(_rank(q, n)) for _, q in QUANTILES] + [n - 1]
    selected = np.partition(sample.value, ranks)  # linear-time selection, no full sort
    out: dict[str, float] = {"count": n}
    for (name, _), rank in zip(QUANTILES, ranks, strict=False):
        out[f"{name}_ms"] = _ms(selected[rank])
    out["max_ms"] = _ms(selected[-1])
    return out


def series(sample: Samples, window: float = 1.0, origin: float | None = None) -> pd.DataFrame:
    """Per-window quantiles: one row per non-empty window of ``window`` seconds.

    Columns: ``start`` (run-clock seconds), ``count``, ``p50_ms`` .. ``p99.9_ms``, ``max_ms``.
    """
    if window <= 0:
        raise ValueError(f"window must be positive seconds, got {window!r}")
    columns = ["start", "count", *[f"{n}_ms" for n, _ in QUANTILES], "max_ms"]
    if len(sample) == 0:
        return pd.DataFrame({c: [] for c in columns})
    origin = float(sample.at.min()) if origin is None else origin
    bins = np.floor((sample.at - origin) / window).astype(np.int64)
    order = np.lexsort((sample.value, bins))
    bins, values = bins[order], sample.value[order]
    starts = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]])
    counts = np.diff(np.r_[starts, len(bins)])
    frame = {"start": origin + bins[starts] * window, "count": counts}
    for name, q in QUANTILES:
        frame[f"{name}_ms"] = values[starts + _rank(q, counts)] * 1000.0
    frame["max_ms"] = values[starts + counts - 1] * 1000.0
    return pd.DataFrame(frame, columns=columns)


def phases(sample: Samples, faults: pd.DataFrame) -> list[dict[str, object]]:
    """For each fault window, summaries of the samples before, during and after it."""
    out: list[dict[str, object]] = []
    for fault in faults.itertuples(index=False):  # one row per fault window, not per event
        start, end = float(fault.t_start), float(fault.t_end)
        if np.isnan(end):
            end = np.inf
        out.append(
            {
                "kind": fault.kind,
                "target": fault.target,
                "t_start": start,
                "t_end": end,
                "note": _text(getattr(fault, "reason", None)),
                "before": summary(_where(sample, sample.at < start)),
                "during": summary(_where(sample, (sample.at >= start) & (sample.at < end))),
                "after": summary(_where(sample, sample.at >= end)),
            }
        )
    return out


def _text(value: object) -> str | None:
    """A fault row's ``reason`` when it has one (pandas gives NaN or None for a null)."""
    return value if isinstance(value, str) and value else None


def latency_report(history: Prepared) -> dict[str, dict[str, float]]:
    """The ``latency`` object of the JSON result."""
    return {name: summary(sample) for name, sample in samples(history).items()}


def _rank(q: float, n: np.ndarray | int) -> np.ndarray | int:
    """Zero-based nearest-rank index of quantile ``q`` among ``n`` sorted values."""
    return np.maximum(np.ceil(q * np.asarray(n)).astype(np.int64) - 1, 0)


def _first(n: int, codes: np.ndarray, times: np.ndarray) -> np.ndarray:
    earliest = np.full(n, np.inf)
    np.fmin.at(earliest, codes, times)
    return earliest


def _pairwise(start: np.ndarray, end: np.ndarray, at: np.ndarray) -> Samples:
    known = np.isfinite(start) & np.isfinite(end)
    return Samples(at=at[known], value=end[known] - start[known])


def _where(sample: Samples, mask: np.ndarray) -> Samples:
    return Samples(at=sample.at[mask], value=sample.value[mask])


__all__ = ["QUANTILES", "Samples", "latency_report", "phases", "samples", "series", "summary"]


def _ms(seconds: float) -> float:
    """Milliseconds, rounded to the microsecond (float noise hides nothing real)."""
    return round(float(seconds) * 1000.0, 3)
