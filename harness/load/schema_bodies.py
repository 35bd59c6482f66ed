"""Bodies of a schema-driven storm: which version each event is written with, whether it
drifts, and its bytes.

The choices are made for the whole storm up front, from the seed, as numpy columns (so a seed
replays them and a shard process makes the same ones): every event starts on
``storm.schema.start``; each ``schema_change`` moves ``fraction`` of the events intended from
its ``at`` on to its version (later changes win); ``schema_drift`` marks ``fraction`` of the
events in its window. A body is then made when the event is sent: the version's generated value
for that event id, drifted if marked, encoded for the wire. A duplicate re-sends its original's
body, since the value is a function of the id.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

from harness.scenario.schema import StormSchema
from harness.schemas import DriftKind, ValueGenerator, Verdict, compatibility, drifted, encoder
from harness.schemas.encode import Encoder

NO_DRIFT = 0
DRIFT_CODES = {DriftKind.EXTRA_FIELD: 1, DriftKind.TYPE_CHANGE: 2}
_DRIFT_KINDS = {code: kind for kind, code in DRIFT_CODES.items()}


@dataclass(frozen=True, eq=False)
class SchemaBodies:
    """Generators and encoders of every version, by the version's index in ``names``."""

    names: tuple[str, ...]
    seed: int
    generators: tuple[ValueGenerator, ...] = field(repr=False)
    encoders: tuple[Encoder, ...] = field(repr=False)

    def body(self, event_id: str, version: int, drift: int) -> bytes:
        value = self.generators[version].value(event_id)
        if drift != NO_DRIFT:
            value = drifted(value, _DRIFT_KINDS[drift], random.Random(f"{self.seed}:{event_id}"))
        return self.encoders[version](value)


def schema_bodies(schema: StormSchema, seed: int) -> SchemaBodies:
    documents = schema.documents()
    names = tuple(schema.versions)
    return SchemaBodies(
        names=names,
        seed=seed,
        generators=tuple(ValueGenerator(documents[n], seed) for n in names),
        encoders=tuple(encoder(documents[n], schema.versions[n].confluent_id) for n in names),
    )


def schema_columns(
    schema: StormSchema, offsets: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``(version, drift)`` of each event intended at ``offsets``: int8 columns."""
    names = list(schema.versions)
    version = np.full(len(offsets), names.index(schema.start_version), dtype=np.int8)
    for change in schema.changes:
        moved = (offsets >= change.at) & (rng.random(len(offsets)) < change.fraction)
        version[moved] = names.index(change.to)
    drift = np.zeros(len(offsets), dtype=np.int8)
    spec = schema.schema_drift
    if spec is not None:
        end = spec.at + spec.for_ if spec.for_ is not None else np.inf
        marked = (offsets >= spec.at) & (offsets < end) & (rng.random(len(offsets)) < spec.fraction)
        if spec.kind is None:
            codes = rng.integers(1, len(DRIFT_CODES) + 1, size=len(offsets), dtype=np.int8)
        else:
            codes = np.full(len(offsets), DRIFT_CODES[spec.kind], dtype=np.int8)
        drift[marked] = codes[marked]
    return version, drift


def readable_versions(schema: StormSchema) -> np.ndarray:
    """Per version (in ``versions`` order, oldest first): can the reader version read it?

    The reader reads its own version; an older writer needs the pair to be BACKWARD (or FULL),
    a newer one FORWARD (or FULL), by ``harness.schemas.compatibility``.
    """
    documents = schema.documents()
    names = list(schema.versions)
    reader = names.index(schema.reader_version)
    readable = np.zeros(len(names), bool)
    for writer, name in enumerate(names):
        if writer == reader:
            readable[writer] = True
        elif writer < reader:
            verdict = compatibility(documents[name], documents[names[reader]]).verdict
            readable[writer] = verdict in (Verdict.BACKWARD, Verdict.FULL)
        else:
            verdict = compatibility(documents[names[reader]], documents[name]).verdict
            readable[writer] = verdict in (Verdict.FORWARD, Verdict.FULL)
    return readable


def must_read(schema: StormSchema, version: np.ndarray, drift: np.ndarray) -> np.ndarray:
    """Events the reader must process, not dead-letter: an undrifted event of a version it can
    read. A drifted event or one of an incompatible version may go either way."""
    return readable_versions(schema)[version] & (drift == NO_DRIFT)


__all__ = [
    "DRIFT_CODES",
    "NO_DRIFT",
    "SchemaBodies",
    "must_read",
    "readable_versions",
    "schema_bodies",
    "schema_columns",
]
