"""The highest NATS storm rate the harness sustains with slip p99 < 5 ms, against a bare
nats-py publish loop measured in the same run; and ``stack up --with nats`` times.

For each mode (``core``: core NATS publish; ``jetstream``: JetStream R1 publish with PubAck on
nats-1), the baseline is a bare nats-py loop publishing the same 256-byte payload as fast as it
can (JetStream: up to 512 publishes in flight, as the driver keeps): its messages per second is
the most the client and server give on this machine right now. The harness then runs its full
engine (pacer, NATS producer driver, built-in consumer, history writer) at stepped constant
rates; slip is read from the history (the moment the driver handed each event to nats-py minus
its intended time). The result is the highest rate with slip p99 < 5 ms and every event
acknowledged, and its ratio to the bare loop's rate.

``--stack-times`` also times ``harness stack up --kafka-brokers 0 --no-rabbitmq --with nats``
(1 and 3 nodes) in a scratch ``$HARNESS_HOME`` on ports shifted by 500: "cold" on an empty run
directory, "warm" right after a ``down``. The Toxiproxy binary comes from the shared cache in
both (its Go build is the Kafka stack's cold cost, not NATS's).

Needs NATS up (`harness stack up --with nats`). Run:
`.venv/bin/python benchmarks/bench_nats.py [--rates 1000,2000,4000,8000] [--seconds 8]
[--modes core,jetstream] [--stack-times]`.
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
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from harness.drivers.nats_target import NatsTarget, connect, ensure_stream
from harness.run import run_scenario
from harness.scenario import Scenario, build_scenario
from harness.stack import Stack, layout

SLIP_LIMIT_MS = 5.0
PAYLOAD = 256


def scenario(mode: str, rate: float, seconds: float) -> Scenario:
    nats: dict = {"subject": f"bench.{mode}"}
    if mode == "jetstream":
        nats.update({"jetstream": True, "replicas": 1})
    return build_scenario(
        {
            "name": f"nats-rate-{mode}-{int(rate)}",
            "target": {"nats": nats},
            "storm": {
                "duration": seconds,
                "rate": {"shape": "constant", "per_second": rate},
                "payload": {"fixed": PAYLOAD},
            },
            "drain": {"timeout": 30},
        }
    )


def harness_slip(
    mode: str, rate: float, seconds: float, stack: Stack, work: Path
) -> tuple[float, float]:
    """(slip p99 ms, acked/offered) of a real run at ``rate``."""
    out = work / f"{mode}-{int(rate)}"
    asyncio.run(run_scenario(scenario(mode, rate, seconds), out, seed=1, stack=stack))
    frame = pq.read_table(
        out / "history.parquet", columns=["op", "t", "t_intended", "status"]
    ).to_pandas()
    sends = frame[frame.op == "send"]
    slip_ms = (sends.t - sends.t_intended).to_numpy() * 1000.0
    return float(np.percentile(slip_ms, 99)), int((sends.status == "ok").sum()) / (rate * seconds)


def bare_rate(mode: str, stack: Stack, count: int) -> float:
    """Messages per second of a bare nats-py publish loop (JetStream: acked)."""
    payload = b"x" * PAYLOAD
    stream = f"BAREBENCH{int(time.time())}"
    target = NatsTarget(subject=f"bare.{stream.lower()}", servers=(stack.nats_servers[0],),
                        stream=stream if mode == "jetstream" else None)  # fmt: skip

    async def go() -> float:
        nc = await connect(target, "bench-bare")
        try:
            if mode == "core":
                started = time.perf_counter()
                for _ in range(count):
                    await nc.publish(target.subject, payload)
                await nc.flush(timeout=30)
                return count / (time.perf_counter() - started)
            js = nc.jetstream(timeout=10)
            await ensure_stream(js, target)
            slots = asyncio.Semaphore(512)

            async def one() -> None:
                async with slots:
                    await js.publish(target.subject, payload)

            started = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(count)))
            elapsed = time.perf_counter() - started
            await js.delete_stream(stream)
            return count / elapsed
        finally:
            await nc.close()

    return asyncio.run(go())


def stack_times() -> None:
    harness = [sys.executable, "-m", "harness", "stack"]
    home = Path(tempfile.mkdtemp(prefix="bench-nats-home-"))
    shared = layout.harness_home()
    (home / "bin").symlink_to(shared / "bin")
    env = {**os.environ, "HARNESS_HOME": str(home),
           "HARNESS_PORT_OFFSET": str(layout.port_offset() + 500)}  # fmt: skip
    try:
        for nodes in (1, 3):
            for label in ("cold", "warm"):
                if label == "cold":
                    shutil.rmtree(home / "run", ignore_errors=True)
                up = [*harness, "up", "--kafka-brokers", "0", "--no-rabbitmq", "--with", "nats",
                      "--nats-nodes", str(nodes)]  # fmt: skip
                started = time.perf_counter()
                subprocess.run(up, env=env, check=True, capture_output=True)
                seconds = time.perf_counter() - started
                subprocess.run([*harness, "down"], env=env, check=True, capture_output=True)
                print(f"stack up --with nats --nats-nodes {nodes} ({label}): {seconds:.2f} s")
    finally:
        subprocess.run([*harness, "down"], env=env, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="1000,2000,4000,8000")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--modes", default="core,jetstream")
    parser.add_argument("--bare-count", type=int, default=20000)
    parser.add_argument("--stack-times", action="store_true")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    stack = Stack.load()
    for mode in args.modes.split(","):
        bare = bare_rate(mode, stack, args.bare_count)
        print(f"[{mode}] bare nats-py publish loop: {bare:,.0f} msg/s")
        print(f"{'rate/s':>8} {'acked/offered':>14} {'slip p99 ms':>12}")
        best = None
        with tempfile.TemporaryDirectory() as tmp:
            for rate in rates:
                slip, achieved = harness_slip(mode, rate, args.seconds, stack, Path(tmp))
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
