"""Per-fault impact: latency and throughput before, during and after each fault window, the
time to recover, and the events lost or duplicated inside the window.

Latency phases and recovery come from ``harness.checks.run_verdict.fault_impacts`` (the very numbers
the verdict judged). Throughput is received events per second over each phase's span: from
the storm's start to the fault, the fault itself, and from its end to the storm's end. An
event counts as lost or duplicated inside a window when its intended send time falls in it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.checks import Prepared, delivery, fault_impacts, log
from harness.checks.facts import id_facts

PHASES = ("before", "during", "after")


@dataclass(frozen=True)
class FaultImpact:
    """One row of the impact table; times are seconds since the storm began."""

    label: str
    kind: str
    target: str
    start: float
    end: float
    p99_ms: dict[str, float | None]
    throughput: dict[str, float | None]
    recovery_s: float
    lost: int
    duplicated: int
    note: str | None = None
    """What the fault itself said, e.g. ``not fired: ...`` for a trigger that never fired."""

    @property
    def recovery_measurable(self) -> bool:
        """False when no event was due after the fault (it lasted to the storm's end), where
        the verdict's infinite recovery means "not observed" rather than "never recovered"."""
        return self.p99_ms.get("after") is not None


def impacts(
    prepared: Prepared,
    origin: float,
    storm_end: float,
    anomalies: dict[str, int],
    judged: list[dict[str, Any]] | None = None,
) -> list[FaultImpact]:
    """The impact table of a history (empty when it recorded no fault).

    ``judged`` is the summary's ``faults`` list: the latency phases and recovery the verdict
    computed from this history, reused rather than computed again. Without it (a bare
    history) they are computed here by the same function.
    """
    found = _restored(judged) if judged and len(judged) == len(prepared.faults) else None
    found = found or fault_impacts(prepared)
    if not found:
        return []
    lost, duplicated = _anomaly_times(prepared, anomalies)
    rows = []
    for index, impact in enumerate(found, start=1):
        start, end = float(impact["t_start"]), float(impact["t_end"])
        spans = {"before": (origin, start), "during": (start, end), "after": (end, storm_end)}
        rows.append(
            FaultImpact(
                label=f"F{index}",
                kind=str(impact["kind"]),
                target=str(impact["target"]),
                start=start - origin,
                end=end - origin,
                p99_ms={p: impact[p].get("p99_ms") for p in PHASES},
                throughput={p: _rate(prepared.recvs.t, *spans[p]) for p in PHASES},
                recovery_s=float(impact["recovery_s"]),
                lost=_inside(lost, start, end),
                duplicated=_inside(duplicated, start, end),
                note=impact.get("note"),
            )
        )
    return rows


def _restored(judged: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Summary fault entries with what JSON could not hold put back: an open end is infinity,
    and a missing recovery is ``never`` or ``not measurable`` as the verdict's ``recovery``
    field says."""
    out = []
    for entry in judged:
        restored = dict(entry)
        if restored.get("t_end") is None:
            restored["t_end"] = math.inf
        if restored.get("recovery_s") is None:
            status = restored.get("recovery")
            if status is None:  # summaries written before the verdict said which
                before = (restored.get("before") or {}).get("p99_ms")
                status = "never" if before is not None else "not measurable"
            restored["recovery_s"] = math.inf if status == "never" else math.nan
        out.append(restored)
    return out


def _rate(times: np.ndarray, start: float, end: float) -> float | None:
    if not math.isfinite(end) or end <= start:
        return None
    return float(np.count_nonzero((times >= start) & (times < end)) / (end - start))


def _inside(times: np.ndarray, start: float, end: float) -> int:
    return int(np.count_nonzero((times >= start) & (times < end)))


def _anomaly_times(prepared: Prepared, anomalies: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Intended send times of every lost id and every duplicated id (the checks' own sets)."""
    none = np.zeros(0)
    duplicates = ("duplicate_delivery", "duplicate_write")
    if not anomalies.get("lost") and not any(anomalies.get(n) for n in duplicates):
        return none, none
    everything = prepared.n_ids
    intended = np.full(everything, np.nan)
    np.fmin.at(intended, prepared.sends.id, prepared.sends.t_intended)
    lost = delivery.lost(prepared, id_facts(prepared), everything).examples
    dup_ids = np.union1d(
        delivery.duplicate_delivery(prepared, everything).examples,
        log.duplicate_write(prepared, everything).examples,
    ).astype(np.int64)
    return intended[lost], intended[dup_ids]


def as_json(impact: FaultImpact) -> dict[str, Any]:
    """A JSON-ready dict of one impact row (infinity as None)."""
    recovery = impact.recovery_s if math.isfinite(impact.recovery_s) else None
    return {
        "label": impact.label,
        "kind": impact.kind,
        "target": impact.target,
        "start_s": impact.start,
        "end_s": impact.end if math.isfinite(impact.end) else None,
        "p99_ms": impact.p99_ms,
        "throughput_per_s": impact.throughput,
        "recovery_s": recovery,
        "recovered": math.isfinite(impact.recovery_s),
        "lost": impact.lost,
        "duplicated": impact.duplicated,
    }


__all__ = ["PHASES", "FaultImpact", "as_json", "impacts"]
