"""What live ``/metrics`` costs a run: the same storm with and without it, in the same run.

    .venv/bin/python benchmarks/bench_metrics.py [--rate 5000] [--seconds 10] [--rounds 2]
        [--processes 1]

Needs the stack up (`harness stack up`). Each round runs the same Kafka storm (one process by
default; with ``--processes`` above 1 the shards' streams are tailed; acks=all, RF 1) twice, in the order
without / with, then with / without in the next round, so a drift of the machine's load
cancels over the rounds. "With" serves ``/metrics`` and a separate process scrapes it every
second, as a Prometheus server would. Printed per run and as ratios with / without:

- the run's CPU seconds (this process: storm, consumer, history, metrics and HTTP threads);
- the acked rate (first send to last ack) and the schedule slip p99 of the history;
- the CPU and wall seconds the metrics feed itself spent in ``observe`` (the flush thread).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from harness.metrics import MetricsHub, RunMetrics
from harness.run import run_scenario
from harness.scenario import Scenario, build_scenario
from harness.stack import layout

SCRAPER = """
import sys, time, urllib.request
url, every = sys.argv[1], float(sys.argv[2])
due = time.monotonic()
while True:
    due += every
    try:
        urllib.request.urlopen(url, timeout=2).read()
    except OSError:
        pass
    time.sleep(max(0.0, due - time.monotonic()))
"""


def scenario(rate: float, seconds: float) -> Scenario:
    return build_scenario(
        {
            "name": "bench-metrics",
            "target": {
                "kafka": {
                    "topic": "bench-metrics",
                    "partitions": 3,
                    "replication_factor": 1,
                    "min_insync_replicas": 1,
                }
            },  # fmt: skip
            "producer": {"acks": "all", "linger_ms": 5},
            "storm": {
                "duration": seconds,
                "rate": {"shape": "constant", "per_second": rate},
                "payload": {"fixed": 256},
                "keys": {"count": 64},
            },
            "drain": {"timeout": 60},
        }
    )


class TimedFeed:
    """Wraps ``RunMetrics.observe`` to add up its CPU seconds (the flush thread's clock; the
    feed runs its Arrow kernels single-threaded, so that is all of it) and wall seconds."""

    seconds = 0.0
    wall = 0.0

    @classmethod
    def install(cls) -> None:
        observe = RunMetrics.observe

        def timed(self: RunMetrics, batches: object) -> None:
            start, wall = time.thread_time(), time.perf_counter()
            observe(self, batches)  # type: ignore[arg-type]
            cls.seconds += time.thread_time() - start
            cls.wall += time.perf_counter() - wall

        RunMetrics.observe = timed  # type: ignore[method-assign]


def history_figures(history: Path) -> tuple[float, float, int]:
    """(acked rate over first send..last ack, slip p99 ms, acked)."""
    sends = pq.read_table(history, columns=["op", "t", "t_intended", "t_ack", "status"])
    frame = sends.to_pandas().query("op == 'send'")
    ok = frame[frame.status == "ok"]
    span = float(ok.t_ack.max() - frame.t.min()) if len(ok) else float("inf")
    slip = (frame.t - frame.t_intended).to_numpy() * 1000.0
    return len(ok) / span, float(np.percentile(slip, 99)), len(ok)


def one_run(with_metrics: bool, args: argparse.Namespace, work: Path) -> dict[str, float]:
    out = work / f"{'with' if with_metrics else 'without'}-{uuid.uuid4().hex[:4]}"
    hub = MetricsHub(port=9464 + layout.port_offset()) if with_metrics else None
    scraper = None
    if hub is not None:
        scraper = subprocess.Popen([sys.executable, "-c", SCRAPER, hub.url, str(args.every)])
    TimedFeed.seconds = TimedFeed.wall = 0.0
    cpu = time.process_time()
    try:
        record = asyncio.run(
            run_scenario(
                scenario(args.rate, args.seconds),
                out,
                seed=1,
                processes=args.processes,
                metrics=hub,
            )
        )
    finally:
        cpu = time.process_time() - cpu
        if scraper is not None:
            scraper.terminate()
            scraper.wait()
        if hub is not None:
            hub.close()
    rate, slip, acked = history_figures(record.history)
    return {
        "cpu": cpu,
        "rate": rate,
        "slip": slip,
        "acked": acked,
        "feed": TimedFeed.seconds,
        "feed_wall": TimedFeed.wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=5000.0)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--processes", type=int, default=1, help="storm shards (above 1: shards are tailed)"
    )
    parser.add_argument("--every", type=float, default=1.0, help="scrape interval, seconds")
    args = parser.parse_args()
    TimedFeed.install()
    print(f"storm {args.rate:,.0f} ev/s for {args.seconds:g}s from {args.processes} process(es), /metrics scraped every "
          f"{args.every:g}s; {args.rounds} rounds (ABBA order)")  # fmt: skip
    print(
        f"{'':8} {'cpu s':>7} {'acked/s':>9} {'slip p99 ms':>12} {'feed cpu s':>10} {'feed wall s':>11}"
    )
    runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as tmp:
        for round_ in range(args.rounds):
            order = (False, True) if round_ % 2 == 0 else (True, False)
            for with_metrics in order:
                got = one_run(with_metrics, args, Path(tmp))
                runs[with_metrics].append(got)
                name = "with" if with_metrics else "without"
                print(f"{name:8} {got['cpu']:7.2f} {got['rate']:9,.0f} {got['slip']:12.2f} "
                      f"{got['feed']:10.3f} {got['feed_wall']:11.3f}", flush=True)  # fmt: skip
    for key, what in (("cpu", "CPU seconds"), ("rate", "acked rate"), ("slip", "slip p99")):
        with_ = np.mean([r[key] for r in runs[True]])
        without = np.mean([r[key] for r in runs[False]])
        print(f"ratio with/without, {what}: {with_ / without:.3f}")
    feed = np.mean([r["feed"] for r in runs[True]])
    cpu = np.mean([r["cpu"] for r in runs[True]])
    print(f"metrics feed CPU as a share of the run's CPU: {feed / cpu:.2%}")


if __name__ == "__main__":
    main()
