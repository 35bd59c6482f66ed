"""Before a schema-driven run: the versions' compatibility verdicts, and the plan of which
event is written with which version, kept beside the history for the checks.

``schema-plan.parquet`` holds one row per original event (``id``, ``version``, ``drift``,
``must_read``); ``schema-compatibility.json`` the verdict of each adjacent pair of versions
and of each version against the reader, with the reasons.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from harness.load import Storm
from harness.load.schema_bodies import DRIFT_CODES, must_read
from harness.scenario.schema import StormSchema
from harness.schemas import Compatibility, compatibility
from harness.vocabulary import SCHEMA_PLAN_FILE

COMPATIBILITY_FILE = "schema-compatibility.json"


def verdicts(schema: StormSchema) -> list[Compatibility]:
    """Each adjacent pair of versions (oldest first), then each other version against the
    reader where that pair is not adjacent."""
    documents = schema.documents()
    names = list(documents)
    pairs = list(zip(names, names[1:], strict=False))
    reader = schema.reader_version
    for name in names:
        pair = (name, reader) if names.index(name) < names.index(reader) else (reader, name)
        if name != reader and pair not in pairs:
            pairs.append(pair)
    return [compatibility(documents[old], documents[new]) for old, new in pairs]


def record_schema_plan(out_dir: Path, storm: Storm, schema: StormSchema) -> list[Compatibility]:
    """Write the plan and the verdicts into ``out_dir``; return the verdicts."""
    assert storm.version is not None and storm.drift is not None
    originals = storm.duplicate_of < 0
    names = np.array(list(schema.versions), dtype=object)
    drift_names = np.array(["none", *DRIFT_CODES], dtype=object)
    version, drift = storm.version[originals], storm.drift[originals]
    table = pa.table(
        {
            "id": pa.array(storm.id[originals], pa.string()),
            "version": pa.array(names[version], pa.string()),
            "drift": pa.array(drift_names[drift], pa.string()),
            "must_read": pa.array(must_read(schema, version, drift), pa.bool_()),
        }
    )
    pq.write_table(table, out_dir / SCHEMA_PLAN_FILE)
    found = verdicts(schema)
    document = {
        "reader": schema.reader_version,
        "pairs": [
            {"old": c.old, "new": c.new, "verdict": str(c.verdict), "reason": c.reason}
            for c in found
        ],
    }
    (out_dir / COMPATIBILITY_FILE).write_text(json.dumps(document, indent=1) + "\n", "utf-8")
    return found


__all__ = ["COMPATIBILITY_FILE", "record_schema_plan", "verdicts"]
