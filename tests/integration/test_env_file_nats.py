"""NATS scenarios run through an env file: the one ``harness stack up`` writes for the local
NATS cluster (``run/env.yaml``), whose node controls are ``harness stack kill-node|restart-node``
commands and whose route proxies come from each node's ``routes:``.

Both runs go through ``harness run --env FILE``, shortened with ``--duration-scale``. The kill
run passes with nothing lost and leaves nats-1 a new process (restarted by its restart
command); the core route-cut run finds the loss it exists to show, which it can only do if the
env file's route proxies were the ones cut.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.stack import Stack, load_env, process
from harness.stack import nats as nats_stack_module
from harness.stack.commanded import CommandedNode
from harness.stack.localenv import write_local_env

pytestmark = pytest.mark.integration

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SCALE = "0.6"
SEED = 31
RUN_TIMEOUT_S = 240
HARNESS = [sys.executable, "-m", "harness"]


@pytest.fixture(autouse=True)
def _heal_after_each_test(nats_stack: Stack) -> Iterator[None]:
    yield
    nats_stack.reload()
    nats_stack.heal()
    _wait_full_mesh(nats_stack)


def _wait_full_mesh(stack: Stack, timeout: float = 30.0) -> None:
    names = {f"nats-{n}" for n in (1, 2, 3)}

    def meshed() -> bool:
        ports = {n: stack.state.nodes[f"nats-{n}"].ports["monitor"] for n in (1, 2, 3)}
        return all(
            set(nats_stack_module.routes(port)) == names - {f"nats-{n}"}
            for n, port in ports.items()
        )

    process.wait_until(meshed, timeout, "the NATS full mesh")


def _run(scenario: str, env_path: Path, out: Path) -> tuple[int, dict[str, Any], str]:
    command = [*HARNESS, "run", str(SCENARIOS / scenario), "--env", str(env_path),
               "--duration-scale", SCALE, "--seed", str(SEED), "--out", str(out),
               "--no-progress", "--no-report"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    (out / "stderr.txt").write_text(done.stderr)  # for a failure's post-mortem (tmp_path)
    summary_path = out / "summary.json"
    assert summary_path.exists(), done.stderr[-3000:]
    return done.returncode, json.loads(summary_path.read_text()), done.stderr


def test_the_stacks_env_file_kills_and_restarts_a_nats_node_by_command(
    nats_stack: Stack, tmp_path: Path
) -> None:
    nats_stack.reload()
    pid, ticks = nats_stack.nodes["nats-1"].pid, nats_stack.nodes["nats-1"].state.start_ticks
    starts = Path(nats_stack.nodes["nats-1"].log_file).read_text().count("Starting nats-server")
    env_path = write_local_env(nats_stack.state, tmp_path / "env.yaml")
    env = load_env(env_path)
    assert env.nats is not None and sorted(env.nats.nodes) == ["nats-1", "nats-2", "nats-3"]
    via_env = Stack.from_env(env, env_path)
    assert isinstance(via_env.node("nats-1"), CommandedNode)
    assert all(node.is_healthy() for node in via_env.nats_nodes())  # INFO at each address

    code, summary, err = _run("nats-jetstream-r3-kill.yaml", env_path, tmp_path / "kill")
    assert code == 0, (summary["anomalies"], summary["errors"], err[-3000:])
    assert [f["kind"] for f in summary["faults"]] == ["process.kill"], summary["faults"]
    assert summary["counts"]["sends_ok"] > 0 and summary["anomalies"]["lost"] == 0
    # the kill command SIGKILLed the original process; the restart command started another,
    # which answers at the env file's address (its server log shows the second start)
    assert process.process_state(pid, ticks) is None, f"nats-1 (pid {pid}) is still running"
    process.wait_until(via_env.node("nats-1").answers, 30, "nats-1 to answer again")
    log = Path(nats_stack.nodes["nats-1"].log_file).read_text()
    assert log.count("Starting nats-server") >= starts + 1, log[-3000:]


def test_a_route_cut_through_the_env_files_route_proxies_loses_core_messages(
    nats_stack: Stack, tmp_path: Path
) -> None:
    nats_stack.reload()
    env_path = write_local_env(nats_stack.state, tmp_path / "env.yaml")
    code, summary, err = _run("nats-core-route-cut-loses.yaml", env_path, tmp_path / "cut")
    assert code == 0, (summary["anomalies"], summary["errors"], err[-3000:])
    assert [f["kind"] for f in summary["faults"]] == ["nats.route_cut"], summary["faults"]
    assert summary["anomalies"]["lost"] > 0  # the cut took effect: the env file's proxies
