"""How fast the ``output`` observer reads a Kafka output topic into a history, against a bare loop.

    .venv/bin/python benchmarks/bench_observe_output.py [--events 100000] [--partitions 3]

Needs the stack (`harness stack up`). Pre-fills a topic (RF=1, through the Toxiproxy listeners)
with N output records of ~200 B carrying a ``ce_id`` header, as an output-writing service would,
then times, alternately and twice each (the best of each is kept):

- bare: an aiokafka consumer assigned to every partition from offset 0 (no group,
  read_committed, as the observer) counting records until it has N;
- observer: the ``output`` source (``harness.observe.kinds.output.Output``: the same reader
  plus the id lookup, one ``effect`` row per record appended to a real ``HistoryWriter``) until
  it has recorded N, then its ``drain``.

Prints records/s of each and the observer/bare ratio; the history's close (Parquet write) is
timed apart, as it happens once per run after the storm.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from harness import clock
from harness.drivers import create_topic, delete_topic
from harness.history import HistoryWriter
from harness.observe import ObserveContext
from harness.observe.kafka_stream import KafkaTopicReader
from harness.observe.kinds.output import Output
from harness.scenario.observe import OutputSource
from harness.stack import Stack


async def prefill(bootstrap: str, topic: str, n: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5)
    await producer.start()
    pad = "x" * 150
    try:
        futures = []
        for i in range(n):
            body = f'{{"order_id":"o-{i}","status":"accepted","p":"{pad}"}}'.encode()
            headers = [("ce_id", f"e1-{i}".encode()), ("ce_type", b"order.accepted")]
            futures.append(
                await producer.send(topic, body, key=f"k{i % 64}".encode(), headers=headers)
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def bare(bootstrap: str, topic: str, partitions: int, n: int) -> float:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        await consumer.seek_to_beginning()
        start = time.perf_counter()
        seen = 0
        while seen < n:
            batches = await consumer.getmany(timeout_ms=200)
            seen += sum(len(records) for records in batches.values())
        return n / (time.perf_counter() - start)
    finally:
        await consumer.stop()


class PrefilledOutput(Output):
    """The output source on a topic that already exists (filled before the clock starts)."""

    async def start(self) -> None:
        bootstrap = self.ctx.stack.kafka_bootstrap_servers
        self._reader = KafkaTopicReader(bootstrap, self.channel, self.rows.take, what="bench")
        await self._reader.start()


async def observer(stack: Stack, name: str, run_id: str, n: int, out: Path) -> tuple[float, float]:
    writer = HistoryWriter(out)
    ctx = ObserveContext(
        stack=stack,
        run_id=run_id,
        recorder=writer,
        work_dir=out.parent,
        state_dir=out.parent,
        target_kind="kafka",
        destination="unused",
        dead_letters="unused.dlq",
        healer=None,
        toxiproxy=None,
    )
    source = PrefilledOutput("output", OutputSource(kafka={"topic": name}, env="OUT"), ctx)
    start = time.perf_counter()
    await source.start()
    try:
        while source.stats()["observed"] < n:
            await asyncio.sleep(0.01)
        assert await source.drain(30), "the observer did not catch up"
        rate = n / (time.perf_counter() - start)
    finally:
        await source._reader.stop()  # the topic is the benchmark's: not deleted by the source
    closing = time.perf_counter()
    writer.close()
    assert source.stats()["observed"] == n and source.stats()["unreadable"] == 0, source.stats()
    return rate, time.perf_counter() - closing


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=3)
    args = parser.parse_args()
    n, partitions = args.events, args.partitions
    stack = Stack.load()
    bootstrap = stack.kafka_bootstrap_servers
    name, run_id = "bench-out", uuid.uuid4().hex[:8]
    topic = f"{name}-{run_id}"
    tmp = Path(tempfile.mkdtemp(prefix="bench-observe-"))
    await create_topic(bootstrap, topic, partitions=partitions, replication_factor=1)
    try:
        t = clock.now()
        await prefill(bootstrap, topic, n)
        print(f"pre-filled {n:,} records into {partitions} partition(s) in {clock.now() - t:.1f}s")
        bares, observed, closes = [], [], []
        for i in range(2):
            bares.append(await bare(bootstrap, topic, partitions, n))
            rate, close = await observer(stack, name, run_id, n, tmp / f"h{i}.parquet")
            observed.append(rate)
            closes.append(close)
    finally:
        await delete_topic(bootstrap, topic)
    b, o = max(bares), max(observed)
    print(f"bare aiokafka loop  {b:>9,.0f} rec/s   (runs: {', '.join(f'{x:,.0f}' for x in bares)})")
    print(
        f"output observer     {o:>9,.0f} rec/s   (runs: {', '.join(f'{x:,.0f}' for x in observed)})"
    )
    print(f"ratio observer/bare {o / b:.2f}; history close {min(closes):.2f}s for {n:,} rows")


if __name__ == "__main__":
    asyncio.run(main())
