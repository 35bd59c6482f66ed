"""Open-model schedules: counts, order, determinism and shape."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.load.schedule import expected_count, intended_offsets
from harness.scenario import Rate


def offsets(duration: float, seed: int = 0, **rate: object) -> np.ndarray:
    return intended_offsets(Rate(**rate), duration, np.random.default_rng(seed))


def check_basic(times: np.ndarray, duration: float) -> None:
    assert times.dtype == np.float64
    assert np.all(np.diff(times) >= 0)
    if len(times):
        assert times[0] >= 0 and times[-1] < duration


@given(
    per_second=st.floats(min_value=0.5, max_value=50_000),
    duration=st.floats(min_value=0.1, max_value=120),
)
def test_constant_count_is_rate_times_duration(per_second, duration):
    times = offsets(duration, shape="constant", per_second=per_second)
    check_basic(times, duration)
    assert abs(len(times) - per_second * duration) <= 1
    if len(times) > 1:
        assert np.allclose(np.diff(times), 1 / per_second)


@given(
    start=st.floats(min_value=0, max_value=5000),
    end=st.floats(min_value=0, max_value=5000),
    duration=st.floats(min_value=0.5, max_value=60),
)
def test_ramp_count_and_order(start, end, duration):
    times = offsets(duration, shape="ramp", **{"from": start, "to": end})
    check_basic(times, duration)
    assert abs(len(times) - (start + end) / 2 * duration) <= 1


def test_ramp_rate_rises_linearly():
    times = offsets(10, shape="ramp", **{"from": 100, "to": 1000})
    per_second = np.histogram(times, bins=10, range=(0, 10))[0]
    expected = [100 + 90 * (i + 0.5) for i in range(10)]
    assert np.allclose(per_second, expected, atol=2)


def test_spike_multiplies_the_rate_inside_its_window_only():
    times = offsets(30, shape="spike", per_second=100, spike_at=10, spike_for=5, spike_factor=4)
    check_basic(times, 30)
    per_second = np.histogram(times, bins=30, range=(0, 30))[0]
    assert np.all(np.abs(per_second[:10] - 100) <= 1)
    assert np.all(np.abs(per_second[10:15] - 400) <= 1)
    assert np.all(np.abs(per_second[15:] - 100) <= 1)
    assert len(times) == 100 * 25 + 400 * 5


def test_burst_adds_simultaneous_events_every_interval():
    times = offsets(10, shape="burst", per_second=10, burst_every=2, burst_size=50)
    check_basic(times, 10)
    values, counts = np.unique(times, return_counts=True)
    assert dict(zip(values[counts > 1].tolist(), counts[counts > 1].tolist(), strict=True)) == {
        2.0: 51,
        4.0: 51,
        6.0: 51,
        8.0: 51,
    }
    assert (
        len(times)
        == 100 + 4 * 50
        == expected_count(Rate(shape="burst", per_second=10, burst_every=2, burst_size=50), 10)
    )


@settings(max_examples=30)
@given(seed=st.integers(0, 2**32 - 1), per_second=st.floats(min_value=50, max_value=5000))
def test_poisson_mean_rate_and_determinism(seed, per_second):
    duration = 20.0
    times = offsets(duration, seed, shape="poisson", per_second=per_second)
    check_basic(times, duration)
    mean = per_second * duration
    assert abs(len(times) - mean) < 6 * np.sqrt(mean)
    assert np.array_equal(times, offsets(duration, seed, shape="poisson", per_second=per_second))


def test_poisson_gaps_are_exponential():
    times = offsets(100, 3, shape="poisson", per_second=1000)
    gaps = np.diff(times)
    assert gaps.mean() == pytest.approx(1e-3, rel=0.02)
    assert gaps.std() == pytest.approx(1e-3, rel=0.05)
    assert not np.array_equal(times, offsets(100, 4, shape="poisson", per_second=1000))


@pytest.mark.parametrize(
    "rate",
    [
        {"shape": "constant", "per_second": 300},
        {"shape": "ramp", "from": 10, "to": 500},
        {"shape": "spike", "per_second": 100, "spike_at": 2, "spike_for": 3, "spike_factor": 5},
        {"shape": "burst", "burst_every": 1.5, "burst_size": 20},
    ],
)
def test_expected_count_matches_deterministic_shapes(rate):
    times = offsets(10, **rate)
    assert abs(len(times) - expected_count(Rate(**rate), 10)) <= 1
