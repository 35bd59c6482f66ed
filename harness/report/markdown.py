"""``summary.md``: a short Markdown summary fit for a pull-request comment or a CI job summary.

The verdict line, each condition with its measured value, key figures, non-zero anomalies
with examples, and the fault impact table. When ``GITHUB_STEP_SUMMARY`` names a file, the
summary is appended to it; GitHub rejects a step summary over 1 MiB, so the append is cut
short (with a note) rather than let the file cross ``STEP_SUMMARY_LIMIT``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.report.impact import FaultImpact
from harness.report.view import RunView, conditions_of, rate_text

STEP_SUMMARY_LIMIT = 1024 * 1024 - 4096
"""Bytes a step summary file may reach after our append (1 MiB, less a margin)."""
EXAMPLES_SHOWN = 3


def md(value: object) -> str:
    """Text safe inside a Markdown table cell: no pipes, no markup, no line breaks."""
    text = "" if value is None else str(value)
    for char in "\\`*_[]<>|#":
        text = text.replace(char, "\\" + char)
    return " ".join(text.split())


def code(value: object) -> str:
    """Text for a Markdown code span inside a table cell."""
    text = " ".join(("" if value is None else str(value)).split())
    return "`" + text.replace("`", "'").replace("|", "\\|") + "`"


def render(view: RunView, report_name: str = "report.html") -> str:
    """The Markdown summary of one run."""
    summary = view.summary
    icon = "✅ PASS" if summary.get("passed") else "❌ FAIL"
    lines = [f"### {icon} · {md(view.name)}", ""]
    facts = [
        f"delivery **{md(summary.get('delivery_guarantee') or 'n/a')}**",
        f"effects **{md(summary.get('effect_guarantee') or 'n/a')}**",
        f"seed {code(summary.get('seed'))}",
    ]
    facts.append(f"storm {view.storm_s:.1f} s")
    rate = rate_text(summary)
    if rate:
        facts.append(md(rate))
    lines += [" · ".join(facts), ""]
    lines += _conditions(summary) + _figures(summary) + _anomalies(summary)
    lines += _sources(view)
    lines += _impacts(view.impacts)
    lines.append(f"Full report: {code(view.run_dir / report_name)}")
    return "\n".join(lines) + "\n"


def _sources(view: RunView) -> list[str]:
    if view.sources.empty:
        return []
    parts = [
        f"{code(r.source)} {md(r.op)} {r.rows:,}" + (" (set aside)" if r.set_aside else "")
        for r in view.sources.itertuples()
    ]
    return ["Recorded by: " + " · ".join(parts), ""]


def _conditions(summary: Mapping[str, Any]) -> list[str]:
    items = conditions_of(summary)
    if not items:
        return []
    rows = ["| | condition | measured |", "|---|---|---:|"]
    for c in items:
        mark = "✅" if c.get("passed") else "❌"
        rows.append(f"| {mark} | {code(c.get('condition'))} | {_num(c.get('measured'))} |")
    errors = [f"- ⚠️ {md(e)}" for e in summary.get("errors") or []]
    return rows + [""] + (errors + [""] if errors else [])


def _figures(summary: Mapping[str, Any]) -> list[str]:
    counts = summary.get("counts") or {}
    e2e = (summary.get("latency") or {}).get("end_to_end_intended") or {}
    cells = [
        ("sent", counts.get("sends")),
        ("acked", counts.get("sends_ok")),
        ("received", counts.get("deliveries")),
        ("p50 ms", e2e.get("p50_ms")),
        ("p99 ms", e2e.get("p99_ms")),
        ("p99.9 ms", e2e.get("p99.9_ms")),
        ("max ms", e2e.get("max_ms")),
        ("ack stall s", (summary.get("metrics") or {}).get("ack_stall_s")),
    ]
    head = "| " + " | ".join(name for name, _ in cells) + " |"
    rule = "|" + "---:|" * len(cells)
    values = "| " + " | ".join(_num(v) for _, v in cells) + " |"
    return [head, rule, values, ""]


def _anomalies(summary: Mapping[str, Any]) -> list[str]:
    found = {k: v for k, v in (summary.get("anomalies") or {}).items() if v}
    if not found:
        return ["No anomaly found.", ""]
    examples = summary.get("examples") or {}
    rows = ["| anomaly | count | examples |", "|---|---:|---|"]
    for name, count in found.items():
        shown = ", ".join(code(i) for i in examples.get(name, [])[:EXAMPLES_SHOWN])
        rows.append(f"| {md(name)} | {count:,} | {shown} |")
    return rows + [""]


def _impacts(impacts: list[FaultImpact]) -> list[str]:
    if not impacts:
        return []
    rows = [
        "| fault | window s | p99 ms before → during → after | recovery | lost | duplicated |",
        "|---|---|---|---:|---:|---:|",
    ]
    for i in impacts:
        p99 = " → ".join(_num(i.p99_ms[p]) for p in ("before", "during", "after"))
        recovery = "never" if math.isinf(i.recovery_s) else _num(i.recovery_s, suffix=" s")
        recovery = recovery if i.recovery_measurable else "n/a"
        end = f"{i.end:.1f}" if math.isfinite(i.end) else "end"
        window = f"{i.start:.1f}–{end}"
        note = f" ({md(i.note)})" if i.note else ""
        rows.append(
            f"| {i.label} {md(i.kind)} {md(i.target)}{note} | {window} | {p99} | {recovery} "
            f"| {i.lost:,} | {i.duplicated:,} |"
        )
    return rows + [""]


def append_step_summary(text: str, environ: Mapping[str, str] | None = None) -> Path | None:
    """Append ``text`` to the file ``GITHUB_STEP_SUMMARY`` names, keeping it under the limit."""
    target = (environ if environ is not None else os.environ).get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    used = path.stat().st_size if path.exists() else 0
    room = STEP_SUMMARY_LIMIT - used
    data = text.encode("utf-8")
    if len(data) > room:
        note = b"\n\n_(summary cut: the job summary is limited to 1 MiB)_\n"
        if room <= len(note):
            return path
        data = data[: room - len(note)].decode("utf-8", errors="ignore").encode() + note
    with path.open("ab") as handle:
        handle.write(data)
    return path


def _num(value: object, suffix: str = "") -> str:
    if not isinstance(value, int | float) or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    if float(value).is_integer() and abs(value) >= 100:
        return f"{int(value):,}{suffix}"
    return f"{value:,.3g}{suffix}" if abs(value) < 100 else f"{value:,.1f}{suffix}"


__all__ = ["STEP_SUMMARY_LIMIT", "append_step_summary", "code", "md", "render"]
