"""Log checks from positions (partition, offset) seen by producers' acks and by consumers.

- ``duplicate_write``: one id stored at two or more different positions (a producer retry
  written twice). Counted per id.
- ``inconsistent_offset``: two or more different ids seen at one position (the log diverged,
  as after an unclean leader election). Counted per position; examples are the ids involved.

Rows without both partition and offset are ignored, so RabbitMQ histories yield zero here.
A send whose status is ``fail`` was certainly not written, so whatever offset its client
reported is not a stored position and is ignored too; ``unknown`` sends may have been written
and their positions count (as in Jepsen's Kafka checker).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.checks.frame import FAIL, Prepared
from harness.checks.model import Finding

Positions = tuple[np.ndarray, np.ndarray, np.ndarray]


def positions(history: Prepared) -> Positions:
    """(id, partition, offset) of every send and receive that carries a position.

    Both checks take it, so a caller running both gathers the positions once.
    """
    parts = []
    for ops in (history.sends, history.recvs):
        has = (ops.partition >= 0) & (ops.offset >= 0)
        if ops is history.sends:
            has &= ops.status != FAIL
        parts.append((ops.id[has], ops.partition[has].astype(np.int64), ops.offset[has]))
    ids, partitions, offsets = (np.concatenate([p[i] for p in parts]) for i in range(3))
    return ids, partitions, offsets


def duplicate_write(history: Prepared, limit: int, where: Positions | None = None) -> Finding:
    ids, partitions, offsets = where or positions(history)
    if len(ids) == 0:
        return Finding("duplicate_write", 0)
    # Compare every row with one reference row of its id: an id has two positions iff some
    # row differs from the reference.
    reference = np.zeros(history.n_ids, np.int64)
    reference[ids] = np.arange(len(ids))
    ref = reference[ids]
    differs = (partitions != partitions[ref]) | (offsets != offsets[ref])
    return Finding.from_codes("duplicate_write", ids[differs], limit)


def inconsistent_offset(history: Prepared, limit: int, where: Positions | None = None) -> Finding:
    ids, partitions, offsets = where or positions(history)
    if len(ids) == 0:
        return Finding("inconsistent_offset", 0)
    position = _position_codes(partitions, offsets)
    reference = np.zeros(int(position.max()) + 1, np.int64)
    reference[position] = np.arange(len(ids))
    ref = reference[position]
    differs = ids != ids[ref]
    if not differs.any():
        return Finding("inconsistent_offset", 0)
    count = len(np.unique(position[differs]))
    involved = np.unique(np.concatenate([ids[differs], ids[ref[differs]]]))
    return Finding("inconsistent_offset", count, involved[:limit])


def _position_codes(partitions: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Dense non-negative codes, one per distinct (partition, offset)."""
    width = int(partitions.max()) + 1
    low = np.full(width, np.iinfo(np.int64).max)
    high = np.full(width, -1)
    np.minimum.at(low, partitions, offsets)
    np.maximum.at(high, partitions, offsets)
    spans = np.where(high >= 0, high - low + 1, 0)
    if spans.sum() <= 4 * len(offsets) + 1_000_000:
        base = np.concatenate([[0], np.cumsum(spans)[:-1]])
        return base[partitions] + offsets - low[partitions]
    codes, _ = pd.factorize(pd.MultiIndex.from_arrays([partitions, offsets]))
    return codes.astype(np.int64)


__all__ = ["Positions", "duplicate_write", "inconsistent_offset", "positions"]
