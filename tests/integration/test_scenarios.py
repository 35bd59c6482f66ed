"""The shipped scenarios, run through `harness run` against the real stack, meet their verdicts.

Each runs at half its duration (broker restarts do not shrink with the storm, so shorter runs
leave no time to recover) and must exit 0: every expectation and threshold of the scenario
held. Each test then checks, from summary.json, the figure the scenario exists to show.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from harness.stack import Stack

pytestmark = pytest.mark.integration

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SCALE = "0.5"
RUN_TIMEOUT_S = 420


def run(name: str, out: Path, seed: int = 11) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "harness",
        "run",
        str(SCENARIOS / f"{name}.yaml"),
        "--duration-scale",
        SCALE,
        "--seed",
        str(seed),
        "--out",
        str(out),
        "--no-progress",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    summary_path = out / "summary.json"
    assert summary_path.exists(), done.stderr[-3000:]
    summary = json.loads(summary_path.read_text())
    conditions = summary["thresholds"] + summary["expectations"] + summary["engine"]
    failed = [c for c in conditions if not c["passed"]]
    assert done.returncode == 0, (failed, summary["errors"], done.stderr[-3000:])
    for name_ in ("history.parquet", "junit.xml", "report.html"):
        assert (out / name_).exists(), name_
    return summary


def test_acks1_leader_kill_loses_acknowledged_writes(stack: Stack, tmp_path: Path) -> None:
    summary = run("kafka-leader-kill-acks1", tmp_path)
    assert summary["anomalies"]["lost"] > 0
    assert [f["kind"] for f in summary["faults"]] == ["process.pause", "process.kill"]


def test_acks_all_leader_kill_loses_nothing(stack: Stack, tmp_path: Path) -> None:
    summary = run("kafka-leader-kill-acks-all", tmp_path)
    assert summary["anomalies"]["lost"] == 0
    assert summary["anomalies"]["duplicate_write"] == 0
    assert summary["counts"]["sends_ok"] > 0


def test_latency_spike_raises_p99_during_the_fault_and_recovers(
    stack: Stack, tmp_path: Path
) -> None:
    summary = run("kafka-latency-spike", tmp_path)
    (fault,) = summary["faults"]
    assert fault["kind"] == "toxic.latency"
    assert fault["during"]["p99_ms"] > fault["before"]["p99_ms"]
    assert fault["during"]["p99_ms"] >= 200  # the toxic's own 200 ms
    assert fault["recovery"] == "recovered"
    assert summary["anomalies"]["lost"] == 0


def test_poison_events_are_all_dead_lettered(stack: Stack, tmp_path: Path) -> None:
    summary = run("poison-events-dlq", tmp_path)
    counts = summary["counts"]
    assert counts["dead_letters"] > 0
    assert counts["dead_letters"] + counts["effects"] == counts["sends_ok"]
    assert summary["anomalies"]["dlq_missing"] == 0
    assert summary["anomalies"]["dlq_unexpected"] == 0


def test_rabbitmq_kill_without_confirms_loses_messages(stack: Stack, tmp_path: Path) -> None:
    summary = run("rabbitmq-kill-no-confirms", tmp_path)
    assert summary["anomalies"]["lost"] > 0


def test_rabbitmq_kill_with_confirms_and_durable_queue_loses_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    summary = run("rabbitmq-kill-confirms-durable", tmp_path)
    assert summary["anomalies"]["lost"] == 0
    assert summary["counts"]["sends_ok"] > 0


@pytest.mark.parametrize(
    ("mode", "duplicates"), [("buggy", True), ("correct", False)], ids=["buggy", "correct"]
)
def test_consumer_crash_before_commit(
    stack: Stack, tmp_path: Path, mode: str, duplicates: bool
) -> None:
    summary = run(f"kafka-consumer-crash-before-commit-{mode}", tmp_path)
    assert (summary["anomalies"]["duplicate_effect"] > 0) is duplicates
    assert summary["anomalies"]["lost"] == 0


@pytest.mark.parametrize(
    ("mode", "duplicates"), [("buggy", True), ("correct", False)], ids=["buggy", "correct"]
)
def test_injected_duplicates(stack: Stack, tmp_path: Path, mode: str, duplicates: bool) -> None:
    summary = run(f"kafka-duplicate-injection-{mode}", tmp_path)
    (fault,) = summary["faults"]
    assert (fault["kind"], fault["target"]) == ("producer.duplicate", "producer")
    assert summary["anomalies"]["duplicate_write"] > 0
    assert (summary["anomalies"]["duplicate_effect"] > 0) is duplicates
    assert summary["anomalies"]["lost"] == 0


def test_schema_rolling_upgrade_is_read_without_a_rejection(stack: Stack, tmp_path: Path) -> None:
    summary = run("kafka-schema-rolling-upgrade", tmp_path)
    assert summary["anomalies"]["schema_rejected"] == 0
    assert summary["anomalies"]["dlq_unexpected"] == 0
    assert summary["counts"]["dead_letters"] > 0  # the poison, and only the poison
    plan = pq.read_table(tmp_path / "schema-plan.parquet").to_pandas()
    assert set(plan["version"]) == {"v1", "v2"}
    assert (plan["drift"] == "extra_field").any()
    verdicts = json.loads((tmp_path / "schema-compatibility.json").read_text())
    assert [p["verdict"] for p in verdicts["pairs"]] == ["BACKWARD"]


def test_a_consumer_not_upgraded_rejects_compatible_events(stack: Stack, tmp_path: Path) -> None:
    summary = run("kafka-schema-consumer-not-upgraded", tmp_path)
    rejected = summary["anomalies"]["schema_rejected"]
    plan = pq.read_table(tmp_path / "schema-plan.parquet").to_pandas()
    v2_events = int((plan["version"] == "v2").sum())
    # v1 forbids undeclared fields: the v2 events carrying the optional 'channel' (about half)
    assert 0 < rejected < v2_events
    assert summary["anomalies"]["dlq_unexpected"] == 0
    assert summary["anomalies"]["lost"] == 0
