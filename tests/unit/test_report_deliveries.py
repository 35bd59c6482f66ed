"""The webhook report parts: deliveries by status over time, attempts per event, and the time a
5xx window's backlog took to drain, over literal histories."""

from __future__ import annotations

import math

import pandas as pd

from harness.checks import prepare
from harness.report.deliveries import attempts_per_event, backlog_drain, status_series
from tests.unit.test_checks_cases import send
from tests.unit.test_checks_webhook_receiver import accepted, observe, request


def fault(t_start: float, t_end: float, kind: str = "downstream.503") -> dict:
    return {"op": "fault", "kind": kind, "target": "partner", "t_start": t_start, "t_end": t_end}


def history() -> pd.DataFrame:
    rows = [observe(), fault(2.0, 4.0), send("a"), send("b"), send("c")]
    rows += [request("a", 1.0, 1), accepted("a", 1.0)]
    rows += [request("b", 2.5, 1, 503), request("b", 3.5, 2, 503), request("b", 5.0, 3)]
    rows += [accepted("b", 5.0), request("c", 3.0, 1, 503), request("c", 6.5, 2, None)]
    rows += [request("c", 7.5, 3), accepted("c", 7.5)]
    return pd.DataFrame(rows)


def test_deliveries_are_counted_by_status_per_window():
    series = status_series(prepare(history()), origin=0.0, window=2.0)
    got = {(r.t, r.status): r.deliveries for r in series.itertuples()}
    assert got == {(0.0, "200"): 1, (2.0, "503"): 3, (4.0, "200"): 1, (6.0, "none"): 1,
                   (6.0, "200"): 1}  # fmt: skip


def test_attempts_per_event():
    attempts = attempts_per_event(prepare(history()))
    assert dict(zip(attempts.attempts, attempts.events, strict=True)) == {1: 1, 3: 2}


def test_the_backlog_drains_when_the_last_refused_event_is_accepted():
    (row,) = backlog_drain(prepare(history()), origin=0.0).itertuples()
    assert (row.refused, row.undrained) == (2, 0) and math.isclose(row.drained_s, 3.5)


def test_an_event_never_accepted_leaves_the_backlog_undrained():
    rows = [observe(), fault(2.0, 4.0), send("a"), request("a", 2.5, 1, 503)]
    (row,) = backlog_drain(prepare(pd.DataFrame(rows)), origin=0.0).itertuples()
    assert row.undrained == 1 and math.isnan(row.drained_s)


def test_a_run_without_a_receiver_has_no_webhook_rows():
    plain = prepare(pd.DataFrame([send("a")]))
    assert status_series(plain, 0.0, 1.0).empty and backlog_drain(plain, 0.0).empty
