"""Benchmark: `harness check` on a 10M-event (30M ops) Parquet history against the strongest baselines.

Three steps, each in a fresh interpreter (imports included in its time) so peak RSS is the
step's own, all measured in this run on the same file:

- ``read``: ``pyarrow.parquet.read_table`` of only the columns the check reads (multi-threaded);
- ``duckdb``: DuckDB answering the headline question, the lost-event count, as SQL over the
  same Parquet file (as a user might do instead of the harness);
- ``check``: ``harness.checks.check_file``, what ``harness check`` does (every check).

Prints wall and CPU seconds, peak RSS, and the ratios check/read and check/duckdb. The lost
counts of DuckDB and of the harness must agree. Targets (issue 15): check/read <= 1.5,
check/duckdb <= 1, peak memory under 4 GiB. On a shared machine, run it more than once: the
ratios move with the load (CPU seconds move less than wall seconds).

    .venv/bin/python benchmarks/bench_check_parquet.py [--events 10000000] [--lose-every 1000]

The synthetic history (send + recv + effect per event, 64 keys over 8 partitions, interleaved as
a writer would flush them; every ``--lose-every``-th event's receive and effect are dropped, so
there is something to count) is generated with numpy one row group at a time (bounded memory)
and cached under /tmp/harness-bench.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from harness.history import SCHEMA

CHUNK = 1_000_000
KEYS = 64
PARTITIONS = 8


def _strings(prefix: str, numbers: np.ndarray) -> pa.Array:
    import pyarrow.compute as pc

    digits = pc.cast(pa.array(numbers), pa.string())
    return pc.binary_join_element_wise(pa.scalar(prefix), digits, "")


def _chunk(start: int, stop: int, rng: np.random.Generator, lose_every: int = 0) -> pa.Table:
    """Ops of events [start, stop): send, recv, effect interleaved per event.

    With ``lose_every`` N > 0, every N-th event keeps only its send (lost, effect missing).
    """
    i = np.arange(start, stop, dtype=np.int64)
    n = len(i)
    key = i % KEYS
    t_intended = i / 2000.0
    t_sent = t_intended + rng.exponential(0.0005, n)
    t_ack = t_sent + rng.exponential(0.002, n)
    # Consecutive events of one key are 32 ms apart and receive delay stays within 20-30 ms,
    # so the clean history is in order per key (an ack-dependent delay could reorder it).
    t_recv = t_intended + rng.uniform(0.020, 0.030, n)
    t_effect = t_recv + 0.0005
    ids = _strings("e", i)
    keys = _strings("k", key)
    consumers = _strings("c", key % 3)
    order = np.stack([np.arange(n), n + np.arange(n), 2 * n + np.arange(n)], axis=1).ravel()

    def weave(send: object, recv: object, effect: object, type_: pa.DataType) -> pa.Array:
        parts = [
            pa.array(v, type_) if not isinstance(v, pa.Array) else v for v in (send, recv, effect)
        ]
        return pa.concat_arrays([p.cast(type_) for p in parts]).take(order)

    none = pa.nulls(n)
    columns = {
        "op": weave(
            pa.array(["send"] * n), pa.array(["recv"] * n), pa.array(["effect"] * n), pa.string()
        ),
        "id": weave(ids, ids, ids, pa.string()),
        "key": weave(keys, keys, none, pa.string()),
        "seq": weave(i // KEYS + 1, i // KEYS + 1, none, pa.int64()),
        "t": weave(t_sent, t_recv, t_effect, pa.float64()),
        "t_intended": weave(t_intended, none, none, pa.float64()),
        "t_ack": weave(t_ack, none, none, pa.float64()),
        "status": weave(pa.array(["ok"] * n), none, none, pa.string()),
        "partition": weave(key % PARTITIONS, key % PARTITIONS, none, pa.int32()),
        "offset": weave(i // PARTITIONS, i // PARTITIONS, none, pa.int64()),
        "producer": weave(pa.array(["p0"] * n), none, none, pa.string()),
        "consumer": weave(none, consumers, consumers, pa.string()),
        "group": weave(none, pa.array(["g1"] * n), none, pa.string()),
        "attempt": weave(np.ones(n, np.int32), none, none, pa.int32()),
        "poison": weave(np.zeros(n, bool), none, none, pa.bool_()),
        "redelivered": weave(none, np.zeros(n, bool), none, pa.bool_()),
    }
    arrays = [columns.get(f.name, pa.nulls(3 * n, f.type)) for f in SCHEMA]
    table = pa.Table.from_arrays(arrays, schema=SCHEMA)
    if lose_every <= 0:
        return table
    keep = np.ones((n, 3), bool)
    keep[i % lose_every == lose_every - 1, 1:] = False
    return table.filter(pa.array(keep.ravel()))


def generate(path: Path, events: int, seed: int = 7, lose_every: int = 0) -> Path:
    """Write (once) a synthetic history of ``events`` events to ``path``, a row group at a time.

    Clean unless ``lose_every`` > 0 (see ``_chunk``). Memory stays near one row group's.
    """
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, SCHEMA) as writer:
        for start in range(0, events, CHUNK):
            writer.write_table(_chunk(start, min(events, start + CHUNK), rng, lose_every))
    tmp.rename(path)
    return path


LOST_SQL = """
WITH h AS (SELECT op, id, status, poison, "group" FROM read_parquet($path)),
expected AS (
    SELECT id FROM h WHERE op = 'send' GROUP BY id
    HAVING bool_or(status = 'ok') AND NOT bool_or(coalesce(poison, false))
    EXCEPT SELECT id FROM h WHERE op = 'dead_letter'
),
got AS (SELECT DISTINCT "group" AS g, id FROM h WHERE op = 'recv'),
groups AS (SELECT DISTINCT g FROM got)
SELECT count(DISTINCT e.id) FROM expected e, groups
WHERE NOT EXISTS (
    SELECT 1 FROM got WHERE got.g IS NOT DISTINCT FROM groups.g AND got.id = e.id
)
"""
"""``lost`` as ``harness.checks.delivery`` defines it: acknowledged, not poison, never
dead-lettered, and missing from some consumer group that received anything."""

_STEP = """
import json, resource, sys, time
start = time.perf_counter()
step, path = sys.argv[1], sys.argv[2]
if step == "read":
    import pyarrow.parquet as pq
    columns = json.loads(sys.argv[3])
    present = [c for c in columns if c in pq.read_schema(path).names]
    out = {"rows": pq.read_table(path, columns=present).num_rows}
