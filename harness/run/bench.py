"""``harness bench``: one scenario at stepped constant rates, latency versus throughput.

Each rate is a full run (``harness.run.commands.run_one``: storm, faults, drain, verdict,
``report.html``) in ``OUT/rate-<n>/``. Then ``OUT`` gets:

- ``bench.json``: ``aggregated`` (one record per rate: offered and achieved rates, end-to-end
  latency quantiles from the intended time up to p99.99, publish p99, slip p99, anomalies) and
  ``series`` (one record per rate and window: rates and latency quantiles, as OpenMessaging
  Benchmark's per-interval results). Both load straight into pandas:
  ``pd.DataFrame(json.load(f)["series"])``;
- ``latency-vs-throughput.png`` with the knee marked, and ``bench.html`` around it.

The knee is the highest rate that still kept up: achieved at least ``KEPT_UP`` of the offered
rate, with p99 within ``KNEE_FACTOR`` times (and ``KNEE_FLOOR_MS`` above) the lowest rate's p99,
*and* a higher rate that did not. With no rate past it, no knee is claimed.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.checks import latency, prepare_file
from harness.errors import ConfigError
from harness.report import load_run
from harness.scenario import Rate, Scenario, Shape

KEPT_UP = 0.95
KNEE_FACTOR = 2.0
KNEE_FLOOR_MS = 20.0
QUANTILES = (
    ("p50", 0.5),
    ("p75", 0.75),
    ("p90", 0.9),
    ("p95", 0.95),
    ("p99", 0.99),
    ("p99.9", 0.999),
    ("p99.99", 0.9999),
)
BENCH_FORMAT = "harness-bench/1"


@dataclass(frozen=True)
class Knee:
    """The knee of the curve: the rate, or None with the reason."""

    rate: float | None
    reason: str


def parse_rates(text: str) -> list[float]:
    """``"1000,2000,5k"`` as increasing rates per second."""
    rates = []
    for part in text.split(","):
        raw = part.strip().lower()
        try:
            value = float(raw[:-1]) * 1000 if raw.endswith("k") else float(raw)
        except ValueError:
            raise ConfigError(
                f"--rates: {part!r} is not a rate; give e.g. 1000,2000,5000"
            ) from None
        if value <= 0:
            raise ConfigError(
                f"--rates: {part!r} must be a positive number of events per second; give "
                "e.g. 1000,2000,5000"
            )
        rates.append(value)
    if not rates:
        raise ConfigError(
            "--rates names no rate, so there is nothing to run; give e.g. --rates 1000,2000,5000"
        )
    return sorted(set(rates))


def at_rate(scenario: Scenario, rate: float, duration: float | None = None) -> Scenario:
    """The scenario at a constant ``rate`` (any rate shape is replaced); with ``duration``, the
    storm and every fault time are scaled to it (``Scenario.scaled``), so faults keep their
    place in the run."""
    if duration is not None and duration != scenario.storm.duration:
        scenario = scenario.scaled(duration / scenario.storm.duration)
    storm = scenario.storm.model_copy(update={"rate": Rate(shape=Shape.CONSTANT, per_second=rate)})
    return scenario.model_copy(update={"storm": storm})


def aggregate(run_dir: Path, rate: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One rate's aggregated record and its per-window series records."""
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    metrics = summary.get("metrics") or {}
    prepared = prepare_file(run_dir / "history.parquet")
    corrected = latency.samples(prepared)["end_to_end_intended"]
    seconds = float((summary.get("scenario") or {}).get("duration_s") or 1.0)
    record: dict[str, Any] = {
        "rate": rate,
        "sent_per_s": len(prepared.sends) / seconds,
        "received_per_s": len(np.unique(prepared.recvs.id)) / seconds,
        **_quantiles(corrected.value),
        "publish_p99_ms": metrics.get("publish_p99_ms"),
        "slip_p99_ms": metrics.get("slip_p99_ms"),
        "lost": (summary.get("anomalies") or {}).get("lost", 0),
        "passed": summary.get("passed"),
        "run_dir": str(run_dir),
    }
    view = load_run(run_dir)
    frame = view.throughput.merge(view.latency["corrected"], on="t", how="left")
    frame = frame.rename(columns={c: f"{c}_per_s" for c in ("sent", "acked", "received")})
    frame.insert(0, "rate", rate)
    return record, _records(frame)


def knee(aggregated: pd.DataFrame) -> Knee:
    """The highest rate that kept up before a higher one did not (see the module docstring)."""
    if aggregated.empty:
        return Knee(None, "no rate was run")
    base = float(aggregated["p99_ms"].iloc[0])
    limit = max(base * KNEE_FACTOR, base + KNEE_FLOOR_MS)
    kept = (aggregated["received_per_s"] >= KEPT_UP * aggregated["rate"]) & (
        aggregated["p99_ms"] <= limit
    )
    if bool(kept.all()):
        return Knee(None, f"every rate kept up (p99 within {limit:.0f} ms); try higher rates")
    first_bad = int(np.flatnonzero(~kept.to_numpy())[0])
    if first_bad == 0:
        return Knee(None, "even the lowest rate did not keep up; try lower rates")
    rate = float(aggregated["rate"].iloc[first_bad - 1])
    why = f"{aggregated['rate'].iloc[first_bad]:g}/s missed (p99 > {limit:.0f} ms or < 95% kept)"
    return Knee(rate, why)


