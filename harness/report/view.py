"""Everything a report shows about one run, computed once from its folder.

A run folder holds ``history.parquet`` (the single truth) and ``summary.json`` (the verdict a
run judged, see ``harness.run.artifacts``). The verdict banner, thresholds and anomaly counts
come from the summary; every series, quantile curve, impact row and example comes from the
history. A folder with a history but no summary (a history copied from elsewhere) is still
reported: the checks run here and the banner says no thresholds were judged.

    view = load_run(Path("reports/kafka-latency-spike-1234"))
    view.throughput.head(), view.impacts[0].recovery_s
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.checks import Prepared, evaluate, fault_impacts, latency, prepare_file
from harness.errors import HistoryError
from harness.report import deliveries, series
from harness.report.impact import FaultImpact, impacts
from harness.report.rows import Timeline, example_rows, key_neighbourhoods
from harness.report.service import service_series
from harness.report.sources import source_counts

HISTORY_NAMES = ("history.parquet", "history.jsonl", "history.parquet.partial.arrows")
MEASURES = {
    "corrected": "end_to_end_intended",
    "uncorrected": "end_to_end_sent",
    "publish": "publish",
}
WINDOWED = ("corrected", "uncorrected")
"""Measures drawn over time (publish latency only appears in the quantile chart)."""


@dataclass
class RunView:
    """One run's report data; times are seconds since the storm began."""

    run_dir: Path
    history_path: Path
    summary: dict[str, Any]
    origin: float
    window: float
    storm_s: float
    throughput: pd.DataFrame
    lag: pd.DataFrame
    latency: dict[str, pd.DataFrame]
    quantiles: dict[str, pd.DataFrame]
    impacts: list[FaultImpact]
    examples: pd.DataFrame
    timelines: list[Timeline]
    faults: pd.DataFrame = field(default_factory=pd.DataFrame)
    sources: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Rows by recorder (``source``) and op; empty when only the harness recorded."""
    service: pd.DataFrame = field(default_factory=pd.DataFrame)
    """The service's own scraped metrics (``harness.report.service``); empty without
    ``service_metrics:``."""
    webhooks: dict[str, pd.DataFrame] = field(default_factory=dict)
    """Webhook deliveries: ``by_status``, ``attempts``, ``drain``, and in provider mode
    ``security`` (see ``harness.report.deliveries``); empty without webhooks."""

    @property
    def name(self) -> str:
        return str((self.summary.get("scenario") or {}).get("name") or self.run_dir.name)


def _find_history(run_dir: Path) -> Path:
    """The history file of a run folder (or the file itself when given one)."""
    if run_dir.is_file():
        return run_dir
    for name in HISTORY_NAMES:
        if (run_dir / name).exists():
            return run_dir / name
    raise HistoryError(
        f"{run_dir}: no history found (looked for {', '.join(HISTORY_NAMES)}); "
        "give the folder a run wrote, e.g. reports/<scenario>-<id>/"
    )


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """The run's ``summary.json``, or None when the folder has none."""
    path = run_dir / "summary.json"
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise HistoryError(f"{path}: not readable JSON ({error}); re-run or delete it") from None
    if not isinstance(data, dict):
        raise HistoryError(
            f"{str(path)!r} holds a JSON {type(data).__name__}, not the object a summary is; "
            "delete it and run `harness report` on the run folder to check the history again."
        )
    return data


