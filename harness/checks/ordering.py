"""Ordering checks within one key: ``out_of_order`` (deliveries) and ``out_of_order_effect``.

``out_of_order`` looks at deliveries, per consumer group, first deliveries only. A delivery is
an id's first in its group when it has the earliest time (then the earliest row) among that
id's deliveries to the group; redeliveries after a restart are thus ignored. Within one (group,
key), taken in time order, a first delivery whose seq is below the largest seq already
delivered is out of order. Receives without a key or seq are not judged. Counted per id.

``out_of_order_effect`` applies the same rule to effects, per key across all consumers: taking
each id's first effect in time order, an effect whose seq is below the highest seq already
applied for its key is out of order. Deliveries can be in order while effects are not (one key
processed on several threads). Effects without a key or seq are not judged; re-applications
are ``duplicate_effect``'s business and ignored here. Counted per id.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.checks.frame import NULL_SEQ, Prepared, dense_codes
from harness.checks.model import Finding


def out_of_order(history: Prepared, limit: int) -> Finding:
    recvs = history.recvs
    keyed = np.flatnonzero((recvs.key >= 0) & (recvs.seq != NULL_SEQ))
    if len(keyed) == 0:
        return Finding("out_of_order", 0)
    groups = recvs.group[keyed].astype(np.int64)
    times = np.where(np.isnan(recvs.t[keyed]), np.inf, recvs.t[keyed])
    first = _first_rows(groups * history.n_ids + recvs.id[keyed], times)
    rows = keyed[first]
    lane = groups[first] * (int(recvs.key.max()) + 1) + recvs.key[rows]
    order = _time_then_lane(times[first], lane)
    late = _below_running_max(lane[order], recvs.seq[rows][order])
    return Finding.from_codes("out_of_order", recvs.id[rows][order][late], limit)


def out_of_order_effect(history: Prepared, limit: int) -> Finding:
    effects = history.effects
    keyed = np.flatnonzero((effects.key >= 0) & (effects.seq != NULL_SEQ))
    if len(keyed) == 0:
        return Finding("out_of_order_effect", 0)
    times = np.where(np.isnan(effects.t[keyed]), np.inf, effects.t[keyed])
    first = _first_rows(effects.id[keyed], times)
    rows = keyed[first]
    lane = effects.key[rows].astype(np.int64)
    order = _time_then_lane(times[first], lane)
    late = _below_running_max(lane[order], effects.seq[rows][order])
    return Finding.from_codes("out_of_order_effect", effects.id[rows][order][late], limit)


def _first_rows(pair: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Indices of the earliest row (by time, then position) of each pair value."""
    codes = dense_codes(pair)
    size = int(codes.max()) + 1
    earliest = np.full(size, np.inf)
    np.minimum.at(earliest, codes, times)
    candidates = np.flatnonzero(times == earliest[codes])
    first = np.full(size, len(pair))
    np.minimum.at(first, codes[candidates], candidates)
    return np.flatnonzero(first[codes] == np.arange(len(pair)))


def _time_then_lane(times: np.ndarray, lane: np.ndarray) -> np.ndarray:
    by_time = np.argsort(times, kind="stable")
    lane_type = np.int16 if lane.max() < np.iinfo(np.int16).max else np.int64
    return by_time[np.argsort(lane[by_time].astype(lane_type), kind="stable")]


def _below_running_max(lane: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """Per lane (lanes contiguous and ascending), whether seq is below the max seen before it."""
    late = np.zeros(len(seq), bool)
    shifted = seq - seq.min()
    span = int(shifted.max()) + 1
    if int(lane.max()) + 1 < np.iinfo(np.int64).max // span:
        # One running max over all lanes: lane * span dominates, so lanes cannot leak.
        combined = lane * span + shifted
        late[1:] = combined[1:] < np.maximum.accumulate(combined)[:-1]
        return late
    frame = pd.DataFrame({"lane": lane, "seq": seq})
    prior = frame.groupby("lane")["seq"].cummax().groupby(frame["lane"]).shift(1)
    return (frame["seq"] < prior).to_numpy(dtype=bool, na_value=False)


__all__ = ["out_of_order", "out_of_order_effect"]
