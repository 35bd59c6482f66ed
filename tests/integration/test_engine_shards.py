"""The harness engine's storm sharded across processes, against the real Kafka stack.

A two-shard storm through the run's normal path (topic, consumer, checks) gives one merged
history that checks clean with exact counts, with the slip of every shard; a shard killed
mid-storm ends the run with one error naming it, and every send it recorded is kept.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pyarrow.compute as pc
import pytest
from integration_support import wait_until

from harness import clock
from harness.errors import HarnessError
from harness.history import read_history
from harness.history.reader import partial_path
from harness.run import RunStatus, run_scenario
from harness.run.commands import run_one
from harness.scenario import build_scenario

pytestmark = pytest.mark.integration


def _scenario(seconds: float, rate: float, client: str = "confluent"):
    return build_scenario(
        {
            "name": f"shards-{client}",
            "target": {
                "kafka": {
                    "topic": "shards",
                    "partitions": 2,
                    "replication_factor": 1,
                    "min_insync_replicas": 1,
                }
            },
            "producer": {"client": client, "acks": "all"},
            "storm": {
                "duration": seconds,
                "rate": {"shape": "constant", "per_second": rate},
                "keys": {"count": 16},
                "payload": {"fixed": 256},
            },
            "drain": {"timeout": 30},
        }
    )


@pytest.mark.parametrize("client", ["confluent", "aiokafka"])
def test_two_shards_merge_into_one_clean_history(stack, tmp_path: Path, client: str) -> None:
    scenario = _scenario(2.0, 500.0, client)
    outcome = run_one(scenario, tmp_path, 11, stack, progress=False, report=False, processes=2)
    assert outcome.exit_code == 0, outcome.error
    assert outcome.verdict is not None
    assert outcome.verdict.check.anomalies.get("lost", 0) == 0
    history = read_history(tmp_path / "history.parquet")
    sends = history.filter(pc.equal(history.column("op"), "send"))
    assert sends.num_rows == 1000
    assert set(sends.column("worker").to_pylist()) == {"shard-0", "shard-1"}
    assert pc.all(pc.equal(sends.column("status"), "ok")).as_py()
    # each key was sent by one shard only
    keys, workers = sends.column("key").to_pylist(), sends.column("worker").to_pylist()
    pairs = set(zip(keys, workers, strict=True))
    assert len({key for key, _ in pairs}) == len(pairs)
    assert len(outcome.shards) == 3 and outcome.shards[0].startswith("storm shard 0: slip")


def _shard_pids(out_dir: Path) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"harness.run.storm_shard" in cmdline and str(out_dir).encode() in b" ".join(cmdline):
            pids.append(int(entry.name))
    return pids


async def test_a_killed_shard_is_one_error_and_the_history_is_kept(stack, tmp_path: Path) -> None:
    status = RunStatus()
    run = asyncio.ensure_future(
        run_scenario(_scenario(20.0, 300.0), tmp_path, 12, stack=stack, status=status, processes=2)
    )
    await wait_until(
        lambda: status.started_at > 0 and clock.now() > status.started_at + 2.0,
        timeout_s=90,
        what="the sharded storm to start",
    )
    partial = partial_path(tmp_path / "shards" / "shard-0.parquet")
    await wait_until(
        lambda: partial.exists() and partial.stat().st_size > 2000,
        timeout_s=30,
        what="shard 0 to write its first rows",
    )
    pids = _shard_pids(tmp_path / "shards")
    assert len(pids) == 2
    os.kill(pids[0], signal.SIGKILL)
    with pytest.raises(HarnessError, match=r"storm shard \d stopped before the storm's end"):
        await asyncio.wait_for(run, 60)
    history = read_history(tmp_path / "history.parquet")
    workers = pc.unique(pc.drop_null(history.column("worker"))).to_pylist()
    assert {"shard-0", "shard-1"} <= set(workers)  # the killed shard's rows are kept too
    assert _shard_pids(tmp_path / "shards") == []
