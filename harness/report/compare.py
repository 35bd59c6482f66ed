"""``harness compare``: a candidate run (or set of runs) against a baseline, regressions flagged.

Each side is a run folder (with ``summary.json``) or a folder of run folders; a set is reduced
to the median of each metric. A metric regresses when the candidate is worse than the baseline
by more than the relative tolerance *and* by more than the metric's absolute floor: the floor
keeps a 26 ms -> 167 ms p99 between two healthy runs on a busy 2-core machine (measured, see
``DEFAULT_TOLERANCE``) from failing a nightly job, while a count of lost events regresses on
any increase beyond the tolerance.

    rows = compare(load_side(Path("base"), "b"), load_side(Path("cand"), "c"), tolerance=1.0)
    [r.metric.name for r in rows if r.regressed]
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.checks import ANOMALIES
from harness.errors import ConfigError
from harness.report.view import read_summary

DEFAULT_TOLERANCE = 1.0
"""100%, with the absolute floors below. Measured on this 2-core machine while other jobs ran
(load average 3-7): nine healthy 10 s runs at 500/s of one Kafka scenario gave p50 8.4-22.7 ms,
p99 26-167 ms, p99.9 36-325 ms (throughput within 0.1%). Any pair of them passes these
defaults; a 500 ms latency toxic over 40% of the run does not. Compare sets of runs (medians)
and lower the tolerance where the machine is quieter."""


@dataclass(frozen=True)
class Metric:
    """A compared figure: where it lives in ``summary.json`` metrics, and which way is better."""

    name: str
    unit: str
    lower_is_better: bool = True
    floor: float = 0.0
    """Absolute change never flagged, whatever the relative change (noise floor)."""


METRICS: tuple[Metric, ...] = (
    Metric("p50_ms", "ms", floor=20.0),
    Metric("p99_ms", "ms", floor=150.0),
    Metric("p999_ms", "ms", floor=400.0),
    Metric("throughput_per_s", "events/s", lower_is_better=False, floor=0.05),
    Metric("recovery_s", "s", floor=2.0),
    # a send the client gave up on that still arrived is no regression of the system
    *(Metric(name, "events") for name in ANOMALIES if name != "recovered"),
)


@dataclass(frozen=True)
class Side:
    """One side of a comparison: its run folders and their summaries."""

    label: str
    runs: list[Path]
    summaries: list[dict[str, Any]]

    @property
    def scenario(self) -> str:
        names = {str((s.get("scenario") or {}).get("name")) for s in self.summaries}
        return ", ".join(sorted(names))

    def value(self, metric: Metric) -> float:
        """The median of the metric over the side's runs (NaN when no run measured it)."""
        values = [_metric(s, metric.name) for s in self.summaries]
        known = [v for v in values if not math.isnan(v)]
        return statistics.median(known) if known else math.nan


@dataclass(frozen=True)
class Row:
    """One metric of the comparison."""

    metric: Metric
    baseline: float
    candidate: float
    tolerance: float

    @property
    def change(self) -> float:
        """Relative change, candidate over baseline (inf when the baseline is zero)."""
        if math.isnan(self.baseline) or math.isnan(self.candidate):
            return math.nan
        if self.baseline == self.candidate:
            return 0.0
        if self.baseline == 0 or math.isinf(self.baseline):
            return math.inf if self.candidate > self.baseline else -math.inf
        return (self.candidate - self.baseline) / abs(self.baseline)

    @property
    def worse_by(self) -> float:
        """How much worse the candidate is, relatively (negative: better)."""
        change = self.change
        return change if self.metric.lower_is_better else -change

    @property
    def regressed(self) -> bool:
        if math.isnan(self.change):
            return False
        gap = abs(self.candidate - self.baseline) if not math.isinf(self.candidate) else math.inf
        return self.worse_by > self.tolerance and gap > self.metric.floor


