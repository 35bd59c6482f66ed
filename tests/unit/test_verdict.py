"""Verdicts on synthetic histories: metrics, thresholds, expectations, recovery time, JUnit."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd

from harness.checks import judge, prepare
from harness.run import junit
from harness.scenario import build_scenario

BASE = {
    "name": "synthetic",
    "target": {
        "kafka": {"topic": "t", "partitions": 1, "replication_factor": 1, "min_insync_replicas": 1}
    },
    "storm": {"duration": "30s", "rate": {"shape": "constant", "per_second": 10}},
}


def history(
    delay_during_fault: float = 0.5, lose: int = 0, heal_latency: bool = True
) -> pd.DataFrame:
    """10 events/s for 30 s on one key and partition; latency 10 ms, raised for events due in
    the fault window [10, 15). Deliveries keep the log's order, so the backlog drains after."""
    n = 300
    intended = np.arange(n) / 10.0
    latency = np.full(n, 0.010)
    in_fault = (intended >= 10) & (intended < 15)
    latency[in_fault] = delay_during_fault
    if not heal_latency:
        latency[intended >= 10] = delay_during_fault
    ids = [f"e{i}" for i in range(n)]
    sends = pd.DataFrame(
        {
            "op": "send",
            "id": ids,
            "key": "k",
            "seq": np.arange(1, n + 1),
            "t_intended": intended,
            "t": intended,
            "t_ack": intended + 0.002,
            "status": "ok",
            "partition": 0,
            "offset": np.arange(n),
        }
    )
    kept = np.arange(n) >= lose
    recvs = pd.DataFrame(
        {
            "op": "recv",
            "id": np.array(ids)[kept],
            "key": "k",
            "seq": np.arange(1, n + 1)[kept],
            "t": np.maximum.accumulate(intended + latency)[kept],
            "group": "g",
            "consumer": "c0",
            "partition": 0,
            "offset": np.arange(n)[kept],
        }
    )
    fault = pd.DataFrame(
        [
            {
                "op": "fault",
                "id": "f0",
                "kind": "toxic.latency",
                "target": "kafka-1",
                "t_start": 10.0,
                "t_end": 15.0,
            }
        ]
    )
    return pd.concat([sends, recvs, fault], ignore_index=True)


def test_clean_history_meets_thresholds_and_measures_recovery() -> None:
    scenario = build_scenario(
        {
            **BASE,
            "thresholds": ["lost == 0", "recovery_s < 2", "p50_ms < 50"],
            "expect": {"clean": ["lost"]},
        }
    )
    verdict = judge(scenario, prepare(history()), storm_seconds=30.0)
    assert verdict.passed and verdict.exit_code == 0
    assert verdict.metrics["lost"] == 0
    assert verdict.metrics["acked"] == 300 and verdict.metrics["received"] == 300
    assert verdict.metrics["p50_ms"] == 10.0
    (impact,) = verdict.faults
    assert impact["before"]["p99_ms"] == 10.0
    assert impact["during"]["p99_ms"] == 500.0
    # events due in [15.0, 15.4) still wait behind the backlog; the window from 16 s is clean
    assert impact["recovery_s"] == 1.0


def test_latency_that_never_recovers_fails_a_recovery_threshold() -> None:
    scenario = build_scenario({**BASE, "thresholds": ["recovery_s < 10"]})
    verdict = judge(scenario, prepare(history(heal_latency=False)), storm_seconds=30.0)
    assert math.isinf(verdict.metrics["recovery_s"])
    assert not verdict.passed and verdict.exit_code == 1


def test_expected_loss_passes_when_found_and_fails_when_absent() -> None:
    scenario = build_scenario({**BASE, "expect": {"finds": ["lost"]}})
    found = judge(scenario, prepare(history(lose=7)), storm_seconds=30.0)
    assert found.metrics["lost"] == 7 and found.passed
    absent = judge(scenario, prepare(history()), storm_seconds=30.0)
    assert not absent.passed
    assert [c.to_json() for c in absent.expectations] == [
        {"condition": "finds lost", "metric": "lost", "measured": 0.0, "passed": False}
    ]


def test_without_conditions_the_checks_validity_decides() -> None:
    scenario = build_scenario(BASE)
    assert judge(scenario, prepare(history()), storm_seconds=30.0).passed
    assert not judge(scenario, prepare(history(lose=1)), storm_seconds=30.0).passed


def test_harness_errors_fail_the_run_and_appear_in_junit() -> None:
    scenario = build_scenario({**BASE, "thresholds": ["lost == 0"]})
    verdict = judge(
        scenario,
        prepare(history()),
        storm_seconds=30.0,
        errors=["fault f0 (kill) failed to apply: no such node"],
    )
    assert not verdict.passed
    root = ET.fromstring(junit([("synthetic", verdict)]))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "0", "1")
    error = root.find(".//error")
    assert error is not None and "no such node" in error.get("message", "")


def test_junit_marks_failed_thresholds_with_their_measured_value() -> None:
    scenario = build_scenario({**BASE, "thresholds": ["lost == 0", "p99_ms < 100"]})
    verdict = judge(scenario, prepare(history(lose=3)), storm_seconds=30.0)
    root = ET.fromstring(junit([("synthetic", verdict)]))
    failures = {case.get("name"): case.find("failure") for case in root.iter("testcase")}
    assert failures["lost == 0"] is not None
    assert failures["lost == 0"].get("message") == "measured 3"
    assert failures["p99_ms < 100"] is not None  # the fault window's 500 ms is within the top 1%


def test_a_fault_ending_with_the_storm_is_not_measurable_rather_than_never() -> None:
    frame = history()
    frame.loc[frame.op == "fault", "t_end"] = 40.0
    verdict = judge(build_scenario(BASE), prepare(frame), storm_seconds=30.0)
    (impact,) = verdict.faults
    assert math.isnan(impact["recovery_s"]) and impact["recovery"] == "not measurable"
    never = judge(build_scenario(BASE), prepare(history(heal_latency=False)), storm_seconds=30.0)
    assert never.faults[0]["recovery"] == "never"


def test_summary_reports_both_guarantees_and_is_strict_json(tmp_path: Path) -> None:
    import json

    from harness.run.artifacts import summary, write_summary
    from harness.run.runner import RunRecord

    scenario = build_scenario(BASE)
    verdict = judge(scenario, prepare(history(lose=3)), storm_seconds=30.0)
    record = RunRecord(
        scenario, 7, "r1", tmp_path / "history.parquet", 0.0, 30.0, 0.0, 300, 1.0, [], "t"
    )
    data = summary(record, verdict)
    assert data["delivery_guarantee"] == "at-most-once"
    assert data["effect_guarantee"] is None  # no effect ops in this history
    assert "guarantee" not in data
    write_summary(tmp_path / "summary.json", data)

    def refuse(name: str) -> None:
        raise ValueError(name)

    text = (tmp_path / "summary.json").read_text()
    assert json.loads(text, parse_constant=refuse)["delivery_guarantee"] == "at-most-once"
