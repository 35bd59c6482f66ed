"""Plain-text rendering of a ``CheckResult`` for terminals and CI logs."""

from __future__ import annotations

from harness.checks.model import DELIVERY_CHECKS, CheckResult


def render(result: CheckResult) -> str:
    """A short readable summary: verdict, anomalies with examples, counts, latency."""
    verdict = "VALID" if result.valid else "INVALID"
    lines = [
        f"{verdict}  delivery guarantee: {result.delivery_guarantee or _no_delivery(result)}; "
        f"effect guarantee: {result.effect_guarantee or 'n/a (no effect ops)'}"
    ]
    if result.invalidating:
        lines.append("invalidated by: " + ", ".join(result.invalidating))
    lines += ["", f"{'anomaly':<22}{'count':>12}  examples"]
    for name, count in result.anomalies.items():
        if name in result.skipped:
            shown = f"{'-':>12}  (not checked: no {_missing_input(name)})"
        else:
            examples = ", ".join(result.examples.get(name, []))
            shown = f"{count:>12,}  {examples}"
        lines.append(f"{name:<22}{shown}".rstrip())
    lines += ["", "counts: " + ", ".join(f"{k}={v:,}" for k, v in result.counts.items()), ""]
    lines.append(
        f"{'latency (ms)':<22}{'count':>10}{'p50':>10}{'p90':>10}{'p99':>10}"
        f"{'p99.9':>10}{'max':>10}"
    )
    for name, stats in result.latency.items():
        cells = "".join(_cell(stats.get(f"{q}_ms")) for q in ("p50", "p90", "p99", "p99.9", "max"))
        lines.append(f"{name:<22}{int(stats['count']):>10,}{cells}")
    return "\n".join(lines)


def _cell(value: float | None) -> str:
    return f"{'-':>10}" if value is None else f"{value:>10.3f}"


def _no_delivery(result: CheckResult) -> str:
    if "lost" in result.skipped:
        return "n/a (black box: deliveries not observed)"
    return "n/a (nothing sent)"


def _missing_input(name: str) -> str:
    if name in DELIVERY_CHECKS:
        return "deliveries: the service was observed from outside"
    if name in ("request_after_give_up", "retry_after_ignored"):
        return "request ops: no HTTP downstream observed"
    return "effect ops" if "effect" in name else "poison sends or dead_letter ops"


__all__ = ["render"]
