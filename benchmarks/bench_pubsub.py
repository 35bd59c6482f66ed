"""The highest Pub/Sub storm rate the harness sustains with slip p99 < 5 ms, against a bare
google-cloud-pubsub publish loop measured in the same run; and ``stack up --with pubsub`` times.

The baseline is a bare ``PublisherClient`` publishing the same 256-byte payload as fast as it
can (the same batch settings as the driver: 5 ms, 100 messages) and waiting for every future:
its messages per second is the most the client and the emulator give on this machine right now.
The harness then runs its full engine (pacer, Pub/Sub producer driver, built-in pull consumer,
history writer) at stepped constant rates; slip is read from the history (the moment the driver
handed each event to the client minus its intended time). The result is the highest rate with
slip p99 < 5 ms and every event acknowledged, and its ratio to the bare loop's rate.

``--stack-times`` also times ``harness stack up --kafka-brokers 0 --no-rabbitmq --with pubsub``
in a scratch ``$HARNESS_HOME`` on ports shifted by 500: "cold" on an empty run directory, "warm"
right after a ``down`` (the emulator keeps nothing on disk, so both start the JVM afresh).

Needs the emulator up (`harness stack up --with pubsub`). Run:
`.venv/bin/python benchmarks/bench_pubsub.py [--rates 250,500,1000,2000] [--seconds 8]
[--stack-times]`.
"""

from __future__ import annotations

import argparse
import asyncio
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

from harness.drivers.pubsub_target import (
    PubsubTarget,
    delete_topology,
    ensure_topology,
    publisher_client,
)
from harness.run import run_scenario
from harness.scenario import Scenario, build_scenario
from harness.stack import Stack, layout

SLIP_LIMIT_MS = 5.0
PAYLOAD = 256


def scenario(rate: float, seconds: float) -> Scenario:
    return build_scenario(
        {
            "name": f"pubsub-rate-{int(rate)}",
            "target": {"pubsub": {"topic": "bench-rate"}},
            "storm": {
                "duration": seconds,
                "rate": {"shape": "constant", "per_second": rate},
                "payload": {"fixed": PAYLOAD},
            },
            "drain": {"timeout": 60},
        }
    )


def harness_slip(rate: float, seconds: float, stack: Stack, work: Path) -> tuple[float, float]:
    """(slip p99 ms, acked/offered) of a real run at ``rate``."""
    out = work / f"rate-{int(rate)}"
    asyncio.run(run_scenario(scenario(rate, seconds), out, seed=1, stack=stack))
    frame = pq.read_table(
        out / "history.parquet", columns=["op", "t", "t_intended", "status"]
    ).to_pandas()
    sends = frame[frame.op == "send"]
    slip_ms = (sends.t - sends.t_intended).to_numpy() * 1000.0
    return float(np.percentile(slip_ms, 99)), int((sends.status == "ok").sum()) / (rate * seconds)


def bare_rate(stack: Stack, count: int) -> float:
    """Messages per second of a bare google-cloud-pubsub publish loop (every future done)."""
    from google.cloud import pubsub_v1

    name = f"bare-{uuid.uuid4().hex[:8]}"
    target = PubsubTarget(topic=name, subscription=f"{name}-sub",
                          emulator=stack.pubsub_emulator_host)  # fmt: skip
    asyncio.run(ensure_topology(target))
    batch = pubsub_v1.types.BatchSettings(max_latency=0.005, max_messages=100)
    client = publisher_client(target, batch_settings=batch)
    payload = b"x" * PAYLOAD
    try:
        started = time.perf_counter()
        futures = [client.publish(target.topic_path, payload) for _ in range(count)]
        for future in futures:
            future.result(timeout=120)
        return count / (time.perf_counter() - started)
    finally:
        client.stop()
        asyncio.run(delete_topology(target))


def stack_times() -> None:
    harness = [sys.executable, "-m", "harness", "stack"]
    home = Path(tempfile.mkdtemp(prefix="bench-pubsub-home-"))
    shared = layout.harness_home()
    (home / "bin").symlink_to(shared / "bin")
    env = {**os.environ, "HARNESS_HOME": str(home),
           "HARNESS_PORT_OFFSET": str(layout.port_offset() + 500)}  # fmt: skip
    try:
        for label in ("cold", "warm"):
            if label == "cold":
                shutil.rmtree(home / "run", ignore_errors=True)
            up = [*harness, "up", "--kafka-brokers", "0", "--no-rabbitmq", "--with", "pubsub"]
            started = time.perf_counter()
            subprocess.run(up, env=env, check=True, capture_output=True)
            seconds = time.perf_counter() - started
            subprocess.run([*harness, "down"], env=env, check=True, capture_output=True)
            print(f"stack up --with pubsub ({label}): {seconds:.2f} s")
    finally:
        subprocess.run([*harness, "down"], env=env, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="250,500,1000,2000")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--bare-count", type=int, default=10000)
    parser.add_argument("--stack-times", action="store_true")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    stack = Stack.load()
    bare = bare_rate(stack, args.bare_count)
    print(f"bare google-cloud-pubsub publish loop: {bare:,.0f} msg/s")
    print(f"{'rate/s':>8} {'acked/offered':>14} {'slip p99 ms':>12}")
    best = None
    with tempfile.TemporaryDirectory() as tmp:
        for rate in rates:
            slip, achieved = harness_slip(rate, args.seconds, stack, Path(tmp))
            print(f"{rate:8.0f} {achieved:14.3f} {slip:12.2f}")
            if slip < SLIP_LIMIT_MS and achieved > 0.99:
                best = rate
    ratio = f"{best / bare:.3f}" if best else "n/a"
    print(f"highest rate with slip p99 < {SLIP_LIMIT_MS:g} ms and every event acked: "
          f"{best} msg/s = {ratio} of the bare loop")  # fmt: skip
    if args.stack_times:
        stack_times()


if __name__ == "__main__":
    main()
