"""The built-in consumer's reader for schema-driven storms: it reads with one version.

In place of the padded-JSON check (``effects.validate``), an event is readable when its body
is valid against the reader version: a JSON body must satisfy the reader's JSON Schema (formats
included), an Avro body must decode with its writer's schema (found by its Confluent id, or the
reader's own when unframed) resolved to the reader's. What it cannot read raises
``PoisonError`` and goes to the dead-letter queue, as a consumer with a schema would do.
"""

from __future__ import annotations

import io
import json
from typing import Any

from harness import events
from harness.drivers.effects import PoisonError
from harness.scenario.schema import StormSchema
from harness.schemas import SchemaKind, confluent_schema_id


class SchemaReader:
    """Reads events with ``schema.consumer_reads``; ``kafka`` and ``amqp`` are the consumer
    drivers' ``decode`` hooks."""

    def __init__(self, schema: StormSchema) -> None:
        documents = schema.documents()
        self.version = schema.consumer_reads
        reader = documents[self.version]
        self._avro = reader.kind is SchemaKind.AVRO
        if self._avro:
            import fastavro

            self._reader = fastavro.parse_schema(dict(reader.schema))
            self._writers = {
                spec.confluent_id: fastavro.parse_schema(dict(documents[name].schema))
                for name, spec in schema.versions.items()
                if spec.confluent_id is not None
            }
        else:
            import jsonschema

            validator = jsonschema.validators.validator_for(reader.schema)
            self._validator = validator(reader.schema, format_checker=validator.FORMAT_CHECKER)

    def check(self, event: events.DecodedEvent) -> events.DecodedEvent:
        try:
            self._read(event.payload)
        except PoisonError as error:
            raise PoisonError(str(error), event) from None
        return event

    def _read(self, body: bytes) -> Any:
        if self._avro:
            return self._read_avro(body)
        try:
            value = json.loads(body)
        except ValueError as exc:
            raise PoisonError(f"payload is not JSON ({exc})") from None
        error = next(iter(self._validator.iter_errors(value)), None)
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            raise PoisonError(f"not a {self.version} event at {where}: {error.message[:200]}")
        return value

    def _read_avro(self, body: bytes) -> Any:
        import fastavro

        stream = io.BytesIO(body)
        writer = self._reader
        schema_id = confluent_schema_id(body) if self._writers else None
        if self._writers:
            if schema_id not in self._writers:
                raise PoisonError(f"unknown Confluent schema id {schema_id}")
            writer = self._writers[schema_id]
            stream.seek(5)
        try:
            value = fastavro.schemaless_reader(stream, writer, self._reader)
        except Exception as exc:  # fastavro raises many kinds for bytes it cannot read
            raise PoisonError(f"not a {self.version} Avro record ({type(exc).__name__})") from None
        if stream.tell() != len(body):
            raise PoisonError(f"{len(body) - stream.tell()} bytes after the {self.version} record")
        return value

    def kafka(self, record: Any) -> events.DecodedEvent:
        return self.check(events.decode_kafka(record.key, record.value, record.headers))

    def amqp(self, properties: Any, body: bytes) -> events.DecodedEvent:
        return self.check(events.decode_amqp(properties, body))


__all__ = ["SchemaReader"]
