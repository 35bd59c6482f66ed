"""A run against brokers nobody can reach ends as a harness error, not as a verdict.

The brokers stay healthy (their own ports answer) but every Kafka proxy on loopback is
disabled, so nothing the run's clients dial answers. The run must exit 2 with one clear
message, write a summary.json that says exit_code 2 and claims no guarantee, keep its history,
and leave no fault and no heal journal behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.faults.healing import pending_journals
from harness.stack import Stack

pytestmark = pytest.mark.integration

SCENARIO = """\
name: unreachable
target:
  kafka: {topic: unreachable, partitions: 3, replication_factor: 3, min_insync_replicas: 2}
producer: {acks: all}
storm:
  duration: 5s
  rate: {shape: constant, per_second: 100}
faults:
  - at: 1s
    toxic: {type: latency, target: kafka-2, attributes: {latency: 200}}
    duration: 2s
thresholds: ["lost == 0"]
drain: {timeout: 5s}
"""


def test_a_run_whose_brokers_are_unreachable_exits_2_with_one_message(
    stack: Stack, toxiproxy, tmp_path: Path
) -> None:
    kafka_proxies = [name for name in toxiproxy.proxies() if name.startswith("kafka-")]
    assert kafka_proxies, "the stack has no Kafka proxy to disable"
    for name in kafka_proxies:
        toxiproxy.disable(name)  # the autouse heal enables them again after the test
    scenario = tmp_path / "unreachable.yaml"
    scenario.write_text(SCENARIO)
    out = tmp_path / "run"
    command = [sys.executable, "-m", "harness", "run", str(scenario), "--seed", "3",
               "--out", str(out), "--no-progress", "--no-report"]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert run.returncode == 2, run.stderr[-3000:]
    errors = [line for line in run.stderr.splitlines() if line.strip().startswith("error:")]
    assert len(errors) == 1, run.stderr[-3000:]
    assert "Kafka" in errors[0] and "Traceback" not in run.stderr
    assert "guarantee" not in run.stderr and "lost == 0" not in run.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["exit_code"] == 2 and summary["passed"] is False
    assert "guarantee" not in summary and summary["errors"] == [errors[0].split("error: ", 1)[1]]
    assert (out / "history.parquet").exists()
    assert not pending_journals()
    for name, proxy in toxiproxy.proxies().items():
        assert toxiproxy.toxics(name) == [], f"toxics left on {name}"
        assert proxy.enabled == (name not in kafka_proxies)
