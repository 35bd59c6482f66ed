"""Provider-mode checks on literal histories: forged_accepted and lost_after_retries."""

from __future__ import annotations

import pandas as pd

from harness.checks import check


def send(i: str, status: str = "ok", t: float = 1.0) -> dict:
    return {"op": "send", "id": i, "key": "k", "seq": 1, "t": t, "t_ack": t + 0.1,
            "status": status, "producer": "webhook"}  # fmt: skip


def attempt(i: str, n: int, status: int | None, t: float = 1.0) -> dict:
    return {"op": "request", "id": i, "t": t, "t_ack": t + 0.01, "attempt": n,
            "http_status": status, "source": "webhook", "producer": "webhook"}  # fmt: skip


def attack(i: str, reason: str, status: int | None) -> dict:
    return {"op": "request", "id": i, "t": 2.0, "t_ack": 2.01, "attempt": 1,
            "http_status": status, "source": "webhook_attack", "reason": reason}  # fmt: skip


def effect(i: str, t: float = 1.5) -> dict:
    return {"op": "effect", "id": i, "key": "k", "seq": 1, "t": t, "source": "observe:db"}


def observed() -> dict:
    return {"op": "observe", "kind": "effect", "source": "observe:db", "t": 0.0}


def run(rows: list[dict]):
    return check(pd.DataFrame(rows))


def test_refused_attacks_without_effects_are_clean() -> None:
    rows = [observed(), send("a"), attempt("a", 1, 200), effect("a")]
    rows += [attack("atk-1", "forged_signature", 401), attack("atk-2", "missing_headers", 400)]
    rows += [attack("a", "replay", 401)]
    result = run(rows)
    assert result.anomalies["forged_accepted"] == 0
    assert result.anomalies["lost_after_retries"] == 0
    assert result.valid


def test_an_accepted_or_applied_forgery_is_counted_once_each() -> None:
    rows = [observed(), send("a"), attempt("a", 1, 200), effect("a")]
    rows += [attack("atk-1", "forged_signature", 200)]  # accepted
    rows += [attack("atk-2", "tampered_body", 401), effect("atk-2")]  # refused, applied
    rows += [attack("atk-3", "wrong_secret", 403)]  # refused, not applied: fine
    rows += [attack("a", "replay", 204)]  # a replay accepted
    result = run(rows)
    assert result.anomalies["forged_accepted"] == 3
    assert not result.valid
    assert set(result.examples["forged_accepted"]) == {"atk-2", "a"}  # ids the history codes


def test_an_event_whose_every_attempt_failed_is_lost_after_retries() -> None:
    rows = [observed(), send("a", "fail"), attempt("a", 1, 503), attempt("a", 2, None)]
    rows += [send("b"), attempt("b", 1, 500), attempt("b", 2, 200), effect("b")]
    rows += [send("c", "fail"), attempt("c", 1, 302), effect("c")]  # applied despite a 3xx
    result = run(rows)
    assert result.anomalies["lost_after_retries"] == 1
    assert result.examples["lost_after_retries"] == ["a"]


def test_webhook_attempts_are_not_taken_for_downstream_calls() -> None:
    rows = [observed(), send("a"), attempt("a", 1, 503), attempt("a", 2, 200), effect("a")]
    result = run(rows)
    assert result.counts["requests"] == 0
    assert result.counts["webhook_attempts"] == 2
