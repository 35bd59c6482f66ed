"""``harness compare`` on synthetic runs: regressions flagged, noise absorbed, JSON export."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import ConfigError
from harness.report import DEFAULT_TOLERANCE, benchmark_json, load_side, parse_tolerance
from harness.report.compare import METRICS, Metric, Row, compare
from harness.run import Synthetic, make_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("compare")
    return {
        "base": make_run(root / "base", Synthetic(rate=200, seconds=12.0, bump_s=0.0, seed=1)),
        "same": make_run(root / "same", Synthetic(rate=200, seconds=12.0, bump_s=0.0, seed=2)),
        "slow": make_run(root / "slow", Synthetic(rate=200, seconds=12.0, bump_s=0.5, seed=3)),
        "lossy": make_run(root / "lossy", Synthetic(rate=200, seconds=12.0, bump_s=0.0, lose=4)),
    }


def flagged(base: Path, candidate: Path, tolerance: float = DEFAULT_TOLERANCE) -> list[str]:
    rows = compare(load_side(base, "b"), load_side(candidate, "c"), tolerance)
    return [r.metric.name for r in rows if r.regressed]


def test_latency_regression_is_flagged(runs: dict[str, Path]) -> None:
    assert {"p99_ms", "p999_ms"} <= set(flagged(runs["base"], runs["slow"]))


def test_same_healthy_scenario_passes(runs: dict[str, Path]) -> None:
    assert flagged(runs["base"], runs["same"]) == []


def test_new_losses_are_a_regression(runs: dict[str, Path]) -> None:
    assert flagged(runs["base"], runs["lossy"]) == ["lost"]


def test_improvement_is_not_a_regression(runs: dict[str, Path]) -> None:
    assert "p99_ms" not in flagged(runs["slow"], runs["base"])


def test_noise_floor_absorbs_small_absolute_changes() -> None:
    p99 = Metric("p99_ms", "ms", floor=5.0)
    assert not Row(p99, 3.0, 7.0, 0.1).regressed  # +133%, but only 4 ms
    assert Row(p99, 30.0, 60.0, 0.1).regressed
    throughput = Metric("throughput_per_s", "events/s", lower_is_better=False)
    assert Row(throughput, 1000.0, 800.0, 0.1).regressed
    assert not Row(throughput, 1000.0, 1200.0, 0.1).regressed


def test_recovery_that_never_happened_regresses() -> None:
    recovery = Metric("recovery_s", "s", floor=1.0)
    row = Row(recovery, 2.0, math.inf, 0.5)
    assert row.regressed and row.change == math.inf


def test_a_folder_of_runs_is_a_set_compared_by_median(runs: dict[str, Path]) -> None:
    side = load_side(runs["base"].parent, "set")
    assert len(side.runs) == 4
    assert side.value(Metric("lost", "events")) == 0  # median of 0, 0, 0, 4


def test_tolerance_parsing() -> None:
    assert parse_tolerance("10%") == pytest.approx(0.1)
    assert parse_tolerance("0.25") == 0.25
    with pytest.raises(ConfigError, match="percentage"):
        parse_tolerance("ten")


def test_cli_exit_codes_and_benchmark_export(runs: dict[str, Path], tmp_path: Path) -> None:
    export = tmp_path / "bench.json"
    code = main(
        ["compare", str(runs["base"]), str(runs["slow"]), "--export-benchmark-json", str(export)]
    )
    assert code == 1
    entries = json.loads(export.read_text())
    assert all(set(e) == {"name", "unit", "value", "extra"} for e in entries)
    names = {e["name"]: e for e in entries}
    assert names["synthetic-latency-fault p99_ms"]["unit"] == "ms"
    assert not any("throughput" in n for n in names)
    assert (runs["slow"] / "compare.html").read_text().count("data:image/png;base64,") == 3
    assert main(["compare", str(runs["base"]), str(runs["same"])]) == 0


def test_benchmark_json_values_are_the_candidate_medians(runs: dict[str, Path]) -> None:
    side = load_side(runs["slow"], "c")
    summary = json.loads((runs["slow"] / "summary.json").read_text())
    entries = {e["name"].split()[-1]: e["value"] for e in benchmark_json(side)}
    assert entries["p99_ms"] == round(summary["metrics"]["p99_ms"], 3)
    assert entries["lost"] == 0


def test_missing_run_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no summary.json"):
        load_side(tmp_path, "b")


def test_defaults_absorb_the_measured_healthy_spread() -> None:
    """Extremes of nine healthy 10 s runs at 500/s measured on this machine (compare.py)."""
    metrics = {m.name: m for m in METRICS}
    spread = {"p50_ms": (8.4, 22.7), "p99_ms": (26.3, 167.3), "p999_ms": (36.2, 324.9)}
    for name, (low, high) in spread.items():
        assert not Row(metrics[name], low, high, DEFAULT_TOLERANCE).regressed, name
    toxic = Row(metrics["p99_ms"], 167.3, 520.0, DEFAULT_TOLERANCE)  # + a 500 ms toxic
    assert toxic.regressed
