"""Kafka send throughput with full recording: harness asyncio engine, one Locust process, and
Kafka's own ProducerPerformance, measured in one run against the same local cluster.

    flock /tmp/harness-stack.lock .venv/bin/python benchmarks/bench_locust.py [--events 50000]

Every engine sends ``--events`` records of ``--size`` bytes with ``acks=all`` and
``linger.ms=5`` to a fresh 6-partition, RF=3 topic through the stack's Toxiproxy listeners:

- (a) the harness's ``KafkaProducerDriver`` (aiokafka) fed by the ``Pacer`` with every event
  already due, recording every send into a ``HistoryWriter``;
- (b) one Locust process (``--headless``, one ``KafkaUser`` with an unreachable rate, so it
  sends flat out), recording every send into its shard and firing a Locust event per ack;
- (c) ``org.apache.kafka.tools.ProducerPerformance`` (kafka-tools, run with ``java -cp``).

Events/s is acknowledged sends / (last ack - first send). Prints each and (a)/(c), (b)/(c).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import numpy as np

from harness import clock
from harness.drivers import KafkaProducerConfig, KafkaProducerDriver, create_topic, delete_topic
from harness.history import HistoryWriter, read_history
from harness.load.pacer import Pacer
from harness.load.storm import build_storm
from harness.scenario.models import StormSpec
from harness.stack import Stack
from harness.stack.provision import kafka_libs_dir

LOCUSTFILE = """
import os
from harness.locust import KafkaUser

class FlatOut(KafkaUser):
    bootstrap = os.environ["BENCH_BOOTSTRAP"]
    topic = os.environ["BENCH_TOPIC"]
    rate = 1e9
    max_events = int(os.environ["BENCH_EVENTS"])
    payload_bytes = int(os.environ["BENCH_SIZE"])
    keys = 64
    acks = "all"
    linger_ms = 5
"""


def rate_of(history: Path) -> tuple[float, int]:
    table = read_history(history).to_pandas()
    sends = table[table.op == "send"]
    ok = sends[sends.status == "ok"]
    return len(ok) / float(ok.t_ack.max() - sends.t.min()), len(ok)


async def fresh_topic(bootstrap: str) -> str:
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    await create_topic(bootstrap, topic, partitions=6, replication_factor=3, min_insync_replicas=2)
    return topic


async def harness_engine(bootstrap: str, events: int, size: int, work: Path) -> float:
    topic = await fresh_topic(bootstrap)
    spec = StormSpec(duration=1.0, rate={"per_second": events}, payload={"fixed": size})
    storm = build_storm(spec, seed=1, run_prefix="a")
    history = work / "a.parquet"
    try:
        with HistoryWriter(history) as writer:
            driver = KafkaProducerDriver(
                KafkaProducerConfig(bootstrap, topic, acks="all", linger_ms=5), writer
            )
            await driver.start()
            pacer = Pacer(np.zeros(len(storm)), start=clock.now())
            async for batch in pacer.batches():
                t = clock.now()
                for row in range(batch.start, batch.stop):
                    driver.send(storm.event(row, float(pacer.intended[row]), t))
            await driver.close(120.0)
    finally:
        await delete_topic(bootstrap, topic)
    rate, ok = rate_of(history)
    assert ok == len(storm), f"(a) only {ok} of {len(storm)} sends were acknowledged"
    return rate


async def locust_process(bootstrap: str, events: int, size: int, work: Path) -> float:
    topic = await fresh_topic(bootstrap)
    locustfile = work / "locustfile.py"
    locustfile.write_text(LOCUSTFILE)
    shards = work / "b"
    env = {
        **os.environ,
        "BENCH_BOOTSTRAP": bootstrap,
        "BENCH_TOPIC": topic,
        "BENCH_EVENTS": str(events),
        "BENCH_SIZE": str(size),
        "HARNESS_LOCUST_HISTORY_DIR": str(shards),
    }
    argv = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless"]
    argv += ["-u", "1", "-r", "1", "-t", f"{max(20, events // 2000)}s", "--only-summary"]
    try:
        await asyncio.to_thread(subprocess.run, argv, env=env, capture_output=True, check=True)
    finally:
        await delete_topic(bootstrap, topic)
    [shard] = sorted(shards.glob("shard-*.parquet"))
    rate, ok = rate_of(shard)
    assert ok == events, f"(b) only {ok} of {events} sends were acknowledged"
    return rate


async def producer_performance(bootstrap: str, events: int, size: int) -> float:
    topic = await fresh_topic(bootstrap)
    argv = [
        "java",
        "-cp",
        f"{kafka_libs_dir()}/*",
        "org.apache.kafka.tools.ProducerPerformance",
        "--topic",
        topic,
        "--num-records",
        str(events),
        "--record-size",
        str(size),
        "--throughput",
        "-1",
        "--producer-props",
        f"bootstrap.servers={bootstrap}",
        "acks=all",
        "linger.ms=5",
    ]
    try:
        done = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True)
    finally:
        await delete_topic(bootstrap, topic)
    found = re.findall(r"(\d+) records sent, ([\d.]+) records/sec", done.stdout)
    if done.returncode != 0 or not found:
        raise SystemExit(f"ProducerPerformance failed:\n{done.stdout}\n{done.stderr}")
    return float(found[-1][1])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    bootstrap = Stack.load().kafka_bootstrap_servers
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        c = await producer_performance(bootstrap, args.events, args.size)
        a = await harness_engine(bootstrap, args.events, args.size, work)
        b = await locust_process(bootstrap, args.events, args.size, work)
    print(f"{args.events} events of {args.size} B, acks=all, linger.ms=5, via Toxiproxy")
    print(f"(a) harness asyncio engine (aiokafka), full recording: {a:10,.0f} events/s")
    print(f"(b) one Locust process (confluent-kafka), full recording: {b:10,.0f} events/s")
    print(f"(c) kafka ProducerPerformance:                          {c:10,.0f} events/s")
    print(f"(a)/(c) = {a / c:.3f}   (b)/(c) = {b / c:.3f}   (b)/(a) = {b / a:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
