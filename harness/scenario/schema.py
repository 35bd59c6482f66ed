"""``storm.schema``: versioned schemas that the storm's events are generated from.

    storm:
      schema:
        versions:
          v1: {file: ../schemas/orders-v1.json}
          v2: {file: ../schemas/orders-v2.json}
        start: v1                                    # default: the first version
        reader: v2                                   # what the reader claims; default the last
        consumer_version: v1                         # the built-in consumer's, default: reader
        schema_change: {to: v2, fraction: 0.5, at: 20s}      # a rolling producer upgrade
        schema_drift: {fraction: 0.05, kind: extra_field, at: 5s, for: 10s}

A relative ``file`` is read from the scenario file's folder. Every version is read and checked
while the scenario is validated (``harness validate`` reports a malformed schema at its line),
and the path is kept absolute, so a shard process re-validating the storm reads the same file.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from harness.errors import ConfigError
from harness.scenario.base import StrictModel
from harness.scenario.durations import Duration
from harness.schemas import DriftKind, SchemaDocument, SchemaKind, load_schema

MAX_VERSIONS = 16
_VERSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
_BASE_DIR: ContextVar[Path | None] = ContextVar("schema_base_dir", default=None)


@contextlib.contextmanager
def schema_files_from(folder: Path) -> Iterator[None]:
    """Resolve relative schema files against ``folder`` (the scenario file's) meanwhile."""
    token = _BASE_DIR.set(folder)
    try:
        yield
    finally:
        _BASE_DIR.reset(token)


@functools.lru_cache(maxsize=64)
def _document(path: str, message: str | None, name: str, mtime_ns: int) -> SchemaDocument:
    return load_schema(Path(path), name=name, message=message)


class SchemaVersion(StrictModel):
    """One version: a schema file (an AsyncAPI document with ``message``), and for Avro the
    Confluent schema id to frame its events with (none: plain Avro binary)."""

    file: str
    message: str | None = None
    confluent_id: int | None = Field(default=None, ge=0, le=2**31 - 1)

    @field_validator("file")
    @classmethod
    def _absolute(cls, file: str) -> str:
        path = Path(file).expanduser()
        if not path.is_absolute():
            path = (_BASE_DIR.get() or Path.cwd()) / path
        return str(path.resolve())

    def document(self, name: str) -> SchemaDocument:
        """The schema, read once per file version (a ``ConfigError`` names what is wrong)."""
        path = Path(self.file)
        try:
            mtime = path.stat().st_mtime_ns
        except OSError as error:
            raise ConfigError(f"{path}: cannot read the schema file ({error.strerror})") from None
        return _document(self.file, self.message, name, mtime)


class SchemaChange(StrictModel):
    """From ``at``, ``fraction`` of the events are written with version ``to``."""

    to: str
    fraction: float = Field(default=1.0, gt=0, le=1)
    at: Duration = 0.0


class SchemaDrift(StrictModel):
    """From ``at`` for ``for`` (default: to the storm's end), ``fraction`` of the events stray
    from their schema: an undeclared field, a field of another type, or either."""

    fraction: float = Field(gt=0, le=1)
    kind: DriftKind | None = None
    at: Duration = 0.0
    for_: Duration | None = Field(default=None, alias="for")


class StormSchema(StrictModel):
    versions: dict[str, SchemaVersion] = Field(min_length=1, max_length=MAX_VERSIONS)
    start: str | None = None
    reader: str | None = None
    consumer_version: str | None = None
    """The version the built-in consumer really reads with (default: ``reader``); another one
    plays a consumer that was not upgraded although the service claims ``reader``."""
    schema_change: SchemaChange | list[SchemaChange] = Field(default_factory=list)
    schema_drift: SchemaDrift | None = None

    @field_validator("versions")
    @classmethod
    def _names(cls, versions: dict[str, SchemaVersion]) -> dict[str, SchemaVersion]:
        for name in versions:
            if not _VERSION_NAME.match(name):
                raise ValueError(
                    f"version name {name!r}: letters, digits, '.', '_' or '-', at most 32"
                )
        return versions

    @model_validator(mode="after")
    def _consistent(self) -> StormSchema:
        names = list(self.versions)
        known = ", ".join(names)
        named = (("start", self.start), ("reader", self.reader))
        for label, value in (*named, ("consumer_version", self.consumer_version)):
            if value is not None and value not in self.versions:
                raise ValueError(f"{label}: unknown version {value!r} (versions: {known})")
        for change in self.changes:
            if change.to not in self.versions:
                raise ValueError(f"schema_change.to: unknown version {change.to!r} ({known})")
        documents = self.documents()  # reads and checks every file now, not mid-storm
        kinds = {d.kind for d in documents.values()}
        if len(kinds) > 1:
            raise ValueError("versions of one event share one schema language (JSON or Avro)")
        for name, version in self.versions.items():
            if version.confluent_id is not None and documents[name].kind is not SchemaKind.AVRO:
                raise ValueError(f"versions.{name}.confluent_id: applies to Avro schemas only")
        if self.schema_drift is not None and SchemaKind.AVRO in kinds:
            raise ValueError(
                "schema_drift: an Avro writer cannot encode what its schema does not describe; "
                "drift applies to JSON Schema versions"
            )
        return self

    @property
    def changes(self) -> list[SchemaChange]:
        changes = self.schema_change
        return sorted([changes] if isinstance(changes, SchemaChange) else changes,
                      key=lambda c: c.at)  # fmt: skip

    @property
    def start_version(self) -> str:
        return self.start or next(iter(self.versions))

    @property
    def reader_version(self) -> str:
        return self.reader or list(self.versions)[-1]

    @property
    def consumer_reads(self) -> str:
        return self.consumer_version or self.reader_version

    def documents(self) -> dict[str, SchemaDocument]:
        """Every version's schema, by name; a ``ValueError`` names a file that fails."""
        try:
            return {name: v.document(name) for name, v in self.versions.items()}
        except ConfigError as error:
            raise ValueError(str(error)) from None

    def scaled(self, factor: float) -> StormSchema:
        """The same versions with the change and drift times multiplied by ``factor``."""
        changes = [c.model_copy(update={"at": c.at * factor}) for c in self.changes]
        drift = self.schema_drift
        if drift is not None:
            span = drift.for_ * factor if drift.for_ is not None else None
            drift = drift.model_copy(update={"at": drift.at * factor, "for_": span})
        return self.model_copy(update={"schema_change": changes, "schema_drift": drift})

    def summary(self) -> dict[str, Any]:
        return {"versions": list(self.versions), "reader": self.reader_version}


__all__ = [
    "MAX_VERSIONS",
    "SchemaChange",
    "SchemaDrift",
    "SchemaVersion",
    "StormSchema",
    "schema_files_from",
]
