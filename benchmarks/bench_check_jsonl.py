"""Benchmark: `harness check` on a 1M-event JSON Lines history versus `json.loads` alone.

The baseline parses every line with Python's json module and does nothing else; the check
reads, validates and checks the same file. Both run in this process, one after the other.
Target (issue 3): ratio below 1.

    .venv/bin/python benchmarks/bench_check_jsonl.py [--events 1000000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bench_check_parquet import generate

from harness.checks import check_file
from harness.history import read_history, write_jsonl


def parse_only(path: Path) -> tuple[float, int]:
    start = time.perf_counter()
    lines = 0
    with path.open("r", encoding="utf-8") as handle:
        for line in handle:
            json.loads(line)
            lines += 1
    return time.perf_counter() - start, lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/harness-bench"))
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    path = args.cache / f"history-{args.events}.jsonl"
    if not path.exists():
        parquet = generate(args.cache / f"history-{args.events}.parquet", args.events)
        write_jsonl(read_history(parquet), path)
    baseline, lines = parse_only(path)
    start = time.perf_counter()
    result = check_file(path)
    checked = time.perf_counter() - start
    ratio = checked / baseline
    print(f"history: {path} ({lines:,} lines, {args.events:,} events)")
    print(f"json.loads parse only: {baseline:.2f} s")
    print(f"harness check: {checked:.2f} s, valid={result.valid}")
    print(f"ratio check/parse: {ratio:.2f} (target < 1)")
    return 0 if ratio < 1 else 1


if __name__ == "__main__":
    sys.exit(main())
