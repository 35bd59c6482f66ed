"""The ``observe:`` section and ``IdField``: where an observed message names its input event."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import ConfigError
from harness.scenario import build_scenario
from harness.scenario.observe import IdField, ObserveEntry, follow, parse_jsonpath

MINIMAL_SCENARIO: dict[str, object] = {
    "name": "ok",
    "target": {"kafka": {"topic": "orders", "partitions": 2}},
    "storm": {"duration": "10s", "rate": {"per_second": 100}},
}


def with_sut(**extra: object) -> dict[str, object]:
    return {**MINIMAL_SCENARIO, "system_under_test": {"command": ["python", "svc.py"]}, **extra}


def test_cloudevents_header_is_the_default_then_the_body_id() -> None:
    field = IdField()
    assert field.extract({"CE_ID": b"e1-7"}, b"{}") == "e1-7"
    assert field.extract({"ce-id": "e1-8"}, None) == "e1-8"
    assert field.extract({}, b'{"id": "e1-9"}') == "e1-9"
    assert field.extract({}, b"not json") is None


def test_a_named_header_does_not_fall_back_to_the_body() -> None:
    field = IdField(header="Idempotency-Key")
    assert field.extract({"idempotency-key": b"k"}, b'{"id": "x"}') == "k"
    assert field.extract({}, b'{"id": "x"}') is None


def test_jsonpath_subset() -> None:
    field = IdField(jsonpath="$.order['event id'].refs[1]")
    body = json.dumps({"order": {"event id": {"refs": ["a", 42]}}}).encode()
    assert field.extract({"ce_id": "ignored"}, body) == "42"
    assert IdField(jsonpath="$.a").extract({}, b'{"a": {"b": 1}}') is None  # not a scalar


@pytest.mark.parametrize("bad", ["a.b", "$", "$.", "$..a", "$.a[x]", "$[*]", "$" + ".a" * 200])
def test_unsupported_jsonpaths_are_refused_with_the_reason(bad: str) -> None:
    with pytest.raises(ValueError, match="JSONPath"):
        parse_jsonpath(bad)


@given(
    st.recursive(
        st.integers() | st.text(max_size=5),
        lambda c: st.lists(c) | st.dictionaries(st.text(max_size=5), c),
        max_leaves=20,
    ),
    st.text(max_size=60),
)
def test_any_path_text_either_parses_or_raises_value_error_and_never_crashes_follow(
    doc: object, text: str
) -> None:
    try:
        steps = parse_jsonpath("$" + text)
    except ValueError:
        return
    follow(doc, steps)


@given(
    st.dictionaries(st.text(min_size=1, max_size=8), st.binary(max_size=20)),
    st.binary(max_size=200),
)
def test_extract_never_raises_on_any_message(headers: dict[str, bytes], body: bytes) -> None:
    for field in (IdField(), IdField(header="x"), IdField(jsonpath="$.a[0]")):
        found = field.extract(headers, body)
        assert found is None or isinstance(found, str)


def test_an_entry_names_exactly_one_kind() -> None:
    entry = ObserveEntry.model_validate({"output": {"kafka": {"topic": "out"}}})
    assert (entry.kind, entry.source_name, entry.settings.env) == (
        "output",
        "output",
        "OUTPUT_TOPIC",
    )
    with pytest.raises(ConfigError, match="exactly one kind"):
        build_scenario(
            with_sut(observe=[{"output": {"kafka": {"topic": "o"}}, "dead_letters": {}}])
        )


def test_observe_needs_a_command_and_unique_names_and_variables() -> None:
    observe = [{"dead_letters": {}}]
    with pytest.raises(ConfigError, match="system_under_test.command"):
        build_scenario({**MINIMAL_SCENARIO, "observe": observe})
    twice = [{"output": {"kafka": {"topic": "a"}}}, {"output": {"kafka": {"topic": "b"}}}]
    with pytest.raises(ConfigError, match="taken by entry 0") as raised:
        build_scenario(with_sut(observe=twice))
    assert "OUTPUT_TOPIC is used by entry 0" in str(raised.value)


def test_a_source_variable_may_not_take_the_harness_names() -> None:
    observe = [{"downstream": {"env": "HARNESS_TOPIC"}}]
    with pytest.raises(ConfigError, match="starts with HARNESS_"):
        build_scenario(with_sut(observe=observe))


def test_readiness_rules() -> None:
    scenario = build_scenario(
        with_sut(system_under_test={"command": ["x"], "ready": {"log": "up$"}})
    )
    assert scenario.system_under_test.ready.log == "up$"  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="regular expression"):
        build_scenario(with_sut(system_under_test={"command": ["x"], "ready": {"log": "("}}))
    with pytest.raises(ConfigError, match="ready applies only to a 'command'"):
        build_scenario({**MINIMAL_SCENARIO, "system_under_test": {"ready": "subscribed"}})
