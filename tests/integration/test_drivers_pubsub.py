"""The shipped Pub/Sub pairs against the real emulator, through ``harness run``.

- ack deadline: a consumer holding more than it can work through within a 1 s deadline gets
  redeliveries and (buggy) applies them twice; one that acks in time gets none;
- ordering keys: publishing without them reorders each key across 2 s of connection resets;
  with them (and an ordered subscription) every key stays in order;
- push: the emulator pushes to the harness's loopback receiver; answers of 500, and answers
  lost after booking, bring redeliveries, which a buggy receiver books twice and a correct one
  once, and nothing is lost.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.stack import Stack

pytestmark = pytest.mark.integration

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def run(name: str, out: Path, seed: int = 11) -> dict[str, Any]:
    command = [sys.executable, "-m", "harness", "run", str(SCENARIOS / f"{name}.yaml"),
               "--seed", str(seed), "--out", str(out), "--no-progress"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=400)
    summary_path = out / "summary.json"
    assert summary_path.exists(), done.stderr[-3000:]
    summary = json.loads(summary_path.read_text())
    failed = [c for c in summary["thresholds"] + summary["expectations"] if not c["passed"]]
    assert done.returncode == 0, (failed, summary["errors"], done.stderr[-3000:])
    return summary


def test_ack_deadline_expiry_redelivers_and_a_buggy_consumer_applies_twice(
    pubsub_stack: Stack, tmp_path: Path
):
    summary = run("pubsub-ack-deadline-buggy", tmp_path)
    anomalies = summary["anomalies"]
    assert anomalies["duplicate_delivery"] > 0
    assert anomalies["duplicate_effect"] == anomalies["duplicate_delivery"]


def test_a_consumer_that_acks_in_time_gets_no_redelivery(pubsub_stack: Stack, tmp_path: Path):
    summary = run("pubsub-ack-deadline-correct", tmp_path)
    anomalies = summary["anomalies"]
    assert anomalies.get("duplicate_delivery", 0) == 0
    assert anomalies.get("lost", 0) == 0


def test_publishing_without_ordering_keys_reorders_under_resets(
    pubsub_stack: Stack, tmp_path: Path
):
    summary = run("pubsub-unordered-reset", tmp_path)
    assert summary["anomalies"]["out_of_order"] > 0
    assert summary["anomalies"].get("lost", 0) == 0
    assert [f["kind"] for f in summary["faults"]] == ["toxic.reset_peer"]


def test_ordering_keys_keep_per_key_order_under_resets(pubsub_stack: Stack, tmp_path: Path):
    summary = run("pubsub-ordering-keys-reset", tmp_path)
    assert summary["anomalies"].get("out_of_order", 0) == 0
    assert summary["anomalies"].get("lost", 0) == 0
    assert [f["kind"] for f in summary["faults"]] == ["toxic.reset_peer"]


def test_a_push_receiver_that_loses_answers_gets_redeliveries_and_buggy_books_twice(
    pubsub_stack: Stack, tmp_path: Path
):
    summary = run("pubsub-push-lost-ack-buggy", tmp_path)
    anomalies = summary["anomalies"]
    assert anomalies["duplicate_delivery"] > 0 and anomalies["duplicate_effect"] > 0
    assert anomalies["lost"] == 0
    assert [f["target"] for f in summary["faults"]] == ["push", "push"]
    assert summary["counts"]["deliveries"] > summary["counts"]["events"]


def test_a_correct_push_receiver_books_each_redelivered_order_once(
    pubsub_stack: Stack, tmp_path: Path
):
    summary = run("pubsub-push-lost-ack-correct", tmp_path)
    anomalies = summary["anomalies"]
    assert anomalies["duplicate_delivery"] > 0
    assert anomalies["duplicate_effect"] == 0 and anomalies["lost"] == 0
    assert summary["counts"]["effects"] == summary["counts"]["events"]
