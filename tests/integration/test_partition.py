"""``partition:`` faults on the real three-broker stack: the cut is real (the isolated leader
drops out of the ISR the other brokers report, and comes back after healing), Ctrl-C in the
middle of a partition leaves no iptables rule behind, and the shipped pair shows the loss with
acks=1 and unclean election, none with acks=all."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from integration_support import wait_for

from harness.drivers import create_topic, delete_topic
from harness.errors import StackError
from harness.faults import FaultContext, Healer, apply, heal, undo_on_stack
from harness.faults.healing import pending_journals
from harness.scenario import parse_scenario
from harness.stack import Stack, layout, netcut
from harness.stack.leader import _metadata
from harness.stack.quorum import quorum_leader_id
from harness.stack.toxiproxy import ToxiproxyClient

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def iptables_rules() -> str:
    return subprocess.run(["iptables", "-S"], capture_output=True, text=True, check=True).stdout


async def isr_seen_by(stack: Stack, node: str, topic: str) -> tuple[int, set[int]]:
    """Partition 0's leader and ISR as ``node`` alone reports them (through its proxy)."""
    address = f"{layout.HOST}:{stack.nodes[node].ports['proxy']}"
    cluster = await _metadata([address], [topic])
    state = getattr(cluster, "_partitions", {}).get(topic, {}).get(0)
    assert state is not None, f"{node} knows no partition 0 of {topic}"
    return int(state.leader), {int(r) for r in state.isr}


FAULT_SCENARIO = """\
name: cut
target:
  kafka: {{topic: {topic}, partitions: 1}}
storm:
  duration: 60s
  rate: {{shape: constant, per_second: 10}}
faults:
  - at: 1s
    partition: {{shape: isolate, target: leader_of_partition, partition: 0}}
    duration: 30s
"""


def test_isolating_a_leader_shrinks_the_isr_and_healing_restores_it(
    stack: Stack, toxiproxy: ToxiproxyClient, topic_name: str
) -> None:
    bootstrap = ",".join(stack.kafka_bootstrap)
    asyncio.run(
        create_topic(
            bootstrap, topic_name, partitions=1, replication_factor=3, min_insync_replicas=1
        )
    )
    fault = parse_scenario(FAULT_SCENARIO.format(topic=topic_name)).faults[0]
    ctx = FaultContext(stack, toxiproxy, Healer(undo_on_stack(stack, toxiproxy)), topic=topic_name)
    try:
        active = asyncio.run(apply(fault, "f1", ctx))
        isolated = active.targets[0]
        isolated_id = int(isolated.rsplit("-", 1)[1])
        others = [n for n in sorted(stack.nodes) if n.startswith("kafka-") and n != isolated]
        assert netcut.listing(), "the cut added no rule"
        sides = {frozenset(side.split(", ")) for side in (active.note or "").split(" -/- ")}
        assert sides == {frozenset([isolated]), frozenset(others)}, active.note

        def moved_on() -> bool:
            leader, isr = asyncio.run(isr_seen_by(stack, others[0], topic_name))
            return leader != isolated_id and isolated_id not in isr

        wait_for(moved_on, 60, f"the others to elect a new leader without {isolated}")
        # clients still reach the isolated broker through its proxy: only broker traffic is cut
        assert asyncio.run(isr_seen_by(stack, isolated, topic_name))[0] >= 0

        asyncio.run(heal(active, ctx))
        assert netcut.listing() == []
        assert netcut.chain() not in iptables_rules()
        wait_for(
            lambda: asyncio.run(isr_seen_by(stack, others[0], topic_name))[1] == {1, 2, 3},
            90,
            f"{isolated} to rejoin the ISR",
        )
    finally:
        asyncio.run(ctx.healer.heal_all())
        asyncio.run(delete_topic(bootstrap, topic_name))


CONTROLLER_SCENARIO = """\
name: cut-controller
target:
  kafka: {topic: cut-controller, partitions: 1}
storm:
  duration: 60s
  rate: {shape: constant, per_second: 10}
faults:
  - at: 1s
    partition: {shape: isolate, target: controller_leader}
    duration: 30s
"""


