"""Compatibility of two schema versions: BACKWARD, FORWARD, FULL or NONE, with the reason.

BACKWARD means a reader on the new version reads what the old one wrote (consumers upgrade
first); FORWARD means a reader on the old version reads what the new one writes (producers
upgrade first); FULL is both. The words are Confluent's.

- Avro: ``avro``'s ``ReaderWriterCompatibilityChecker`` in both directions; the reason is its
  own messages and locations.
- JSON Schema: ``jsoncompat`` (0.3.1, the last release for Python 3.11), whose deserializer
  role asks whether the new schema accepts every value the old accepts (BACKWARD) and whose
  serializer role the converse (FORWARD). It answers yes or no; the reason is the harness's
  own summary of what changed between the two (properties added, removed, newly required,
  retyped, and whether extra properties are allowed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from harness.errors import ConfigError
from harness.schemas.documents import SchemaDocument, SchemaKind


class Verdict(StrEnum):
    FULL = "FULL"
    BACKWARD = "BACKWARD"
    FORWARD = "FORWARD"
    NONE = "NONE"


@dataclass(frozen=True)
class Compatibility:
    old: str
    new: str
    verdict: Verdict
    reason: str

    def __str__(self) -> str:
        return f"{self.old} -> {self.new}: {self.verdict} ({self.reason})"


def compatibility(old: SchemaDocument, new: SchemaDocument) -> Compatibility:
    """The verdict for a writer on ``old`` and a reader on ``new``, and the converse."""
    if old.kind is not new.kind:
        raise ConfigError(
            f"{old.name} is {old.kind} and {new.name} is {new.kind}: versions of one event "
            "share one schema language"
        )
    if old.kind is SchemaKind.AVRO:
        backward, forward, reason = _avro(old.schema, new.schema)
    else:
        backward, forward, reason = _json(old.schema, new.schema)
    verdict = {
        (True, True): Verdict.FULL,
        (True, False): Verdict.BACKWARD,
        (False, True): Verdict.FORWARD,
        (False, False): Verdict.NONE,
    }[(backward, forward)]
    return Compatibility(old.name, new.name, verdict, reason)


def _avro(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[bool, bool, str]:
    import avro.schema
    from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

    old_schema = avro.schema.parse(json.dumps(old))
    new_schema = avro.schema.parse(json.dumps(new))
    checker = ReaderWriterCompatibilityChecker()
    reads_old = checker.get_compatibility(reader=new_schema, writer=old_schema)
    reads_new = checker.get_compatibility(reader=old_schema, writer=new_schema)
    ok = SchemaCompatibilityType.compatible
    notes = []
    for label, result in (("new reads old", reads_old), ("old reads new", reads_new)):
        if result.compatibility is not ok:
            where = ", ".join(sorted(result.locations or ())) or "/"
            what = "; ".join(sorted(result.messages or ())) or "incompatible"
            notes.append(f"{label}: {what} at {where}")
    reason = "; ".join(notes) or "each reads the other's records"
    return reads_old.compatibility is ok, reads_new.compatibility is ok, reason


def _json(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[bool, bool, str]:
    import jsoncompat

    old_text, new_text = json.dumps(old), json.dumps(new)
    backward = bool(jsoncompat.check_compat(old_text, new_text, "deserializer"))
    forward = bool(jsoncompat.check_compat(old_text, new_text, "serializer"))
    return backward, forward, _json_changes(old, new)


def _json_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    old_props: Mapping[str, Any] = old.get("properties", {})
    new_props: Mapping[str, Any] = new.get("properties", {})
    newly_required = sorted(set(new.get("required", ())) - set(old.get("required", ())))
    changes = []
    if newly_required:
        changes.append(f"newly required: {', '.join(newly_required)}")
    added = sorted(new_props.keys() - old_props.keys())
    if added:
        changes.append(f"added: {', '.join(added)}")
    removed = sorted(old_props.keys() - new_props.keys())
    if removed:
        changes.append(f"removed: {', '.join(removed)}")
    retyped = sorted(
        name for name in old_props.keys() & new_props.keys()
        if old_props[name].get("type") != new_props[name].get("type")
    )  # fmt: skip
    if retyped:
        changes.append(f"type changed: {', '.join(retyped)}")
    for label, schema in (("old", old), ("new", new)):
        if schema.get("additionalProperties") is not False:
            changes.append(f"{label} allows undeclared properties")
    return "; ".join(changes) or "no property changes"


__all__ = ["Compatibility", "Verdict", "compatibility"]
