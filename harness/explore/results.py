"""What an exploration leaves under ``--out``: ``minimal.yaml``, ``explore.html`` and
``explore.json``. Pure functions of the ``SearchResult``; written whatever ended the search
(a budget, an interrupt), with what was found so far.
"""

from __future__ import annotations

import io
import json
import os
from enum import Enum
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from harness.explore.search import Attempt, SearchResult
from harness.report import CSS, esc
from harness.scenario import Scenario
from harness.scenario.base import plain_data

MINIMAL_NAME = "minimal.yaml"
PAGE_NAME = "explore.html"
SUMMARY_NAME = "explore.json"
EXPLORE_FORMAT = 1


def minimal_yaml(scenario: Scenario, note: str = "") -> str:
    """``scenario`` as a YAML file ``harness run`` and ``harness validate`` accept."""
    data = _yaml_data(plain_data(scenario))
    header = "".join(f"# {line}\n" for line in note.splitlines())
    dumper = YAML(typ="safe", pure=True)
    dumper.default_flow_style = False
    dumper.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    dumper.width = 100
    text = io.StringIO()
    dumper.dump(data, text)
    return header + text.getvalue()


def _yaml_data(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):  # unset fields dropped: their defaults are what they held
        return {str(k): _yaml_data(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_yaml_data(v) for v in value]
    return value


def _attempt_data(attempt: Attempt) -> dict[str, Any]:
    return {
        "index": attempt.index,
        "phase": attempt.phase,
        "outcome": attempt.outcome,
        "schedule": attempt.schedule.describe(),
        "faults": len(attempt.schedule.faults),
        "runs": [
            {
                "failed": run.failed,
                "reasons": run.reasons,
                "error": run.error,
                "seconds": round(run.seconds, 3),
                "out_dir": run.out_dir,
                "metrics": {k: v for k, v in run.metrics.items() if _finite(v)},
            }
            for run in attempt.runs
        ],
        "started_s": round(attempt.started_s, 3),
        "seconds": round(attempt.seconds, 3),
        "detail": attempt.schedule.as_data(),
    }


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and value == value and abs(value) != float("inf")


def summary(result: SearchResult) -> dict[str, Any]:
    """The JSON summary: the verdict, the first and minimal failures, every attempt."""
    first, minimal = result.first_failure, result.minimal
    return {
        "format": EXPLORE_FORMAT,
        "scenario": result.scenario.name,
        "seed": result.seed,
        "found": minimal is not None,
        "exit_code": result.exit_code,
        "stopped": result.stopped,
        "error": result.error,
        "seconds": round(result.seconds, 3),
        "examples": len(result.attempts),
        "runs": sum(len(a.runs) for a in result.attempts),
        "not_run": result.not_run,
        "first_failure": None if first is None else _attempt_data(first),
        "minimal": None if minimal is None else _attempt_data(minimal),
        "reproduced": result.reproduced,
        "shrink_path": [a.index for a in result.shrink_path],
        "attempts": [_attempt_data(a) for a in result.attempts],
    }


def write_results(result: SearchResult, out: Path) -> dict[str, Path]:
    """Write the page, the summary and (after a failure) ``minimal.yaml``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    if result.minimal is not None:
        scenario = result.concrete(result.minimal)
        note = (
            f"harness explore: the smallest failure found for {result.scenario.name}\n"
            f"schedule: {result.minimal.schedule.describe()}\n"
            f"failed {result.minimal.failures} of {len(result.minimal.runs)} runs "
            f"({result.reproduced}); replay: harness run {MINIMAL_NAME}"
        )
        written["minimal"] = _write(out / MINIMAL_NAME, minimal_yaml(scenario, note))
    data = summary(result)
    written["summary"] = _write(out / SUMMARY_NAME, json.dumps(data, indent=2) + "\n")
    written["page"] = _write(out / PAGE_NAME, page(result, data))
    return written


def _write(path: Path, text: str) -> Path:
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
    return path


def page(result: SearchResult, data: dict[str, Any]) -> str:
    """The HTML page of the search: verdict, shrink path, every attempt, time spent."""
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>explore {esc(result.scenario.name)}</title><style>{CSS}</style></head><body>"
        f"<h1>harness explore: {esc(result.scenario.name)}</h1>"
        f"{_verdict(result, data)}{_path_section(result)}{_attempts_section(result)}"
        "</body></html>\n"
    )


def _verdict(result: SearchResult, data: dict[str, Any]) -> str:
    if result.minimal is not None:
        minimal = result.minimal
        headline = (
            f"FAILURE FOUND: {esc(minimal.schedule.describe())} failed "
            f"{minimal.failures} of {len(minimal.runs)} runs ({esc(result.reproduced)})"
        )
    elif result.stopped == "error":
        headline = f"SEARCH ERROR: {esc(result.error)}"
    else:
        headline = "NO FAILURE FOUND in what was covered"
    runs_s = sum(a.seconds for a in result.attempts)
    return (
        f"<p><b>{headline}</b></p><ul>"
        f"<li>examples tried: {data['examples']} ({data['runs']} runs, "
        f"{runs_s:.0f} s running them)</li>"
        f"<li>wall time: {result.seconds:.0f} s; stopped by: {esc(result.stopped)}</li>"
        f"<li>seed: {result.seed}; candidates not run after the budget: {result.not_run}</li>"
        f"<li>exit code: {result.exit_code}</li></ul>"
    )


def _path_section(result: SearchResult) -> str:
    path = result.shrink_path
    if not path:
        return ""
    rows = "".join(
        f"<tr><td>{step}</td><td>#{a.index}</td><td>{len(a.schedule.faults)}</td>"
        f"<td>{esc(a.schedule.describe())}</td><td>{esc(a.outcome)}</td></tr>"
        for step, a in enumerate(path, 1)
    )
    return (
        "<h2>Shrink path: first failure to minimal</h2><table><tr><th>step</th>"
        f"<th>example</th><th>faults</th><th>schedule</th><th>outcome</th></tr>{rows}</table>"
    )


def _attempts_section(result: SearchResult) -> str:
    rows = "".join(
        f"<tr><td>#{a.index}</td><td>{esc(a.phase)}</td><td>{a.started_s:.0f}</td>"
        f"<td>{a.seconds:.1f}</td><td>{esc(a.schedule.describe())}</td>"
        f"<td>{esc(a.outcome)}</td><td>{esc(_why(a))}</td></tr>"
        for a in result.attempts
    )
    return (
        "<h2>Every example tried</h2><table><tr><th>example</th><th>phase</th>"
        "<th>at (s)</th><th>took (s)</th><th>schedule</th><th>outcome</th><th>why</th></tr>"
        f"{rows}</table>"
    )


def _why(attempt: Attempt) -> str:
    reasons = [r for run in attempt.runs for r in (run.reasons or [run.error]) if r]
    return "; ".join(dict.fromkeys(reasons))


__all__ = [
    "EXPLORE_FORMAT",
    "MINIMAL_NAME",
    "PAGE_NAME",
    "SUMMARY_NAME",
    "minimal_yaml",
    "page",
    "summary",
    "write_results",
]
