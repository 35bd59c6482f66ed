"""Latency summaries, per-window series and fault-window phases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.checks import prepare
from harness.checks.latency import Samples, phases, samples, series, summary


def test_summary_uses_nearest_rank_in_milliseconds() -> None:
    values = np.arange(1, 1001) / 1000.0  # 1 ms .. 1000 ms
    out = summary(Samples(at=np.zeros(1000), value=values))
    assert out == {
        "count": 1000,
        "p50_ms": 500.0,
        "p90_ms": 900.0,
        "p99_ms": 990.0,
        "p99.9_ms": 999.0,
        "max_ms": 1000.0,
    }


def test_series_windows_and_quantiles() -> None:
    sample = Samples(at=np.array([0.1, 0.2, 0.9, 2.5]), value=np.array([0.003, 0.001, 0.002, 0.05]))
    frame = series(sample, window=1.0, origin=0.0)
    assert frame["start"].tolist() == [0.0, 2.0]
    assert frame["count"].tolist() == [3, 1]
    assert frame["p50_ms"].tolist() == pytest.approx([2.0, 50.0])
    assert frame["max_ms"].tolist() == pytest.approx([3.0, 50.0])
    with pytest.raises(ValueError, match="window"):
        series(sample, window=0)


def test_phases_split_before_during_after_each_fault() -> None:
    sample = Samples(at=np.array([1.0, 5.0, 6.0, 11.0]), value=np.array([0.001, 0.1, 0.2, 0.002]))
    faults = pd.DataFrame(
        {"kind": ["toxic.latency"], "target": ["kafka-1"], "t_start": [4.0], "t_end": [10.0]}
    )
    (phase,) = phases(sample, faults)
    assert phase["before"]["count"] == 1
    assert phase["during"]["max_ms"] == pytest.approx(200.0)
    assert phase["after"]["p50_ms"] == pytest.approx(2.0)


def test_end_to_end_is_measured_from_intended_time_and_first_delivery() -> None:
    rows = [
        {"op": "send", "id": "a", "t_intended": 1.0, "t": 1.5, "t_ack": 1.6, "status": "ok"},
        {"op": "recv", "id": "a", "t": 2.0, "group": "g"},
        {"op": "recv", "id": "a", "t": 9.0, "group": "g"},
    ]
    measured = samples(prepare(pd.DataFrame(rows)))
    assert measured["end_to_end_intended"].value.tolist() == pytest.approx([1.0])
    assert measured["end_to_end_sent"].value.tolist() == pytest.approx([0.5])
    assert measured["publish"].value.tolist() == pytest.approx([0.1])
    assert measured["schedule_slip"].value.tolist() == pytest.approx([0.5])
