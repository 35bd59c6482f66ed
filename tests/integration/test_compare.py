"""Reports and ``harness compare`` on real short runs against the local stack.

Three 10 s runs at 500 events/s of one Kafka scenario: two healthy ones and a candidate with a
500 ms latency toxic on every broker's proxy from 3 s to 7 s. The comparison must pass the two
healthy runs and flag the candidate's p99; the candidate's report must shade the fault where
the history recorded it and show its impact.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.report import DEFAULT_TOLERANCE, load_run, load_side
from harness.report.compare import compare
from harness.run.commands import run_one
from harness.scenario import Scenario, build_scenario
from harness.stack import Stack

pytestmark = pytest.mark.integration

BASE: dict[str, Any] = {
    "name": "compare-short",
    "about": "10 s at 500/s, acks=all; the candidate adds a latency toxic.",
    "target": {
        "kafka": {
            "topic": "it-compare",
            "partitions": 3,
            "replication_factor": 3,
            "min_insync_replicas": 2,
        }
    },
    "producer": {"acks": "all", "enable_idempotence": True, "linger_ms": 5},
    "consumer": {"group": "verifier", "commit": "after_effect"},
    "storm": {"duration": "10s", "rate": {"shape": "constant", "per_second": 500}},
    "drain": {"timeout": "30s"},
    "expect": {"clean": ["lost"]},
}
TOXIC = {
    "at": "3s",
    "toxic": {
        "type": "latency",
        "target": "all",
        "stream": "downstream",
        "attributes": {"latency": 500},
    },
    "duration": "4s",
}


def scenario(faulted: bool) -> Scenario:
    return build_scenario({**BASE, "faults": [TOXIC] if faulted else []})


@pytest.fixture(scope="module")
def runs(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("compare")
    out: dict[str, Path] = {}
    for name, faulted in (("base", False), ("again", False), ("toxic", True)):
        outcome = run_one(scenario(faulted), root / name, 11, stack, progress=False)
        assert outcome.error == "", outcome.error
        out[name] = root / name
    return out


def test_two_healthy_runs_compare_clean(runs: dict[str, Path]) -> None:
    rows = compare(load_side(runs["base"], "b"), load_side(runs["again"], "c"), DEFAULT_TOLERANCE)
    assert [r.metric.name for r in rows if r.regressed] == []
    assert main(["compare", str(runs["base"]), str(runs["again"])]) == 0


def test_latency_toxic_is_flagged_as_a_regression(runs: dict[str, Path], tmp_path: Path) -> None:
    export = tmp_path / "bench.json"
    code = main(
        ["compare", str(runs["base"]), str(runs["toxic"]), "--export-benchmark-json", str(export)]
    )
    assert code == 1
    rows = compare(load_side(runs["base"], "b"), load_side(runs["toxic"], "c"), DEFAULT_TOLERANCE)
    assert "p99_ms" in [r.metric.name for r in rows if r.regressed]
    assert any(e["name"] == "compare-short p99_ms" for e in json.loads(export.read_text()))


def test_real_report_shades_the_recorded_fault_and_its_impact(runs: dict[str, Path]) -> None:
    folder = runs["toxic"]
    page = (folder / "report.html").read_text(encoding="utf-8")
    view = load_run(folder)
    recorded = view.faults.iloc[0]
    band = re.search(r'data-label="F1" data-start="([\d.]+)" data-end="([\d.]+)"', page)
    assert band is not None
    assert float(band[1]) == pytest.approx(recorded["start"], abs=1e-3)
    assert float(band[2]) == pytest.approx(recorded["end"], abs=1e-3)
    assert 2.5 < recorded["start"] < 4.5 and 3.5 < recorded["end"] - recorded["start"] < 5.5
    impact = view.impacts[0]
    assert impact.p99_ms["during"] > impact.p99_ms["before"] + 300
    assert impact.lost == 0
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["faults"][0]["during"]["p99_ms"] == impact.p99_ms["during"]
    for name in ("throughput.png", "latency.png", "latency-quantiles.png", "lag.png", "summary.md"):
        assert (folder / name).exists()
