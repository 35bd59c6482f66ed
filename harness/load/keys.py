"""Keys and per-key sequence numbers, vectorised.

Keys are drawn uniformly or with Zipf skew (``p(k) ∝ 1 / (k + 1) ** s`` over the ``count``
keys, so key 0 is the hottest). Sequence numbers count each key's events from 1 in schedule
order: the ordering check compares them to the order of first delivery.
"""

from __future__ import annotations

import numpy as np

from harness.scenario import Distribution, Keys

DEFAULT_ZIPF_S = 1.1


def zipf_probabilities(count: int, s: float) -> np.ndarray:
    """The Zipf(s) distribution over ``count`` ranks, normalised."""
    weights = 1.0 / np.arange(1, count + 1, dtype=np.float64) ** s
    return weights / weights.sum()


def key_indices(keys: Keys, n: int, rng: np.random.Generator) -> np.ndarray:
    """A key index in ``[0, keys.count)`` for each of ``n`` events (int32)."""
    if keys.distribution == Distribution.ZIPF:
        p = zipf_probabilities(keys.count, keys.zipf_s or DEFAULT_ZIPF_S)
        return rng.choice(keys.count, size=n, p=p).astype(np.int32)
    return rng.integers(0, keys.count, size=n, dtype=np.int32)


def key_names(count: int) -> np.ndarray:
    """Readable key names ``key-00``... padded so that they sort as numbers (object array)."""
    width = len(str(max(count - 1, 0)))
    return np.array([f"key-{i:0{width}d}" for i in range(count)], dtype=object)


def sequence_numbers(indices: np.ndarray) -> np.ndarray:
    """For each event, its 1-based position among the events of its key (int64)."""
    n = len(indices)
    order = np.argsort(indices, kind="stable")
    sorted_keys = indices[order]
    group_start = np.ones(n, dtype=bool)
    group_start[1:] = sorted_keys[1:] != sorted_keys[:-1]
    starts = np.flatnonzero(group_start)
    run_lengths = np.diff(np.append(starts, n))
    rank = np.arange(n, dtype=np.int64) - np.repeat(starts, run_lengths) + 1
    seq = np.empty(n, dtype=np.int64)
    seq[order] = rank
    return seq


__all__ = ["DEFAULT_ZIPF_S", "key_indices", "key_names", "sequence_numbers", "zipf_probabilities"]
