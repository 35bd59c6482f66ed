"""Generated values as bytes on the wire: JSON, or Avro binary with optional Confluent framing.

Confluent's wire format is a zero magic byte and the schema id as a 4-byte big-endian integer
before the Avro body; a consumer built on a Confluent deserializer reads the id to find the
writer's schema. Here the id is the one the scenario gives each version (there is no registry).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

from harness.errors import ConfigError
from harness.schemas.documents import SchemaDocument, SchemaKind

CONFLUENT_MAGIC = 0
MAX_SCHEMA_ID = 2**31 - 1

Encoder = Callable[[Any], bytes]


def encoder(document: SchemaDocument, confluent_id: int | None = None) -> Encoder:
    """A function from one value of ``document`` to its bytes."""
    if document.kind is SchemaKind.JSON_SCHEMA:
        if confluent_id is not None:
            raise ConfigError(f"{document.source}: Confluent framing applies to Avro schemas only")
        return _json_bytes
    import fastavro

    parsed = fastavro.parse_schema(dict(document.schema))
    prefix = b""
    if confluent_id is not None:
        if not 0 <= confluent_id <= MAX_SCHEMA_ID:
            raise ConfigError(f"a Confluent schema id is 0..{MAX_SCHEMA_ID}, not {confluent_id}")
        prefix = bytes([CONFLUENT_MAGIC]) + confluent_id.to_bytes(4, "big")

    def avro_bytes(value: Any) -> bytes:
        out = io.BytesIO()
        out.write(prefix)
        fastavro.schemaless_writer(out, parsed, value)
        return out.getvalue()

    return avro_bytes


def decoder(document: SchemaDocument, confluent: bool = False) -> Callable[[bytes], Any]:
    """The inverse of ``encoder`` (Confluent framing: the id is checked to be present)."""
    if document.kind is SchemaKind.JSON_SCHEMA:
        return json.loads
    import fastavro

    parsed = fastavro.parse_schema(dict(document.schema))

    def read(body: bytes) -> Any:
        stream = io.BytesIO(body)
        if confluent:
            header = stream.read(5)
            if len(header) != 5 or header[0] != CONFLUENT_MAGIC:
                raise ValueError("not Confluent wire format (no magic byte and schema id)")
        return fastavro.schemaless_reader(stream, parsed, None)

    return read


def confluent_schema_id(body: bytes) -> int | None:
    """The schema id of a Confluent-framed body, or None when it is not framed."""
    if len(body) < 5 or body[0] != CONFLUENT_MAGIC:
        return None
    return int.from_bytes(body[1:5], "big")


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


__all__ = ["CONFLUENT_MAGIC", "Encoder", "confluent_schema_id", "decoder", "encoder"]
