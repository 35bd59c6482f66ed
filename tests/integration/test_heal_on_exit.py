"""Faults heal on every exit: SIGTERM and Ctrl-C in the middle of a fault, and `harness heal`
after a SIGKILLed run. Each test starts a real `harness run` whose faults are still active,
interrupts it, and looks at Toxiproxy and the brokers' processes directly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from integration_support import wait_for

from harness.faults.healing import pending_journals
from harness.stack import Stack, process
from harness.stack.toxiproxy import ToxiproxyClient

pytestmark = pytest.mark.integration

# Long faults on kafka-2 (a latency toxic and a pause) and kafka-3 (proxy down), all still
# active when the test interrupts the run.
SCENARIO = """\
name: interrupted
target:
  kafka: {topic: interrupted, partitions: 3, replication_factor: 3, min_insync_replicas: 1}
producer: {acks: 1}
storm:
  duration: 60s
  rate: {shape: constant, per_second: 200}
faults:
  - at: 1s
    toxic: {type: latency, target: kafka-2, attributes: {latency: 300}}
    duration: 50s
  - at: 1s
    proxy_down: {target: kafka-3}
    duration: 50s
  - at: 2s
    pause: {target: kafka-2}
    resume_after: 50s
drain: {timeout: 10s}
"""


def faults_active(stack: Stack, toxiproxy: ToxiproxyClient) -> bool:
    proxies = toxiproxy.proxies()
    return (
        any(t.name.startswith("harness-") for t in toxiproxy.toxics("kafka-2"))
        and not proxies["kafka-3"].enabled
        and stack.nodes["kafka-2"].is_paused()
    )


def assert_healed(stack: Stack, toxiproxy: ToxiproxyClient) -> None:
    for name, proxy in toxiproxy.proxies().items():
        assert proxy.enabled, f"proxy {name} left disabled"
        assert toxiproxy.toxics(name) == [], f"toxics left on {name}"
    for node in stack.kafka_nodes():
        assert node.is_alive() and not node.is_paused(), f"{node.name} left paused or dead"


def start_run(tmp_path: Path) -> subprocess.Popen[str]:
    scenario = tmp_path / "interrupted.yaml"
    scenario.write_text(SCENARIO)
    command = [
        sys.executable,
        "-m",
        "harness",
        "run",
        str(scenario),
        "--seed",
        "1",
        "--out",
        str(tmp_path / "run"),
        "--no-progress",
        "--no-report",
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_an_interrupted_run_heals_every_fault_and_keeps_its_history(
    stack: Stack, toxiproxy: ToxiproxyClient, tmp_path: Path, sig: signal.Signals
) -> None:
    run = start_run(tmp_path)
    try:
        wait_for(lambda: faults_active(stack, toxiproxy), 60, "the three faults to be active")
        run.send_signal(sig)
        output, _ = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 130, output[-3000:]
    assert "interrupted" in output or "terminated" in output
    assert_healed(stack, toxiproxy)
    history = pq.read_table(tmp_path / "run" / "history.parquet").to_pandas()
    faults = history[history.op == "fault"]
    assert sorted(faults.kind) == ["process.pause", "proxy.down", "toxic.latency"]
    assert (faults.t_end > faults.t_start).all()
    assert (history.op == "send").sum() > 0
    assert (tmp_path / "run" / "summary.json").exists()


def test_harness_heal_repairs_what_a_sigkilled_run_left(
    stack: Stack, toxiproxy: ToxiproxyClient, tmp_path: Path
) -> None:
    run = start_run(tmp_path)
    try:
        wait_for(lambda: faults_active(stack, toxiproxy), 60, "the three faults to be active")
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
    assert faults_active(stack, toxiproxy), "SIGKILL must leave the faults in place"
    assert pending_journals(), "the killed run left no heal journal"
    healed = subprocess.run(
        [sys.executable, "-m", "harness", "heal"], capture_output=True, text=True, timeout=180
    )
    assert healed.returncode == 0, healed.stderr
    assert "resume kafka-2" in healed.stderr
    assert_healed(stack, toxiproxy)
    assert not pending_journals()


SUT_SCENARIO = """\
name: orphan
target:
  kafka: {topic: orphan, partitions: 3, replication_factor: 3, min_insync_replicas: 2}
producer: {acks: all}
system_under_test:
  command: [python, examples/order_consumer.py]
  mode: correct
storm:
  duration: 60s
  rate: {shape: constant, per_second: 200}
drain: {timeout: 10s}
"""


def journaled_sut_pid() -> int | None:
    for journal in pending_journals():
        for undo in journal.read():
            if undo.action == "stop_process":
                return int(undo.detail.partition(":")[0])
    return None


def test_harness_heal_stops_the_system_under_test_a_sigkilled_run_left(
    stack: Stack, tmp_path: Path
) -> None:
    scenario = tmp_path / "orphan.yaml"
    scenario.write_text(SUT_SCENARIO)
    command = [sys.executable, "-m", "harness", "run", str(scenario), "--seed", "1",
               "--out", str(tmp_path / "run"), "--no-progress", "--no-report"]  # fmt: skip
    repo = Path(__file__).resolve().parents[2]
    run = subprocess.Popen(command, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: journaled_sut_pid() is not None, 90, "the system under test to start")
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
    pid = journaled_sut_pid()
    assert pid is not None
    assert process.is_running(pid, None), "the system under test should outlive the SIGKILL"
    healed = subprocess.run(
        [sys.executable, "-m", "harness", "heal"], capture_output=True, text=True, timeout=180
    )
    assert healed.returncode == 0, healed.stderr
    assert f"healed: stop the system under test (pid {pid})" in healed.stderr
    wait_for(lambda: not process.is_running(pid, None), 30, "the orphan to be gone")
    assert not pending_journals()
