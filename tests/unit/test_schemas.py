"""Schemas: loading (and refusing), seeded generation that honours the schema, encoding,
drift, and the compatibility verdicts of the shipped versions."""

from __future__ import annotations

import contextlib
import json
import random
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import ConfigError
from harness.schemas import (
    MAX_SCHEMA_BYTES,
    DriftKind,
    SchemaKind,
    ValueGenerator,
    Verdict,
    compatibility,
    confluent_schema_id,
    decoder,
    drifted,
    encoder,
    load_schema,
)
from harness.schemas.commands import register  # noqa: F401  (the CLI module imports cleanly)

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
JSON_VERSIONS = [SCHEMAS / f"orders-v{n}.json" for n in (1, 2, 3)]
AVRO_VERSIONS = [SCHEMAS / f"orders-v{n}.avsc" for n in (1, 2, 3)]
FORMATS = jsonschema.Draft202012Validator.FORMAT_CHECKER


def _validator(schema: object) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema, format_checker=FORMATS)


@pytest.mark.parametrize("path", JSON_VERSIONS, ids=lambda p: p.name)
@given(index=st.integers(0, 2**40), seed=st.integers(0, 2**31))
@settings(max_examples=50, deadline=None)
def test_generated_json_values_satisfy_their_schema_formats_included(
    path: Path, index: int, seed: int
) -> None:
    document = load_schema(path)
    value = ValueGenerator(document, seed).value(index)
    assert list(_validator(document.schema).iter_errors(value)) == []


@given(index=st.integers(0, 2**40))
@settings(max_examples=50, deadline=None)
def test_asyncapi_message_payload_is_resolved_and_generated_within_it(index: int) -> None:
    document = load_schema(SCHEMAS / "orders.asyncapi.yaml", message="OrderPlaced")
    assert document.channel == "orders.placed"
    assert "$ref" not in json.dumps(document.schema)
    value = ValueGenerator(document, 3).value(index)
    assert list(_validator(document.schema).iter_errors(value)) == []
    assert set(value["total"]) == {"amount_cents", "currency"}


_BOUNDS = st.tuples(st.integers(-(10**6), 10**6), st.integers(0, 10**4))


@given(bounds=_BOUNDS, exclusive=st.booleans(), step=st.integers(1, 7), index=st.integers(0, 999))
@settings(max_examples=100, deadline=None)
def test_integers_honour_inclusive_and_exclusive_bounds_and_multiples(
    bounds: tuple[int, int], exclusive: bool, step: int, index: int, tmp_path_factory
) -> None:
    low, span = bounds
    high = low + span + 2 * step + 2
    keys = ("exclusiveMinimum", "exclusiveMaximum") if exclusive else ("minimum", "maximum")
    schema = {"type": "integer", keys[0]: low, keys[1]: high, "multipleOf": step}
    path = tmp_path_factory.mktemp("s") / "int.json"
    path.write_text(json.dumps(schema))
    value = ValueGenerator(load_schema(path), 1).value(index)
    assert list(_validator(schema).iter_errors(value)) == []


def test_the_same_seed_gives_the_same_values_and_another_seed_others() -> None:
    document = load_schema(JSON_VERSIONS[0])
    first = [ValueGenerator(document, 7).value(i) for i in range(20)]
    again = [ValueGenerator(document, 7).value(i) for i in range(20)]
    other = [ValueGenerator(document, 8).value(i) for i in range(20)]
    assert first == again
    assert first != other


@pytest.mark.parametrize("confluent_id", [None, 42])
@given(index=st.integers(0, 2**40))
@settings(max_examples=30, deadline=None)
def test_avro_values_round_trip_through_the_wire_format(
    confluent_id: int | None, index: int
) -> None:
    document = load_schema(AVRO_VERSIONS[1])
    assert document.kind is SchemaKind.AVRO
    value = ValueGenerator(document, 5).value(index)
    body = encoder(document, confluent_id)(value)
    assert confluent_schema_id(body) == confluent_id
    assert decoder(document, confluent=confluent_id is not None)(body) == value


