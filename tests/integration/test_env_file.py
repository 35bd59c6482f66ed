"""An env-file run against the local stack's addresses, with process control given as commands
(``kill -STOP``/``kill -CONT``/``kill -9`` on the recorded pids, ``harness stack restart-node``
to bring a node back), standing in for ``docker``: the leader-kill scenario passes with the
same verdict as the local backend's run.

Both runs go through ``harness run`` (the second with ``--env FILE``), shortened with
``--duration-scale``, with one seed. The env-file run's faults are the commands': the test
checks from the summary that the pause and the kill happened, and from the stack that the
killed broker is a new process afterwards.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from harness.stack import Stack, load_env, process
from harness.stack.localenv import env_of_state, write_local_env

pytestmark = pytest.mark.integration

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "kafka-leader-kill-acks-all.yaml"
SCALE = "0.4"
SEED = 23
RUN_TIMEOUT_S = 300
HARNESS = [sys.executable, "-m", "harness"]


def _env_file(stack: Stack, path: Path) -> Path:
    """The local stack's env file, its Kafka controls replaced by signals to the recorded pids."""
    data = env_of_state(stack.state).model_dump(mode="json", exclude_none=True)
    del data["rabbitmq"]  # the scenario is Kafka's; its env file need not name the rest
    for name, node in data["kafka"]["nodes"].items():
        pid = stack.nodes[name].pid
        node["control"] = {
            "kill": f"kill -9 {pid}",
            "pause": f"kill -STOP {pid}",
            "resume": f"kill -CONT {pid}",
            "restart": shlex.join([*HARNESS, "stack", "restart-node", name]),
            "timeout": "150s",
            "ready_timeout": "150s",
        }
    with path.open("w") as out:
        YAML(typ="safe", pure=True).dump(data, out)
    return path


def _run(out: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    command = [*HARNESS, "run", str(SCENARIO), "--duration-scale", SCALE, "--seed", str(SEED),
               "--out", str(out), "--no-progress", "--no-report", *extra]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    summary_path = out / "summary.json"
    assert summary_path.exists(), done.stderr[-3000:]
    return done.returncode, json.loads(summary_path.read_text()), done.stderr


def _verdict(summary: dict[str, Any]) -> dict[str, Any]:
    """What the scenario claims: its expectations and thresholds, passed or not."""
    return {
        "expectations": {c["condition"]: c["passed"] for c in summary["expectations"]},
        "thresholds": {c["condition"]: c["passed"] for c in summary["thresholds"]},
        "lost": summary["anomalies"]["lost"],
        "duplicate_write": summary["anomalies"]["duplicate_write"],
    }


def test_env_file_run_passes_leader_kill_like_the_local_backend(
    stack: Stack, tmp_path: Path
) -> None:
    stack.reload()
    pids = {name: node.pid for name, node in stack.nodes.items() if node.kind == "kafka"}
    env_path = _env_file(stack, tmp_path / "env.yaml")
    env = load_env(env_path)  # the file the run reads is a valid env file
    assert env.kafka is not None and env.kafka.nodes["kafka-1"].control is not None

    env_code, env_summary, env_err = _run(tmp_path / "env-run", "--env", str(env_path))
    assert env_code == 0, (_verdict(env_summary), env_summary["errors"], env_err[-3000:])
    kinds = [f["kind"] for f in env_summary["faults"]]
    assert kinds == ["process.pause", "process.kill"], env_summary["faults"]
    assert env_summary["counts"]["sends_ok"] > 0
    stack.reload()
    killed = [name for name, pid in pids.items() if stack.nodes[name].pid != pid]
    assert len(killed) == 1, "exactly the killed leader was restarted (by restart-node)"
    assert all(node.is_healthy() for node in stack.kafka_nodes())

    local_code, local_summary, local_err = _run(tmp_path / "local-run")
    assert local_code == 0, (local_summary["errors"], local_err[-3000:])
    assert _verdict(env_summary) == _verdict(local_summary)
    assert _verdict(env_summary)["lost"] == 0


def test_env_file_missing_a_control_is_refused_before_the_run(stack: Stack, tmp_path: Path) -> None:
    stack.reload()
    env_path = _env_file(stack, tmp_path / "env.yaml")
    data = YAML(typ="safe", pure=True).load(env_path.read_text())
    del data["kafka"]["nodes"]["kafka-2"]["control"]["restart"]
    with env_path.open("w") as out:
        YAML(typ="safe", pure=True).dump(data, out)
    command = [*HARNESS, "run", str(SCENARIO), "--env", str(env_path), "--out",
               str(tmp_path / "out"), "--no-progress"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "kafka-2 cannot be restarted" in done.stderr and "faults[1]" in done.stderr
    assert not (tmp_path / "out" / "history.parquet").exists()  # nothing ran


def test_the_local_stacks_own_env_file_drives_its_nodes(stack: Stack, tmp_path: Path) -> None:
    """The env file `harness stack up` writes: its `harness stack pause-node|resume-node`
    commands freeze and thaw the recorded process (restart-node is the acceptance run's)."""
    stack.reload()
    env_path = write_local_env(stack.state, tmp_path / "env.yaml")
    via_env = Stack.from_env(load_env(env_path), env_path)
    local = stack.node("kafka-3")
    node = via_env.node("kafka-3")
    assert all(node.can(c) for c in ("kill", "pause", "resume", "restart"))
    node.pause()
    assert local.is_paused() and not node.is_healthy()
    node.resume()
    process.wait_until(lambda: not local.is_paused(), 10, "kafka-3 to run again")
    process.wait_until(node.is_healthy, 30, "kafka-3 to answer at its address")


def test_heal_with_an_env_file_resumes_a_node_frozen_behind_its_back(
    stack: Stack, tmp_path: Path
) -> None:
    """`harness heal --env FILE` cannot know what an earlier process did: it asks each node's
    address, and resumes (here with `kill -CONT`) the one that does not answer."""
    stack.reload()
    env_path = _env_file(stack, tmp_path / "env.yaml")
    frozen = stack.node("kafka-2")
    frozen.pause()
    done = subprocess.run([*HARNESS, "heal", "--env", str(env_path)], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "healed: resumed kafka-2" in done.stderr
    process.wait_until(lambda: not frozen.is_paused(), 10, "kafka-2 to run again")
