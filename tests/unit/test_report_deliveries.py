"""The webhook report parts: deliveries by status over time, attempts per event, and the time a
5xx window's backlog took to drain, over literal histories."""

from __future__ import annotations

import math

import pandas as pd

from harness.checks import prepare
from harness.report.deliveries import (
    attempts_per_event,
    backlog_drain,
    provider_attempts,
    provider_drain,
    provider_status_series,
    security_faults,
    status_series,
)
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


def provider_history() -> pd.DataFrame:
    from tests.unit.test_checks_webhook import attack, attempt, effect, observed
    from tests.unit.test_checks_webhook import send as webhook_send

    endpoint = {**fault(2.0, 4.0), "target": "endpoint"}
    rows = [observed(), endpoint, webhook_send("a"), webhook_send("b"), webhook_send("c")]
    rows += [attempt("a", 1, 200, 1.0), effect("a")]
    rows += [attempt("b", 1, 503, 2.5), attempt("b", 2, 503, 3.5), attempt("b", 3, 200, 5.0)]
    rows += [attempt("c", 1, 503, 3.0), attempt("c", 2, None, 6.5), attempt("c", 3, 200, 7.5)]
    rows += [effect("b", 5.1), effect("c", 7.6)]
    rows += [attack("atk-1", "forged_signature", 401), attack("atk-2", "tampered_body", 200)]
    rows += [attack("atk-3", "missing_headers", 400), effect("atk-3"), attack("a", "replay", 401)]
    return pd.DataFrame(rows)


def test_provider_mode_counts_the_endpoints_answers_per_window_and_attempts_per_event():
    prepared = prepare(provider_history())
    series = provider_status_series(prepared, origin=0.0, window=2.0)
    got = {(r.t, r.status): r.deliveries for r in series.itertuples()}
    assert got == {
        (0.0, "200"): 1,
        (2.0, "503"): 3,
        (4.0, "200"): 1,
        (6.0, "none"): 1,
        (6.0, "200"): 1,
    }  # fmt: skip  (the security faults are not deliveries)
    attempts = provider_attempts(prepared)
    assert dict(zip(attempts.attempts, attempts.events, strict=True)) == {1: 1, 3: 2}
    assert status_series(prepared, 0.0, 2.0).empty  # no receiver in provider mode


def test_provider_mode_drains_the_endpoints_backlog_after_its_window():
    (row,) = provider_drain(prepare(provider_history()), origin=1.0).itertuples()
    assert (row.fault, row.target, row.start, row.end) == ("downstream.503", "endpoint", 1.0, 3.0)
    assert (row.refused, row.undrained) == (2, 0)
    assert math.isclose(row.drained_s, 7.51 - 4.0)  # c's 2xx answer came back at 7.51


def test_each_security_fault_shows_what_the_endpoint_answered_and_whether_it_took_it():
    security = security_faults(prepare(provider_history()))
    got = {r.attack: (r.status, bool(r.applied), bool(r.accepted)) for r in security.itertuples()}
    assert got == {
        "forged_signature": ("401", False, False),
        "tampered_body": ("200", False, True),
        "missing_headers": ("400", True, True),  # refused, yet applied
        "replay": ("401", False, False),  # its id was applied once, as the real event
    }
