"""The downstream checks: requests after give-up and retries that ignore Retry-After.

Literal cases say what each anomaly means; Hypothesis holds the vectorised checks to the
definitions written out naively, and states the laws a well-behaved client obeys.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from harness.checks import check
from harness.checks.downstream import (
    RETRY_AFTER_SLACK_S,
    request_after_give_up,
    retry_after_ignored,
)
from tests.unit.test_checks_cases import send

NAN = math.nan


def arrays(*columns: list[float]) -> list[np.ndarray]:
    return [np.asarray(c, dtype=float) for c in columns]


def ignored(rows: list[tuple[int, float, float, float]]) -> tuple[int, list[int]]:
    """Count and examples of retry_after_ignored over (id, t, answered, retry_after) rows."""
    ids = np.asarray([r[0] for r in rows], dtype=np.int64)
    t, answered, wait = arrays(*([r[i] for r in rows] for i in (1, 2, 3)))
    found = retry_after_ignored(ids, t, answered, wait, limit=10)
    return found.count, list(found.examples)


def after_give_up(
    requests: list[tuple[int, float]], dead: list[tuple[int, float]], n_ids: int = 5
) -> tuple[int, list[int]]:
    req_id = np.asarray([r[0] for r in requests], dtype=np.int64)
    dead_id = np.asarray([d[0] for d in dead], dtype=np.int64)
    (req_t, dead_t) = arrays([r[1] for r in requests], [d[1] for d in dead])
    found = request_after_give_up(req_id, req_t, dead_id, dead_t, n_ids, limit=10)
    return found.count, list(found.examples)


def test_a_retry_before_the_retry_after_is_out_is_found():
    rows = [(0, 10.0, 10.001, 2.0), (0, 11.0, 11.001, NAN), (1, 10.0, 10.001, 2.0)]
    assert ignored(rows) == (1, [0])


def test_a_retry_once_the_retry_after_is_out_is_fine():
    rows = [(0, 10.0, 10.0, 2.0), (0, 12.0 - RETRY_AFTER_SLACK_S / 2, 12.0, NAN)]
    assert ignored(rows) == (0, [])


def test_a_call_already_sent_when_the_answer_left_is_not_judged_against_it():
    # two concurrent calls: the second arrived before the first's 429 was answered
    rows = [(0, 10.0, 10.5, 2.0), (0, 10.2, 10.6, NAN)]
    assert ignored(rows) == (0, [])


def test_only_an_answer_that_carried_retry_after_binds_and_only_its_next_call():
    rows = [(0, 1.0, 1.0, NAN), (0, 1.1, 1.1, NAN), (0, 1.2, NAN, NAN), (0, 1.3, 1.3, NAN)]
    assert ignored(rows) == (0, [])
    rows = [(2, 5.0, 5.0, 1.0), (2, 5.5, 5.5, 1.0), (2, 5.6, 5.6, NAN), (3, 5.1, 5.1, NAN)]
    assert ignored(rows) == (1, [2])  # counted per id, however many early retries


def test_rows_need_not_come_in_time_order():
    rows = [(0, 11.0, 11.0, NAN), (1, 3.0, 3.0, NAN), (0, 10.0, 10.0, 5.0)]
    assert ignored(rows) == (1, [0])


def test_a_call_after_the_id_was_dead_lettered_is_found():
    requests = [(0, 1.0), (0, 3.0), (1, 1.0), (2, 9.0)]
    assert after_give_up(requests, [(0, 2.0), (1, 2.0)]) == (1, [0])


def test_the_first_dead_letter_of_an_id_counts_and_no_dead_letter_means_no_give_up():
    requests = [(0, 4.0), (1, 4.0)]
    assert after_give_up(requests, [(0, 5.0), (0, 3.0)]) == (1, [0])
    assert after_give_up(requests, []) == (0, [])
    assert after_give_up([], [(0, 1.0)]) == (0, [])


def test_a_dead_letter_without_a_time_gives_nothing_up():
    assert after_give_up([(0, 4.0)], [(0, NAN)]) == (0, [])


ids = st.integers(0, 4)
times = st.floats(0, 100, allow_nan=False)
maybe_times = st.one_of(st.just(NAN), times)
waits = st.one_of(st.just(NAN), st.sampled_from([0.0, 1.0, 2.0, 5.0]))


@given(st.lists(st.tuples(ids, times, maybe_times, waits), max_size=30))
def test_retry_after_ignored_is_its_definition(rows: list[tuple[int, float, float, float]]):
    naive: set[int] = set()
    for event_id in {r[0] for r in rows}:
        mine = sorted((r for r in rows if r[0] == event_id), key=lambda r: r[1])
        for before, after in zip(mine, mine[1:], strict=False):
            _, _, answered, wait = before
            if after[1] >= answered and after[1] < answered + wait - RETRY_AFTER_SLACK_S:
                naive.add(event_id)
    count, examples = ignored(rows)
    assert count == len(naive) and set(examples) <= naive


@given(
    st.lists(st.tuples(ids, times), max_size=30),
    st.lists(st.tuples(ids, maybe_times), max_size=10),
)
def test_request_after_give_up_is_its_definition(
    requests: list[tuple[int, float]], dead: list[tuple[int, float]]
):
    naive = {
        i for i, t in requests if any(d == i and not math.isnan(td) and t > td for d, td in dead)
    }
    count, examples = after_give_up(requests, dead)
    assert count == len(naive) and set(examples) <= naive


def client(calls: int, retry_afters: list[float], extra: list[float], t0: float, event_id: int):
    """The calls of a client for one id, each ``extra[n]`` after the previous Retry-After."""
    rows, t = [], t0
    for n in range(calls):
        answered = t + 0.01
        rows.append((event_id, t, answered, retry_afters[n]))
        t = answered + retry_afters[n] + extra[n]
    return rows


retry_afters = st.lists(st.sampled_from([1.0, 2.0, 5.0]), min_size=4, max_size=4)


@given(
    st.lists(
        st.tuples(
            st.integers(1, 4),
            retry_afters,
            st.lists(st.floats(-RETRY_AFTER_SLACK_S, 3), min_size=4, max_size=4),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_a_client_that_waits_out_every_retry_after_is_never_flagged(
    clients: list[tuple[int, list[float], list[float]]],
):
    rows = [r for i, c in enumerate(clients) for r in client(*c, t0=100.0 * i, event_id=i)]
    assert ignored(rows) == (0, [])


@given(
    st.lists(st.tuples(st.integers(2, 4), retry_afters), min_size=1, max_size=5),
    st.floats(0.1, 0.9),
)
def test_a_client_that_comes_back_early_is_flagged_once_per_id(
    clients: list[tuple[int, list[float]]], share: float
):
    rows = []
    for i, (calls, waits) in enumerate(clients):
        early = [-(1 - share) * w for w in waits]  # back after a share of each Retry-After
        rows += client(calls, waits, early, t0=100.0 * i, event_id=i)
    assert ignored(rows)[0] == len(clients)


@given(st.lists(st.tuples(ids, times), max_size=20), st.floats(-50, 50))
def test_a_give_up_is_judged_the_same_whatever_the_clock_origin(
    requests: list[tuple[int, float]], shift: float
):
    dead = [(0, 40.0), (3, 60.0)]
    moved = after_give_up([(i, t + shift) for i, t in requests], [(i, t + shift) for i, t in dead])
    assert moved[0] == after_give_up(requests, dead)[0]


PAYMENTS = "observe:payments"


def call(i: str, t: float, status: int | None = 200, retry_after: float | None = None, **kw):
    row = {"op": "request", "id": i, "t": t, "t_ack": t + 0.001, "http_status": status}
    return {**row, "retry_after": retry_after, "source": PAYMENTS, "reason": "applied", **kw}


def test_a_whole_history_with_calls_is_judged_by_the_downstream_checks():
    sends = [send(i, n + 1) for n, i in enumerate("abc")]
    declared = {"op": "observe", "kind": "effect", "target": "payments", "t_start": 0.5}
    calls = [
        call("a", 2.0, 429, 2.0, reason="refused"),
        call("a", 2.5),  # 1.5 s before its Retry-After was out
        call("b", 2.0, 503, reason="refused"),
        call("b", 2.1, 503, reason="refused"),
        call("c", 2.0, 503, reason="refused"),
        call("c", 4.0),  # after c was dead-lettered
    ]
    applied = [{"op": "effect", "id": i, "t": 2.5, "source": PAYMENTS} for i in "ac"]
    dead = [
        {"op": "dead_letter", "id": i, "t": 3.0, "source": "observe:dead-letters"} for i in "bc"
    ]
    result = check(pd.DataFrame([declared, *sends, *calls, *applied, *dead]))
    assert result.anomalies["retry_after_ignored"] == 1 and result.examples[
        "retry_after_ignored"
    ] == ["a"]
    assert result.anomalies["request_after_give_up"] == 1
    assert result.examples["request_after_give_up"] == ["c"]
    assert result.counts["requests"] == 6 and not result.valid
    assert {"request_after_give_up", "retry_after_ignored"} <= set(result.invalidating)
    assert result.anomalies["duplicate_effect"] == 0


def test_calls_survive_a_round_trip_through_a_history_file(tmp_path):
    from harness.checks import check_file
    from harness.history import HistoryWriter

    path = tmp_path / "history.parquet"
    with HistoryWriter(path) as writer:
        writer.append(send("a", 1))
        writer.append(call("a", 2.0, 429, 1.0, reason="refused"))
        writer.append(call("a", 2.2, None, None, t_ack=None, reason="refused"))
        writer.append(call("a", 3.5))
    result = check_file(path)
    assert result.counts["requests"] == 3
    assert result.anomalies["retry_after_ignored"] == 1
