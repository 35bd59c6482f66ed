"""A run's verdict: the checks' result, the measured metrics, thresholds and expectations.

Pure functions over the history (prepared once) and the scenario that was run (it lives here,
beside the checks, so that reports can compute fault impacts without importing the runner). The run passes when
every threshold holds, every expectation is met and the run had no harness errors; a scenario
that declares neither thresholds nor expectations passes when the checks find the history
valid.

Recovery time: for each fault window, the first 1-second window starting at or after the
fault's end whose end-to-end p99 is back within 20% (and 5 ms) of the p99 before the fault,
measured from the fault's end. ``recovery_s`` is the longest over the run's faults; a fault
after which latency never recovered gives infinity, which fails any ``recovery_s`` threshold.
A fault with no latency sample before it, or none after it (it ended with the storm), is not
measurable (NaN, which fails a threshold too). Each impact says which in ``recovery``:
``recovered``, ``never`` or ``not measurable``, since JSON writes both as null.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.checks import latency
from harness.checks.backlog import backlog_drain, drain_seconds
from harness.checks.core import evaluate
from harness.checks.frame import Prepared
from harness.checks.model import CheckResult
from harness.checks.policy import CheckPolicy
from harness.checks.throughput import Throughput, throughput
from harness.scenario import Scenario, Threshold

RECOVERY_WINDOW_S = 1.0
RECOVERY_TOLERANCE = 0.20
RECOVERY_FLOOR_MS = 5.0


@dataclass(frozen=True)
class Condition:
    """One pass/fail line of the verdict (a threshold or an expectation)."""

    name: str
    metric: str
    measured: float
    passed: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "condition": self.name,
            "metric": self.metric,
            "measured": _finite_or_none(self.measured),
            "passed": self.passed,
        }


@dataclass
class Verdict:
    """Everything ``summary.json`` and the exit code are made of."""

    check: CheckResult
    metrics: dict[str, float]
    thresholds: list[Condition]
    expectations: list[Condition]
    faults: list[dict[str, Any]]
    errors: list[str] = field(default_factory=list)
    engine: list[Condition] = field(default_factory=list)
    """What the harness owes whatever the scenario declares: every planned event was sent."""
    rates: Throughput | None = None

    @property
    def conditions(self) -> list[Condition]:
        """Every pass/fail line: thresholds, expectations, then the engine's own."""
        return self.thresholds + self.expectations + self.engine

    @property
    def passed(self) -> bool:
        if self.errors or not all(c.passed for c in self.engine):
            return False
        conditions = self.thresholds + self.expectations
        if conditions:
            return all(c.passed for c in conditions)
        return self.check.valid

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1


def judge(
    scenario: Scenario,
    history: Prepared,
    *,
    storm_seconds: float,
    slip_p99_ms: float | None = None,
    errors: list[str] | None = None,
    policy: CheckPolicy | None = None,
    events_planned: int | None = None,
) -> Verdict:
    """The verdict of ``scenario`` on its (prepared) history.

    With ``events_planned`` (the storm's size), a run whose engine sent fewer events than
    planned fails, whatever the scenario declares: a storm cut short proves nothing.
    """
    result = evaluate(history, policy)
    faults = fault_impacts(history)
    rates = throughput(history)
    metrics = measure(result, faults, storm_seconds, rates)
    metrics["backlog_drain_s"] = drain_seconds(backlog_drain(history.webhook, history.faults))
    engine = []
    if events_planned is not None:
        unsent = max(0, events_planned - int(metrics["sent"]))
        metrics["unsent"] = float(unsent)
        engine.append(
            Condition(
                f"sent every planned event ({int(metrics['sent'])} of {events_planned})",
                "unsent",
                float(unsent),
                unsent == 0,
            )
        )
    if slip_p99_ms is not None and math.isnan(metrics["slip_p99_ms"]):
        metrics["slip_p99_ms"] = slip_p99_ms
    thresholds = [_threshold(t, metrics) for t in scenario.thresholds]
    expectations = [
        *(
            Condition(f"finds {name}", name, metrics[name], metrics[name] > 0)
            for name in scenario.expect.finds
        ),
        *(
            Condition(f"clean {name}", name, metrics[name], metrics[name] == 0)
            for name in scenario.expect.clean
        ),
    ]
    return Verdict(
        result, metrics, thresholds, expectations, faults, list(errors or []), engine, rates
    )