def test_isolating_the_controller_leader_makes_the_others_elect_a_new_one(
    stack: Stack, toxiproxy: ToxiproxyClient
) -> None:
    fault = parse_scenario(CONTROLLER_SCENARIO).faults[0]
    ctx = FaultContext(stack, toxiproxy, Healer(undo_on_stack(stack, toxiproxy)))
    try:
        active = asyncio.run(apply(fault, "f1", ctx))
        isolated = active.targets[0]
        old = int(isolated.rsplit("-", 1)[1])
        others = [
            f"{layout.HOST}:{stack.nodes[n].ports['proxy']}"
            for n in sorted(stack.nodes)
            if n.startswith("kafka-") and n != isolated
        ]

        def new_leader() -> bool:
            try:
                return asyncio.run(quorum_leader_id(others, timeout=5)) != old
            except StackError:  # no answer while the quorum elects
                return False

        wait_for(
            new_leader,
            60,
            f"a controller leader other than {isolated}",
        )
        asyncio.run(heal(active, ctx))
        assert netcut.listing() == []
    finally:
        asyncio.run(ctx.healer.heal_all())


RUN_SCENARIO = """\
name: cut-interrupted
target:
  kafka: {topic: cut-interrupted, partitions: 3, replication_factor: 3, min_insync_replicas: 1}
producer: {acks: 1}
storm:
  duration: 60s
  rate: {shape: constant, per_second: 100}
faults:
  - at: 1s
    partition: {shape: halves}
    duration: 50s
drain: {timeout: 10s}
"""


def test_ctrl_c_in_the_middle_of_a_partition_leaves_no_rule(stack: Stack, tmp_path: Path) -> None:
    scenario = tmp_path / "cut.yaml"
    scenario.write_text(RUN_SCENARIO)
    command = [sys.executable, "-m", "harness", "run", str(scenario), "--seed", "3",
               "--out", str(tmp_path / "run"), "--no-progress", "--no-report"]  # fmt: skip
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: bool(netcut.listing()), 60, "the partition's rules")
        assert netcut.chain() in iptables_rules()
        run.send_signal(signal.SIGINT)
        output, _ = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 130, output[-3000:]
    assert netcut.chain() not in iptables_rules(), "a rule or the chain was left behind"
    assert not pending_journals()
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["counts"]["sends"] > 0


def run_shipped(name: str, out: Path) -> dict[str, float]:
    command = [sys.executable, "-m", "harness", "run", str(ROOT / "scenarios" / f"{name}.yaml"),
               "--seed", "7", "--out", str(out), "--no-progress", "--no-report"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    summary = json.loads((out / "summary.json").read_text())
    assert netcut.listing() == [], f"{name} left rules behind"
    assert done.returncode in (0, 1), done.stderr[-3000:]
    return summary["metrics"]


def test_the_shipped_pair_loses_with_acks1_and_unclean_election_and_not_with_acks_all(
    stack: Stack, tmp_path: Path
) -> None:
    unsafe = run_shipped("kafka-partition-leader-acks1-unclean", tmp_path / "acks1")
    safe = run_shipped("kafka-partition-leader-acks-all", tmp_path / "acks-all")
    print(f"acks1-unclean lost={unsafe['lost']:.0f}; acks-all lost={safe['lost']:.0f}, "
          f"ack stall {safe['ack_stall_s']:.1f}s, max {safe['max_ms']:.0f} ms")  # fmt: skip
    assert unsafe["lost"] > 0
    assert safe["lost"] == 0
    assert safe["acked"] > 0


def test_harness_heal_removes_a_cut_whose_journal_was_lost(stack: Stack) -> None:
    brokers = sorted(n for n in stack.nodes if n.startswith("kafka-"))
    peers = {
        name: netcut.Peer(
            name,
            int(name.rsplit("-", 1)[1]),
            netcut.check_enclosed(stack.nodes[name].pid or 0, name, stack.nodes[name].state.cgroup),
            (stack.nodes[name].ports["internal"], stack.nodes[name].ports["controller"]),
        )
        for name in brokers
    }
    netcut.apply(netcut.cut_rules({brokers[0]: {brokers[1]}}, peers, tag="orphan"))
    assert netcut.chain() in iptables_rules()
    healed = subprocess.run(
        [sys.executable, "-m", "harness", "heal"], capture_output=True, text=True, timeout=180
    )
    assert healed.returncode == 0, healed.stderr
    assert f"removed the network cuts (iptables chain {netcut.chain()})" in healed.stderr
    assert netcut.chain() not in iptables_rules()
