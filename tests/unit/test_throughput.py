"""Achieved, offered and released rates from synthetic histories, and the engine's own
condition: a storm cut short fails the run whatever the scenario declares."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from harness.checks import judge, prepare
from harness.checks.throughput import throughput
from harness.report.view import rate_text
from harness.run.artifacts import _rates
from harness.scenario import build_scenario

SCENARIO = build_scenario(
    {
        "name": "rates",
        "target": {
            "kafka": {
                "topic": "t",
                "partitions": 1,
                "replication_factor": 1,
                "min_insync_replicas": 1,
            }
        },
        "storm": {"duration": "10s", "rate": {"shape": "constant", "per_second": 100}},
    }
)


def sends(
    n: int, rate: float, *, release_factor: float = 1.0, ack_delay: float = 0.002
) -> pd.DataFrame:
    """``n`` sends intended at ``rate``/s; released ``release_factor`` times slower; acked
    ``ack_delay`` s after each release."""
    intended = np.arange(n) / rate
    released = intended * release_factor
    return pd.DataFrame(
        {
            "op": "send",
            "id": [f"e{i}" for i in range(n)],
            "key": "k",
            "seq": np.arange(1, n + 1),
            "t_intended": intended,
            "t": released,
            "t_ack": released + ack_delay,
            "status": "ok",
            "partition": 0,
            "offset": np.arange(n),
        }
    )


def delivered(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` plus one delivery per acknowledged send, so that nothing is lost."""
    recvs = frame[["id", "key", "seq", "partition", "offset"]].assign(
        op="recv", t=frame.t_ack + 0.001, group="g", consumer="c0"
    )
    return pd.concat([frame, recvs], ignore_index=True)


def test_on_time_storm_achieves_what_it_offers() -> None:
    rates = throughput(prepare(sends(1000, 100.0)))
    assert rates.acked == 1000
    assert abs(rates.offered_per_s - 100.0) < 1e-6
    assert abs(rates.released_per_s - 100.0) < 1e-6
    assert 99.0 < rates.achieved_per_s <= 100.1
    assert not rates.behind


def test_engine_that_falls_behind_is_flagged_and_achieves_less() -> None:
    rates = throughput(prepare(sends(1000, 100.0, release_factor=5.0)))
    assert abs(rates.offered_per_s - 100.0) < 1e-6
    assert rates.released_per_s < 21.0
    assert rates.achieved_per_s < 21.0
    assert rates.behind
    text = rate_text(
        {
            "rates": _rates(
                judge(SCENARIO, prepare(sends(1000, 100.0, release_factor=5.0)), storm_seconds=10.0)
            )
        }
    )
    assert text is not None and "engine behind schedule" in text and "of 100 offered" in text


def test_slow_acknowledgements_are_not_blamed_on_the_engine() -> None:
    """A target that acknowledges 5 s late lowers the achieved rate, not the release rate."""
    rates = throughput(prepare(sends(1000, 100.0, ack_delay=5.0)))
    assert rates.achieved_per_s < 70.0
    assert not rates.behind


def test_throughput_metric_is_acked_over_the_send_to_ack_span() -> None:
    """The pacer's clock (10 s of storm) would say 100/s; 5x-slow release achieved ~20/s."""
    verdict = judge(SCENARIO, prepare(sends(1000, 100.0, release_factor=5.0)), storm_seconds=10.0)
    assert verdict.metrics["throughput_per_s"] < 21.0
    assert verdict.metrics["offered_per_s"] > 99.0


def test_unsent_events_fail_the_run_even_without_declared_conditions() -> None:
    history = prepare(delivered(sends(900, 100.0)))
    short = judge(SCENARIO, history, storm_seconds=10.0, events_planned=1000)
    assert short.check.valid
    assert not short.passed and short.exit_code == 1
    (condition,) = short.engine
    assert condition.metric == "unsent" and condition.measured == 100.0
    assert "900 of 1000" in condition.name
    full = judge(SCENARIO, history, storm_seconds=10.0, events_planned=900)
    assert full.passed and full.metrics["unsent"] == 0.0
    assert all(c.passed for c in full.conditions)


@given(
    n=st.integers(2, 400),
    rate=st.floats(1.0, 10_000.0),
    factor=st.floats(1.0, 10.0),
    delay=st.floats(0.0, 2.0),
)
def test_rates_are_bounded_by_the_schedule(
    n: int, rate: float, factor: float, delay: float
) -> None:
    """Law: nothing is released or achieved faster than offered (up to float error), and the
    engine is behind exactly when it released below 95% of the offered rate."""
    rates = throughput(prepare(sends(n, rate, release_factor=factor, ack_delay=delay)))
    assert rates.released_per_s <= rates.offered_per_s * (1 + 1e-9)
    assert rates.achieved_per_s <= rates.offered_per_s * n / (n - 1) * (1 + 1e-9)
    assert rates.behind == (rates.released_per_s < 0.95 * rates.offered_per_s)
