"""Benchmark: `harness check` on a 1M-event (3M lines) JSON Lines history against the strongest baselines.

Three steps, each in a fresh interpreter (imports included), on the same file:

- ``read``: ``pyarrow.json.read_json`` of the file (multi-threaded C++ parsing, no checks);
- ``duckdb``: DuckDB's lost-event count as SQL over the same file (``read_json`` with the
  columns it needs), as a user might do instead of the harness;
- ``check``: ``harness.checks.check_file``, what ``harness check`` does.

Prints wall and CPU seconds and the ratios check/read and check/duckdb; the lost counts must
agree. Targets (issue 15): check/read <= 1.5, check/duckdb <= 1.

    .venv/bin/python benchmarks/bench_check_jsonl.py [--events 1000000] [--lose-every 1000]

The history is ``bench_check_parquet.generate``'s, written once as JSON Lines under /tmp.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_check_parquet import LOST_SQL, generate, line, measure

from harness.history import read_history, write_jsonl

JSON_SOURCE = (
    "read_json($path, format = 'newline_delimited', columns = {op: 'VARCHAR', id: 'VARCHAR', "
    "status: 'VARCHAR', poison: 'BOOLEAN', \"group\": 'VARCHAR'})"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--lose-every", type=int, default=1000)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/harness-bench"))
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    stem = f"history-{args.events}-lose{args.lose_every}"
    path = args.cache / f"{stem}.jsonl"
    if not path.exists():
        parquet = generate(args.cache / f"{stem}.parquet", args.events, lose_every=args.lose_every)
        write_jsonl(read_history(parquet), path.with_suffix(".tmp"))
        path.with_suffix(".tmp").rename(path)
    read = measure("read-jsonl", path)
    sql = LOST_SQL.replace("read_parquet($path)", JSON_SOURCE)
    duck = measure("duckdb", path, sql)
    checked = measure("check", path)
    print(f"history: {path} ({read['rows']:,} lines, {args.events:,} events)")
    print(line("pyarrow.json read:", read))
    print(line("duckdb lost:", duck) + f", lost {duck['lost']:,}")
    print(line("harness check:", checked) + f", lost {checked['lost']:,}")
    by_read = checked["seconds"] / read["seconds"]
    by_duck = checked["seconds"] / duck["seconds"]
    cpu_read = checked["cpu_seconds"] / read["cpu_seconds"]
    cpu_duck = checked["cpu_seconds"] / duck["cpu_seconds"]
    print(f"ratio check/read:   {by_read:.2f} wall, {cpu_read:.2f} CPU (target <= 1.5)")
    print(f"ratio check/duckdb: {by_duck:.2f} wall, {cpu_duck:.2f} CPU (target <= 1)")
    agree = checked["lost"] == duck["lost"]
    print(f"lost counts agree: {'yes' if agree else 'NO'}")
    return 0 if by_read <= 1.5 and by_duck <= 1 and agree else 1


if __name__ == "__main__":
    sys.exit(main())
