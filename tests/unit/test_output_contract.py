"""Output contracts: bodies checked against a JSON Schema, and ``invalid_output`` counted."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.checks import check
from harness.errors import ConfigError
from harness.observe.output_contract import OutputContract
from harness.observe.streams import StreamMessage
from harness.scenario.observe import OutputSource
from harness.schemas import load_schema

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
CONTRACT = OutputContract(load_schema(SCHEMAS / "order-accepted.json"))


def test_a_valid_output_keeps_an_ordinary_effect_row() -> None:
    body = json.dumps({"order_id": "a", "status": "accepted", "key": "k"}).encode()
    fields = CONTRACT.fields(StreamMessage({}, body, 1.0, partition=0, offset=3))
    assert fields == {"partition": 0, "offset": 3}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{", "not JSON"),
        (b'{"order_id": "a", "status": "accepted"}', "'key' is a required property"),
        (b'{"order_id": "a", "status": "accepted", "key": "k", "x": 1}', "Additional"),
        (b'{"order_id": "a", "status": "lost", "key": "k"}', "at status"),
    ],
)
def test_a_broken_output_is_a_failed_effect_with_the_reason(body: bytes, reason: str) -> None:
    fields = CONTRACT.fields(StreamMessage({}, body, 1.0))
    assert fields["status"] == "fail"
    assert fields["reason"].startswith("invalid_output: ")
    assert reason in fields["reason"]


@given(body=st.binary(max_size=200))
@settings(max_examples=200, deadline=None)
def test_any_body_gets_a_verdict_never_an_exception(body: bytes) -> None:
    problem = CONTRACT.problem(body)
    assert problem is None or len(problem) <= 200


def test_the_output_schema_is_checked_when_the_scenario_is_read() -> None:
    with pytest.raises(ValueError, match="JSON Schema"):
        OutputSource(kafka={"topic": "t"}, schema={"file": str(SCHEMAS / "orders-v1.avsc")})
    with pytest.raises((ValueError, ConfigError), match="cannot read the schema file"):
        OutputSource(kafka={"topic": "t"}, schema={"file": "/nowhere.json"})


@given(flags=st.lists(st.booleans(), min_size=1, max_size=25))
@settings(max_examples=50, deadline=None)
def test_invalid_output_counts_the_ids_with_a_broken_output(flags: list[bool]) -> None:
    rows: list[dict[str, object]] = []
    for n, broken in enumerate(flags):
        event_id = f"e{n}"
        rows.append({"op": "send", "id": event_id, "key": "k", "seq": n + 1, "t": float(n),
                     "t_intended": float(n), "t_ack": n + 0.1, "status": "ok"})  # fmt: skip
        rows.append({"op": "recv", "id": event_id, "key": "k", "seq": n + 1, "t": n + 0.2,
                     "group": "g"})  # fmt: skip
        effect = {"op": "effect", "id": event_id, "t": n + 0.3, "source": "observe:output"}
        if broken:
            effect |= {"status": "fail", "reason": "invalid_output: at status: no"}
        rows.append(effect)
    result = check(pd.DataFrame(rows))
    assert result.anomalies["invalid_output"] == sum(flags)
    assert result.anomalies["missing_effect"] == 0  # a broken output is still an output