def conditions_of(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every pass/fail line of a summary: thresholds, expectations, then the engine's own."""
    return [
        *(summary.get("thresholds") or []),
        *(summary.get("expectations") or []),
        *(summary.get("engine") or []),
    ]


def rate_text(summary: Mapping[str, Any]) -> str | None:
    """``9,700 ev/s achieved of 49,900 offered``, flagged when the engine fell behind."""
    rates = summary.get("rates") or {}
    achieved, offered = rates.get("achieved_per_s"), rates.get("offered_per_s")
    if achieved is None or not offered:
        return None
    text = f"{achieved:,.0f} ev/s achieved of {offered:,.0f} offered"
    if rates.get("engine_behind"):
        released = rates.get("released_per_s") or 0.0
        text += f" (engine behind schedule: released {released:,.0f} ev/s)"
    return text


def load_run(run_dir: Path) -> RunView:
    """Read a run folder and compute everything its report shows."""
    history_path = _find_history(run_dir)
    folder = run_dir if run_dir.is_dir() else run_dir.parent
    prepared = prepare_file(history_path)
    summary = read_summary(folder) or summary_from_history(prepared)
    origin, storm_end = _storm_span(summary, prepared)
    window = series.choose_window(max(storm_end - origin, 1.0) * 1.25)
    samples = latency.samples(prepared)
    chosen = {label: samples[name] for label, name in MEASURES.items()}
    rows = example_rows(history_path, _example_ids(summary))
    faults = prepared.faults.assign(
        start=prepared.faults["t_start"] - origin, end=prepared.faults["t_end"] - origin
    )
    return RunView(
        run_dir=folder,
        history_path=history_path,
        summary=summary,
        origin=origin,
        window=window,
        storm_s=storm_end - origin,
        throughput=series.throughput(prepared, origin, window),
        lag=series.consumer_lag(prepared, origin, window),
        latency={k: series.latency_windows(chosen[k], origin, window) for k in WINDOWED},
        quantiles={k: series.nines(v) for k, v in chosen.items()},
        impacts=impacts(
            prepared, origin, storm_end, summary.get("anomalies") or {}, summary.get("faults")
        ),
        examples=rows,
        timelines=key_neighbourhoods(history_path, rows),
        faults=faults,
        sources=source_counts(history_path),
        webhooks=_webhooks(prepared, origin, window),
        service=service_series(folder, origin),
    )


def _webhooks(prepared: Prepared, origin: float, window: float) -> dict[str, pd.DataFrame]:
    by_status = deliveries.status_series(prepared, origin, window)
    if not by_status.empty:
        return {
            "by_status": by_status,
            "attempts": deliveries.attempts_per_event(prepared),
            "drain": deliveries.backlog_drain(prepared, origin),
        }
    by_status = deliveries.provider_status_series(prepared, origin, window)
    if by_status.empty:
        return {}
    return {  # provider mode: what the user's endpoint answered the harness
        "by_status": by_status,
        "attempts": deliveries.provider_attempts(prepared),
        "drain": deliveries.provider_drain(prepared, origin),
        "security": deliveries.security_faults(prepared),
    }


def _storm_span(summary: dict[str, Any], prepared: Prepared) -> tuple[float, float]:
    """Run-clock start and end of the storm: the summary's, else the intended send times'."""
    run = summary.get("run") or {}
    start, end = run.get("storm_start"), run.get("storm_end")
    if isinstance(start, int | float) and isinstance(end, int | float) and end > start:
        return float(start), float(end)
    intended = prepared.sends.t_intended
    intended = intended[np.isfinite(intended)]
    if len(intended) == 0:
        times = prepared.recvs.t[np.isfinite(prepared.recvs.t)]
        intended = times if len(times) else np.zeros(1)
    return float(intended.min()), float(intended.max())


def summary_from_history(prepared: Prepared) -> dict[str, Any]:
    """A summary for a bare history: the checks' verdict, no thresholds, no run fields."""
    result = evaluate(prepared)
    faults = fault_impacts(prepared)
    recovery = max((f["recovery_s"] for f in faults), default=math.nan)
    return {
        **result.to_json(),
        "faults": faults,
        "passed": result.valid,
        "exit_code": 0 if result.valid else 1,
        "thresholds": [],
        "expectations": [],
        "metrics": {"recovery_s": recovery if math.isfinite(recovery) else None},
        "errors": [],
        "skipped": list(result.skipped),
    }


def _example_ids(summary: dict[str, Any]) -> list[str]:
    examples = summary.get("examples") or {}
    return [str(i) for ids in examples.values() for i in ids]


__all__ = [
    "HISTORY_NAMES",
    "RunView",
    "conditions_of",
    "load_run",
    "rate_text",
    "read_summary",
]