def test_shipped_versions_get_the_verdicts_the_docs_give() -> None:
    json_docs = [load_schema(p) for p in JSON_VERSIONS]
    avro_docs = [load_schema(p) for p in AVRO_VERSIONS]
    verdicts = [
        compatibility(json_docs[0], json_docs[1]),
        compatibility(json_docs[1], json_docs[2]),
        compatibility(avro_docs[0], avro_docs[1]),
        compatibility(avro_docs[1], avro_docs[2]),
    ]
    assert [v.verdict for v in verdicts] == [
        Verdict.BACKWARD,
        Verdict.FORWARD,
        Verdict.FULL,
        Verdict.FORWARD,
    ]
    assert "newly required: channel" in verdicts[1].reason
    assert "loyalty_id" in verdicts[3].reason


def test_a_newly_required_field_is_not_backward_compatible(tmp_path: Path) -> None:
    old = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"],
           "additionalProperties": False}  # fmt: skip
    new = {**old, "properties": {**old["properties"], "b": {"type": "integer"}},
           "required": ["a", "b"]}  # fmt: skip
    (tmp_path / "old.json").write_text(json.dumps(old))
    (tmp_path / "new.json").write_text(json.dumps(new))
    result = compatibility(load_schema(tmp_path / "old.json"), load_schema(tmp_path / "new.json"))
    assert result.verdict in (Verdict.FORWARD, Verdict.NONE)
    assert "newly required: b" in result.reason


def test_versions_in_two_schema_languages_are_refused() -> None:
    with pytest.raises(ConfigError, match="share one schema language"):
        compatibility(load_schema(JSON_VERSIONS[0]), load_schema(AVRO_VERSIONS[0]))


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.json", "{", "not JSON"),
        ("bad.json", '{"type": "nonsense"}', "not a valid JSON Schema"),
        (
            "bad.avsc",
            '{"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]}',
            "not a valid Avro schema",
        ),
        ("bad.yaml", "a: [1,", "not YAML"),
        ("pat.json", '{"type": "string", "pattern": "^a+$"}', "cannot be generated from"),
        ("ref.json", '{"$ref": "#/nowhere"}', "points at nothing"),
        ("far.json", '{"$ref": "https://example.com/x.json"}', "is not local"),
        ("loop.json", '{"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}', "nest"),
        ("old.yaml", "asyncapi: 2.6.0\n", "only AsyncAPI 3"),
        ("none.yaml", "asyncapi: 3.0.0\ncomponents: {messages: {A: {}}}\n", "name the AsyncAPI"),
    ],
)
def test_malformed_schemas_get_one_clear_error(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as raised:
        ValueGenerator(load_schema(path), 1)
    assert str(path) in str(raised.value)


def test_an_oversized_schema_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b" " * (MAX_SCHEMA_BYTES + 1))
    with pytest.raises(ConfigError, match="at most"):
        load_schema(path)


@given(data=st.binary(max_size=300), suffix=st.sampled_from([".json", ".avsc", ".yaml"]))
@settings(max_examples=200, deadline=None)
def test_any_bytes_either_load_or_raise_config_error(
    data: bytes, suffix: str, tmp_path_factory
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / f"s{suffix}"
    path.write_bytes(data)
    try:
        document = load_schema(path)
    except ConfigError as error:
        assert str(path) in str(error)  # one message naming the file
        return
    assert document.kind in (SchemaKind.JSON_SCHEMA, SchemaKind.AVRO)
    with contextlib.suppress(ConfigError):  # a valid schema the generator refuses up front
        ValueGenerator(document, 1).value(0)


def test_a_deeply_nested_document_is_refused_not_a_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigError):
        load_schema(path)


@given(index=st.integers(0, 10**6), kind=st.sampled_from(list(DriftKind)))
@settings(max_examples=50, deadline=None)
def test_drift_breaks_the_strict_schema_and_changes_one_thing(index: int, kind: DriftKind) -> None:
    document = load_schema(JSON_VERSIONS[0])  # additionalProperties: false
    value = ValueGenerator(document, 2).value(index)
    changed = drifted(value, kind, random.Random(index))
    assert list(_validator(document.schema).iter_errors(changed)) != []
    differing = {k for k in value.keys() | changed.keys() if value.get(k) != changed.get(k)}
    assert len(differing) == 1
