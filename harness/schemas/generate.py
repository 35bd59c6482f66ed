"""Seeded values from a schema: the same seed and index give the same value, on any machine.

The generator covers what event schemas use: JSON Schema's types, ``enum``, ``const``,
``properties``/``required`` (optional properties appear about half the time),
``additionalProperties: false``, numeric bounds (inclusive and exclusive, integer
``multipleOf``), string lengths, ``format`` (uuid, date-time, date, email, uri), array
``items``/``minItems``/``maxItems``, ``oneOf``/``anyOf`` (one branch) and ``allOf`` of objects;
and Avro's records, enums, arrays, maps, unions, fixed and primitives with the ``uuid``,
``timestamp-millis``/``-micros`` and ``date`` logical types.

It is written here rather than taken from ``hypothesis-jsonschema``, whose 0.23.1 fails with
the Hypothesis this project pins (``'many' object has no attribute 'more'``), and because a
storm needs one cheap value per event by index, not a shrinking search (``docs/decisions.md``).
A schema keyword the generator cannot honour (``pattern`` without ``examples``) is refused when
the generator is made, never discovered mid-storm.
"""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from harness.errors import ConfigError
from harness.schemas.documents import SchemaDocument, SchemaKind

MAX_ITEMS = 8
"""Arrays and maps get at most this many entries when the schema does not bound them lower."""
MAX_STRING = 24
"""Strings get at most this many characters when the schema does not bound them lower."""
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_WORDS = string.ascii_lowercase + string.digits
_UNSUPPORTED = ("pattern", "patternProperties", "dependentSchemas", "not", "if", "contains")


class ValueGenerator:
    """Values of one schema: ``value(i)`` is the i-th, a pure function of the seed and ``i``."""

    def __init__(self, document: SchemaDocument, seed: int) -> None:
        self.document = document
        self._seed = seed
        if document.kind is SchemaKind.JSON_SCHEMA:
            _refuse_unsupported(document.schema, document.source, "")

    def value(self, index: int | str) -> Any:
        rng = random.Random(f"{self._seed}:{self.document.name}:{index}")
        if self.document.kind is SchemaKind.AVRO:
            return _avro_value(self.document.schema, rng, {})
        return _json_value(self.document.schema, rng)


def _refuse_unsupported(node: Any, source: str, where: str) -> None:
    if isinstance(node, Mapping):
        for keyword in _UNSUPPORTED:
            if keyword in node and not (keyword == "pattern" and node.get("examples")):
                raise ConfigError(
                    f"{source}: '{keyword}' at {where or '(root)'} cannot be generated from; "
                    "give 'examples' (values are drawn from them) or drop the keyword"
                )
        for key, child in node.items():
            _refuse_unsupported(child, source, f"{where}/{key}")
    elif isinstance(node, list):
        for i, child in enumerate(node):
            _refuse_unsupported(child, source, f"{where}/{i}")


# --- JSON Schema -------------------------------------------------------------------------


def _json_value(schema: Any, rng: random.Random) -> Any:
    if schema is True or schema == {}:
        return rng.choice([rng.randint(0, 100), _word(rng, 1, 8), True, None])
    if not isinstance(schema, Mapping):
        raise ConfigError("a schema of 'false' admits no value")
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return rng.choice(list(schema["enum"]))
    if schema.get("examples") and "pattern" in schema:
        return rng.choice(list(schema["examples"]))
    for keyword in ("oneOf", "anyOf"):
        if keyword in schema:
            rest = {k: v for k, v in schema.items() if k != keyword}
            return _json_value({**rest, **rng.choice(list(schema[keyword]))}, rng)
    if "allOf" in schema:
        return _json_value(_merge_all_of(schema), rng)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = rng.choice(kind)
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    maker = _JSON_MAKERS.get(kind)
    if maker is None:
        raise ConfigError(f"unknown JSON Schema type '{kind}'")
    return maker(schema, rng)


