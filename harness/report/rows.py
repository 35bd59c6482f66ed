"""The history rows behind anomaly examples: each example's own ops and its key's neighbourhood.

Only a handful of ids are ever looked up, so a Parquet history is scanned one row group at a
time reading just the filter columns; a row group is read whole only when it holds a match.

    rows = example_rows(path, ["e42", "e97"])           # every op of those ids
    around = key_neighbourhoods(path, rows, span_s=0.5)  # same-key ops near them in time
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from harness.history import SCHEMA, read_history

NEIGHBOURS = 6
"""Ops of the same key shown on each side of an example in its timeline."""
SHOWN_COLUMNS = (
    "t",
    "op",
    "id",
    "key",
    "seq",
    "partition",
    "offset",
    "status",
    "t_intended",
    "t_ack",
    "group",
    "consumer",
    "redelivered",
    "error",
    "reason",
)

Mask = Callable[[pa.Table], pa.Array]


@dataclass(frozen=True)
class Timeline:
    """The ops of one key around one example id, in time order; ``focus`` marks the example's."""

    example: str
    key: str | None
    rows: pd.DataFrame
    focus: np.ndarray


def example_rows(path: Path, ids: Sequence[str]) -> pd.DataFrame:
    """Every op of the given ids (schema columns only), in history order."""
    if not ids:
        return _empty()
    wanted = pa.array(sorted(set(ids)), pa.string())
    return _scan(path, ["id"], lambda t: pc.is_in(_plain(t.column("id")), value_set=wanted))


def key_neighbourhoods(path: Path, rows: pd.DataFrame, span_s: float = 0.5) -> list[Timeline]:
    """For each example id in ``rows``: ops of its key within ``span_s`` of its first op."""
    if rows.empty:
        return []
    anchors = (
        rows.dropna(subset=["t"])
        .groupby("id", sort=False)
        .agg(key=("key", "first"), t=("t", "min"))
    )
    keyed = anchors.dropna(subset=["key"])
    if keyed.empty:
        return [Timeline(i, None, _focus_only(rows, i), np.ones(1, bool)) for i in anchors.index]
    nearby = _scan(path, ["key", "t"], _near(keyed, span_s))
    return [_timeline(str(i), rows, nearby, anchors) for i in anchors.index]


def _near(anchors: pd.DataFrame, span_s: float) -> Mask:
    def mask(table: pa.Table) -> pa.Array:
        key, t = _plain(table.column("key")), table.column("t")
        hits = pa.array(np.zeros(table.num_rows, bool))
        for name, when in zip(anchors["key"], anchors["t"], strict=True):
            close = pc.and_(pc.greater_equal(t, when - span_s), pc.less_equal(t, when + span_s))
            hits = pc.or_(hits, pc.and_(pc.equal(key, name), close))
        return pc.fill_null(hits, False)

    return mask


def _timeline(
    example: str, rows: pd.DataFrame, nearby: pd.DataFrame, anchors: pd.DataFrame
) -> Timeline:
    key = anchors.loc[example, "key"]
    if pd.isna(key):
        own = _focus_only(rows, example)
        return Timeline(example, None, own, np.ones(len(own), bool))
    same = pd.concat([nearby[nearby["key"] == key], rows[rows["id"] == example]])
    same = same.drop_duplicates().sort_values("t", kind="stable").reset_index(drop=True)
    focus = (same["id"] == example).to_numpy()
    where = np.flatnonzero(focus)
    low = max(0, int(where.min()) - NEIGHBOURS)
    high = int(where.max()) + NEIGHBOURS + 1
    return Timeline(example, str(key), same.iloc[low:high].reset_index(drop=True), focus[low:high])


def _focus_only(rows: pd.DataFrame, example: str) -> pd.DataFrame:
    return rows[rows["id"] == example].sort_values("t", kind="stable").reset_index(drop=True)


def _scan(path: Path, columns: list[str], mask: Mask) -> pd.DataFrame:
    if path.suffix.lower() != ".parquet":
        table = read_history(path)
        return _frame(table.filter(mask(table)))
    reader = pq.ParquetFile(path)
    present = [c for c in columns if c in reader.schema_arrow.names]
    if len(present) < len(columns):
        return _empty()
    found: list[pa.Table] = []
    for index in range(reader.num_row_groups):
        hits = mask(reader.read_row_group(index, columns=present))
        if pc.any(hits).as_py():
            found.append(reader.read_row_group(index).filter(hits))
    if not found:
        return _empty()
    return _frame(pa.concat_tables(found, promote_options="permissive"))


def _frame(table: pa.Table) -> pd.DataFrame:
    names = [name for name in SCHEMA.names if name in table.column_names]
    plain = pa.table({name: _plain(table.column(name)) for name in names})
    return plain.to_pandas()


def _empty() -> pd.DataFrame:
    return SCHEMA.empty_table().to_pandas()


def _plain(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_dictionary(column.type):
        return column.cast(column.type.value_type)
    return column


__all__ = ["NEIGHBOURS", "SHOWN_COLUMNS", "Timeline", "example_rows", "key_neighbourhoods"]
