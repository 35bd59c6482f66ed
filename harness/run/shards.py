"""The harness engine's storm across N processes, sharded by key.

``run_sharded_storm`` writes one ``ShardPlan``, starts ``N`` shard processes
(``harness.run.storm_shard``), each sending its keys' rows at their intended times into its
own history shard, and waits for them. Then every shard's rows are appended to the run's
history (as Locust's shards are), with ``worker`` set to ``shard-<i>``. Faults stay in the
parent (its fault timeline runs while it waits), and so do the consumer and the checks, which
read the merged history.

A shard that dies, or Ctrl-C / SIGTERM while they run: every other shard is stopped (SIGTERM,
then SIGKILL after ``STOP_GRACE_S``), whatever each one wrote is still merged into the history
(a shard keeps a durable partial stream), and one error names the shard and its cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from harness import clock
from harness.errors import ConfigError, HarnessError
from harness.history import HistoryWriter, read_history
from harness.history.reader import partial_path, read_partial
from harness.history.tail import PartialTail
from harness.load.pacer import SlipStats
from harness.run.storm_shard import ShardPlan, shard_path
from harness.scenario import Acks, Scenario
from harness.scenario.faults import duplicate_windows
from harness.scenario.models import Engine

STORM_LEAD_S = 0.3
"""Seconds between every shard being ready and the first intended send."""
READY_TIMEOUT_S = 120.0
STOP_GRACE_S = 5.0
TAIL_MAX_S = 30.0
TAIL_EVERY_S = 1.0
"""How often live metrics read what the shards' history streams gained."""


def default_processes() -> int:
    """The core count (at least 1)."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def storm_processes(scenario: Scenario, requested: int | None) -> int:
    """How many processes send ``scenario``'s storm: ``requested`` (``--processes``), else the
    scenario's ``load.processes``, else the core count. Only Kafka storms of the harness
    engine shard; any other storm is sent by one process (asking for more is an error)."""
    asked = requested if requested is not None else scenario.load.processes
    shardable = scenario.load.engine is Engine.HARNESS and scenario.target.kafka is not None
    if asked is not None and asked < 1:
        raise ConfigError(f"--processes must be >= 1, got {asked}")
    if not shardable:
        if asked is not None and asked > 1:
            raise ConfigError(
                f"processes={asked}: only Kafka storms of the harness engine shard across "
                "processes; drop --processes (or load.processes) for this scenario"
            )
        return 1
    if _reads_live_acks(scenario):
        if asked is not None and asked > 1:
            raise ConfigError(
                f"processes={asked}: a lag_above trigger reads the producer's acknowledgements "
                "as the storm goes, which only the in-process engine has; drop --processes "
                "(or load.processes) for this scenario, or use another trigger"
            )
        return 1
    return asked or default_processes()


def _reads_live_acks(scenario: Scenario) -> bool:
    """Does a fault read the in-process producer's counts during the storm (lag_above)?"""
    return any(getattr(f.settings, "when", None) == "lag_above" for f in scenario.faults)


@dataclass
class ShardResult:
    """What the shards did: the merged counts and every shard's slip."""

    acked: int = 0
    sent: int = 0
    slips: list[SlipStats] = field(default_factory=list)
    merged: SlipStats = field(default_factory=lambda: SlipStats.of(np.array([])))

    def describe(self) -> list[str]:
        lines = [
            f"shard {i}: slip p50 {s.p50_ms:.2f} ms, p99 {s.p99_ms:.2f} ms, max {s.max_ms:.1f} ms "
            f"over {s.count} events"
            for i, s in enumerate(self.slips)
        ]
        m = self.merged
        lines.append(f"all shards: slip p50 {m.p50_ms:.2f} ms, p99 {m.p99_ms:.2f} ms")
        return lines


