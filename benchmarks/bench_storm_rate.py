"""The highest storm rate the harness sustains against one local broker with slip p99 < 5 ms.

Runs `harness run`'s engine (pacer, aiokafka producer driver, built-in consumer, history
writer) at stepped constant rates against a one-partition, RF=1 topic, so one broker takes the
whole storm through its Toxiproxy proxy. Schedule slip is read from the history (the time
aiokafka accepted each event minus its intended time). The baseline, measured in the same run
at the same rates, is the pacer alone releasing the same schedule to a no-op sender: the slip
the machine's timers and load cause by themselves.

Needs the stack up (`harness stack up`). Run: `.venv/bin/python benchmarks/bench_storm_rate.py
[--rates 2000,5000,10000,15000,20000] [--seconds 10]`.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from harness import clock
from harness.load.pacer import Pacer
from harness.load.storm import build_storm
from harness.run import run_scenario
from harness.scenario import Scenario, build_scenario
from harness.stack import Stack

SLIP_LIMIT_MS = 5.0


def scenario(rate: float, seconds: float) -> Scenario:
    return build_scenario(
        {
            "name": f"max-rate-{int(rate)}",
            "target": {
                "kafka": {
                    "topic": "bench-rate",
                    "partitions": 1,
                    "replication_factor": 1,
                    "min_insync_replicas": 1,
                }
            },
            "producer": {"acks": "1", "linger_ms": 5},
            "storm": {
                "duration": seconds,
                "rate": {"shape": "constant", "per_second": rate},
                "payload": {"fixed": 256},
            },
            "drain": {"timeout": 30},
        }
    )


def harness_slip(rate: float, seconds: float, stack: Stack, work: Path) -> tuple[float, float]:
    """(slip p99 ms, achieved/intended acked rate) of a real run at ``rate``."""
    out = work / f"rate-{int(rate)}"
    asyncio.run(run_scenario(scenario(rate, seconds), out, seed=1, stack=stack))
    history = pq.read_table(out / "history.parquet", columns=["op", "t", "t_intended", "status"])
    frame = history.to_pandas()
    sends = frame[frame.op == "send"]
    slip_ms = (sends.t - sends.t_intended).to_numpy() * 1000.0
    acked = int((sends.status == "ok").sum())
    return float(np.percentile(slip_ms, 99)), acked / (rate * seconds)


def pacer_slip(rate: float, seconds: float) -> float:
    """Slip p99 ms of the pacer alone on the same schedule, releasing to a no-op."""
    storm = build_storm(scenario(rate, seconds).storm, seed=1)

    async def release() -> float:
        pacer = Pacer(storm.t_offset, clock.now() + 0.2)
        async for _ in pacer.batches():
            pass
        return pacer.stats().p99_ms

    return asyncio.run(release())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="2000,5000,10000,15000,20000")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    stack = Stack.load()
    best = None
    print(
        f"{'rate/s':>8} {'acked/offered':>14} {'slip p99 ms':>12} {'pacer-only p99':>15} {'ratio':>7}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for rate in rates:
            baseline = pacer_slip(rate, args.seconds)
            slip, achieved = harness_slip(rate, args.seconds, stack, Path(tmp))
            ratio = slip / baseline if baseline > 0 else float("inf")
            print(f"{rate:8.0f} {achieved:14.3f} {slip:12.2f} {baseline:15.2f} {ratio:7.1f}")
            if slip < SLIP_LIMIT_MS and achieved > 0.99:
                best = rate
    print(f"highest rate with slip p99 < {SLIP_LIMIT_MS:g} ms and every event acked: {best}")


if __name__ == "__main__":
    main()
