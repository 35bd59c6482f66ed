"""ReportTally: report-topic records in, history rows out (no broker)."""

from __future__ import annotations

import json

from harness.drivers import ListRecorder
from harness.sut import ReportTally


def report(**fields: object) -> bytes:
    return json.dumps({"t": 10.0, "consumer": "sut", **fields}).encode()


def test_each_history_op_becomes_one_row_and_is_counted() -> None:
    rows = ListRecorder()
    tally = ReportTally(rows)
    tally.take(report(op="ready", partitions=[0]))
    tally.take(report(op="recv", id="e1", partition=0, offset=0))
    tally.take(report(op="effect", id="e1", partition=0, offset=0))
    tally.take(report(op="recv", id="e2", partition=0, offset=1))
    tally.take(report(op="dead_letter", id="e2", reason="payload is not JSON"))

    assert [(r["op"], r["id"]) for r in rows.rows] == [
        ("recv", "e1"), ("effect", "e1"), ("recv", "e2"), ("dead_letter", "e2"),
    ]  # fmt: skip
    assert tally.counts["received"] == 2
    assert tally.counts["effects"] == 1
    assert tally.counts["dead_lettered"] == 1
    assert tally.counts["ready"] == 1
    assert tally.counts["reports"] == 5


def test_a_repeated_rid_is_one_fact() -> None:
    rows = ListRecorder()
    tally = ReportTally(rows)
    for _ in range(3):
        tally.take(report(op="effect", id="e1", rid="effect:e1"))
    tally.take(report(op="effect", id="e1", rid="sut-2:7"))

    assert len(rows.of("effect")) == 2
    assert tally.counts["repeated_reports"] == 2


def test_records_without_rid_all_count() -> None:
    rows = ListRecorder()
    tally = ReportTally(rows)
    tally.take(report(op="effect", id="e1"))
    tally.take(report(op="effect", id="e1"))
    assert len(rows.of("effect")) == 2


def test_bad_reports_are_counted_and_described_not_recorded() -> None:
    rows = ListRecorder()
    tally = ReportTally(rows)
    tally.take(b"not json")
    tally.take(b"[1, 2]")  # an array of two reports, neither an object
    tally.take(None)
    tally.take(report(op="effect"))

    assert rows.rows == []
    assert tally.counts["bad_reports"] == 5
    assert tally.last_problem is not None and "needs the event's 'id'" in tally.last_problem
