"""CommandedNode: controls run as commands (real child processes: ``sh``, ``kill``, ``sleep``),
their failures as one clear StackError, and readiness waited for at the node's address."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import StackError
from harness.stack import CommandedNode, NodeControl, NodeState, process


def _state(name: str = "kafka-1", kind: str = "kafka") -> NodeState:
    return NodeState(name=name, kind=kind, argv=[], cwd="", data_dir="", log_file="")  # type: ignore[arg-type]


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen(["sleep", "60"])
    yield child
    child.kill()
    child.wait()


def _proc_state(pid: int) -> str | None:
    return process.process_state(pid, process.start_ticks(pid))


def test_kill_pause_resume_run_their_commands_on_a_real_process(
    sleeper: subprocess.Popen[bytes],
) -> None:
    pid = str(sleeper.pid)
    control = NodeControl(kill=f"kill -9 {pid}", pause=f"kill -STOP {pid}",
                          resume=f"kill -CONT {pid}", timeout=10)  # fmt: skip
    node = CommandedNode(_state(), control=control, source="env.yaml")
    node.pause()
    assert node.is_paused() and node.is_alive() and not node.is_healthy()
    process.wait_until(lambda: _proc_state(sleeper.pid) in ("T", "t"), 5, "SIGSTOP")
    node.resume()
    assert not node.is_paused()
    process.wait_until(lambda: _proc_state(sleeper.pid) not in ("T", "t"), 5, "SIGCONT")
    node.kill()
    assert not node.is_alive()
    assert sleeper.wait(timeout=5) == -9


def test_a_missing_control_is_named_with_the_ones_given() -> None:
    node = CommandedNode(_state(), control=NodeControl(kill="true"), source="env.yaml")
    assert node.can("kill") and not node.can("pause")
    with pytest.raises(StackError, match=r"kafka-1 has no 'pause' command in env.yaml.*kill given"):
        node.pause()
    bare = CommandedNode(_state(), source="env.yaml")
    with pytest.raises(StackError, match="none given"):
        bare.kill()


@pytest.mark.parametrize(
    ("command", "why"),
    [
        ("sh -c 'echo no such container >&2; exit 3'", "status 3 (no such container)"),
        ("/no/such/program", "not on PATH"),
        ("sleep 5", "did not finish within 0.3s"),
    ],
)
def test_a_failing_command_is_one_clear_error(command: str, why: str) -> None:
    node = CommandedNode(_state(), control=NodeControl(kill=command, timeout=0.3))
    with pytest.raises(StackError, match=why.replace("(", r"\(").replace(")", r"\)")):
        node.kill()
    assert node.is_alive()  # a failed kill changes nothing the harness believes


def test_command_output_is_redacted() -> None:
    leak = "sh -c 'echo amqp://app:s3cr3t@10.0.0.1/ >&2; exit 1'"
    node = CommandedNode(_state(), control=NodeControl(kill=leak))
    with pytest.raises(StackError) as caught:
        node.kill()
    assert "s3cr3t" not in str(caught.value)


def test_no_shell_is_involved(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    node = CommandedNode(_state(), control=NodeControl(kill=f"echo ; touch {marker}"))
    node.kill()  # echo prints "; touch ..." literally: no shell ran the second command
    assert not marker.exists()


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield server
    server.close()


def test_restart_waits_until_the_address_answers(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    control = NodeControl(restart="true", ready_timeout=0.5)
    node = CommandedNode(_state("pg", "epmd"), control=control, address=f"127.0.0.1:{port}")
    node.kill = lambda: None  # type: ignore[method-assign]
    node.restart()
    assert node.is_healthy()
    silent = CommandedNode(_state("pg", "epmd"), control=control, address="127.0.0.1:1")
    with pytest.raises(StackError, match="pg to answer at 127.0.0.1:1"):
        silent.restart()


def test_heal_resumes_then_restarts_a_silent_node(tmp_path: Path) -> None:
    log = tmp_path / "log"
    record = [sys.executable, "-c", f"open({str(log)!r}, 'a').write(__import__('sys').argv[1])"]
    control = NodeControl(resume=[*record, "resume "], restart=[*record, "restart "],
                          ready_timeout=0.5)  # fmt: skip
    node = CommandedNode(_state("n", "epmd"), control=control, address="127.0.0.1:1")
    with pytest.raises(StackError):  # resumed, still silent, restarted, still silent
        node.heal()
    assert log.read_text() == "resume restart "


def test_a_question_asked_during_a_slow_kill_waits_for_its_answer(tmp_path: Path) -> None:
    """The restart due at ``restart_after`` asks ``is_alive`` while the kill command may still
    run (``docker kill`` on a loaded host): it must see the node dead, not skip the restart."""
    import threading
    import time

    started = tmp_path / "started"
    control = NodeControl(kill=["sh", "-c", f"touch {started}; sleep 0.5"], timeout=10)
    node = CommandedNode(_state("nats-1", "nats"), control=control)
    killer = threading.Thread(target=node.kill)
    killer.start()
    deadline = time.monotonic() + 10
    while not started.exists() and time.monotonic() < deadline:  # the kill command runs
        time.sleep(0.01)
    assert node.is_alive() is False  # waited for the kill to finish
    killer.join()
