"""The storm: deterministic from (spec, seed), unique ids, duplicates, poison, splitting."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.load.payloads import is_poison
from harness.load.storm import DUPLICATE_WINDOW, build_storm
from harness.scenario import StormSpec


def spec(**extra: object) -> StormSpec:
    base = {
        "duration": "10s",
        "rate": {"shape": "poisson", "per_second": 500},
        "keys": {"count": 16, "distribution": "zipf"},
        "payload": {"bytes": {"min": 100, "max": 700}},
    }
    return StormSpec.model_validate({**base, **extra})


def frames_equal(a, b) -> bool:
    return a.to_frame().equals(b.to_frame()) and all(
        a.payload(i) == b.payload(i) for i in range(0, len(a), 97)
    )


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31))
def test_same_seed_same_storm(seed):
    s = spec(duplicates={"fraction": 0.05}, poison={"fraction": 0.02})
    assert frames_equal(build_storm(s, seed), build_storm(s, seed))


def test_other_seed_other_storm():
    assert not build_storm(spec(), 1).to_frame().equals(build_storm(spec(), 2).to_frame())


def test_ids_are_unique_and_prefixed():
    storm = build_storm(spec(), 9, run_prefix="run-a")
    assert len(set(storm.id)) == len(storm) == storm.originals
    assert all(i.startswith("run-a-") for i in storm.id[:50])
    other = build_storm(spec(), 9, run_prefix="run-b")
    assert not set(storm.id) & set(other.id)


def test_seq_counts_each_key_in_time_order():
    frame = build_storm(spec(), 3).to_frame()
    assert np.all(np.diff(frame["t_offset"]) >= 0)
    for _, group in frame.groupby("key"):
        assert group["seq"].tolist() == list(range(1, len(group) + 1))


def test_duplicates_repeat_a_recent_earlier_original():
    storm = build_storm(spec(duplicates={"fraction": 0.1}), 4)
    dup = np.flatnonzero(storm.duplicate_of >= 0)
    assert 0.08 < len(dup) / len(storm) < 0.12
    source = storm.duplicate_of[dup]
    assert np.all(source < dup) and np.all(storm.duplicate_of[source] == -1)
    for column in ("id", "key", "seq", "size", "poison"):
        assert np.array_equal(getattr(storm, column)[dup], getattr(storm, column)[source])
    assert storm.payload(int(dup[0])) == storm.payload(int(source[0]))
    originals_between = np.cumsum(storm.duplicate_of < 0)
    assert np.all(originals_between[dup] - originals_between[source] <= DUPLICATE_WINDOW)
    assert len(set(storm.id)) == storm.originals == len(storm) - len(dup)


def test_poison_every_n_and_fraction():
    every = build_storm(spec(poison={"every": 10}), 5)
    assert every.poison.sum() == every.originals // 10
    fraction = build_storm(spec(poison={"fraction": 0.2}), 5)
    assert 0.17 < fraction.poison.mean() < 0.23


def test_bodies_have_their_size_and_poison_is_not_json():
    storm = build_storm(spec(poison={"every": 7}), 6)
    for row in range(200):
        body = storm.payload(row)
        assert len(body) == storm.size[row]
        if storm.poison[row]:
            assert is_poison(body)
            with pytest.raises(ValueError):
                json.loads(body)
        else:
            decoded = json.loads(body)
            assert (decoded["id"], decoded["key"], decoded["seq"]) == (
                storm.id[row],
                storm.key[row],
                storm.seq[row],
            )


def test_tiny_payload_keeps_its_json_skeleton():
    storm = build_storm(spec(payload={"fixed": 0}), 1)
    assert json.loads(storm.payload(0))["id"] == storm.id[0]


def test_split_by_key_partitions_all_rows():
    storm = build_storm(spec(duplicates={"fraction": 0.05}), 8)
    parts = storm.split(3)
    assert sum(len(p) for p in parts) == len(storm)
    assert sorted(np.concatenate([p.id for p in parts]).tolist()) == sorted(storm.id.tolist())
    for w, part in enumerate(parts):
        assert np.all(part.key_index % 3 == w)
        assert np.all(np.diff(part.t_offset) >= 0)
    with pytest.raises(ValueError):
        storm.split(0)


def test_event_carries_the_row():
    storm = build_storm(spec(), 2)
    event = storm.event(5, intended=10.0, sent=10.001)
    assert (event.id, event.key, event.seq, event.payload) == (
        storm.id[5],
        storm.key[5],
        storm.seq[5],
        storm.payload(5),
    )


def test_a_storm_of_twenty_thousand_per_second_for_a_minute():
    storm = build_storm(
        StormSpec.model_validate({"duration": "60s", "rate": {"per_second": 20000}}), 1
    )
    assert len(storm) == 1_200_000


def test_duplicate_windows_add_re_sends_only_inside_each_window():
    storm = build_storm(spec(), 4, duplicate_windows=[(2.0, 4.0, 0.3), (7.0, 8.0, 0.1)])
    frame = storm.to_frame()
    is_dup = storm.duplicate_of >= 0
    t = frame["t_offset"].to_numpy()
    first, second = (t >= 2.0) & (t < 4.0), (t >= 7.0) & (t < 8.0)
    assert not np.any(is_dup & ~(first | second))
    assert 0.22 < is_dup[first].mean() < 0.38
    assert 0.03 < is_dup[second].mean() < 0.2
    assert np.all(storm.duplicate_of[is_dup] < np.flatnonzero(is_dup))


def test_without_windows_the_storm_is_the_one_it_always_was():
    s = spec(duplicates={"fraction": 0.05})
    assert frames_equal(build_storm(s, 8), build_storm(s, 8, duplicate_windows=[]))