def parse_tolerance(text: str) -> float:
    """``"10%"`` or ``"0.1"`` as a fraction; a ``ConfigError`` for anything else."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100.0 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ConfigError(
            f"--fail-on-regression {text!r} is not a tolerance; give a percentage such as 10%"
        ) from None
    if not 0 <= value < 100:
        raise ConfigError(
            f"--fail-on-regression {text!r} is outside 0% to 10000%; give a percentage such as "
            "100% (the default)."
        )
    return value


def load_side(path: Path, label: str) -> Side:
    """A run folder, or a folder whose sub-folders are runs (a set)."""
    path = Path(path)
    if (path / "summary.json").exists():
        runs = [path]
    else:
        runs = sorted(p for p in path.glob("*/") if (p / "summary.json").exists())
    if not runs:
        raise ConfigError(
            f"{path}: no summary.json here or in its sub-folders; give a run folder written by "
            "`harness run` (or a folder of them)"
        )
    summaries = [read_summary(run) or {} for run in runs]
    return Side(label, runs, summaries)


def compare(baseline: Side, candidate: Side, tolerance: float) -> list[Row]:
    """Every metric of both sides, with its regression flag."""
    return [Row(m, baseline.value(m), candidate.value(m), tolerance) for m in METRICS]


def benchmark_json(side: Side, rows: list[Row] | None = None) -> list[dict[str, Any]]:
    """github-action-benchmark ``customSmallerIsBetter`` entries for one side's figures.

    Throughput is left out (bigger is better); a recovery that never happened is left out.
    """
    entries = []
    for metric in METRICS:
        if not metric.lower_is_better:
            continue
        value = side.value(metric)
        if not math.isfinite(value):
            continue
        entries.append(
            {
                "name": f"{side.scenario} {metric.name}",
                "unit": metric.unit,
                "value": round(value, 3),
                "extra": f"median of {len(side.runs)} run(s): "
                + ", ".join(p.name for p in side.runs),
            }
        )
    return entries


def text_table(baseline: Side, candidate: Side, rows: list[Row]) -> str:
    """The comparison as an aligned plain-text table (for terminals and CI logs)."""
    lines = [
        f"baseline:  {baseline.scenario} ({len(baseline.runs)} run(s): {_names(baseline)})",
        f"candidate: {candidate.scenario} ({len(candidate.runs)} run(s): {_names(candidate)})",
        "",
        f"{'metric':<22}{'baseline':>14}{'candidate':>14}{'change':>10}  verdict",
    ]
    for row in rows:
        if math.isnan(row.baseline) and math.isnan(row.candidate):
            continue
        verdict = "REGRESSION" if row.regressed else ("better" if row.worse_by < 0 else "ok")
        lines.append(
            f"{row.metric.name:<22}{fmt(row.baseline):>14}{fmt(row.candidate):>14}"
            f"{fmt_change(row.change):>10}  {verdict}"
        )
    return "\n".join(lines)


def fmt(value: float) -> str:
    if math.isnan(value):
        return "-"
    if math.isinf(value):
        return "never"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def fmt_change(change: float) -> str:
    if math.isnan(change):
        return "-"
    if math.isinf(change):
        return "+inf" if change > 0 else "-inf"
    return f"{change:+.0%}"


def _names(side: Side) -> str:
    return ", ".join(p.name for p in side.runs)


def _metric(summary: dict[str, Any], name: str) -> float:
    value = (summary.get("metrics") or {}).get(name)
    if value is None and name == "recovery_s":
        return _recovery(summary)
    if value is None:
        value = (summary.get("anomalies") or {}).get(name)
    return float(value) if isinstance(value, int | float) else math.nan


def _recovery(summary: dict[str, Any]) -> float:
    """A recovery the summary could not write (JSON has no infinity): never, if it was due."""
    faults = summary.get("faults") or []
    due = any((f.get("before") or {}).get("p99_ms") is not None for f in faults)
    return math.inf if due else math.nan


__all__ = [
    "DEFAULT_TOLERANCE",
    "METRICS",
    "Metric",
    "Row",
    "Side",
    "benchmark_json",
    "compare",
    "load_side",
    "parse_tolerance",
    "text_table",
]
