"""The self-contained ``report.html`` of one run.

One file: CSS inline, charts embedded as base64 PNG, no script, no request to any host, so it
opens from disk or a CI artifact. Every string that comes from the history or the summary
(keys, ids, error messages, fault targets, scenario text) goes through ``esc`` before it
reaches the page, so a payload or key holding ``<script>`` shows as text.

Reading order, top to bottom: the verdict banner (pass/fail per condition, guarantee, seed,
scenario, versions), key figures, the fault timeline, the charts, the per-fault impact table,
the anomalies with examples, each example's neighbourhood in its key's timeline.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from harness import __version__
from harness.checks import DEFAULT_ALLOWED
from harness.report.impact import PHASES, FaultImpact
from harness.report.rows import SHOWN_COLUMNS, Timeline
from harness.report.style import CSS
from harness.report.view import RunView, conditions_of, rate_text

LATENCY_NAMES = {
    "end_to_end_intended": "end to end, from intended time (corrected)",
    "end_to_end_sent": "end to end, from send time (uncorrected)",
    "publish": "publish (send to ack)",
    "schedule_slip": "schedule slip (intended to send)",
}


def esc(value: object) -> str:
    """HTML-escaped text of any value (None as an empty string)."""
    return "" if value is None else html.escape(str(value), quote=True)


def render(view: RunView, charts: Mapping[str, bytes]) -> str:
    """The whole page; ``charts`` maps a chart's file name to its PNG bytes."""
    summary = view.summary
    title = f"{'PASS' if summary.get('passed') else 'FAIL'} · {view.name}"
    body = "\n".join(
        [
            banner(view),
            figures(view),
            sources_section(view),
            fault_strip(view),
            chart_section(charts),
            impact_section(view.impacts),
            webhook_section(view),
            anomaly_section(view),
            timeline_section(view),
            latency_section(summary.get("latency") or {}),
            f"<footer>harness {esc(__version__)} · window {view.window:g} s · "
            f"history {esc(view.history_path.name)}</footer>",
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )


def banner(view: RunView) -> str:
    summary = view.summary
    passed = bool(summary.get("passed"))
    scenario = summary.get("scenario") or {}
    run = summary.get("run") or {}
    facts = {
        "delivery guarantee": summary.get("delivery_guarantee") or "n/a (nothing sent)",
        "effect guarantee": summary.get("effect_guarantee") or "n/a (no effect ops)",
        "seed": summary.get("seed"),
        "run": run.get("id"),
        "target": scenario.get("target"),
        "consumer": scenario.get("consumer"),
        "destination": run.get("destination"),
        "storm": f"{view.storm_s:.1f} s",
        "throughput": rate_text(summary),
        "scenario file": scenario.get("file"),
    }
    versions = " · ".join(f"{k} {v}" for k, v in (summary.get("versions") or {}).items())
    facts["versions"] = versions or None
    rows = "".join(
        f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in facts.items() if v is not None
    )
    verdict = "PASS" if passed else "FAIL"
    return (
        f'<header class="banner {"pass" if passed else "fail"}">'
        f'<div class="verdict">{verdict}</div><div class="head">'
        f"<h1>{esc(view.name)}</h1><p class=about>{esc(scenario.get('about'))}</p>"
        f"<dl class=facts>{rows}</dl></div></header>{conditions(summary)}"
    )


def conditions(summary: Mapping[str, Any]) -> str:
    items = conditions_of(summary)
    lines = [
        f'<tr class="{"ok" if c.get("passed") else "bad"}"><td>{_mark(c.get("passed"))}</td>'
        f"<td><code>{esc(c.get('condition'))}</code></td>"
        f"<td class=num>{esc(_measured(c.get('measured')))}</td></tr>"
        for c in items
    ]
    if not summary.get("thresholds") and not summary.get("expectations"):
        valid = "valid" if summary.get("valid") else "invalid"
        lines.append(
            f"<tr><td></td><td>no thresholds declared: the checks found the history "
            f"{valid}</td><td></td></tr>"
        )
    errors = "".join(f"<li>{esc(e)}</li>" for e in summary.get("errors") or [])
    error_block = f'<ul class="errors">{errors}</ul>' if errors else ""
    return (
        '<section><h2>Conditions</h2><table class="conditions"><thead><tr><th></th>'
        f"<th>condition</th><th class=num>measured</th></tr></thead><tbody>{''.join(lines)}"
        f"</tbody></table>{error_block}</section>"
    )


def figures(view: RunView) -> str:
    summary = view.summary
    metrics = summary.get("metrics") or {}
    counts = summary.get("counts") or {}
    anomalies = summary.get("anomalies") or {}
    e2e = (summary.get("latency") or {}).get("end_to_end_intended") or {}
    duplicated = sum(anomalies.get(n, 0) for n in ("duplicate_delivery", "duplicate_write"))
    tiles = [
        ("sent", _count(counts.get("sends")), ""),
        ("acknowledged", _count(counts.get("sends_ok")), ""),
        _received_tile(counts),
        ("lost", _count(anomalies.get("lost")), "bad" if anomalies.get("lost") else "good"),
        ("duplicated", _count(duplicated), "warn" if duplicated else "good"),
        ("p50", ms_text(e2e.get("p50_ms")), ""),
        ("p99", ms_text(e2e.get("p99_ms")), ""),
        ("p99.9", ms_text(e2e.get("p99.9_ms")), ""),
        ("max", ms_text(e2e.get("max_ms")), ""),
        ("recovery", seconds_text(_recovery(view, metrics)), ""),
        ("ack stall", seconds_text(_seconds(metrics.get("ack_stall_s"))), ""),
    ]
    cells = "".join(
        f'<div class="tile {tone}"><div class=v>{esc(value)}</div><div class=k>{esc(name)}</div>'
        "</div>"
        for name, value, tone in tiles
    )
    return (
        f'<section class="tiles">{cells}</section><p class=note>Latency tiles: end to end '
        "from the intended send time (coordinated-omission corrected).</p>"
    )


def _received_tile(counts: Mapping[str, Any]) -> tuple[str, str, str]:
    """Deliveries, or in a black-box run (nothing reports deliveries) the effects observed."""
    if not counts.get("deliveries") and counts.get("effects"):
        return ("effects", _count(counts.get("effects")), "")
    return ("received", _count(counts.get("deliveries")), "")


def sources_section(view: RunView) -> str:
    """Who recorded what: the harness, the service's reports, each observation source."""
    if view.sources.empty:
        return ""
    rows = "".join(
        f"<tr><td>{esc(r.source)}</td><td>{esc(r.op)}</td><td class=num>{_count(r.rows)}</td>"
        f"<td>{'set aside: an observed source watched this op' if r.set_aside else 'counted'}"
        "</td></tr>"
        for r in view.sources.itertuples()
    )
    return (
        "<section><h2>Who recorded what</h2><table><tr><th>source</th><th>op</th>"
        f"<th>rows</th><th>checks</th></tr>{rows}</table><p class=note>harness: its own "
        "drivers; report: what the service reported about itself; observe:NAME: what a "
        "black-box source saw (docs/history-format.md).</p></section>"
    )


def webhook_section(view: RunView) -> str:
    """Webhook deliveries by status over time, attempts per event, the time each failure
    window's backlog took to drain, and (provider mode) what the endpoint answered each
    security fault."""
    if not view.webhooks:
        return ""
    by_status = view.webhooks["by_status"]
    table = by_status.pivot_table(
        index="t", columns="status", values="deliveries", aggfunc="sum", fill_value=0
    )
    head = "".join(f"<th>{esc(c)}</th>" for c in table.columns)
    body = "".join(
        f"<tr><td class=num>{t:g}</td>"
        + "".join(f"<td class=num>{_count(int(v))}</td>" for v in row)
        + "</tr>"
        for t, row in zip(table.index, table.to_numpy(), strict=True)
    )
    attempts = "".join(
        f"<tr><td class=num>{int(r.attempts)}</td><td class=num>{_count(int(r.events))}</td></tr>"
        for r in view.webhooks["attempts"].itertuples()
    )
    drain = "".join(
        f"<tr><td>{esc(r.fault)} on {esc(r.target)}</td><td class=num>{r.start:.1f}–{r.end:.1f}"
        f"</td><td class=num>{_count(int(r.refused))}</td><td class=num>"
        f"{seconds_text(float(r.drained_s))}</td><td class=num>{_count(int(r.undrained))}</td>"
        "</tr>"
        for r in view.webhooks["drain"].itertuples()
    )
    provider = "security" in view.webhooks
    window_kind = "fault window on the endpoint" if provider else "5xx window"
    return (
        "<section><h2>Webhook deliveries</h2>"
        + (
            "<p class=note>Provider mode: the harness's deliveries and what your endpoint "
            "answered.</p>"
            if provider
            else ""
        )
        + f"<h3>By status answered (per {view.window:g} s window)</h3><table><tr><th>t (s)</th>"
        f"{head}</tr>{body}</table>"
        "<h3>Attempts per event</h3><table><tr><th>attempts</th><th>events</th></tr>"
        f"{attempts}</table>"
        f"<h3>Backlog after each {window_kind}</h3><table><tr><th>window</th><th>s</th>"
        "<th>events refused</th><th>drained after</th><th>never accepted</th></tr>"
        f"{drain}</table>{_security_table(view.webhooks.get('security'))}"
        "<p class=note>none: no answer left (a hang, or the connection was "
        "cut). Drained after: from the window's end to the last refused event accepted.</p>"
        "</section>"
    )


def _security_table(security: pd.DataFrame | None) -> str:
    """Provider mode: each security fault, what the endpoint answered, whether it applied it."""
    if security is None:
        return ""
    if security.empty:
        return "<h3>Security faults</h3><p class=note>None was sent.</p>"
    rows = "".join(
        f"<tr><td>{esc(r.attack)}</td><td>{esc(r.id)}</td><td class=num>{esc(r.status)}</td>"
        f"<td>{'yes' if r.applied else 'no'}</td><td>"
        f"{'ACCEPTED (forged_accepted)' if r.accepted else 'refused'}</td></tr>"
        for r in security.itertuples()
    )
    return (
        "<h3>Security faults</h3><table><tr><th>attack</th><th>id</th><th>answered</th>"
        f"<th>applied</th><th>verdict</th></tr>{rows}</table>"
    )


def fault_strip(view: RunView) -> str:
    if not view.impacts:
        return "<section><h2>Faults</h2><p class=note>No fault was injected.</p></section>"
    span = max(
        view.storm_s, max((i.end for i in view.impacts if math.isfinite(i.end)), default=0.0), 1e-9
    )
    bars = []
    for impact in view.impacts:
        end = impact.end if math.isfinite(impact.end) else span
        left, width = 100 * impact.start / span, max(0.4, 100 * (end - impact.start) / span)
        bars.append(
            f'<div class="fault-band" data-label="{esc(impact.label)}" '
            f'data-start="{impact.start:.3f}" data-end="{end:.3f}" '
            f'style="left:{left:.2f}%;width:{width:.2f}%" title="{esc(_fault_text(impact))}">'
            f"{esc(impact.label)}</div>"
        )
    legend = "".join(f"<li><b>{esc(i.label)}</b> {esc(_fault_text(i))}</li>" for i in view.impacts)
    return (
        '<section><h2>Faults</h2><div class="strip">' + "".join(bars) + "</div>"
        f'<div class="axis"><span>0 s</span><span>{span:.1f} s</span></div>'
        f'<ul class="legend">{legend}</ul></section>'
    )


def chart_section(charts: Mapping[str, bytes]) -> str:
    captions = {
        "throughput.png": "Sent, acknowledged and received events per second.",
        "latency.png": "Per-window p50, p99 and p99.9. Solid: from the intended send time "
        "(corrected); dashed: from the actual send time (uncorrected).",
        "latency-quantiles.png": "Whole-run latency by quantile, up to 99.99%.",
        "lag.png": "Events acknowledged but not yet received by the consumer.",
        "service-metrics.png": "Above, what the harness saw (received per second, consumer "
        "lag); below, the series the scenario chose from the service's own /metrics "
        "(counters as rates per second), both with the fault windows shaded.",
        "webhook-status.png": "Webhook deliveries per second by the status the endpoint "
        "answered (none: no answer left).",
    }
    figures_html = []
    for name, png in charts.items():
        data = base64.b64encode(png).decode("ascii")
        figures_html.append(
            f'<figure><img alt="{esc(name)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{esc(captions.get(name, name))}</figcaption></figure>"
        )
    return "<section><h2>Charts</h2>" + "".join(figures_html) + "</section>"


def impact_section(impacts: Sequence[FaultImpact]) -> str:
    if not impacts:
        return ""
    head = (
        "<tr><th rowspan=2>fault</th><th rowspan=2>window (s)</th>"
        "<th colspan=3>p99 ms (corrected)</th><th colspan=3>received/s</th>"
        "<th rowspan=2>recovery</th><th rowspan=2>lost</th><th rowspan=2>duplicated</th></tr>"
        "<tr>" + "<th>before</th><th>during</th><th>after</th>" * 2 + "</tr>"
    )
    rows = []
    for i in impacts:
        p99 = "".join(f"<td class=num>{esc(_number(i.p99_ms[p]))}</td>" for p in PHASES)
        rate = "".join(f"<td class=num>{esc(_number(i.throughput[p], 1))}</td>" for p in PHASES)
        rows.append(
            f'<tr id="impact-{esc(i.label)}"><td><b>{esc(i.label)}</b> {esc(_fault_text(i))}</td>'
            f"<td class=num>{i.start:.2f} – {_number(i.end, 2)}</td>{p99}{rate}"
            f"<td class=num>{esc(seconds_text(i.recovery_s) if i.recovery_measurable else 'n/a')}</td>"
            f'<td class="num {"bad" if i.lost else ""}">{i.lost:,}</td>'
            f'<td class="num {"warn" if i.duplicated else ""}">{i.duplicated:,}</td></tr>'
        )
    return (
        "<section><h2>Fault impact</h2><table class=impact><thead>"
        f"{head}</thead><tbody>{''.join(rows)}</tbody></table><p class=note>Recovery: time from "
        "the fault's end to the first 1 s window whose p99 is back within 20% of the p99 before "
        "it (n/a: the fault lasted to the storm's end). Lost or duplicated: events whose intended "
        "send time falls in the window.</p>"
        "</section>"
    )


def anomaly_section(view: RunView) -> str:
    summary = view.summary
    anomalies = summary.get("anomalies") or {}
    examples = summary.get("examples") or {}
    anchors = {t.example: f"ex-{n}" for n, t in enumerate(view.timelines)}
    rows = []
    for name, count in anomalies.items():
        links = ", ".join(
            f'<a href="#{anchors[i]}">{esc(i)}</a>' if i in anchors else esc(i)
            for i in examples.get(name, [])
        )
        tone = "warn" if name in DEFAULT_ALLOWED else "bad"
        rows.append(
            f'<tr class="{"zero" if not count else tone}"><td>{esc(name)}</td>'
            f"<td class=num>{count:,}</td><td>{links}</td></tr>"
        )
    return (
        "<section><h2>Anomalies</h2><table class=anomalies><thead><tr><th>anomaly</th>"
        f"<th class=num>count</th><th>examples</th></tr></thead><tbody>{''.join(rows)}</tbody>"
        f"</table>{example_table(view, anchors)}</section>"
    )


def example_table(view: RunView, anchors: Mapping[str, str]) -> str:
    if view.examples.empty:
        return ""
    origin = _origin(view)
    lines = []
    for example, ops in view.examples.groupby("id", sort=False):
        facts = _example_facts(ops, origin)
        link = f'<a href="#{anchors[example]}">timeline</a>' if example in anchors else ""
        cells = "".join(f"<td>{esc(facts[k])}</td>" for k in _EXAMPLE_COLUMNS)
        lines.append(f"<tr><td><code>{esc(example)}</code></td>{cells}<td>{link}</td></tr>")
    head = "".join(f"<th>{esc(k)}</th>" for k in ("id", *_EXAMPLE_COLUMNS, ""))
    return (
        "<h3>Examples</h3><table class=examples><thead><tr>"
        f"{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"
    )


_EXAMPLE_COLUMNS = (
    "key",
    "seq",
    "partition/offset",
    "intended",
    "sent",
    "acked",
    "received",
    "status",
    "error",
)


def _example_facts(ops: pd.DataFrame, origin: float) -> dict[str, str]:
    sends = ops[ops["op"] == "send"]
    recvs = ops[ops["op"] == "recv"]
    positions = sorted(
        {
            f"{int(p)}/{int(o)}"
            for p, o in zip(ops["partition"], ops["offset"], strict=True)
            if not pd.isna(p) and not pd.isna(o)
        }
    )
    received = ", ".join(_rel(t, origin) for t in recvs["t"])
    errors = [str(e) for e in ops["error"].dropna()] + [str(r) for r in ops["reason"].dropna()]
    return {
        "key": _first(ops["key"]),
        "seq": _first(ops["seq"], integer=True),
        "partition/offset": ", ".join(positions),
        "intended": _rel(_first_value(sends["t_intended"]), origin),
        "sent": _rel(_first_value(sends["t"]), origin),
        "acked": _rel(_first_value(sends["t_ack"]), origin),
        "received": received or "never",
        "status": _first(sends["status"]),
        "error": "; ".join(errors),
    }


def timeline_section(view: RunView) -> str:
    if not view.timelines:
        return ""
    origin = _origin(view)
    parts = [_timeline(n, t, origin) for n, t in enumerate(view.timelines)]
    return (
        "<section><h2>Per-key timelines</h2><p class=note>Ops of the example's key around it, "
        "in time order; the example's own ops are highlighted. Times: seconds since the storm "
        "began.</p>" + "".join(parts) + "</section>"
    )


def _timeline(number: int, timeline: Timeline, origin: float) -> str:
    shown = timeline.rows
    columns = [c for c in SHOWN_COLUMNS if c in shown and c != "key" and shown[c].notna().any()]
    rows = []
    for focus, row in zip(timeline.focus, timeline.rows.itertuples(index=False), strict=True):
        record = row._asdict()
        cells = "".join(f"<td>{esc(_cell(c, record.get(c), origin))}</td>" for c in columns)
        rows.append(f'<tr class="{"focus" if focus else ""}">{cells}</tr>')
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    key = "(no key)" if timeline.key is None else timeline.key
    return (
        f'<div class=timeline id="ex-{number}"><h3>{esc(timeline.example)} · key '
        f"<code>{esc(key)}</code></h3><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def latency_section(latency: Mapping[str, Mapping[str, Any]]) -> str:
    names = ("count", "p50_ms", "p90_ms", "p99_ms", "p99.9_ms", "max_ms")
    head = "".join(f"<th class=num>{esc(n.removesuffix('_ms'))}</th>" for n in names)
    rows = []
    for measure, stats in latency.items():
        cells = "".join(
            f"<td class=num>{esc(_number(stats.get(n), 0 if n == 'count' else 3))}</td>"
            for n in names
        )
        rows.append(f"<tr><td>{esc(LATENCY_NAMES.get(measure, measure))}</td>{cells}</tr>")
    return (
        "<section><h2>Latency (ms)</h2><table class=latency><thead><tr><th>measure</th>"
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def _origin(view: RunView) -> float:
    return view.origin


def _cell(column: str, value: object, origin: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if column in ("t", "t_intended", "t_ack"):
        return _rel(float(value), origin)  # type: ignore[arg-type]
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _fault_text(impact: FaultImpact) -> str:
    text = f"{impact.kind} on {impact.target}" if impact.target else impact.kind
    return f"{text} ({impact.note})" if impact.note else text


def _mark(passed: object) -> str:
    return '<span class="mark ok">✔</span>' if passed else '<span class="mark bad">✘</span>'


def _rel(t: float | None, origin: float) -> str:
    if t is None or not math.isfinite(t):
        return ""
    return f"{t - origin:.3f}"


def _first(values: Iterable[object], integer: bool = False) -> str:
    for value in values:
        if value is not None and not pd.isna(value):  # type: ignore[call-overload]
            return str(int(value)) if integer else str(value)  # type: ignore[call-overload]
    return ""


def _first_value(values: pd.Series) -> float | None:
    present = values.dropna()
    return float(present.iloc[0]) if len(present) else None


def _number(value: object, digits: int = 3) -> str:
    if value is None or not isinstance(value, int | float):
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "never"
    if isinstance(value, float) and math.isnan(value):
        return "–"
    return f"{value:,.{digits}f}" if digits else f"{value:,.0f}"


def _measured(value: object) -> str:
    if isinstance(value, int | float) and float(value).is_integer():
        return f"{int(value):,}"
    return _number(value)


def _count(value: object) -> str:
    return f"{int(value):,}" if isinstance(value, int | float) else "–"  # type: ignore[arg-type]


def ms_text(value: object) -> str:
    if not isinstance(value, int | float):
        return "–"
    return f"{value:,.1f} ms" if value < 1000 else f"{value / 1000:,.2f} s"


def _recovery(view: RunView, metrics: Mapping[str, Any]) -> float | None:
    """The longest recovery over the faults (infinity: latency never came back)."""
    known = [
        i.recovery_s for i in view.impacts if i.recovery_measurable and not math.isnan(i.recovery_s)
    ]
    if known:
        return max(known)
    value = metrics.get("recovery_s")
    return float(value) if isinstance(value, int | float) else None


def _seconds(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def seconds_text(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "–"
    return "never" if math.isinf(value) else f"{value:.1f} s"


__all__ = ["esc", "ms_text", "render", "seconds_text"]
