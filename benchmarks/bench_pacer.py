"""How fast the open-model pacer releases events, and how late, against baselines in the same run.

    .venv/bin/python benchmarks/bench_pacer.py [--rate 20000] [--seconds 5]

Prints:
- the flat-out release rate (every event already due, the batched path) as a ratio to a bare
  Python loop over the same array doing the same per-event work;
- at ``--rate`` (and 2.5x that): achieved rate / intended rate, and slip p50/p99, with slip p99
  as a ratio to the event loop's own timer overshoot (``asyncio.sleep`` lateness p99), which
  bounds what any asyncio pacer can do.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import numpy as np

from harness.clock import now
from harness.load.pacer import Pacer


def bare_loop_rate(offsets: np.ndarray) -> float:
    sink = 0
    begin = time.perf_counter()
    for row in range(len(offsets)):
        sink += row
    return len(offsets) / (time.perf_counter() - begin)


async def flat_out_rate(offsets: np.ndarray) -> float:
    pacer = Pacer(offsets, start=now() - float(offsets[-1]) - 1.0)
    sink = 0
    begin = time.perf_counter()
    async for batch in pacer.batches():
        for row in range(batch.start, batch.stop):
            sink += row
    return len(offsets) / (time.perf_counter() - begin)


async def timer_overshoot_p99_ms(samples: int = 2000) -> float:
    late = np.empty(samples)
    for i in range(samples):
        target = now() + 0.0005
        await asyncio.sleep(0.0005)
        late[i] = now() - target
    return float(np.percentile(late, 99) * 1000)


async def paced(rate: float, seconds: float) -> tuple[float, float, float]:
    offsets = np.arange(int(rate * seconds)) / rate
    start = now() + 0.05
    pacer = Pacer(offsets, start=start)
    sink = 0
    async for batch in pacer.batches():
        for row in range(batch.start, batch.stop):
            sink += row
    achieved = len(offsets) / (now() - start)
    stats = pacer.stats()
    return achieved / (len(offsets) / seconds), stats.p50_ms, stats.p99_ms


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()

    offsets = np.arange(1_000_000) / 1e6
    bare = bare_loop_rate(offsets)
    flat = await flat_out_rate(offsets)
    print(f"flat-out release: {flat:,.0f} events/s = {flat / bare:.2f} x bare loop ({bare:,.0f}/s)")

    overshoot = await timer_overshoot_p99_ms()
    print(f"baseline: asyncio.sleep overshoot p99 = {overshoot:.2f} ms")
    for rate in (args.rate, args.rate * 2.5):
        ratio, p50, p99 = await paced(rate, args.seconds)
        print(
            f"paced at {rate:,.0f}/s for {args.seconds:g}s: achieved/intended = {ratio:.3f}, "
            f"slip p50 = {p50:.2f} ms, p99 = {p99:.2f} ms = {p99 / overshoot:.2f} x timer overshoot p99"
        )


if __name__ == "__main__":
    asyncio.run(main())
