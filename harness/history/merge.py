"""Merge history shards written by several workers into one history.

Ids stay as given. Two shards that both send one id from different producers would make the
merged history lie (one event would look like a duplicate of another), so that is an error
unless ``prefix_worker`` is set, which rewrites every id of a shard as ``<worker>:<id>``; use
it when each shard's consumers only see that shard's own events.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from harness.errors import HistoryError
from harness.history.reader import read_history, write_parquet


def merge_histories(shards: Sequence[Path], out: Path, *, prefix_worker: bool = False) -> int:
    """Write the union of ``shards`` to ``out`` (Parquet); return the number of rows."""
    if not shards:
        raise HistoryError("give at least one history shard to merge")
    tables = [read_history(path) for path in shards]
    if prefix_worker:
        tables = [
            _prefixed(t, _worker_name(t, path)) for t, path in zip(tables, shards, strict=True)
        ]
    else:
        _refuse_collisions(tables, shards)
    merged = pa.concat_tables(tables, promote_options="permissive")
    write_parquet(merged, out)
    return merged.num_rows


def _refuse_collisions(tables: list[pa.Table], shards: Sequence[Path]) -> None:
    owners: pa.Table | None = None
    for index, table in enumerate(tables):
        sends = table.filter(pc.equal(table.column("op"), "send"))
        pairs = (
            pa.table(
                {
                    "id": sends.column("id"),
                    "producer": pc.fill_null(sends.column("producer"), ""),
                    "shard": pa.array([index] * sends.num_rows, pa.int32()),
                }
            )
            .group_by(["id", "producer"])
            .aggregate([("shard", "min")])
        )
        if owners is not None:
            clash = owners.join(pairs, "id", right_suffix="_new", join_type="inner")
            clash = clash.filter(
                pc.not_equal(clash.column("producer"), clash.column("producer_new"))
            )
            if clash.num_rows:
                row = clash.slice(0, 1).to_pylist()[0]
                raise HistoryError(
                    f"id {row['id']!r} is sent by producer {row['producer']!r} in "
                    f"{shards[row['shard_min']]} and by {row['producer_new']!r} in {shards[index]}; "
                    "ids must be unique across workers, or merge with --prefix-worker"
                )
        owners = pairs if owners is None else pa.concat_tables([owners, pairs])


def _worker_name(table: pa.Table, path: Path) -> str:
    workers = pc.unique(pc.drop_null(table.column("worker"))).to_pylist()
    return workers[0] if len(workers) == 1 else path.stem


def _prefixed(table: pa.Table, worker: str) -> pa.Table:
    ids = pc.binary_join_element_wise(pa.scalar(f"{worker}:"), table.column("id"), "")
    return table.set_column(table.column_names.index("id"), "id", ids)


__all__ = ["merge_histories"]
