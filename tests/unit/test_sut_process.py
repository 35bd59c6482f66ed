"""SutProcess on stand-in commands (short Python one-liners): log, crash, restart, failure.

No broker: the process contract is about starting, signalling and watching a command.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from harness import clock
from harness.errors import HarnessError
from harness.sut import SutProcess

SLEEPER = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"]
QUITTER = [sys.executable, "-c", "print('cannot reach the broker'); raise SystemExit(3)"]


async def wait_until(predicate, timeout_s: float, what: str) -> None:
    deadline = clock.now() + timeout_s
    while not predicate():
        assert clock.now() < deadline, f"timed out after {timeout_s}s waiting for {what}"
        await asyncio.sleep(0.02)


@pytest.fixture
async def sleeper(tmp_path: Path):
    process = SutProcess(SLEEPER, {"PATH": "/usr/bin:/bin"}, tmp_path / "sut.log")
    yield process
    await process.close()


async def test_exit_on_its_own_is_a_failure_naming_command_code_and_log(tmp_path: Path) -> None:
    process = SutProcess(QUITTER, {}, tmp_path / "sut.log")
    await process.spawn()
    await wait_until(lambda: process.failure is not None, 10, "the failure")
    message = str(process.failure)
    assert "exited on its own with code 3" in message
    assert str(tmp_path / "sut.log") in message and "SystemExit(3)" in message
    assert "cannot reach the broker" in message  # the log's last lines
    await process.close()


async def test_a_kill_is_no_failure_and_a_restart_is_a_new_incarnation(sleeper) -> None:
    await sleeper.spawn()
    await wait_until(lambda: "up" in sleeper.log_path.read_text(), 60, "the first start")
    first = sleeper.pid
    await sleeper.kill()
    assert not sleeper.running
    await sleeper.spawn()
    assert sleeper.running and sleeper.pid != first and sleeper.incarnation == 2
    await wait_until(lambda: sleeper.log_path.read_text().count("up") == 2, 60, "the restart")
    assert "=== incarnation 2" in sleeper.log_path.read_text()
    assert sleeper.failure is None


async def test_terminate_stops_it_with_sigterm(sleeper) -> None:
    await sleeper.spawn()
    assert await sleeper.terminate(10.0) == -15
    assert sleeper.failure is None


async def test_a_running_process_is_not_spawned_twice(sleeper) -> None:
    await sleeper.spawn()
    with pytest.raises(HarnessError, match="already running"):
        await sleeper.spawn()


async def test_a_missing_program_fails_at_start(tmp_path: Path) -> None:
    process = SutProcess([str(tmp_path / "no-such-program")], {}, tmp_path / "sut.log")
    with pytest.raises(HarnessError, match="Cannot start the system under test"):
        await process.spawn()


async def test_a_journaled_process_is_stopped_by_heal_when_the_harness_is_gone(
    tmp_path: Path,
) -> None:
    from typing import Any, cast

    from harness.faults.actions import undo_on_stack
    from harness.faults.healing import Journal
    from harness.stack import process as procs

    journal = Journal(tmp_path / "heal" / "run-sut.json")
    sut = SutProcess(SLEEPER, {"PATH": "/usr/bin:/bin"}, tmp_path / "sut.log", journal=journal)
    await sut.spawn()
    pid = sut.pid
    assert pid is not None
    (undo,) = journal.read()
    assert undo.action == "stop_process" and undo.detail == f"{pid}:{procs.start_ticks(pid)}"
    assert undo.describe() == f"stop the system under test (pid {pid})"
    nothing = cast(Any, None)  # stopping a process needs neither the stack nor Toxiproxy
    await undo_on_stack(nothing, nothing)(undo)  # what `harness heal` does with the journal
    await wait_until(lambda: not sut.running, 10, "the journaled process to be stopped")
    await undo_on_stack(nothing, nothing)(undo)  # a second heal finds it gone: a no-op
    await sut.close()
    assert not journal.path.exists()


async def test_without_a_journal_nothing_is_written(tmp_path: Path, sleeper: SutProcess) -> None:
    await sleeper.spawn()
    await sleeper.close()
    assert not (tmp_path / "heal").exists()
