"""Schema documents read from files: JSON Schema, Avro, or one message of an AsyncAPI 3 document.

A document is checked when it is read, so a malformed schema is one clear error naming the file
and never a failure mid-storm:

- the file is at most ``MAX_SCHEMA_BYTES``, checked before it is parsed;
- a JSON Schema must pass its metaschema (Draft 2020-12 unless ``$schema`` says otherwise);
- an Avro schema must parse with ``fastavro``;
- an AsyncAPI document must be version 3, name the message, and have a payload whose local
  ``$ref`` pointers resolve (with ``referencing``); the payload is inlined into one schema.

There is no schema registry here (none can be installed on these machines), so schemas come
from files; ``docs/schemas.md`` says what a registry would add.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

MAX_SCHEMA_BYTES = 1 << 20
MAX_REF_DEPTH = 32
"""How deep inlined ``$ref`` pointers may nest; a recursive schema cannot be generated from."""


class SchemaKind(StrEnum):
    JSON_SCHEMA = "json_schema"
    AVRO = "avro"


@dataclass(frozen=True)
class SchemaDocument:
    """One schema version: its kind, the schema itself, and where it came from."""

    name: str
    kind: SchemaKind
    schema: Mapping[str, Any] = field(repr=False)
    source: str
    channel: str | None = None
    """The AsyncAPI channel's address, for a schema taken from an AsyncAPI message."""


def load_schema(
    path: Path, *, name: str | None = None, message: str | None = None
) -> SchemaDocument:
    """The schema in ``path``: ``.avsc`` is Avro, an ``asyncapi:`` document needs ``message``,
    anything else is JSON Schema (JSON or YAML)."""
    source = str(path)
    try:
        return _load(path, source, name or path.stem, message)
    except RecursionError:
        raise ConfigError(f"{source}: the schema nests too deeply to be read") from None


def _load(path: Path, source: str, label: str, message: str | None) -> SchemaDocument:
    document = _parse(_read(path), source)
    if isinstance(document, Mapping) and "asyncapi" in document:
        return _from_asyncapi(document, source, label, message)
    if message is not None:
        raise ConfigError(f"{source}: 'message' applies to AsyncAPI documents; this is not one")
    if path.suffix == ".avsc":
        return SchemaDocument(label, SchemaKind.AVRO, _avro(document, source), source)
    return SchemaDocument(label, SchemaKind.JSON_SCHEMA, _json_schema(document, source), source)


def _read(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_SCHEMA_BYTES:
            raise ConfigError(
                f"{path}: the schema file is {size:,} bytes; at most {MAX_SCHEMA_BYTES:,} "
                "bytes are read (a schema is a small text file)"
            )
        return path.read_bytes()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the schema file ({error.strerror})") from None


def _parse(data: bytes, source: str) -> Any:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{source}: not UTF-8 text (offset {error.start})") from None
    if source.endswith((".json", ".avsc")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{source}:{error.lineno}: not JSON ({error.msg})") from None
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        return YAML(typ="safe", pure=True).load(text)
    except YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "malformed"
        raise ConfigError(f"{source}{line}: not YAML ({problem})") from None


def _json_schema(document: Any, source: str) -> Mapping[str, Any]:
    if not isinstance(document, Mapping):
        raise ConfigError(f"{source}: a JSON Schema is an object, not {type(document).__name__}")
    import jsonschema
    from jsonschema.exceptions import SchemaError

    try:
        jsonschema.validators.validator_for(document).check_schema(document)
    except SchemaError as error:
        where = "/".join(str(p) for p in error.path) or "(root)"
        raise ConfigError(
            f"{source}: not a valid JSON Schema at {where}: {error.message}"
        ) from None
    return _inline_refs(document, source)


def _avro(document: Any, source: str) -> Mapping[str, Any]:
    import fastavro
    from fastavro.schema import SchemaParseException, UnknownType

    if not isinstance(document, Mapping):
        raise ConfigError(f"{source}: an Avro schema file holds one record schema (an object)")
    try:
        fastavro.parse_schema(dict(document))
    except (SchemaParseException, UnknownType, ValueError, TypeError, KeyError) as error:
        raise ConfigError(f"{source}: not a valid Avro schema: {error}") from None
    return document


def _from_asyncapi(
    document: Mapping[str, Any], source: str, label: str, message: str | None
) -> SchemaDocument:
    version = str(document.get("asyncapi", ""))
    if not version.startswith("3."):
        raise ConfigError(f"{source}: AsyncAPI {version or '?'}; only AsyncAPI 3 is read")
    messages = (document.get("components") or {}).get("messages") or {}
    if message is None:
        names = ", ".join(sorted(messages)) or "none"
        raise ConfigError(f"{source}: name the AsyncAPI message to use (components: {names})")
    if message not in messages:
        names = ", ".join(sorted(messages)) or "none"
        raise ConfigError(f"{source}: no message '{message}' in components.messages ({names})")
    resolved = _inline_refs(document, source)
    body = resolved["components"]["messages"][message]
    payload = body.get("payload") if isinstance(body, Mapping) else None
    if not isinstance(payload, Mapping):
        raise ConfigError(f"{source}: message '{message}' has no payload schema")
    channel = _channel_of(document, message)
    if "schemaFormat" in payload:  # an AsyncAPI multi-format schema object
        schema_format = str(payload["schemaFormat"])
        inner = payload.get("schema")
        if schema_format.startswith("application/vnd.apache.avro"):
            avro = _avro(inner, source)
            return SchemaDocument(label, SchemaKind.AVRO, avro, source, channel)
        payload = inner if isinstance(inner, Mapping) else {}
    schema = _json_schema(payload, source)
    return SchemaDocument(label, SchemaKind.JSON_SCHEMA, schema, source, channel)


def _channel_of(document: Mapping[str, Any], message: str) -> str | None:
    target = f"#/components/messages/{message}"
    for key, channel in (document.get("channels") or {}).items():
        if not isinstance(channel, Mapping):
            continue
        for entry in (channel.get("messages") or {}).values():
            if isinstance(entry, Mapping) and entry.get("$ref") == target:
                return str(channel.get("address") or key)
    return None


def _inline_refs(document: Mapping[str, Any], source: str) -> Mapping[str, Any]:
    """``document`` with every local ``$ref`` replaced by what it points at."""
    from referencing import Registry, Resource
    from referencing.exceptions import Unresolvable
    from referencing.jsonschema import DRAFT202012

    resource = Resource.from_contents(dict(document), default_specification=DRAFT202012)
    resolver = (
        Registry().with_resource("urn:harness:schema", resource).resolver("urn:harness:schema")
    )

    def walk(node: Any, depth: int) -> Any:
        if depth > MAX_REF_DEPTH:
            raise ConfigError(
                f"{source}: $ref pointers nest deeper than {MAX_REF_DEPTH} (a recursive "
                "schema); events cannot be generated from it"
            )
        if isinstance(node, Mapping):
            ref = node.get("$ref")
            if isinstance(ref, str):
                if not ref.startswith("#"):
                    raise ConfigError(f"{source}: $ref '{ref}' is not local; only '#/...' is read")
                try:
                    target = resolver.lookup(ref).contents
                except Unresolvable:
                    raise ConfigError(f"{source}: $ref '{ref}' points at nothing") from None
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return walk({**target, **rest}, depth + 1)
            return {k: walk(v, depth) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, depth) for v in node]
        return node

    return walk(document, 0)


__all__ = ["MAX_SCHEMA_BYTES", "SchemaDocument", "SchemaKind", "load_schema"]
