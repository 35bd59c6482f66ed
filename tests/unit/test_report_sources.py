"""The report's "who recorded what": rows by source and op, reported ones set aside when an
observed source watched the same op."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from harness.history import HistoryWriter, write_jsonl
from harness.report.sources import source_counts

ROWS = [
    {
        "op": "observe",
        "kind": "effect",
        "target": "output",
        "t_start": 1.0,
        "source": "observe:output",
    },
    {"op": "send", "id": "a", "t": 1.0, "status": "ok"},
    {"op": "send", "id": "b", "t": 1.0, "status": "ok"},
    {"op": "effect", "id": "a", "t": 2.0, "source": "observe:output"},
    {"op": "effect", "id": "b", "t": 2.0, "source": "report"},
    {"op": "dead_letter", "id": "b", "t": 2.0, "source": "report"},
]


def _table(path: Path) -> list[tuple[str, str, int, bool]]:
    frame = source_counts(path)
    return [(r.source, r.op, r.rows, r.set_aside) for r in frame.itertuples()]


def test_counts_by_source_and_op_with_reported_rows_of_observed_ops_set_aside(
    tmp_path: Path,
) -> None:
    with HistoryWriter(tmp_path / "history.parquet") as writer:
        for row in ROWS:
            writer.append(row)
    expected = [
        ("harness", "send", 2, False),
        ("observe:output", "effect", 1, False),
        ("report", "dead_letter", 1, False),
        ("report", "effect", 1, True),
    ]
    assert _table(tmp_path / "history.parquet") == expected
    write_jsonl(pq.read_table(tmp_path / "history.parquet"), tmp_path / "history.jsonl")
    assert _table(tmp_path / "history.jsonl") == expected


def test_a_history_without_sources_has_no_table(tmp_path: Path) -> None:
    with HistoryWriter(tmp_path / "history.parquet") as writer:
        writer.append({"op": "send", "id": "a", "t": 1.0, "status": "ok"})
    assert source_counts(tmp_path / "history.parquet").empty
