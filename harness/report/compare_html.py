"""``compare.html``: the comparison table and overlaid charts of the two sides.

Self-contained like ``report.html`` (same stylesheet, charts as base64 PNG). Each side's runs
are overlaid (at most ``OVERLAID_RUNS`` per side): p99 over time, received events per second
over time, and the whole-run quantile curves.
"""

from __future__ import annotations

import base64

import pandas as pd

from harness.report import plots
from harness.report.compare import Row, Side, fmt, fmt_change
from harness.report.html import esc
from harness.report.style import CSS
from harness.report.view import RunView, load_run

OVERLAID_RUNS = 3


def render(baseline: Side, candidate: Side, rows: list[Row], tolerance: float) -> str:
    """The comparison page."""
    views = {
        f"{side.label} {run.name}": load_run(run)
        for side in (baseline, candidate)
        for run in side.runs[:OVERLAID_RUNS]
    }
    regressions = [r.metric.name for r in rows if r.regressed]
    verdict = "REGRESSION" if regressions else "NO REGRESSION"
    head = (
        f'<header class="banner {"fail" if regressions else "pass"}"><div class="verdict" '
        f'style="font-size:20px;min-width:190px">{verdict}</div><div class="head">'
        f"<h1>{esc(candidate.scenario)}</h1><p class=about>candidate vs baseline, tolerance "
        f"{tolerance:.0%}{': ' + esc(', '.join(regressions)) if regressions else ''}</p>"
        "</div></header>"
    )
    body = head + _table(rows) + _charts(views)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>'
        f"{esc(verdict)} · {esc(candidate.scenario)}</title><style>{CSS}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )


def _table(rows: list[Row]) -> str:
    lines = []
    for row in rows:
        if pd.isna(row.baseline) and pd.isna(row.candidate):
            continue
        tone = "bad" if row.regressed else ""
        verdict = "regression" if row.regressed else ("better" if row.worse_by < 0 else "ok")
        lines.append(
            f'<tr class="{tone}"><td>{esc(row.metric.name)}</td><td>{esc(row.metric.unit)}</td>'
            f"<td class=num>{esc(fmt(row.baseline))}</td><td class=num>{esc(fmt(row.candidate))}"
            f"</td><td class=num>{esc(fmt_change(row.change))}</td><td>{verdict}</td></tr>"
        )
    return (
        "<section><h2>Metrics</h2><table><thead><tr><th>metric</th><th>unit</th>"
        "<th class=num>baseline</th><th class=num>candidate</th><th class=num>change</th>"
        f"<th>verdict</th></tr></thead><tbody>{''.join(lines)}</tbody></table></section>"
    )


def _charts(views: dict[str, RunView]) -> str:
    p99 = {label: v.latency["corrected"] for label, v in views.items()}
    received = {label: v.throughput for label, v in views.items()}
    curves = {label: v.quantiles["corrected"] for label, v in views.items()}
    pngs = [
        plots.to_png(plots.overlay_chart(p99, "p99_ms", "p99 over time (ms, corrected)")),
        plots.to_png(plots.overlay_chart(received, "received", "Received events per second")),
        plots.to_png(plots.quantile_chart(curves, "Latency by quantile (ms, corrected)")),
    ]
    images = "".join(
        f'<figure><img alt="chart" src="data:image/png;base64,{base64.b64encode(p).decode()}">'
        "</figure>"
        for p in pngs
    )
    return f"<section><h2>Overlaid</h2>{images}</section>"


__all__ = ["OVERLAID_RUNS", "render"]
