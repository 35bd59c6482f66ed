"""A synthetic run folder: a generated history and its summary, no broker needed.

Used by the report's tests and by ``harness report --demo DIR`` to show what a report looks
like. The history is an open-model storm (``rate`` events/s for ``seconds``), each event sent,
acknowledged, received and applied; events due inside the fault window take ``bump_s`` longer.
Planted anomalies are exact: ``lose`` ids are never received, ``duplicate`` ids are delivered
twice at the same position. ``evil`` puts markup in a key and an error message, to prove the
report escapes what events carry.

    make_run(Path("/tmp/demo"), lose=3, duplicate=2)   # history.parquet + summary.json
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from harness.checks import judge, prepare
from harness.history import SCHEMA, conform
from harness.run.artifacts import summary, write_summary
from harness.run.runner import RunRecord
from harness.scenario import Scenario, build_scenario

EVIL = '<script>alert("pwned")</script>'
PARTITIONS = 4


@dataclass(frozen=True)
class Synthetic:
    """The shape of a synthetic run; times in seconds on a run clock starting at ``origin``."""

    rate: int = 500
    seconds: float = 20.0
    keys: int = 16
    fault: tuple[float, float] = (8.0, 12.0)
    base_s: float = 0.004
    bump_s: float = 0.150
    lose: int = 0
    duplicate: int = 0
    evil: bool = False
    origin: float = 1000.0
    seed: int = 7

    @property
    def events(self) -> int:
        return int(self.rate * self.seconds)


def history(spec: Synthetic) -> pd.DataFrame:
    """The synthetic history as a DataFrame of schema columns (sends, recvs, effects, fault)."""
    rng = np.random.default_rng(spec.seed)
    n = spec.events
    i = np.arange(n)
    intended = spec.origin + i / spec.rate
    sent = intended + rng.exponential(0.0003, n)
    acked = sent + rng.exponential(0.001, n) + 0.001
    start, end = (spec.origin + t for t in spec.fault)
    delay = spec.base_s + rng.exponential(spec.base_s / 4, n)
    delay[(intended >= start) & (intended < end)] += spec.bump_s
    keys = np.array([f"k{k}" for k in range(spec.keys)], dtype=object)[i % spec.keys]
    if spec.evil:
        keys[i % spec.keys == 1] = EVIL
    base = {
        "id": np.array([f"e{v}" for v in i], dtype=object),
        "key": keys,
        "seq": i // spec.keys + 1,
        "partition": (i % spec.keys) % PARTITIONS,
        "offset": i // PARTITIONS,
    }
    sends = pd.DataFrame({"op": "send", **base, "t": sent, "t_intended": intended})
    sends["t_ack"], sends["status"], sends["producer"] = acked, "ok", "p0"
    received = np.maximum.accumulate(acked + delay)  # the log delivers in order
    recvs = pd.DataFrame({"op": "recv", **base, "t": received, "group": "verifier"})
    recvs["consumer"] = "c0"
    recvs = _plant(recvs, spec, n)
    effects = recvs.drop_duplicates("id")[["id", "t"]].assign(op="effect", t=lambda f: f.t + 1e-4)
    if spec.evil:
        sends.loc[sends.index[-1], ["status", "error"]] = ["fail", f"broker said {EVIL}"]
    fault = pd.DataFrame(
        [{"op": "fault", "id": "f0", "kind": "latency", "target": "kafka-2"}]
    ).assign(t_start=start, t_end=end, t=start)
    frame = pd.concat([sends, recvs, effects, fault], ignore_index=True)
    return frame.sort_values("t", kind="stable").reset_index(drop=True)


def _plant(recvs: pd.DataFrame, spec: Synthetic, n: int) -> pd.DataFrame:
    """Drop ``lose`` receives and repeat ``duplicate`` ones, all due inside the fault window."""
    first = int(spec.fault[0] * spec.rate) + 5
    lost = list(range(first, first + spec.lose))
    twice = list(range(first + spec.lose + 3, first + spec.lose + 3 + spec.duplicate))
    again = recvs.iloc[twice].assign(t=lambda f: f.t + 0.05, redelivered=True)
    kept = recvs.drop(index=recvs.index[lost]) if lost else recvs
    return pd.concat([kept, again], ignore_index=True)


def scenario(spec: Synthetic) -> Scenario:
    """The scenario the synthetic run pretends to have run (for thresholds and the banner)."""
    return build_scenario(
        {
            "name": "synthetic-latency-fault",
            "about": "A generated run: a latency bump inside one fault window.",
            "target": {
                "kafka": {
                    "topic": "synthetic",
                    "partitions": PARTITIONS,
                    "replication_factor": 1,
                    "min_insync_replicas": 1,
                }
            },
            "storm": {
                "duration": f"{spec.seconds}s",
                "rate": {"shape": "constant", "per_second": spec.rate},
            },
            "expect": {"clean": ["lost"]},
            "thresholds": ["p99_ms < 100", "recovery_s < 5"],
            "seed": spec.seed,
        }
    )


def make_run(out_dir: Path, spec: Synthetic | None = None, **fields: Any) -> Path:
    """Write ``history.parquet`` and ``summary.json`` of a synthetic run into ``out_dir``."""
    spec = spec or Synthetic(**fields)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = conform(pa.Table.from_pandas(history(spec), preserve_index=False), source="synthetic")
    table = table.select(SCHEMA.names).cast(SCHEMA)
    pq.write_table(table, out_dir / "history.parquet", row_group_size=50_000)
    chosen = scenario(spec)
    record = RunRecord(
        scenario=chosen,
        seed=spec.seed,
        run_id=f"{spec.seed}-synthetic",
        history=out_dir / "history.parquet",
        storm_start=spec.origin,
        storm_end=spec.origin + spec.seconds,
        wall_offset=1.7e9,
        events_planned=spec.events,
        slip_p99_ms=float("nan"),
        errors=[],
        destination="synthetic",
    )
    verdict = judge(chosen, prepare(table), storm_seconds=spec.seconds, events_planned=spec.events)
    write_summary(out_dir / "summary.json", summary(record, verdict))
    return out_dir


__all__ = ["EVIL", "Synthetic", "history", "make_run", "scenario"]
