"""Stack lifecycle: ``status --json`` and a ``stack down`` that leaves nothing behind
(acceptance test 6 of the stack). The down test brings the stack back up for later tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.stack import Stack, layout, load_state, local, process

pytestmark = pytest.mark.integration


def test_status_json_reports_every_node_and_proxy(stack: Stack) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "harness", "stack", "status", "--json"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    report = json.loads(out)
    assert report["up"] and report["healthy"], report
    assert {"kafka-1", "kafka-2", "kafka-3", "rabbitmq", "toxiproxy"} <= set(report["nodes"])
    assert set(report["proxies"]) == {"kafka-1", "kafka-2", "kafka-3", "rabbitmq"}
    assert report["nodes"]["kafka-2"]["ports"]["proxy"] == layout.KafkaPorts(2).proxy


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that mention ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and process.is_running(int(entry.name), None):
            found.append(f"{entry.name}: {cmdline[:200]}")
    return found


def test_stack_down_leaves_no_process_and_no_listening_port(stack: Stack) -> None:
    state = stack.state
    processes = [(n.name, n.pid, n.start_ticks) for n in state.all_processes()]
    ports = layout.stack_ports(state.kafka_brokers, state.rabbitmq)
    try:
        stopped = local.down()
        assert set(stopped) == {name for name, _, _ in processes}
        assert [n for n, pid, ticks in processes if process.is_running(pid, ticks)] == []
        assert [p for p in ports if process.port_open(p)] == []
        assert processes_mentioning(str(layout.run_dir())) == []
        assert processes_mentioning(f"-port {layout.epmd_port()}") == []
        assert load_state() is None
    finally:
        local.up(state.kafka_brokers, with_rabbitmq=state.rabbitmq)
        stack.reload()
