"""Checks over histories whose effects or dead letters were observed from outside (issue 10).

An ``observe`` row declares that a black-box source watched one op; from then on only rows
whose ``source`` starts with ``observe:`` count for that op, and with no reported deliveries
the delivery checks do not apply and every acknowledged event is owed its effect.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.checks import check
from tests.unit.test_checks_cases import recv, send

OUTPUT = "observe:output"


def observe(op: str, name: str = "output") -> dict[str, Any]:
    return {"op": "observe", "kind": op, "target": name, "t_start": 0.5}


def effect(i: str, t: float = 2.0, source: str | None = OUTPUT, **kw: Any) -> dict[str, Any]:
    return {"op": "effect", "id": i, "t": t, "source": source, **kw}


def dead(i: str, source: str | None = "observe:dlq") -> dict[str, Any]:
    return {"op": "dead_letter", "id": i, "t": 2.0, "source": source}


def run(rows: list[dict[str, Any]]):
    return check(pd.DataFrame(rows))


def test_black_box_owes_an_effect_for_every_acknowledged_event() -> None:
    rows = [observe("effect"), send("a", 1), send("b", 2), send("c", 3, status="fail")]
    result = run([*rows, effect("a")])
    assert result.anomalies["missing_effect"] == 1
    assert result.examples["missing_effect"] == ["b"]
    assert result.delivery_guarantee is None
    assert {"lost", "duplicate_delivery", "out_of_order", "recovered"} <= set(result.skipped)


def test_observed_output_twice_is_duplicate_effect_and_unknown_id_is_unexpected() -> None:
    rows = [observe("effect"), send("a", 1), effect("a"), effect("a", 3.0), effect("zz")]
    result = run(rows)
    assert result.anomalies["duplicate_effect"] == 1
    assert result.anomalies["unexpected"] == 1
    assert result.examples["unexpected"] == ["zz"]


def test_output_order_is_judged_against_the_input_order_per_key() -> None:
    sends = [send("a", 1, key="k"), send("b", 2, key="k"), send("c", 1, key="j")]
    outputs = [effect("b", 2.0), effect("a", 2.1), effect("c", 2.2)]  # no key/seq on outputs
    result = run([observe("effect"), *sends, *outputs])
    assert result.anomalies["out_of_order_effect"] == 1
    assert result.examples["out_of_order_effect"] == ["a"]


def test_reported_effects_are_set_aside_once_effects_are_observed() -> None:
    rows = [observe("effect"), send("a", 1), send("b", 2), effect("a")]
    reported = effect("b", source="report")  # the service says it applied b; nothing shows it
    result = run([*rows, reported])
    assert result.anomalies["missing_effect"] == 1
    assert result.counts["reported_effects_set_aside"] == 1


def test_without_a_declaration_reported_effects_count_as_before() -> None:
    rows = [send("a", 1), recv("a", 2.0), effect("a", source="report")]
    result = run(rows)
    assert result.valid
    assert result.anomalies["missing_effect"] == 0


def test_dead_letters_reported_but_not_in_the_queue_are_caught() -> None:
    poison = send("p", 2, poison=True)
    rows = [observe("effect"), observe("dead_letter", "dlq"), send("a", 1), poison, effect("a")]
    claimed = dead("p", source="report")  # reported, never produced to the DLQ
    result = run([*rows, claimed])
    assert result.anomalies["dlq_missing"] == 1
    assert result.counts["reported_dead_letters_set_aside"] == 1
    assert run([*rows, dead("p")]).valid


def test_observed_effects_with_reported_deliveries_keep_the_delivery_checks() -> None:
    rows = [observe("effect"), send("a", 1), send("b", 2), recv("a", 2.0), effect("a")]
    result = run(rows)
    assert result.anomalies["lost"] == 1  # b acknowledged, never received
    assert result.anomalies["missing_effect"] == 0  # b was never delivered
    assert result.delivery_guarantee is not None


def test_an_observed_source_that_saw_nothing_still_owes_effects() -> None:
    result = run([observe("effect"), send("a", 1)])
    assert result.anomalies["missing_effect"] == 1
    assert result.effect_guarantee is not None


@settings(max_examples=60, deadline=None)
@given(
    applied=st.lists(st.integers(0, 9), max_size=30),
    acked=st.sets(st.integers(0, 9)),
)
def test_black_box_effect_counts_follow_their_definitions(
    applied: list[int], acked: set[int]
) -> None:
    sends = [send(f"e{i}", i, status="ok" if i in acked else "fail") for i in range(10)]
    effects = [effect(f"e{i}", 2.0 + n) for n, i in enumerate(applied)]
    result = run([observe("effect"), *sends, *effects])
    times = pd.Series(applied, dtype=int).value_counts()
    assert result.anomalies["duplicate_effect"] == int((times > 1).sum())
    assert result.anomalies["missing_effect"] == len(acked - set(applied))
    assert result.anomalies["unexpected"] == 0