def write_results(
    out: Path, scenario: Scenario, seed: int, rows: list[tuple[dict[str, Any], list[dict]]]
) -> tuple[Path, Knee]:
    """``bench.json`` from each rate's records; returns its path and the knee."""
    aggregated = pd.DataFrame([r for r, _ in rows])
    found = knee(aggregated)
    data = {
        "format": BENCH_FORMAT,
        "scenario": scenario.name,
        "seed": seed,
        "duration_s": scenario.storm.duration,
        "knee": {"rate": found.rate, "reason": found.reason},
        "aggregated": _records(aggregated),
        "series": [s for _, series in rows for s in series],
    }
    path = out / "bench.json"
    path.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    return path, found


def run_bench(
    scenario: Scenario,
    rates: list[float],
    out: Path,
    seed: int,
    *,
    duration: float | None = None,
    progress: bool = True,
) -> tuple[Path, Knee, list[int]]:
    """Run every rate, then write ``bench.json``, the chart and ``bench.html`` into ``out``.

    Returns the JSON's path, the knee, and each rate's run exit code.
    """
    from harness.run.commands import run_one
    from harness.stack import Stack

    stack = Stack.load()
    rows, codes = [], []
    for rate in rates:
        run_dir = out / f"rate-{rate:g}"
        outcome = run_one(
            at_rate(scenario, rate, duration), run_dir, seed, stack, progress=progress, report=True
        )
        codes.append(outcome.exit_code)
        if (run_dir / "summary.json").exists():
            rows.append(aggregate(run_dir, rate))
    path, found = write_results(out, at_rate(scenario, rates[0], duration), seed, rows)
    write_page(out, scenario.name, pd.DataFrame([r for r, _ in rows]), found)
    return path, found, codes


def write_page(out: Path, name: str, aggregated: pd.DataFrame, found: Knee) -> Path:
    """``latency-vs-throughput.png`` and ``bench.html`` (table, chart, links to each run)."""
    from harness.report import CSS, esc, plots

    png = plots.to_png(plots.knee_chart(aggregated, found.rate))
    (out / "latency-vs-throughput.png").write_bytes(png)
    columns = ["rate", "received_per_s", "p50_ms", "p99_ms", "p99.9_ms", "p99.99_ms", "lost"]
    head = "".join(f"<th class=num>{esc(c)}</th>" for c in columns)
    rows = []
    for record in _records(aggregated):
        cells = "".join(f"<td class=num>{esc(_cell(record.get(c)))}</td>" for c in columns)
        link = Path(str(record["run_dir"])).name + "/report.html"
        rows.append(f'<tr>{cells}<td><a href="{esc(link)}">report</a></td></tr>')
    knee_text = f"knee at {found.rate:g}/s" if found.rate else "no knee"
    data = base64.b64encode(png).decode("ascii")
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>bench · {esc(name)}'
        f"</title><style>{CSS}</style></head><body><main><h1 style='margin-top:20px'>"
        f"{esc(name)}: latency versus throughput</h1><p class=about>{esc(knee_text)}: "
        f"{esc(found.reason)}</p><figure><img alt=chart src='data:image/png;base64,{data}'>"
        f"</figure><table><thead><tr>{head}<th></th></tr></thead><tbody>{''.join(rows)}"
        "</tbody></table></main></body></html>\n"
    )
    path = out / "bench.html"
    path.write_text(page, encoding="utf-8")
    return path


def _cell(value: object) -> str:
    if value is None:
        return "–"
    return f"{value:,.1f}" if isinstance(value, float) else str(value)


def _quantiles(values: np.ndarray) -> dict[str, float | None]:
    if len(values) == 0:
        return {f"{name}_ms": None for name, _ in QUANTILES} | {"max_ms": None}
    qs = np.quantile(values, [q for _, q in QUANTILES], method="inverted_cdf") * 1000.0
    out: dict[str, float | None] = {
        f"{name}_ms": round(float(v), 3) for (name, _), v in zip(QUANTILES, qs, strict=True)
    }
    out["max_ms"] = round(float(values.max()) * 1000.0, 3)
    return out


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-safe records (NaN as null)."""
    return [
        {
            k: (None if isinstance(v, float) and not math.isfinite(v) else _plain(v))
            for k, v in row.items()
        }
        for row in frame.to_dict(orient="records")
    ]


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


__all__ = [
    "BENCH_FORMAT",
    "Knee",
    "aggregate",
    "at_rate",
    "knee",
    "parse_rates",
    "run_bench",
    "write_page",
    "write_results",
]
