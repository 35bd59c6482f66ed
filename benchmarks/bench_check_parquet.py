"""Benchmark: `harness check` on a 10M-event (about 30M ops) Parquet history.

Prints the check's wall time and peak memory, and its ratio to the time pyarrow alone needs to
read the same file, both measured in this run, each in a fresh subprocess so peak RSS is the
measured step's own. Targets (issue 3): ratio within 3x, peak memory under 4 GB.

    .venv/bin/python benchmarks/bench_check_parquet.py [--events 10000000]

The synthetic history (send + recv + effect per event, 64 keys over 8 partitions, interleaved as
a writer would flush them) is generated with numpy and cached under /tmp.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

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


def _chunk(start: int, stop: int, rng: np.random.Generator) -> pa.Table:
    """Ops of events [start, stop): send, recv, effect interleaved per event."""
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
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def generate(path: Path, events: int, seed: int = 7) -> Path:
    """Write (once) a clean synthetic history of ``events`` events to ``path``."""
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, SCHEMA) as writer:
        for start in range(0, events, CHUNK):
            writer.write_table(_chunk(start, min(events, start + CHUNK), rng))
    tmp.rename(path)
    return path


_STEP = """
import json, resource, sys, time
from pathlib import Path
path = Path(sys.argv[2])
start = time.perf_counter()
if sys.argv[1] == "read":
    import pyarrow.parquet as pq
    rows = pq.read_table(path).num_rows
    out = {"rows": rows}
else:
    from harness.checks import check_file
    result = check_file(path)
    out = {"valid": result.valid, "anomalies": sum(result.anomalies.values()),
           "counts": result.counts}
out["seconds"] = time.perf_counter() - start
out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps(out))
"""


def measure(step: str, path: Path) -> dict[str, object]:
    """Run one step in a fresh interpreter; return its JSON line."""
    done = subprocess.run(
        [sys.executable, "-c", _STEP, step, str(path)], check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/harness-bench"))
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    path = generate(args.cache / f"history-{args.events}.parquet", args.events)
    read = measure("read", path)
    checked = measure("check", path)
    ratio = checked["seconds"] / read["seconds"]
    print(f"history: {path} ({read['rows']:,} ops, {args.events:,} events)")
    print(
        f"pyarrow read: {read['seconds']:.2f} s, peak RSS {read['peak_rss_bytes'] / 2**30:.2f} GiB"
    )
    print(
        f"harness check: {checked['seconds']:.2f} s, peak RSS "
        f"{checked['peak_rss_bytes'] / 2**30:.2f} GiB, anomalies {checked['anomalies']}"
    )
    print(f"ratio check/read: {ratio:.2f} (target < 3)")
    peak_ok = checked["peak_rss_bytes"] < 4 * 2**30
    print(f"peak memory under 4 GiB: {'yes' if peak_ok else 'NO'}")
    return 0 if ratio < 3 and peak_ok else 1


if __name__ == "__main__":
    sys.exit(main())