def measure(
    result: CheckResult,
    faults: list[dict[str, Any]],
    storm_seconds: float,
    rates: Throughput | None = None,
) -> dict[str, float]:
    """The metrics thresholds may name (see ``harness.scenario.thresholds.KNOWN_METRICS``).

    ``throughput_per_s`` is acknowledged sends over the real first-send-to-last-ack span when
    ``rates`` is given; only without it does it fall back to the storm's length.
    """
    e2e = result.latency.get("end_to_end_intended", {})
    counts = result.counts
    metrics: dict[str, float] = {name: float(count) for name, count in result.anomalies.items()}
    metrics.update(
        p50_ms=_get(e2e, "p50_ms"),
        p90_ms=_get(e2e, "p90_ms"),
        p99_ms=_get(e2e, "p99_ms"),
        p999_ms=_get(e2e, "p99.9_ms"),
        max_ms=_get(e2e, "max_ms"),
        publish_p99_ms=_get(result.latency.get("publish", {}), "p99_ms"),
        slip_p99_ms=_get(result.latency.get("schedule_slip", {}), "p99_ms"),
        sent=float(counts.get("sends", 0)),
        acked=float(counts.get("sends_ok", 0)),
        received=float(counts.get("deliveries", 0)),
        throughput_per_s=(
            rates.achieved_per_s
            if rates is not None and rates.span_s > 0
            else counts.get("sends_ok", 0) / storm_seconds
            if storm_seconds > 0
            else 0.0
        ),
        offered_per_s=rates.offered_per_s if rates is not None else math.nan,
        released_per_s=rates.released_per_s if rates is not None else math.nan,
        unsent=math.nan,
        ack_stall_s=rates.ack_stall_s if rates is not None else math.nan,
        recovery_s=max((f["recovery_s"] for f in faults), default=math.nan),
        backlog_drain_s=math.nan,
    )
    return metrics


def fault_impacts(history: Prepared) -> list[dict[str, Any]]:
    """Per fault window: latency before / during / after and the time to recover."""
    sample = latency.samples(history)["end_to_end_intended"]
    impacts = latency.phases(sample, history.faults)
    if not impacts:
        return []
    origin = float(np.min(sample.at)) if len(sample) else 0.0
    windows = latency.series(sample, RECOVERY_WINDOW_S, origin=origin)
    for impact in impacts:
        seconds = recovery_seconds(windows, impact)
        impact["recovery_s"] = seconds
        impact["recovery"] = (
            "not measurable"
            if math.isnan(seconds)
            else "never"
            if math.isinf(seconds)
            else "recovered"
        )
    return impacts


def recovery_seconds(windows: Any, impact: dict[str, Any]) -> float:
    """Seconds from the fault's end to the first window back near the before-fault p99."""
    before = impact["before"].get("p99_ms")
    if before is None or len(windows) == 0:
        return math.nan
    limit = max(before * (1 + RECOVERY_TOLERANCE), before + RECOVERY_FLOOR_MS)
    end = float(impact["t_end"])
    after = windows[windows["start"] >= end - 1e-9]
    if len(after) == 0:
        return math.nan
    recovered = after[after["p99_ms"] <= limit]
    if len(recovered) == 0:
        return math.inf
    return max(0.0, float(recovered["start"].iloc[0]) - end)


def _threshold(threshold: Threshold, metrics: dict[str, float]) -> Condition:
    measured = metrics.get(threshold.metric, math.nan)
    return Condition(str(threshold), threshold.metric, measured, threshold.holds(measured))


def _get(summary: dict[str, float], name: str) -> float:
    value = summary.get(name)
    return math.nan if value is None else float(value)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


__all__ = ["Condition", "Verdict", "fault_impacts", "judge", "measure", "recovery_seconds"]