def _merge_all_of(schema: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema["allOf"]:
        for key, value in part.items():
            if key == "properties":
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required":
                merged["required"] = sorted({*merged.get("required", []), *value})
            else:
                merged.setdefault(key, value)
    return merged


def _object(schema: Mapping[str, Any], rng: random.Random) -> dict[str, Any]:
    properties: Mapping[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", ()))
    out: dict[str, Any] = {}
    for name, child in properties.items():
        if name in required or rng.random() < 0.5:
            out[name] = _json_value(child, rng)
    for name in required - out.keys():  # required but not described: any small value
        out[name] = _word(rng, 1, 8)
    return out


def _array(schema: Mapping[str, Any], rng: random.Random) -> list[Any]:
    low = int(schema.get("minItems", 0))
    high = int(schema.get("maxItems", max(low, MAX_ITEMS)))
    items = schema.get("items", {})
    values = [_json_value(items, rng) for _ in range(rng.randint(low, max(low, high)))]
    if schema.get("uniqueItems"):
        unique: list[Any] = []
        for value in values:
            if value not in unique:
                unique.append(value)
        values = unique
    return values


def _integer(schema: Mapping[str, Any], rng: random.Random) -> int:
    low, high = _bounds(schema)
    if "exclusiveMinimum" in schema:
        low = max(low, schema["exclusiveMinimum"] + 1)
    if "exclusiveMaximum" in schema:
        high = min(high, schema["exclusiveMaximum"] - 1)
    low, high = int(-(-low // 1)), int(high // 1)  # ceil and floor of float bounds
    step = int(schema.get("multipleOf", 1))
    first = -(-low // step) * step
    if first > high:
        raise ConfigError(f"no integer in [{low}, {high}] is a multiple of {step}")
    return first + step * rng.randint(0, (high - first) // step)


def _number(schema: Mapping[str, Any], rng: random.Random) -> float:
    low = float(schema.get("minimum", schema.get("exclusiveMinimum", _bounds(schema)[0])))
    high = float(schema.get("maximum", schema.get("exclusiveMaximum", _bounds(schema)[1])))
    value = round(rng.uniform(low, high), 4)
    if not low < value < high:  # a rounded draw on an exclusive bound: the middle is inside
        value = (low + high) / 2
    return value


def _bounds(schema: Mapping[str, Any]) -> tuple[float, float]:
    """The schema's inclusive bounds, or a span of a million beside the one it gives."""
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if low is None and high is None:
        return -1_000_000, 1_000_000
    if low is None:
        return high - 1_000_000, high
    if high is None:
        return low, low + 1_000_000
    return low, high


def _string(schema: Mapping[str, Any], rng: random.Random) -> str:
    fmt = schema.get("format")
    if fmt == "uuid":
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    if fmt == "date-time":
        return (_EPOCH + timedelta(seconds=rng.randint(0, 365 * 86_400))).isoformat()
    if fmt == "date":
        return (_EPOCH + timedelta(days=rng.randint(0, 365))).date().isoformat()
    if fmt == "email":
        return f"{_word(rng, 3, 10)}@{_word(rng, 3, 8)}.example"
    if fmt in ("uri", "url"):
        return f"https://{_word(rng, 3, 8)}.example/{_word(rng, 1, 12)}"
    low = int(schema.get("minLength", 1))
    high = int(schema.get("maxLength", max(low, MAX_STRING)))
    return _word(rng, low, max(low, high))


def _word(rng: random.Random, low: int, high: int) -> str:
    return "".join(rng.choices(_WORDS, k=rng.randint(low, high)))


_JSON_MAKERS = {
    "object": _object,
    "array": _array,
    "integer": _integer,
    "number": _number,
    "string": _string,
    "boolean": lambda _schema, rng: rng.random() < 0.5,
    "null": lambda _schema, _rng: None,
}


# --- Avro ---------------------------------------------------------------------------------


def _avro_value(schema: Any, rng: random.Random, named: dict[str, Any]) -> Any:
    if isinstance(schema, list):  # a union: one branch
        return _avro_value(rng.choice(schema), rng, named)
    if isinstance(schema, str):
        if schema in named:
            return _avro_value(named[schema], rng, named)
        return _avro_primitive(schema, None, rng)
    kind = schema["type"]
    if "name" in schema and kind in ("record", "enum", "fixed"):
        named[schema["name"]] = schema
        if "namespace" in schema:
            named[f"{schema['namespace']}.{schema['name']}"] = schema
    if kind == "record":
        return {f["name"]: _avro_value(f["type"], rng, named) for f in schema["fields"]}
    if kind == "enum":
        return rng.choice(schema["symbols"])
    if kind == "array":
        return [_avro_value(schema["items"], rng, named) for _ in range(rng.randint(0, MAX_ITEMS))]
    if kind == "map":
        return {_word(rng, 1, 8): _avro_value(schema["values"], rng, named)
                for _ in range(rng.randint(0, MAX_ITEMS))}  # fmt: skip
    if kind == "fixed":
        return rng.randbytes(int(schema["size"]))
    return _avro_primitive(kind, schema.get("logicalType"), rng)


def _avro_primitive(kind: str, logical: str | None, rng: random.Random) -> Any:
    if logical == "uuid":  # as fastavro reads it back
        return uuid.UUID(int=rng.getrandbits(128), version=4)
    if logical in ("timestamp-millis", "timestamp-micros"):
        return _EPOCH + timedelta(milliseconds=rng.randint(0, 365 * 86_400_000))
    if logical == "date":
        return (_EPOCH + timedelta(days=rng.randint(0, 365))).date()
    makers: dict[str, Any] = {
        "null": lambda: None,
        "boolean": lambda: rng.random() < 0.5,
        "int": lambda: rng.randint(-(2**31), 2**31 - 1),
        "long": lambda: rng.randint(-(2**40), 2**40),
        "float": lambda: round(rng.uniform(-1e6, 1e6), 2),
        "double": lambda: rng.uniform(-1e6, 1e6),
        "bytes": lambda: rng.randbytes(rng.randint(0, 16)),
        "string": lambda: _word(rng, 1, MAX_STRING),
    }
    if kind not in makers:
        raise ConfigError(f"unknown Avro type '{kind}'")
    return makers[kind]()


__all__ = ["MAX_ITEMS", "MAX_STRING", "ValueGenerator"]