def plan_for(
    scenario: Scenario,
    directory: Path,
    seed: int,
    processes: int,
    bootstrap: str,
    topic: str,
) -> ShardPlan:
    p = scenario.producer
    return ShardPlan(
        directory=str(directory),
        storm=scenario.storm.model_dump(mode="json", by_alias=True),
        seed=seed,
        run_prefix=f"e{seed}",
        duplicate_windows=duplicate_windows(scenario.faults, scenario.storm.duration),
        processes=processes,
        client=p.client.value,
        bootstrap=bootstrap,
        topic=topic,
        producer={
            "acks": "all" if p.acks is Acks.ALL else int(p.acks.value),
            "enable_idempotence": p.enable_idempotence,
            "linger_ms": p.linger_ms,
            "batch_size": p.batch_size,
            "request_timeout_ms": p.request_timeout_ms,
            "delivery_timeout_ms": p.delivery_timeout_ms,
        },
        tail_s=min(scenario.drain.timeout, TAIL_MAX_S),
    )


async def run_sharded_storm(
    plan: ShardPlan,
    writer: HistoryWriter,
    on_start: Callable[[float], None] = lambda t: None,
    on_rows: Callable[[Sequence[pa.RecordBatch]], None] | None = None,
) -> ShardResult:
    """Run the plan's shards to the end and merge their rows into ``writer``.

    Every shard connects, then says it is ready; only then is the storm's start fixed
    (``STORM_LEAD_S`` ahead), handed to each shard and to ``on_start`` (the fault timeline).
    ``on_rows`` (live metrics) is handed the shards' rows as their streams grow, every
    ``TAIL_EVERY_S``; the merge then hands the writer's listener only the rows it missed."""
    directory = Path(plan.directory)
    directory.mkdir(parents=True, exist_ok=True)
    plan_file = plan.save(directory / "shard-plan.json")
    children: list[asyncio.subprocess.Process] = []
    failure: BaseException | None = None
    logs = []
    tails = [PartialTail(partial_path(shard_path(directory, i, ".parquet")))
             for i in range(plan.processes)]  # fmt: skip
    following = asyncio.ensure_future(_follow(tails, on_rows)) if on_rows is not None else None
    try:
        for index in range(plan.processes):
            logs.append(open(shard_path(directory, index, ".log"), "wb"))
            children.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "harness.run.storm_shard",
                    str(plan_file),
                    str(index),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=logs[-1],
                )
            )
        await _ready(children, directory)
        start = clock.now() + STORM_LEAD_S
        for child in children:
            assert child.stdin is not None
            child.stdin.write(f"{start!r}\n".encode())
            await child.stdin.drain()
        on_start(start)
        await _wait_all(children, directory)
    except BaseException as error:
        failure = error
        await _stop(children)
    finally:
        for log in logs:
            log.close()
        if following is not None:
            following.cancel()
            with contextlib.suppress(BaseException):
                await following
        told = [tail.rows for tail in tails] if on_rows is not None else None
        merged = merge_shards(directory, plan.processes, writer, told)
    if failure is not None:
        raise failure
    result = _result(directory, plan.processes)
    result.acked, result.sent = merged
    return result


async def _follow(
    tails: list[PartialTail], on_rows: Callable[[Sequence[pa.RecordBatch]], None]
) -> None:
    """Hand ``on_rows`` what each shard's stream gained, every ``TAIL_EVERY_S``, off the loop."""

    def poll() -> None:
        for tail in tails:
            batches = tail.new_batches()
            if batches:
                on_rows(batches)

    while True:
        await asyncio.sleep(TAIL_EVERY_S)
        await asyncio.to_thread(poll)


async def _ready(children: list[asyncio.subprocess.Process], directory: Path) -> None:
    """Wait until every shard said ``ready`` (or raise naming the one that did not)."""
    deadline = clock.now() + READY_TIMEOUT_S
    for index, child in enumerate(children):
        assert child.stdout is not None
        try:
            line = await asyncio.wait_for(child.stdout.readline(), max(0.1, deadline - clock.now()))
        except TimeoutError:
            raise HarnessError(
                f"storm shard {index} was not ready within {READY_TIMEOUT_S:g}s (is the "
                f"machine overloaded?); see {shard_path(directory, index, '.log')}"
            ) from None
        if line.strip() != b"ready":
            code = await child.wait()
            raise HarnessError(_death(directory, index, code))


