"""The highest SNS / EventBridge storm rate the harness sustains with slip p99 < 5 ms, against a
bare boto3 publish loop measured in the same run; and ``stack up --with sns`` times.

moto is an emulator, and a slow one: these figures say how fast the harness drives *moto on
this machine*, not what SNS or EventBridge would take.

For each mode (``sns``: ``Publish`` to a topic with one SQS subscriber; ``eventbridge``:
``PutEvents`` onto a bus with one rule to an SQS queue), the baseline is a bare boto3 loop on
the same number of threads as the driver (``--threads``, default 4) calling the same API with
the same 256-byte body as fast as it can: its calls per second are the most the client and
emulator give right now. The harness then runs its full engine (pacer, producer driver on its
boto3 threads, one subscriber source reading the queue, history writer) at stepped constant
rates; slip is read from the history (the moment a driver thread started each call minus its
intended time). The result is the highest rate with slip p99 < 5 ms and every event
acknowledged, and its ratio to the bare loop's rate.

``--stack-times`` also times ``harness stack up --kafka-brokers 0 --no-rabbitmq --with sns``
in a scratch ``$HARNESS_HOME`` on ports shifted by 500: "cold" on an empty run directory,
"warm" right after a ``down``.

Needs moto up (`harness stack up --with sns`). Run:
`.venv/bin/python benchmarks/bench_sns.py [--rates 25,50,100,200] [--seconds 4]
[--modes sns,eventbridge] [--stack-times]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from harness.drivers import FanoutTopology, SubscriberPlan, aws_client
from harness.run import run_scenario
from harness.scenario import Scenario, build_scenario
from harness.stack import Stack, layout

SLIP_LIMIT_MS = 5.0
PAYLOAD = 256


def scenario(mode: str, rate: float, seconds: float, threads: int) -> Scenario:
    where = {"topic": "bench"} if mode == "sns" else {"bus": "bench"}
    target = {**where, "subscribers": [{"name": "only"}], "threads": threads}
    return build_scenario(
        {
            "name": f"{mode}-rate-{int(rate)}",
            "target": {mode: target},
            "storm": {
                "duration": seconds,
                "rate": {"shape": "constant", "per_second": rate},
                "payload": {"fixed": PAYLOAD},
            },
            "drain": {"timeout": 60},
        }
    )


def harness_slip(
    mode: str, rate: float, seconds: float, threads: int, stack: Stack, work: Path
) -> tuple[float, float]:
    """(slip p99 ms, acked/offered) of a real run at ``rate``."""
    out = work / f"{mode}-{int(rate)}"
    run = scenario(mode, rate, seconds, threads)
    asyncio.run(run_scenario(run, out, seed=1, stack=stack))
    frame = pq.read_table(
        out / "history.parquet", columns=["op", "t", "t_intended", "status"]
    ).to_pandas()
    sends = frame[frame.op == "send"]
    slip_ms = (sends.t - sends.t_intended).to_numpy() * 1000.0
    return float(np.percentile(slip_ms, 99)), int((sends.status == "ok").sum()) / (rate * seconds)


def bare_rate(mode: str, stack: Stack, count: int, threads: int) -> float:
    """Calls per second of a bare boto3 loop on ``threads`` threads (one subscriber)."""
    name = f"bare-{mode}-{int(time.time())}"
    topology = FanoutTopology(mode, stack.moto_endpoint, name, (SubscriberPlan("q", f"{name}-q"),))
    topology.create()
    client = aws_client("sns" if mode == "sns" else "events", stack.moto_endpoint, pool=threads)
    body = json.dumps({"id": "x", "pad": "x" * PAYLOAD})

    def one(_: int) -> None:
        if mode == "sns":
            client.publish(TopicArn=topology.topic_arn, Message=body)
        else:
            client.put_events(Entries=[{"Source": topology.event_source, "DetailType": "bench",
                                        "Detail": body, "EventBusName": name}])  # fmt: skip

    try:
        with ThreadPoolExecutor(threads) as pool:
            started = time.perf_counter()
            list(pool.map(one, range(count)))
            return count / (time.perf_counter() - started)
    finally:
        topology.delete()


def stack_times() -> None:
    harness = [sys.executable, "-m", "harness", "stack"]
    home = Path(tempfile.mkdtemp(prefix="bench-sns-home-"))
    shared = layout.harness_home()
    (home / "bin").symlink_to(shared / "bin")
    env = {**os.environ, "HARNESS_HOME": str(home),
           "HARNESS_PORT_OFFSET": str(layout.port_offset() + 500)}  # fmt: skip
    try:
        for label in ("cold", "warm"):
            if label == "cold":
                shutil.rmtree(home / "run", ignore_errors=True)
            up = [*harness, "up", "--kafka-brokers", "0", "--no-rabbitmq", "--with", "sns"]
            started = time.perf_counter()
            subprocess.run(up, env=env, check=True, capture_output=True)
            seconds = time.perf_counter() - started
            subprocess.run([*harness, "down"], env=env, check=True, capture_output=True)
            print(f"stack up --kafka-brokers 0 --no-rabbitmq --with sns ({label}): {seconds:.2f} s")
    finally:
        subprocess.run([*harness, "down"], env=env, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="25,50,100,200")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--modes", default="sns,eventbridge")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--bare-count", type=int, default=400)
    parser.add_argument("--stack-times", action="store_true")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    stack = Stack.load()
    for mode in args.modes.split(","):
        bare = bare_rate(mode, stack, args.bare_count, args.threads)
        print(f"[{mode}] bare boto3 loop on {args.threads} threads: {bare:,.0f} calls/s")
        print(f"{'rate/s':>8} {'acked/offered':>14} {'slip p99 ms':>12}")
        best = None
        with tempfile.TemporaryDirectory() as tmp:
            for rate in rates:
                slip, achieved = harness_slip(mode, rate, args.seconds, args.threads, stack,
                                              Path(tmp))  # fmt: skip
                print(f"{rate:8.0f} {achieved:14.3f} {slip:12.2f}")
                if slip < SLIP_LIMIT_MS and achieved > 0.99:
                    best = rate
        ratio = f"{best / bare:.3f}" if best else "n/a"
        print(f"[{mode}] highest rate with slip p99 < {SLIP_LIMIT_MS:g} ms and every event "
              f"acked: {best} msg/s = {ratio} of the bare loop")  # fmt: skip
    if args.stack_times:
        stack_times()


if __name__ == "__main__":
    main()
