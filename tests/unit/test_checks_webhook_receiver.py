"""The webhook receiver checks: bad signatures, retries that change their id, retries against
the declared policy, and loss and ordering as the delivery checks judge accepted webhooks.

Literal histories say what each anomaly means; Hypothesis states the laws: a sender that
follows its schedule breaks nothing, and moving one retry earlier than the tolerance (or
dropping a due one) is found on exactly that id.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.checks import check
from tests.unit.test_checks_cases import send

SOURCE = "observe:hooks"
GROUP = "webhook:hooks"
DELAYS = [0.2, 0.5, 1.0]
POLICY = {"delays": DELAYS, "honour_retry_after": True, "disable_on_410": True,
          "early": 0.1, "early_s": 0.05, "late": 1.0, "late_s": 2.0}  # fmt: skip


def observe(policy: dict[str, Any] = POLICY) -> dict[str, Any]:
    return {"op": "observe", "kind": "recv", "target": "hooks", "t_start": 0.0,
            "source": SOURCE, "policy": json.dumps(policy)}  # fmt: skip


def request(i: str, t: float, attempt: int, status: int | None = 200, **kw: Any) -> dict:
    row = {"op": "request", "id": i, "t": t, "t_ack": t + 0.001, "attempt": attempt,
           "http_status": status, "source": SOURCE, "msg_id": f"msg_{i}", "signature": "valid"}  # fmt: skip
    return row | kw


def accepted(i: str, t: float, seq: int = 1, key: str = "k") -> dict:
    return {"op": "recv", "id": i, "t": t, "group": GROUP, "source": SOURCE, "seq": seq,
            "key": key}  # fmt: skip


def delivered(i: str, t: float, *failures: tuple[float, int | None]) -> list[dict]:
    """Requests for ``i``: each failure (time, status), then a 2xx at ``t``."""
    rows = [request(i, ft, n + 1, status) for n, (ft, status) in enumerate(failures)]
    return [*rows, request(i, t, len(failures) + 1), accepted(i, t)]


def anomalies(rows: list[dict]) -> dict[str, int]:
    return check(pd.DataFrame(rows)).anomalies


def test_a_sender_that_follows_its_schedule_is_clean():
    rows = [observe(), send("a"), *delivered("a", 1.7 + 0.002, (1.0, 503), (1.201, 503))]
    rows += [send("z"), *delivered("z", 30.0)]  # the history goes on
    found = anomalies(rows)
    assert found["retry_policy_violation"] == found["bad_signature"] == found["lost"] == 0
    assert found["retry_id_changed"] == 0


def test_a_bad_signature_is_counted_per_id():
    rows = [observe(), send("a"), request("a", 1.0, 1, 401, signature="mismatch")]
    rows += [request("a", 1.25, 2, 401, signature="mismatch"), send("b"), *delivered("b", 2.0)]
    found = anomalies(rows)
    assert found["bad_signature"] == 1 and found["lost"] == 1


def test_giving_up_on_the_first_5xx_is_never_retried_and_lost():
    rows = [observe(), send("a"), request("a", 1.0, 1, 503), send("z"), *delivered("z", 10.0)]
    found = anomalies(rows)
    assert found["retry_policy_violation"] == 1 and found["lost"] == 1


def test_a_retry_not_yet_due_when_the_history_ends_is_not_judged():
    rows = [observe(), send("a"), request("a", 1.0, 1, 503)]
    assert anomalies(rows)["retry_policy_violation"] == 0


def test_too_early_and_too_many_are_violations():
    early = [request("a", 1.0, 1, 503), request("a", 1.05, 2, 200), accepted("a", 1.05)]
    many = [request("b", t, n + 1, 500) for n, t in enumerate([1.0, 1.3, 2.0, 3.2, 5.0])]
    rows = [observe(), send("a"), send("b"), *early, *many, send("z"), *delivered("z", 20.0)]
    found = anomalies(rows)
    assert found["retry_policy_violation"] == 2 and found["lost"] == 1


def test_retry_after_pushes_the_schedule_back_and_410_ends_it():
    waited = [request("a", 1.0, 1, 429, retry_after=2.0), *delivered("a", 3.1)][:-1]
    eager = [request("b", 1.0, 1, 429, retry_after=2.0), request("b", 1.3, 2)]
    gone = [request("c", 1.0, 1, 410)]
    again = [request("d", 1.0, 1, 410), request("d", 1.5, 2)]
    rows = [observe(), *[send(i) for i in "abcdz"], *waited, accepted("a", 3.1), *eager]
    rows += [accepted("b", 1.3), *gone, *again, accepted("d", 1.5), *delivered("z", 20.0)]
    found = anomalies(rows)
    assert found["retry_policy_violation"] == 2  # b too early, d after its 410
    assert found["lost"] == 1  # c: the endpoint said gone


def test_a_retry_that_changes_its_webhook_id_is_found():
    rows = [observe(), send("a"), request("a", 1.0, 1, 503), request("a", 1.3, 2, msg_id="x")]
    rows += [accepted("a", 1.3)]
    assert anomalies(rows)["retry_id_changed"] == 1


def test_accepted_webhooks_out_of_seq_order_per_key_are_out_of_order():
    rows = [observe(), send("a", seq=1), send("b", seq=2)]
    rows += [request("b", 1.0, 1), accepted("b", 1.0, seq=2)]
    rows += [request("a", 1.5, 1), accepted("a", 1.5, seq=1)]
    assert anomalies(rows)["out_of_order"] == 1


def test_without_a_receiver_the_webhook_checks_are_skipped():
    result = check(pd.DataFrame([send("a"), {"op": "recv", "id": "a", "t": 2.0, "group": "g"}]))
    assert {"bad_signature", "retry_policy_violation"} <= set(result.skipped)


schedules = st.lists(
    st.tuples(st.integers(0, len(DELAYS)), st.floats(0.0, 0.09)), min_size=1, max_size=20
)


def following(plan: list[tuple[int, float]]) -> list[dict]:
    """Event ``e<n>`` fails ``f`` times, each retry ``slack`` (a fraction) late, then succeeds."""
    rows = [observe()]
    for n, (fails, slack) in enumerate(plan):
        i, t = f"e{n}", float(n)
        rows.append(send(i))
        for attempt in range(fails):
            rows.append(request(i, t, attempt + 1, 503))
            t += 0.001 + DELAYS[attempt] * (1 + slack)
        rows += [request(i, t, fails + 1), accepted(i, t)]
    return [*rows, send("end"), *delivered("end", len(plan) + 30.0)]


@settings(max_examples=60, deadline=None)
@given(schedules)
def test_law_a_sender_on_schedule_breaks_no_rule(plan):
    found = anomalies(following(plan))
    assert found["retry_policy_violation"] == found["lost"] == found["out_of_order"] == 0


@settings(max_examples=60, deadline=None)
@given(schedules, st.data())
def test_law_a_retry_moved_early_is_found_on_that_id_alone(plan, data):
    retried = [n for n, (fails, _) in enumerate(plan) if fails > 0]
    rows = following(plan)
    if not retried:
        assert anomalies(rows)["retry_policy_violation"] == 0
        return
    victim = f"e{data.draw(st.sampled_from(retried))}"
    mine = [r for r in rows if r["op"] == "request" and r["id"] == victim]
    second = mine[1]
    second["t"] = mine[0]["t_ack"] + DELAYS[0] * 0.5  # half the first wait
    second["t_ack"] = second["t"] + 0.001
    result = check(pd.DataFrame(rows))
    assert result.anomalies["retry_policy_violation"] == 1
    assert result.examples["retry_policy_violation"] == [victim]


@settings(max_examples=40, deadline=None)
@given(schedules, st.randoms(use_true_random=False))
def test_law_row_order_does_not_change_the_counts(plan, rng):
    rows = following(plan)
    shuffled = rows[:]
    rng.shuffle(shuffled)
    assert anomalies(shuffled) == anomalies(rows)
