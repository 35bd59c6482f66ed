"""The time from a webhook endpoint's recovery to its backlog's delivery (provider mode), on
synthetic attempts and fault windows."""

from __future__ import annotations

import math

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from harness.checks.backlog import backlog_drain, drain_seconds


def attempts(rows: list[tuple[str, float, float | None, int | None]], source: str = "webhook"):
    return pd.DataFrame(
        {
            "id": [r[0] for r in rows],
            "t": [r[1] for r in rows],
            "t_ack": [math.nan if r[2] is None else r[2] for r in rows],
            "http_status": [math.nan if r[3] is None else float(r[3]) for r in rows],
            "attempt": [1.0] * len(rows),
            "reason": [None] * len(rows),
            "source": [source] * len(rows),
        }
    )


def faults(*windows: tuple[str, str, float, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "kind": [w[0] for w in windows],
            "target": [w[1] for w in windows],
            "t_start": [w[2] for w in windows],
            "t_end": [w[3] for w in windows],
            "reason": [None] * len(windows),
        }
    )


WINDOW = faults(("downstream.503", "endpoint", 10.0, 12.0))


def test_the_drain_is_from_the_windows_end_to_the_last_refused_event_delivered() -> None:
    rows = attempts(
        [
            ("a", 10.5, 10.6, 503), ("a", 12.4, 12.5, 200),
            ("b", 11.0, 11.1, 503), ("b", 13.0, 13.25, 200),
            ("c", 9.0, 9.1, 200),  # before the window: not backlog
        ]
    )  # fmt: skip
    (row,) = backlog_drain(rows, WINDOW).itertuples()
    assert (row.refused, row.undrained) == (2, 0)
    assert math.isclose(row.drained_s, 1.25)
    assert math.isclose(drain_seconds(backlog_drain(rows, WINDOW)), 1.25)


def test_an_event_never_delivered_leaves_the_backlog_undrained() -> None:
    rows = attempts([("a", 10.5, 10.6, 503), ("a", 11.5, None, None)])
    (row,) = backlog_drain(rows, WINDOW).itertuples()
    assert (row.refused, row.undrained) == (1, 1) and math.isnan(row.drained_s)
    assert drain_seconds(backlog_drain(rows, WINDOW)) == math.inf


def test_a_reset_attempt_started_before_the_window_counts_and_attacks_do_not() -> None:
    rows = attempts([("a", 9.9, 10.1, None), ("a", 12.0, 12.5, 200)])
    attack = attempts([("atk-1", 11.0, 11.1, 401)], source="webhook_attack")
    frame = backlog_drain(pd.concat([rows, attack]), WINDOW)
    assert frame.refused.tolist() == [1] and math.isclose(frame.drained_s[0], 0.5)


def test_only_windows_on_the_endpoint_count_and_a_security_fault_is_not_one() -> None:
    rows = attempts([("a", 10.5, 10.6, 503), ("a", 12.4, 12.5, 200)])
    other = faults(
        ("webhook.attack", "endpoint", 10.0, 10.0), ("process.kill", "kafka-1", 10.0, 12.0)
    )
    assert backlog_drain(rows, other).empty
    assert math.isnan(drain_seconds(backlog_drain(rows, other)))


def test_no_attempts_or_no_faults_give_an_empty_frame() -> None:
    assert backlog_drain(attempts([]), WINDOW).empty
    assert backlog_drain(attempts([("a", 1.0, 1.1, 200)]), faults()).empty


@given(
    st.lists(
        st.tuples(
            st.sampled_from("abcdef"),
            st.floats(0, 30),
            st.floats(0, 1),
            st.sampled_from([200, 503, 429, None]),
        ),
        max_size=40,
    )  # fmt: skip
)
def test_the_drain_is_never_negative_and_refused_counts_events_once(raw) -> None:
    rows = attempts([(i, t, t + d, s) for i, t, d, s in raw])
    frame = backlog_drain(rows, WINDOW)
    for row in frame.itertuples():
        assert row.refused <= len({r[0] for r in raw})
        assert math.isnan(row.drained_s) or row.drained_s >= 0
        assert 0 <= row.undrained <= row.refused
