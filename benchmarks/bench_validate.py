"""Validation time and peak memory of the largest scenario files the limits accept.

Two files, both valid and just under the bounds of ``harness.scenario.reader``:

- ``padded``: a timeline of faults up to ~3/4 of the node bound, plus an ``about`` text that
  fills the file up to the size bound (~1 MiB): the largest accepted file in bytes;
- ``nodes``: a thresholds list just under the node bound: the most values accepted.

Each is measured against a baseline on the same text in the same run: ruamel's plain
``safe_load`` (pure Python, as installed) and its round-trip loader (what the loader used
before). Times are the best of ``--repeat`` runs; peak memory is tracemalloc's, in a separate
run so that tracing does not slow the timings.

    PYTHONPATH=$PWD python benchmarks/bench_validate.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from ruamel.yaml import YAML

from harness.scenario import parse_scenario
from harness.scenario.reader import MAX_BYTES, MAX_NODES

HEAD = """\
name: bench-largest
target:
  kafka: {topic: orders, partitions: 6}
storm:
  duration: 2h
  rate: {shape: constant, per_second: 100}
"""
FAULT = (
    "  - {{at: {at}s, duration: 100ms, toxic: {{type: latency, target: kafka-{node}, "
    "attributes: {{latency: 100}}}}}}\n"
)
NODES_PER_FAULT = 15  # as reader.py counts them: collections, keys and values


def padded_file() -> str:
    faults = (MAX_NODES * 3 // 4) // NODES_PER_FAULT
    timeline = "faults:\n" + "".join(FAULT.format(at=i, node=1 + i % 3) for i in range(faults))
    body = HEAD + timeline + "about: >-\n"
    line = "  " + "a long description of what this scenario shows, " * 2 + "\n"
    room = MAX_BYTES - len(body.encode()) - len(line)
    return body + line * (room // len(line))


def nodes_file() -> str:
    count = MAX_NODES - 40
    return HEAD + "thresholds:\n" + "  - p99_ms < 500\n" * count


def best(action: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def peak(action: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def measure(name: str, text: str, repeat: int) -> None:
    actions: dict[str, Callable[[], Any]] = {
        "harness validate": lambda: parse_scenario(text, name),
        "ruamel safe_load": lambda: YAML(typ="safe", pure=True).load(text),
        "ruamel round-trip": lambda: YAML(typ="rt").load(text),
    }
    figures = {label: (best(a, repeat), peak(a)) for label, a in actions.items()}
    base_time, base_peak = figures["ruamel safe_load"]
    print(f"{name}: {len(text.encode()):,} bytes")
    for label, (seconds, high) in figures.items():
        print(
            f"  {label:18} {seconds:7.3f} s ({seconds / base_time:4.2f}x)  "
            f"peak {high / 1e6:7.1f} MB ({high / base_peak:4.2f}x)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"limits: {MAX_BYTES:,} bytes, {MAX_NODES:,} values; ratios against ruamel safe_load")
    measure("padded", padded_file(), args.repeat)
    measure("nodes", nodes_file(), args.repeat)


if __name__ == "__main__":
    main()
