"""NodeHandle on a stand-in process (``sleep``): signals, liveness, restart, pid reuse.

No broker here: the handle's contract is about processes, and a sleeping process shows it fast.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import StackError
from harness.stack import NodeHandle, NodeState, process

SLEEPER = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"]


@pytest.fixture
def handle(tmp_path: Path) -> Iterator[NodeHandle]:
    state = NodeState(name="sleeper", kind="epmd", argv=SLEEPER, cwd=str(tmp_path),
                      data_dir=str(tmp_path), log_file=str(tmp_path / "logs" / "sleeper.log"))  # fmt: skip
    changes: list[int | None] = []
    node = NodeHandle(state, on_change=lambda: changes.append(state.pid))
    node.start()
    yield node
    if node.is_alive():
        node.kill()


def test_started_process_is_alive_logs_and_reports_its_pid(handle: NodeHandle) -> None:
    assert handle.is_alive() and not handle.is_paused()
    assert handle.pid and handle.state.start_ticks == process.start_ticks(handle.pid)
    process.wait_until(lambda: "up" in handle.log_file.read_text(), 10, "the log line")


def test_pause_and_resume(handle: NodeHandle) -> None:
    handle.pause()
    assert handle.is_paused() and handle.is_alive()
    handle.resume()
    process.wait_until(lambda: not handle.is_paused(), 5, "the process to continue")


def test_kill_then_restart_gives_a_new_live_process(handle: NodeHandle) -> None:
    old = handle.pid
    handle.kill()
    assert not handle.is_alive()
    with pytest.raises(StackError, match="not running"):
        handle.pause()
    handle.start()
    assert handle.is_alive() and handle.pid != old


def test_terminate_stops_even_a_paused_process(handle: NodeHandle) -> None:
    handle.pause()
    handle.terminate(timeout=10)
    assert not handle.is_alive()


def test_a_reused_pid_is_not_mistaken_for_the_node(handle: NodeHandle) -> None:
    handle.state.start_ticks = (handle.state.start_ticks or 0) + 1
    assert not handle.is_alive()


def test_starting_a_running_node_is_refused(handle: NodeHandle) -> None:
    with pytest.raises(StackError, match="already running"):
        handle.start()


def test_wait_healthy_fails_fast_when_the_node_dies(tmp_path: Path) -> None:
    state = NodeState(name="dies", kind="epmd", argv=[sys.executable, "-c", "pass"],
                      cwd=str(tmp_path), data_dir=str(tmp_path),
                      log_file=str(tmp_path / "dies.log"), probe="tcp", probe_port=1)  # fmt: skip
    node = NodeHandle(state)
    node.start()
    with pytest.raises(StackError, match="exited while starting"):
        node.wait_healthy(timeout=20)


def test_wait_until_names_what_it_waited_for() -> None:
    with pytest.raises(StackError, match="the moon"):
        process.wait_until(lambda: False, 0.3, "the moon", interval=0.05)
