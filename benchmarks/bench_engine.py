"""The harness engine's produce rate and on-time rate, against Kafka's and the bare client's.

    .venv/bin/python benchmarks/bench_engine.py [--events 200000] [--size 512]
        [--partitions 1 --replication 1] [--rates 2000,5000,10000,20000] [--seconds 5]

Needs the stack up (`harness stack up`). Every figure below is measured in the same run, on
the same cluster through Toxiproxy, with the same producer settings (acks=all, linger.ms=5,
64 KiB batches), so only the ratios mean anything on a shared machine.

1. **Produce path.** Acknowledged events over the span from the first send to the last ack:
   - the engine, full recording: a real ``run_scenario`` (topic, consumer, shards, merged
     history) offered far more than it can send, for ``--processes`` 1 and 2, with the
     ``confluent`` and ``aiokafka`` clients;
   - Kafka's ``ProducerPerformance`` (kafka-tools, ``java -cp``), tuned the same;
   - the bare confluent-kafka loop the engine drives: produce + poll, nothing recorded.
2. **On time.** At each constant rate for ``--seconds``: the engine's merged schedule slip p99
   (release minus intended time), for 1 and 2 processes, and the bare confluent loop's slip
   on the same schedule (sleep in ``poll`` until due, then produce). The highest rate with
   slip p99 < 5 ms and every event acknowledged is printed for each.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from confluent_kafka import Producer

from harness import clock
from harness.drivers import create_topic, delete_topic
from harness.history import HistoryWriter
from harness.run import run_scenario, storm_shard
from harness.run.shards import plan_for
from harness.scenario import Scenario, build_scenario
from harness.stack import Stack
from harness.stack.provision import kafka_libs_dir

SLIP_LIMIT_MS = 5.0
BATCH = 65_536
LINGER_MS = 5


def scenario(rate: float, seconds: float, client: str, args: argparse.Namespace) -> Scenario:
    return build_scenario(
        {
            "name": f"engine-{client}-{int(rate)}",
            "target": {
                "kafka": {
                    "topic": "bench-engine",
                    "partitions": args.partitions,
                    "replication_factor": args.replication,
                    "min_insync_replicas": 1,
                }
            },
            "producer": {
                "client": client,
                "acks": "all",
                "linger_ms": LINGER_MS,
                "batch_size": BATCH,
            },
            "storm": {
                "duration": seconds,
                "rate": {"shape": "constant", "per_second": rate},
                "payload": {"fixed": args.size},
                "keys": {"count": 64},
            },
            "drain": {"timeout": 60},
        }
    )


def history_rates(history: Path) -> tuple[float, float, int]:
    """(acked rate over first send..last ack, slip p99 ms from the history, acked count)."""
    frame = pq.read_table(history, columns=["op", "t", "t_intended", "t_ack", "status"])
    sends = frame.to_pandas().query("op == 'send'")
    ok = sends[sends.status == "ok"]
    span = float(ok.t_ack.max() - sends.t.min()) if len(ok) else float("inf")
    slip = (sends.t - sends.t_intended).to_numpy() * 1000.0
    return len(ok) / span, float(np.percentile(slip, 99)), len(ok)


def shard_alone(
    bootstrap: str, events: int, args: argparse.Namespace, work: Path, client: str = "confluent"
) -> tuple[float, int]:
    """(acked rate, acked) of one storm shard's send loop and recording in this process, with
    no consumer beside it: the engine's producer side alone."""
    topic = asyncio.run(fresh_topic(bootstrap, args))
    flat = scenario(events / 2.0, 2.0, client, args)
    plan = plan_for(flat, work, 1, 1, bootstrap, topic)
    storm_shard.wait_for_start = lambda: clock.now() + 0.1  # no parent to hand the start
    path = work / f"alone-{uuid.uuid4().hex[:4]}.parquet"
    try:
        with HistoryWriter(path) as writer:
            run = storm_shard.run_confluent if client == "confluent" else storm_shard.run_aiokafka
            run(plan, 0, storm_shard.shard_storm(plan, 0), writer)
    finally:
        asyncio.run(delete_topic(bootstrap, topic))
    rate, _, ok = history_rates(path)
    return rate, ok


def engine(
    rate: float, seconds: float, client: str, processes: int, args: argparse.Namespace, work: Path
) -> tuple[float, float, int]:
    """(acked rate, merged slip p99 ms, acked) of a real run."""
    out = work / f"{client}-{processes}-{int(rate)}-{uuid.uuid4().hex[:4]}"
    record = asyncio.run(
        run_scenario(scenario(rate, seconds, client, args), out, seed=1, processes=processes)
    )
    acked_rate, _, acked = history_rates(record.history)
    return acked_rate, record.slip_p99_ms, acked


async def fresh_topic(bootstrap: str, args: argparse.Namespace) -> str:
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    await create_topic(
        bootstrap,
        topic,
        partitions=args.partitions,
        replication_factor=args.replication,
        min_insync_replicas=1,
    )
    return topic


