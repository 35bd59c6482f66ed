"""``index.html`` of a suite folder: every scenario's verdict and headline figures on one page,
each linking to that run's own report.

The page is built from each run's ``summary.json`` (the artifact the runner writes), so it can
be redrawn later from the folder alone with ``harness report SUITE_DIR``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from harness import __version__
from harness.report.html import esc, ms_text, seconds_text
from harness.report.render import REPORT_NAME
from harness.report.style import CSS
from harness.report.view import conditions_of

INDEX_NAME = "index.html"
SUMMARY_JSON = "summary.json"

# Anomalies shown in their own columns; any other non-zero anomaly is listed by name.
_OWN_COLUMNS = ("lost", "duplicate_delivery", "duplicate_effect")


@dataclass(frozen=True)
class SuiteEntry:
    """One scenario of a suite: where its run folder is and how it ended."""

    name: str
    run_dir: Path
    exit_code: int
    seconds: float | None = None
    error: str = ""
    summary: Mapping[str, Any] = field(default_factory=dict)


def read_summary(run_dir: Path) -> dict[str, Any]:
    """The run's ``summary.json``, or an empty mapping when the run wrote none (it failed
    before its checks)."""
    path = run_dir / SUMMARY_JSON
    if not path.is_file():
        return {}
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def entries_from_folder(suite_dir: Path) -> list[SuiteEntry]:
    """One entry per sub-folder holding a ``summary.json``, in name order."""
    entries = []
    for run_dir in sorted(p for p in suite_dir.iterdir() if p.is_dir()):
        summary = read_summary(run_dir)
        if not summary:
            continue
        name = str((summary.get("scenario") or {}).get("name") or run_dir.name)
        exit_code = summary.get("exit_code")
        entries.append(
            SuiteEntry(
                name=name,
                run_dir=run_dir,
                exit_code=int(exit_code) if isinstance(exit_code, int) else 2,
                summary=summary,
            )
        )
    return entries


def is_suite_folder(path: Path) -> bool:
    """A folder of run folders (and no run of its own)."""
    if not path.is_dir() or (path / SUMMARY_JSON).exists():
        return False
    return any((child / SUMMARY_JSON).is_file() for child in path.iterdir() if child.is_dir())


def write_index(suite_dir: Path, entries: Sequence[SuiteEntry]) -> Path:
    """Write ``index.html`` into ``suite_dir``; return its path."""
    suite_dir.mkdir(parents=True, exist_ok=True)
    page = suite_dir / INDEX_NAME
    page.write_text(render(suite_dir, entries), encoding="utf-8")
    return page


def render(suite_dir: Path, entries: Sequence[SuiteEntry]) -> str:
    """The suite page (self-contained: inline stylesheet, no script, links relative)."""
    failed = [e for e in entries if e.exit_code != 0]
    passed = not failed and bool(entries)
    verdict = "PASS" if passed else "FAIL"
    tally = f"{len(entries) - len(failed)} of {len(entries)} scenarios passed"
    total = sum(e.seconds for e in entries if e.seconds is not None)
    took = f" in {_duration(total)}" if any(e.seconds is not None for e in entries) else ""
    head = (
        f'<header class="banner {"pass" if passed else "fail"}"><div class="verdict">{verdict}'
        f"</div><div class=head><h1>{esc(suite_dir.name)}</h1><p class=about>{esc(tally)}"
        f"{esc(took)}</p></div></header>"
    )
    rows = "".join(_row(suite_dir, e) for e in entries)
    table = (
        "<section><h2>Scenarios</h2><table><thead><tr><th></th><th>scenario</th>"
        "<th>guarantee<br>delivery / effect</th><th class=num>sent</th><th class=num>received</th>"
        "<th class=num>lost</th><th class=num>duplicate<br>deliveries</th>"
        "<th class=num>duplicate<br>effects</th><th>other<br>anomalies</th>"
        "<th class=num>p99 end<br>to end</th><th class=num>recovery</th><th>conditions</th>"
        f"</tr></thead><tbody>{rows}</tbody></table></section>"
    )
    note = (
        "<p class=note>Latency is end to end from each event's intended send time (corrected "
        "for coordinated omission). Recovery is the longest time any fault took for p99 to come "
        "back. Each scenario name links to its full report.</p>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{verdict} · {esc(suite_dir.name)}</title><style>{CSS}</style></head>"
        f"<body><main>{head}{table}{note}<footer>harness {esc(__version__)}</footer>"
        "</main></body></html>\n"
    )


def _row(suite_dir: Path, entry: SuiteEntry) -> str:
    summary = entry.summary
    metrics = summary.get("metrics") or {}
    anomalies = summary.get("anomalies") or {}
    ok = entry.exit_code == 0
    name = esc(entry.name)
    href = report_link(suite_dir, entry.run_dir)
    if href is not None:
        name = f'<a href="{esc(href)}">{name}</a>'
    about = (summary.get("scenario") or {}).get("about")
    others = ", ".join(
        f"{k} {int(v):,}"
        for k, v in anomalies.items()
        if k not in _OWN_COLUMNS and isinstance(v, int | float) and v
    )
    cells = [
        f'<td class="mark {"ok" if ok else "bad"}">{"PASS" if ok else "FAIL"}</td>',
        f"<td>{name}<div class=note>{esc(_first_sentence(about))}</div></td>",
        f"<td>{esc(summary.get('delivery_guarantee') or '–')} / "
        f"{esc(summary.get('effect_guarantee') or '–')}</td>",
        _num(metrics.get("sent")),
        _num(metrics.get("received")),
        _num(anomalies.get("lost"), tone="bad"),
        _num(anomalies.get("duplicate_delivery"), tone="warn"),
        _num(anomalies.get("duplicate_effect"), tone="bad"),
        f"<td>{esc(others or '–')}</td>",
        f"<td class=num>{esc(ms_text(metrics.get('p99_ms')))}</td>",
        f"<td class=num>{esc(seconds_text(_float(metrics.get('recovery_s'))))}</td>",
        f"<td>{_conditions(summary, entry)}</td>",
    ]
    return f"<tr>{''.join(cells)}</tr>"


def _conditions(summary: Mapping[str, Any], entry: SuiteEntry) -> str:
    """How many thresholds and expectations held; the ones that did not, and errors, by name."""
    items = conditions_of(summary)
    unmet = [c for c in items if not c.get("passed")]
    parts = [f"{len(items) - len(unmet)} of {len(items)} met"] if items else []
    parts += [f'<span class="mark bad">✗</span> {esc(c.get("condition"))}' for c in unmet]
    errors = [entry.error] if entry.error else []
    errors += [e for e in summary.get("errors") or [] if e != entry.error]
    parts += [f"<span class=errors>error: {esc(e)}</span>" for e in errors]
    return "<br>".join(parts) or "–"


def _num(value: object, tone: str = "") -> str:
    """A count cell; a non-zero count takes ``tone`` (``bad``, ``warn``) when one is given."""
    if not isinstance(value, int | float):
        return "<td class=num>–</td>"
    toned = f" {tone}" if tone and value else ""
    return f'<td class="num{toned}">{int(value):,}</td>'


def _first_sentence(text: object, limit: int = 90) -> str:
    """The description's first sentence, cut to ``limit`` characters (the report has it all)."""
    if not isinstance(text, str):
        return ""
    first = text.split(": ")[0].split(". ")[0].strip()
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def report_link(suite_dir: Path, run_dir: Path) -> str | None:
    """The link to ``run_dir``'s report: a relative path inside ``suite_dir``, every segment
    percent-quoted, or None when there is no such report.

    Built from folder names, so it must never be read as anything but a relative path: a
    folder named ``javascript:alert(1)`` becomes ``./javascript%3Aalert%281%29/...``, and a
    run folder or report that resolves outside the suite (``..``, a symlink) gets no link.
    """
    report = run_dir / REPORT_NAME
    try:
        inside = report.resolve(strict=True).relative_to(suite_dir.resolve(strict=True))
    except (OSError, ValueError, RuntimeError):
        return None
    if not report.is_file() or ".." in inside.parts:
        return None
    return "./" + "/".join(quote(part, safe="") for part in inside.parts)


__all__ = [
    "INDEX_NAME",
    "SuiteEntry",
    "entries_from_folder",
    "is_suite_folder",
    "read_summary",
    "report_link",
    "render",
    "write_index",
]
