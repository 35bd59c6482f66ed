"""Literal histories for the edge cases named in issue 3, and the JSON result shape."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from harness.checks import ANOMALIES, CheckPolicy, check
from harness.checks.webhook_receiver import NAMES as WEBHOOK_CHECKS
from harness.errors import ConfigError, HistoryError


def send(i: str, seq: int | None = 1, key: str | None = "k", status: str = "ok", **kw: Any) -> dict:
    return {
        "op": "send",
        "id": i,
        "key": key,
        "seq": seq,
        "t_intended": 1.0,
        "t": 1.001,
        "t_ack": 1.002,
        "status": status,
        **kw,
    }


def recv(
    i: str, t: float, seq: int | None = 1, key: str | None = "k", group: str = "g", **kw: Any
) -> dict:
    return {"op": "recv", "id": i, "key": key, "seq": seq, "t": t, "group": group, **kw}


def run(rows: list[dict], policy: CheckPolicy | None = None):
    return check(pd.DataFrame(rows), policy)


def test_empty_history_in_memory_has_zero_counts_and_no_guarantee() -> None:
    result = run([])  # a file without ops is an error (see test_history_files); a frame is not
    assert result.valid
    assert result.delivery_guarantee is None
    assert result.effect_guarantee is None
    assert set(result.anomalies) == set(ANOMALIES)
    assert sum(result.anomalies.values()) == 0
    assert result.counts["events"] == 0
    assert result.latency["publish"] == {"count": 0}


def test_json_shape() -> None:
    out = run([send("e1"), recv("e1", 2.0)]).to_json()
    assert list(out) == [
        "valid",
        "delivery_guarantee",
        "effect_guarantee",
        "anomalies",
        "examples",
        "counts",
        "latency",
    ]
    assert out["delivery_guarantee"] == "exactly-once"
    assert out["effect_guarantee"] is None
    assert out["latency"]["end_to_end_intended"]["p99_ms"] == pytest.approx(1000.0)


def test_sends_without_key_are_checked_for_loss_not_order() -> None:
    rows = [
        send("a", None, None),
        send("b", None, None),
        recv("b", 2.0, None, None),
        recv("a", 3.0, None, None),
    ]
    result = run(rows)
    assert result.anomalies["out_of_order"] == 0
    assert run(rows[:-1]).anomalies["lost"] == 1


def test_redelivery_after_consumer_restart_is_duplicate_not_disorder() -> None:
    rows = [send(f"e{s}", s, partition=0, offset=s) for s in (1, 2, 3)]
    rows += [recv(f"e{s}", 10 + s, s, partition=0, offset=s) for s in (1, 2, 3)]
    rows += [recv(f"e{s}", 20 + s, s, partition=0, offset=s, redelivered=True) for s in (2, 3)]
    result = run(rows)
    assert result.anomalies["duplicate_delivery"] == 2
    assert result.anomalies["out_of_order"] == 0
    assert result.valid  # duplicate_delivery is allowed by default
    assert result.delivery_guarantee == "at-least-once"
    assert not run(rows, CheckPolicy().denying(["duplicate_delivery"])).valid


def test_rabbitmq_repeat_without_positions_is_duplicate_delivery() -> None:
    rows = [send("e1"), recv("e1", 2.0, queue="q"), recv("e1", 3.0, queue="q")]
    assert run(rows).anomalies["duplicate_delivery"] == 1


def test_unknown_and_failed_sends_are_not_lost_but_recovered_if_delivered() -> None:
    rows = [
        send("u", status="unknown"),
        send("f", 2, status="fail"),
        send("ok", 3),
        recv("u", 2.0),
        recv("ok", 3.0, 3),
    ]
    result = run(rows)
    assert result.anomalies["lost"] == 0
    assert result.anomalies["recovered"] == 1
    assert result.examples["recovered"] == ["u"]


def test_retry_that_succeeds_is_not_recovered() -> None:
    rows = [
        send("e", status="unknown", attempt=1),
        send("e", status="ok", attempt=2),
        recv("e", 2.0),
    ]
    assert run(rows).anomalies["recovered"] == 0


def test_several_consumers_in_one_group_share_the_work() -> None:
    rows = [
        send("a", 1),
        send("b", 2),
        recv("a", 2.0, 1, consumer="c1"),
        recv("b", 2.1, 2, consumer="c2"),
    ]
    assert sum(run(rows).anomalies.values()) == 0


def test_loss_is_judged_per_group() -> None:
    rows = [send("a"), recv("a", 2.0, group="g1"), recv("b", 2.0, group="g2"), send("b", 2)]
    result = run(rows)
    assert result.anomalies["lost"] == 2
    assert result.examples["lost"] == ["a", "b"]


def test_interleaved_keys_are_ordered_independently() -> None:
    rows = [send("a1", 1, "a"), send("b1", 1, "b"), send("a2", 2, "a"), send("b2", 2, "b")]
    rows += [
        recv("b1", 1.0, 1, "b"),
        recv("a1", 2.0, 1, "a"),
        recv("b2", 3.0, 2, "b"),
        recv("a2", 4.0, 2, "a"),
    ]
    assert run(rows).anomalies["out_of_order"] == 0
    rows[-1]["t"] = 0.5  # a2 now arrives before a1
    result = run(rows)
    assert result.anomalies["out_of_order"] == 1
    assert result.examples["out_of_order"] == ["a1"]


def test_poison_dead_lettered_and_not_applied_is_fine() -> None:
    rows = [
        send("p", poison=True),
        recv("p", 2.0),
        {"op": "dead_letter", "id": "p", "t": 2.1},
        send("e", 2),
        recv("e", 2.2, 2),
        {"op": "effect", "id": "e", "t": 2.3},
    ]
    result = run(rows)
    assert sum(result.anomalies.values()) == 0
    # no downstream, no webhook deliveries, no webhook receiver
    no_endpoint = ("request_after_give_up", "retry_after_ignored", "forged_accepted")
    no_endpoint += ("lost_after_retries", *WEBHOOK_CHECKS)
    assert result.skipped == (*no_endpoint, "schema_rejected")  # not a schema-driven run


def test_effect_and_dlq_checks_skipped_without_their_ops() -> None:
    result = run([send("e"), recv("e", 2.0)])
    assert set(result.skipped) == {
        "out_of_order_effect",
        "duplicate_effect",
        "missing_effect",
        "invalid_output",
        "dlq_missing",
        "dlq_unexpected",
        "request_after_give_up",
        "retry_after_ignored",
        *WEBHOOK_CHECKS,
        "forged_accepted",
        "lost_after_retries",
        "schema_rejected",
    }


def test_delivery_and_effect_guarantees_are_judged_apart() -> None:
    rows = [
        send("a"),
        send("b", 2),
        recv("a", 2.0),
        {"op": "effect", "id": "a", "t": 3.0},
        {"op": "effect", "id": "a", "t": 3.1},
    ]
    result = run(rows)  # b lost in delivery; a applied twice
    assert result.delivery_guarantee == "at-most-once"
    assert result.effect_guarantee == "at-least-once"
    result = run([*rows, recv("b", 2.5, 2)])  # b delivered now, but never applied
    assert result.delivery_guarantee == "exactly-once"
    assert result.effect_guarantee == "none"


def test_redelivered_but_applied_once_is_at_least_once_delivery_exactly_once_effects() -> None:
    rows = [send("a", partition=0, offset=1), recv("a", 2.0, partition=0, offset=1)]
    rows += [recv("a", 2.5, partition=0, offset=1), {"op": "effect", "id": "a", "t": 3.0}]
    result = run(rows)
    assert result.delivery_guarantee == "at-least-once"
    assert result.effect_guarantee == "exactly-once"


def test_dropping_every_poison_event_is_not_exactly_once_effects() -> None:
    rows = [send("a"), recv("a", 2.0), {"op": "effect", "id": "a", "t": 2.1}]
    rows += [send("p", 2, poison=True), recv("p", 2.2, 2)]  # consumed, never dead-lettered
    result = run(rows)
    assert result.anomalies["dlq_missing"] == 1
    assert result.effect_guarantee == "at-most-once"
    assert not result.valid


def test_failed_send_offset_is_not_a_stored_position() -> None:
    rows = [
        send("a", status="fail", partition=0, offset=7),  # the client's guess; never written
        send("a", partition=0, offset=9, attempt=2),
        recv("a", 2.0, partition=0, offset=9),
        send("b", 2, status="fail", partition=0, offset=9),  # would collide with a at 9
    ]
    result = run(rows)
    assert result.anomalies["duplicate_write"] == 0
    assert result.anomalies["inconsistent_offset"] == 0
    rows[0]["status"] = "unknown"  # maybe written: its position counts, as in Jepsen
    assert run(rows).anomalies["duplicate_write"] == 1


def effect(i: str, t: float, seq: int | None = 1, key: str | None = "k") -> dict:
    return {"op": "effect", "id": i, "key": key, "seq": seq, "t": t}


def test_effects_applied_out_of_seq_order_with_deliveries_in_order() -> None:
    rows = [send(f"e{s}", s) for s in (1, 2, 3)]
    rows += [recv(f"e{s}", 10 + s, s) for s in (1, 2, 3)]  # delivered in order
    rows += [effect("e1", 20.0, 1), effect("e3", 21.0, 3), effect("e2", 22.0, 2)]
    result = run(rows)
    assert result.anomalies["out_of_order"] == 0
    assert result.anomalies["out_of_order_effect"] == 1
    assert result.examples["out_of_order_effect"] == ["e2"]
    assert not result.valid
    assert result.effect_guarantee == "exactly-once"  # an ordering anomaly, not loss or dup


def test_effect_order_is_per_key_and_ignores_reapplication_and_keyless_effects() -> None:
    rows = [send("a1", 1, "a"), send("b1", 1, "b"), send("a2", 2, "a"), send("x", None, None)]
    rows += [recv(r["id"], 10.0, r["seq"], r["key"]) for r in rows]
    rows += [effect("b1", 20.0, 1, "b"), effect("a2", 20.5, 2, "a"), effect("a1", 19.0, 1, "a")]
    rows += [effect("a1", 30.0, 1, "a"), effect("x", 15.0, None, None)]  # a1 again: a duplicate
    result = run(rows)
    assert result.anomalies["out_of_order_effect"] == 0
    assert result.anomalies["duplicate_effect"] == 1


def test_malformed_rows_name_the_row() -> None:
    with pytest.raises(HistoryError, match="row 1"):
        run([send("a"), {"op": "recieve", "id": "a", "t": 1.0}])
    with pytest.raises(HistoryError, match="'id' is required"):
        run([{"op": "send", "t": 1.0}])


def test_unknown_anomaly_in_policy_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="losst"):
        CheckPolicy().allowing(["losst"])


def test_extra_columns_are_ignored() -> None:
    rows = [dict(send("a"), tenant="t1"), dict(recv("a", 2.0), tenant="t1")]
    assert run(rows).valid


def _hook(i: str, reason: str | None, t: float = 2.0) -> dict:
    """A webhook the service sent to the harness's receiver, verified, with the schema verdict."""
    return {"op": "request", "id": i, "t": t, "t_ack": t + 0.01, "http_status": 200,
            "attempt": 1, "msg_id": f"msg_{i}", "signature": "valid", "source": "observed:hooks",
            "reason": reason}  # fmt: skip


def test_a_webhook_body_breaking_the_receivers_schema_is_invalid_output() -> None:
    rows = [send("a"), send("b", 2), _hook("a", "contract_held"),
            _hook("b", "invalid_output: at amount: 'x' is not of type 'integer'"),
            _hook("b", "invalid_output: at amount: 'x' is not of type 'integer'", 2.5)]  # fmt: skip
    result = run(rows)
    assert result.anomalies["invalid_output"] == 1  # per event id, not per request
    assert "invalid_output" not in result.skipped


def test_webhooks_checked_against_a_schema_that_all_held_count_zero_not_skipped() -> None:
    result = run([send("a"), _hook("a", "contract_held")])
    assert result.anomalies["invalid_output"] == 0 and "invalid_output" not in result.skipped


def test_a_request_reason_of_another_kind_is_no_contract_verdict() -> None:
    result = run([send("a"), _hook("a", "expired")])
    assert "invalid_output" in result.skipped
