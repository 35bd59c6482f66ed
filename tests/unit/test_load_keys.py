"""Keys: uniform and Zipf draws, readable names, per-key sequence numbers."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from harness.load.keys import key_indices, key_names, sequence_numbers, zipf_probabilities
from harness.scenario import Keys


def test_zipf_is_skewed_towards_the_first_keys():
    draws = key_indices(
        Keys(count=100, distribution="zipf", zipf_s=1.2), 200_000, np.random.default_rng(1)
    )
    counts = np.bincount(draws, minlength=100)
    p = zipf_probabilities(100, 1.2)
    assert np.all(np.abs(counts / len(draws) - p) < 0.01)
    assert counts[0] > 10 * counts[50]
    assert 2**1.2 * 0.9 < counts[0] / counts[1] < 2**1.2 * 1.1


def test_uniform_is_flat_and_seeded():
    keys = Keys(count=10)
    draws = key_indices(keys, 100_000, np.random.default_rng(5))
    counts = np.bincount(draws, minlength=10)
    assert np.all(np.abs(counts - 10_000) < 500)
    assert np.array_equal(draws, key_indices(keys, 100_000, np.random.default_rng(5)))


def test_key_names_sort_as_numbers():
    names = key_names(120)
    assert names[0] == "key-000" and names[119] == "key-119"
    assert list(names) == sorted(names)


@given(st.lists(st.integers(0, 5), max_size=300))
def test_sequence_numbers_count_each_key_from_one(keys):
    indices = np.array(keys, dtype=np.int32)
    seq = sequence_numbers(indices)
    expected, seen = [], {}
    for key in keys:
        seen[key] = seen.get(key, 0) + 1
        expected.append(seen[key])
    assert seq.tolist() == expected
