"""The external system under test's process: start it, watch it, kill it, start it again.

The command runs in its own session (process group), so a crash kills everything it started,
and with its stdout and stderr appended to one log file, each incarnation under a header line.
An exit the harness did not cause is kept as ``failure``: a ``HarnessError`` naming the command,
the exit code, the log and its last lines. With a heal ``journal``, the running incarnation is
journaled while it runs, so ``harness heal`` stops it if the harness itself is SIGKILLed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
from pathlib import Path

from harness import clock
from harness.errors import HarnessError
from harness.faults import Journal, Undo
from harness.stack.process import start_ticks

LOG_TAIL_LINES = 12


class SutProcess:
    """One external command, restartable; its incarnations share the log file (the first one
    starts it afresh)."""

    def __init__(
        self,
        command: list[str],
        env: dict[str, str],
        log_path: Path,
        cwd: Path | None = None,
        journal: Journal | None = None,
    ) -> None:
        self.command = command
        self.env = env
        self.log_path = log_path
        self.cwd = cwd
        self.journal = journal
        self.incarnation = 0
        self.failure: HarnessError | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._watch: asyncio.Task[None] | None = None
        self._expected_exit = False

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def describe(self) -> str:
        return f"`{shlex.join(self.command)}` (log: {self.log_path})"

    async def spawn(self) -> None:
        """Start a new incarnation (the previous one must have ended)."""
        if self.running:
            raise HarnessError(
                f"The system under test {self.describe()} is already running, and one runs at a "
                "time; wait for it to exit (or stop it) before spawning it again."
            )
        self.incarnation += 1
        self._expected_exit = False
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab" if self.incarnation > 1 else "wb") as log:
            header = f"=== incarnation {self.incarnation} at t={clock.now():.3f}: "
            log.write(f"{header}{shlex.join(self.command)}\n".encode())
            log.flush()
            try:
                self._process = await asyncio.create_subprocess_exec(
                    *self.command,
                    env=self.env,
                    cwd=self.cwd,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                raise HarnessError(
                    f"Cannot start the system under test {self.describe()}: {exc}. "
                    "Check system_under_test.command in the scenario."
                ) from exc
        self._watch = asyncio.get_running_loop().create_task(self._watch_exit(self._process))
        await asyncio.to_thread(self._journal_incarnation, self._process.pid)

    def _journal_incarnation(self, pid: int | None) -> None:
        """Journal how to stop the running incarnation (``None``: nothing runs any more)."""
        if self.journal is None:
            return
        ticks = start_ticks(pid) if pid is not None else None
        undo = Undo("stop_process", "the system under test", f"{pid}:{ticks}")
        self.journal.write([undo] if ticks is not None else [])

    async def _watch_exit(self, process: asyncio.subprocess.Process) -> None:
        code = await process.wait()
        if not self._expected_exit and self.failure is None:
            self.failure = HarnessError(
                f"The system under test {self.describe()} exited on its own with code {code} "
                f"(incarnation {self.incarnation}). Its last log lines:\n{self.log_tail()}"
            )

    async def wait_exit(self, timeout_s: float) -> bool:
        """Wait for the current incarnation to end; False if it still runs after ``timeout_s``."""
        if self._process is None:
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._process.wait()), timeout_s)
        return not self.running

    async def kill(self) -> None:
        """SIGKILL the whole process group, as a crash would, and wait for it to end."""
        self._signal(signal.SIGKILL)
        await self.wait_exit(30.0)

    async def terminate(self, timeout_s: float) -> int | None:
        """SIGTERM and wait up to ``timeout_s``; then SIGKILL. The exit code (None if none)."""
        self._signal(signal.SIGTERM)
        if not await self.wait_exit(timeout_s):
            await self.kill()
        return self._process.returncode if self._process is not None else None

    def _signal(self, sig: signal.Signals) -> None:
        self._expected_exit = True
        if self.running:
            assert self._process is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, sig)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    async def close(self) -> None:
        """Kill what still runs and stop watching. Idempotent."""
        if self.running:
            await self.kill()
        if not self.running:
            await asyncio.to_thread(self._journal_incarnation, None)
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None


__all__ = ["SutProcess"]