elif step == "read-jsonl":
    import pyarrow.json as pj
    out = {"rows": pj.read_json(path).num_rows}
elif step == "duckdb":
    import duckdb
    out = {"lost": duckdb.connect().execute(sys.argv[3], {"path": path}).fetchone()[0]}
else:
    from harness.checks import check_file
    result = check_file(path)
    out = {"valid": result.valid, "lost": result.anomalies["lost"]}
out["seconds"] = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_SELF)
out["cpu_seconds"] = usage.ru_utime + usage.ru_stime
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec.
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
out["peak_rss_bytes"] = int(hwm.split()[1]) * 1024
print(json.dumps(out))
"""


def measure(step: str, path: Path, *extra: str) -> dict[str, Any]:
    """Run one step in a fresh interpreter; return its JSON line."""
    done = subprocess.run(
        [sys.executable, "-c", _STEP, step, str(path), *extra],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def check_columns() -> list[str]:
    """The columns ``harness check`` reads from a Parquet history (the pruned baseline's)."""
    from harness.checks.frame import READ_COLUMNS

    return list(READ_COLUMNS)


def line(label: str, step: dict[str, Any]) -> str:
    return (
        f"{label:<16}{step['seconds']:7.2f} s wall, {step['cpu_seconds']:7.2f} s CPU, "
        f"peak RSS {step['peak_rss_bytes'] / 2**30:.2f} GiB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--lose-every", type=int, default=1000)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/harness-bench"))
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    name = f"history-{args.events}-lose{args.lose_every}.parquet"
    path = generate(args.cache / name, args.events, lose_every=args.lose_every)
    columns = check_columns()
    read = measure("read", path, json.dumps(columns))
    duck = measure("duckdb", path, LOST_SQL)
    checked = measure("check", path)
    print(f"history: {path} ({read['rows']:,} ops, {args.events:,} events)")
    print(line(f"pyarrow read ({len(columns)} columns):", read))
    print(line("duckdb lost:", duck) + f", lost {duck['lost']:,}")
    print(line("harness check:", checked) + f", lost {checked['lost']:,}")
    by_read = checked["seconds"] / read["seconds"]
    by_duck = checked["seconds"] / duck["seconds"]
    cpu_read = checked["cpu_seconds"] / read["cpu_seconds"]
    cpu_duck = checked["cpu_seconds"] / duck["cpu_seconds"]
    print(f"ratio check/read:   {by_read:.2f} wall, {cpu_read:.2f} CPU (target <= 1.5)")
    print(f"ratio check/duckdb: {by_duck:.2f} wall, {cpu_duck:.2f} CPU (target <= 1)")
    peak_ok = checked["peak_rss_bytes"] < 4 * 2**30
    agree = checked["lost"] == duck["lost"]
    print(f"peak memory under 4 GiB: {'yes' if peak_ok else 'NO'}")
    print(f"lost counts agree: {'yes' if agree else 'NO'}")
    return 0 if by_read <= 1.5 and by_duck <= 1 and peak_ok and agree else 1


if __name__ == "__main__":
    sys.exit(main())
