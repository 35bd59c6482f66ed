"""Run Locust headless as one master and N worker processes, and read back what it counted.

No Locust import here: the processes are ``python -m locust`` children, so the caller's
asyncio process is never monkey-patched. The result holds Locust's own counts (from its
``--csv`` stats) beside the history shards the workers wrote, so they can be compared.

    run = HeadlessLocust(locustfile, out_dir, workers=2, users=2, run_time_s=30)
    await run.start()
    result = await run.wait(timeout_s=90)
    result.successes                     # acknowledged sends, as Locust counted them
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import ConfigError, HarnessError
from harness.history import PARTIAL_SUFFIX, read_partial
from harness.locust.clocksync import OFFSETS_FILE
from harness.locust.shard import HISTORY_DIR_ENV, SHARD_GLOB, shards_in

STATS_PREFIX = "locust"


@dataclass(frozen=True)
class LocustResult:
    """What one headless Locust run left: its counts, its shards and its logs."""

    requests: int
    failures: int
    shards: list[Path]
    clock_offsets: dict[str, dict[str, float]]
    returncodes: list[int | None]
    out_dir: Path
    logs: list[Path] = field(default_factory=list)

    @property
    def successes(self) -> int:
        """Requests Locust counted as successful: acknowledged sends."""
        return self.requests - self.failures


def _read_totals(stats_csv: Path) -> tuple[int, int]:
    """``(requests, failures)`` of the ``Aggregated`` row of Locust's ``*_stats.csv``."""
    with stats_csv.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get("Name") == "Aggregated":
                return int(row["Request Count"]), int(row["Failure Count"])
    raise HarnessError(
        f"{str(stats_csv)!r} has no Aggregated row, so Locust did not finish its run; see the "
        "Locust logs beside it."
    )


class HeadlessLocust:
    """A master and ``workers`` worker processes of ``locust -f locustfile --headless``."""

    def __init__(
        self,
        locustfile: Path,
        out_dir: Path,
        *,
        workers: int = 2,
        users: int = 2,
        spawn_rate: float | None = None,
        run_time_s: float = 30.0,
        env: dict[str, str] | None = None,
        master_port: int = 5557,
    ) -> None:
        if workers < 1 or users < 1:
            raise ConfigError(
                f"Locust needs at least one worker and one user, got workers={workers!r} and "
                f"users={users!r}; set load.workers and load.users to 1 or more."
            )
        self.locustfile = Path(locustfile)
        self.out_dir = Path(out_dir)
        self.workers, self.users = workers, users
        self.spawn_rate = spawn_rate or float(users)
        self.run_time_s = run_time_s
        self.master_port = master_port
        self.env = {**os.environ, **(env or {}), HISTORY_DIR_ENV: str(self.out_dir)}
        self.processes: list[asyncio.subprocess.Process] = []
        self.logs: list[Path] = []

    def _argv(self, *role: str) -> list[str]:
        return [sys.executable, "-m", "locust", "-f", str(self.locustfile), *role]

    async def start(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        port = str(self.master_port)
        master = self._argv(
            "--master",
            "--headless",
            "--master-bind-host=127.0.0.1",
            f"--master-bind-port={port}",
            f"--expect-workers={self.workers}",
            f"--users={self.users}",
            f"--spawn-rate={self.spawn_rate}",
            f"--run-time={max(1, round(self.run_time_s))}s",
            f"--csv={self.out_dir / STATS_PREFIX}",
            "--only-summary",
            # Failed sends are data for the checks, not an error of the run.
            "--exit-code-on-error=0",
        )
        await self._spawn(master, "master")
        for n in range(self.workers):
            worker = self._argv("--worker", "--master-host=127.0.0.1", f"--master-port={port}")
            await self._spawn(worker, f"worker-{n}")

    async def _spawn(self, argv: list[str], name: str) -> None:
        log = self.out_dir / f"{name}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                *argv, stdout=out, stderr=asyncio.subprocess.STDOUT, env=self.env
            )
        self.processes.append(process)

    def sends_recorded(self) -> int:
        """Send outcomes recorded so far by the workers (read from their partial shards)."""
        total = 0
        for partial in self.out_dir.glob(SHARD_GLOB + PARTIAL_SUFFIX):
            table = read_partial(partial)
            total += table.num_rows
        return total

    async def wait(self, timeout_s: float) -> LocustResult:
        """Wait for every process to exit (killing them after ``timeout_s``); the result."""
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in self.processes)), timeout_s)
        except TimeoutError:
            await self.stop()
            raise HarnessError(
                f"Locust did not finish within {timeout_s}s; see the logs in {self.out_dir}."
            ) from None
        return self.result()

    def result(self) -> LocustResult:
        stats = self.out_dir / f"{STATS_PREFIX}_stats.csv"
        if not stats.exists():
            raise HarnessError(f"Locust wrote no {stats}; see the logs in {self.out_dir}.")
        requests, failures = _read_totals(stats)
        offsets_file = self.out_dir / OFFSETS_FILE
        offsets = json.loads(offsets_file.read_text()) if offsets_file.exists() else {}
        leftovers = list(self.out_dir.glob(SHARD_GLOB + PARTIAL_SUFFIX))
        if leftovers:
            raise HarnessError(
                f"Shards were left unfinished: {[str(p) for p in leftovers]} "
                f"(recover them with `harness history recover`); see {self.out_dir}/*.log."
            )
        return LocustResult(
            requests,
            failures,
            shards_in(self.out_dir),
            offsets,
            [p.returncode for p in self.processes],
            self.out_dir,
            list(self.logs),
        )

    async def stop(self) -> None:
        """Ask every process still running to stop (SIGTERM, then SIGKILL after 15 s)."""
        for process in self.processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                await asyncio.wait_for(process.wait(), 15.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()


__all__ = ["STATS_PREFIX", "HeadlessLocust", "LocustResult"]