def bare_confluent(
    bootstrap: str,
    events: int,
    size: int,
    args: argparse.Namespace,
    rate: float | None = None,
    headers: bool = True,
) -> tuple[float, float, int]:
    """(acked rate, slip p99 ms, acked) of the bare loop; flat out when ``rate`` is None.

    With ``headers``, each record carries the engine's 11 CloudEvents headers (fixed bytes of
    the same sizes, built once): the same records the engine hands the client."""
    topic = asyncio.run(fresh_topic(bootstrap, args))
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "linger.ms": LINGER_MS,
            "batch.size": BATCH,
            "queue.buffering.max.messages": 2_000_000,
            "queue.buffering.max.kbytes": 2_097_151,
        }
    )
    payload = b"x" * size
    fixed = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"e1-1234567"),
        ("ce_source", b"/harness/storm"),
        ("ce_type", b"dev.harness.storm.order"),
        ("ce_time", b"2026-12-02T18:00:00.123456Z"),
        ("ce_partitionkey", b"k-00012"),
        ("ce_seq", b"1234"),
        ("ce_intended", b"12345.678901234"),
        ("ce_sent", b"12345.679001234"),
        ("ce_poison", b"false"),
        ("content-type", b"application/json"),
    ]
    record_headers = fixed if headers else None
    keys = [f"k{i}".encode() for i in range(64)]
    acked = [0]
    last = [0.0]

    def report(error: object, _message: object) -> None:
        if error is None:
            acked[0] += 1
            last[0] = clock.now()

    producer.poll(0)
    try:
        intended = (
            (np.zeros(events) if rate is None else np.arange(events) / rate) + clock.now() + 0.2
        )
        at = intended.tolist()
        slip = np.empty(events)
        first = clock.now() if rate is None else at[0]
        row = 0
        while row < events:
            t = clock.now()
            wait = at[row] - t
            if wait > 0:
                producer.poll(min(wait, 0.05))
                continue
            due = int(np.searchsorted(intended, t, side="right"))
            slip[row:due] = t - intended[row:due]
            for n in range(row, due):
                producer.produce(
                    topic, payload, keys[n % 64], headers=record_headers, on_delivery=report
                )
                if n % 1000 == 0:
                    producer.poll(0)
            row = due
            producer.poll(0)
        producer.flush(60)
    finally:
        asyncio.run(delete_topic(bootstrap, topic))
    return acked[0] / (last[0] - first), float(np.percentile(slip, 99) * 1000), acked[0]


def producer_performance(bootstrap: str, events: int, size: int, args: argparse.Namespace) -> float:
    topic = asyncio.run(fresh_topic(bootstrap, args))
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
        f"linger.ms={LINGER_MS}",
        f"batch.size={BATCH}",
    ]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    finally:
        asyncio.run(delete_topic(bootstrap, topic))
    found = re.findall(r"(\d+) records sent, ([\d.]+) records/sec", done.stdout)
    if done.returncode != 0 or not found:
        raise SystemExit(f"ProducerPerformance failed:\n{done.stdout}\n{done.stderr}")
    return float(found[-1][1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--replication", type=int, default=1)
    parser.add_argument("--rates", default="2000,5000,10000,20000")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-on-time", action="store_true")
    args = parser.parse_args()
    bootstrap = Stack.load().kafka_bootstrap_servers
    print(
        f"{args.size} B, acks=all, linger.ms={LINGER_MS}, batch {BATCH // 1024} KiB, "
        f"{args.partitions} partition(s) RF={args.replication}, via Toxiproxy"
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not args.skip_throughput:
            flat = args.events / 2.0  # offered: all due within 2 s, far above what is sent
            pp = producer_performance(bootstrap, args.events, args.size, args)
            bare, _, bare_ok = bare_confluent(bootstrap, args.events, args.size, args)
            print(f"ProducerPerformance:              {pp:10,.0f} ev/s")
            plain, _, _ = bare_confluent(bootstrap, args.events, args.size, args, headers=False)
            print(f"bare confluent-kafka loop:        {bare:10,.0f} ev/s ({bare_ok} acked)")
            print(f"  ... without the 11 headers:     {plain:10,.0f} ev/s")
            for client in ("confluent", "aiokafka"):
                alone, ok = shard_alone(bootstrap, args.events, args, work, client)
                print(
                    f"one shard {client:9}, recorded:  {alone:10,.0f} ev/s ({ok} acked) = "
                    f"{alone / pp:.2f}x ProducerPerformance, {alone / bare:.2f}x bare loop "
                    "(no consumer beside it)"
                )
            for client, processes in (("confluent", 1), ("confluent", 2), ("aiokafka", 1)):
                rate, _, ok = engine(flat, 2.0, client, processes, args, work)
                print(
                    f"engine {client:9} x{processes} recorded:  {rate:10,.0f} ev/s "
                    f"({ok} acked) = {rate / pp:.2f}x ProducerPerformance, "
                    f"{rate / bare:.2f}x bare loop"
                )
        if not args.skip_on_time:
            rates = [float(r) for r in args.rates.split(",")]
            best: dict[str, float | None] = {"x1": None, "x2": None, "bare": None}
            print(f"{'rate/s':>8} {'x1 p99 ms':>10} {'x2 p99 ms':>10} {'bare p99 ms':>12}")
            for rate in rates:
                events = int(rate * args.seconds)
                row = []
                for name, processes in (("x1", 1), ("x2", 2)):
                    _, slip, ok = engine(rate, args.seconds, "confluent", processes, args, work)
                    row.append(slip)
                    if slip < SLIP_LIMIT_MS and ok >= events:
                        best[name] = rate
                _, bare_slip, ok = bare_confluent(bootstrap, events, args.size, args, rate)
                if bare_slip < SLIP_LIMIT_MS and ok >= events:
                    best["bare"] = rate
                print(f"{rate:8.0f} {row[0]:10.2f} {row[1]:10.2f} {bare_slip:12.2f}")
            print(
                f"highest rate with slip p99 < {SLIP_LIMIT_MS:g} ms, all acked: engine x1 "
                f"{best['x1']}, engine x2 {best['x2']}, bare confluent loop {best['bare']}"
            )


if __name__ == "__main__":
    main()
