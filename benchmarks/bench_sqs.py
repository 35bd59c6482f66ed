"""The highest SQS storm rate the harness sustains with slip p99 < 5 ms, against a bare boto3
``SendMessage`` loop measured in the same run; and ``stack up --with sqs`` times.

The baseline is a bare boto3 loop on as many threads as the producer driver keeps in flight
(16), sending the same 256-byte body to an ElasticMQ queue through the ``sqs`` proxy as fast as
it can: its messages per second is the most boto3 and ElasticMQ give on this machine right
now. The harness then runs its full engine (pacer, SQS producer driver, built-in consumer,
history writer) at stepped constant rates; slip is read from the history (the moment the
driver took a send slot for each event minus its intended time). The result is the highest
rate with slip p99 < 5 ms and every event acknowledged, and its ratio to the bare loop's rate.
Beside them, the lateness of an idle asyncio loop in the same process (a 10 ms sleep, for 5 s):
the machine's scheduling noise floor, which no storm's slip can beat.

``--stack-times`` also times ``harness stack up --kafka-brokers 0 --no-rabbitmq --with sqs`` in
a scratch ``$HARNESS_HOME`` on ports shifted by 500: "cold" with an empty home (ElasticMQ's
classpath resolved by Maven, from the local Maven repository when it holds the jars), "warm"
right after a ``down`` with the classpath cached. Toxiproxy comes from the shared cache.

Needs SQS up (`harness stack up --with sqs`). Run:
`.venv/bin/python benchmarks/bench_sqs.py [--rates 50,100,200,400] [--seconds 8] [--stack-times]`.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from harness.drivers.sqs_target import QueueUrls, SqsTarget, client, delete_queues
from harness.run import run_scenario
from harness.scenario import Scenario, build_scenario
from harness.stack import Stack, layout

SLIP_LIMIT_MS = 5.0
PAYLOAD = 256
THREADS = 16


def scenario(rate: float, seconds: float) -> Scenario:
    return build_scenario(
        {
            "name": f"sqs-rate-{int(rate)}",
            "target": {"sqs": {"queue": "bench"}},
            "storm": {
                "duration": seconds,
                "rate": {"shape": "constant", "per_second": rate},
                "payload": {"fixed": PAYLOAD},
            },
            "drain": {"timeout": 30},
        }
    )


def harness_slip(rate: float, seconds: float, stack: Stack, work: Path) -> tuple[float, float]:
    """(slip p99 ms, acked/offered) of a real run at ``rate``."""
    out = work / f"sqs-{int(rate)}"
    asyncio.run(run_scenario(scenario(rate, seconds), out, seed=1, stack=stack))
    frame = pq.read_table(
        out / "history.parquet", columns=["op", "t", "t_intended", "status"]
    ).to_pandas()
    sends = frame[frame.op == "send"]
    slip_ms = (sends.t - sends.t_intended).to_numpy() * 1000.0
    return float(np.percentile(slip_ms, 99)), int((sends.status == "ok").sum()) / (rate * seconds)


def bare_rate(stack: Stack, count: int) -> float:
    """Messages per second of a bare boto3 send loop on ``THREADS`` threads."""
    target = SqsTarget(queue=f"bare-{uuid.uuid4().hex[:8]}", endpoint=stack.sqs_endpoint)
    sqs = client(target, THREADS)
    urls = QueueUrls(target, sqs)
    urls.ensure()
    body = "x" * PAYLOAD

    def one(_: int) -> None:
        sqs.send_message(QueueUrl=urls.main, MessageBody=body)

    try:
        with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(one, range(50)))  # connections and JIT warm
            started = time.perf_counter()
            list(pool.map(one, range(count)))
            return count / (time.perf_counter() - started)
    finally:
        delete_queues(target)


def loop_lateness_p99(seconds: float = 5.0, period: float = 0.01) -> float:
    """p99 ms by which an idle asyncio loop in this process wakes up late from a 10 ms sleep:
    the machine's own scheduling noise floor, below which no storm's slip can go."""

    async def measure() -> list[float]:
        late: list[float] = []
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            due = time.perf_counter() + period
            await asyncio.sleep(period)
            late.append((time.perf_counter() - due) * 1000.0)
        return late

    return float(np.percentile(asyncio.run(measure()), 99))


def stack_times() -> None:
    harness = [sys.executable, "-m", "harness", "stack"]
    home = Path(tempfile.mkdtemp(prefix="bench-sqs-home-"))
    shared = layout.harness_home()
    (home / "bin").symlink_to(shared / "bin")
    env = {**os.environ, "HARNESS_HOME": str(home),
           "HARNESS_PORT_OFFSET": str(layout.port_offset() + 500)}  # fmt: skip
    up = [*harness, "up", "--kafka-brokers", "0", "--no-rabbitmq", "--with", "sqs"]
    try:
        for label in ("cold", "warm"):
            started = time.perf_counter()
            subprocess.run(up, env=env, check=True, capture_output=True)
            seconds = time.perf_counter() - started
            subprocess.run([*harness, "down"], env=env, check=True, capture_output=True)
            print(f"stack up --with sqs ({label}): {seconds:.2f} s")
    finally:
        subprocess.run([*harness, "down"], env=env, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="50,100,200,400")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--bare-count", type=int, default=2000)
    parser.add_argument("--stack-times", action="store_true")
    args = parser.parse_args()
    stack = Stack.load()
    bare = bare_rate(stack, args.bare_count)
    print(f"bare boto3 send loop ({THREADS} threads): {bare:,.0f} msg/s")
    print(f"idle event loop wake-up lateness p99: {loop_lateness_p99():.2f} ms (noise floor)")
    print(f"{'rate/s':>8} {'acked/offered':>14} {'slip p99 ms':>12}")
    best = None
    with tempfile.TemporaryDirectory() as tmp:
        for rate in (float(r) for r in args.rates.split(",")):
            slip, achieved = harness_slip(rate, args.seconds, stack, Path(tmp))
            print(f"{rate:8.0f} {achieved:14.3f} {slip:12.2f}")
            if slip < SLIP_LIMIT_MS and achieved > 0.99:
                best = rate
    ratio = f"{best / bare:.3f}" if best else "n/a"
    print(f"highest rate with slip p99 < {SLIP_LIMIT_MS:g} ms and every event acked: {best} "
          f"msg/s = {ratio} of the bare loop")  # fmt: skip
    if args.stack_times:
        stack_times()


if __name__ == "__main__":
    main()