async def _wait_all(children: list[asyncio.subprocess.Process], directory: Path) -> None:
    """Wait for every child; the first that fails stops the others and raises."""
    waits = {asyncio.ensure_future(child.wait()): i for i, child in enumerate(children)}
    pending = set(waits)
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            code = task.result()
            if code != 0:
                for other in pending:
                    other.cancel()
                raise HarnessError(_death(directory, waits[task], code))


def _death(directory: Path, index: int, code: int) -> str:
    error = shard_path(directory, index, ".error")
    if error.exists():
        why = error.read_text(encoding="utf-8").strip()
    else:
        log = shard_path(directory, index, ".log")
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]
        why = f"exit code {code}" + (f": {tail[0]}" if tail else "")
        if code < 0:
            why = f"killed by signal {signal.Signals(-code).name}"
    return (
        f"storm shard {index} stopped before the storm's end ({why}); the other shards were "
        f"stopped, faults healed, and every send recorded so far is kept in the history "
        f"(shard log: {shard_path(directory, index, '.log')})"
    )


async def _stop(children: list[asyncio.subprocess.Process]) -> None:
    """SIGTERM every running child, SIGKILL what is left after ``STOP_GRACE_S``."""
    running = [c for c in children if c.returncode is None]
    for child in running:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGTERM)
    deadline = clock.now() + STOP_GRACE_S
    for child in running:
        try:
            await asyncio.wait_for(asyncio.shield(child.wait()), max(0.1, deadline - clock.now()))
        except (TimeoutError, asyncio.CancelledError):
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            with contextlib.suppress(Exception):
                await asyncio.shield(child.wait())


def merge_shards(
    directory: Path, processes: int, writer: HistoryWriter, told: Sequence[int] | None = None
) -> tuple[int, int]:
    """Append every shard's rows (finished, else its partial stream) to ``writer``, with
    ``worker`` = ``shard-<i>``; return (acked, sent) over all shards. ``told[i]``: how many
    of shard i's first rows live metrics already counted."""
    acked = sent = 0
    for index in range(processes):
        table = _shard_table(shard_path(directory, index, ".parquet"))
        if table is None or table.num_rows == 0:
            continue
        worker = pa.array([f"shard-{index}"] * table.num_rows, pa.string())
        table = table.set_column(table.column_names.index("worker"), "worker", worker)
        already = told[index] if told is not None else 0
        writer.append_table(table, source=f"storm shard {index}", told=already)
        sends = pc.equal(table.column("op"), "send")
        sent += int(pc.sum(sends).as_py() or 0)
        ok = pc.and_(sends, pc.equal(table.column("status"), "ok"))
        acked += int(pc.sum(ok).as_py() or 0)
    return acked, sent


def _shard_table(path: Path) -> pa.Table | None:
    if path.exists():
        return read_history(path)
    partial = partial_path(path)
    if partial.exists():
        with contextlib.suppress(Exception):
            return read_partial(partial, validate=False)
    return None


def _result(directory: Path, processes: int) -> ShardResult:
    result = ShardResult()
    slips = []
    for index in range(processes):
        data = json.loads(shard_path(directory, index, ".json").read_text(encoding="utf-8"))
        result.slips.append(SlipStats(**data["slip"]))
        slips.append(np.load(shard_path(directory, index, ".slip.npy")))
    result.merged = SlipStats.of(np.concatenate(slips) if slips else np.array([]))
    return result


__all__ = [
    "ShardResult",
    "default_processes",
    "merge_shards",
    "plan_for",
    "run_sharded_storm",
    "storm_processes",
]
