"""The end of a run: every close stage runs, healing outlives a second cancel, and
summary.json's exit code is the process's (a run that sent nothing, a missing report)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.errors import FaultError
from harness.history.schema import SCHEMA, conform
from harness.run import commands, synthetic
from harness.run.runner import _close_all, heal_to_the_end


class _Timeline:
    """Stands for the fault timeline: healing takes ``seconds`` and may fail."""

    def __init__(self, seconds: float = 0.0, error: Exception | None = None) -> None:
        self.seconds, self.error = seconds, error
        self.healed = False

    async def close(self) -> list[str]:
        await asyncio.sleep(self.seconds)
        if self.error is not None:
            raise self.error
        self.healed = True
        return ["one undo failed"]


class _Client:
    def __init__(self, closed: list[str], name: str) -> None:
        self.closed, self.name = closed, name

    async def close(self, *_args: Any) -> None:
        self.closed.append(self.name)


OBSERVERS = ["observers drained", "observers"]


class _Observers:
    def __init__(self, closed: list[str]) -> None:
        self.closed = closed

    async def drain(self, _timeout: float) -> list[str]:
        self.closed.append("observers drained")
        return []

    async def stop(self) -> None:
        self.closed.append("observers")


class _Clients:
    def __init__(self, closed: list[str]) -> None:
        self.producer = _Client(closed, "producer")
        self.consumer = _Client(closed, "consumer")
        self.observers = _Observers(closed)
        self.closed = closed

    async def discard(self) -> None:
        self.closed.append("topic")


async def test_healing_finishes_through_repeated_cancels_then_the_cancel_is_raised() -> None:
    timeline = _Timeline(seconds=0.3)
    errors: list[str] = []
    task = asyncio.ensure_future(heal_to_the_end(timeline, errors))  # type: ignore[arg-type]
    for _ in range(3):  # SIGTERM, SIGTERM again, Ctrl-C
        await asyncio.sleep(0.05)
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert timeline.healed and errors == ["one undo failed"]


async def test_every_close_stage_runs_when_healing_raises() -> None:
    closed: list[str] = []
    errors: list[str] = []
    timeline = _Timeline(error=FaultError("Toxiproxy went away."))
    with pytest.raises(FaultError):
        await _close_all(
            timeline,  # type: ignore[arg-type]
            _Clients(closed),  # type: ignore[arg-type]
            lambda: closed.append("toxiproxy"),
            errors,
            1.0,
        )
    assert closed == ["producer", "consumer", *OBSERVERS, "topic", "toxiproxy"]


async def test_every_close_stage_runs_when_cancelled_during_healing() -> None:
    closed: list[str] = []
    errors: list[str] = []
    timeline = _Timeline(seconds=0.2)
    task = asyncio.ensure_future(
        _close_all(timeline, _Clients(closed), lambda: closed.append("toxiproxy"), errors, 1.0)  # type: ignore[arg-type]
    )
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert timeline.healed and errors == ["one undo failed"]
    assert closed == ["producer", "consumer", *OBSERVERS, "topic", "toxiproxy"]


def _run_folder(tmp_path: Path, *, empty: bool = False) -> tuple[Path, Any]:
    spec = synthetic.Synthetic(rate=50, seconds=4.0, fault=(1.0, 2.0))
    out = tmp_path / "run"
    out.mkdir()
    if empty:
        pq.write_table(SCHEMA.empty_table(), out / "history.parquet")
    else:
        frame = synthetic.history(spec)
        table = conform(pa.Table.from_pandas(frame, preserve_index=False), source="synthetic")
        pq.write_table(table.select(SCHEMA.names).cast(SCHEMA), out / "history.parquet")
    return out, synthetic.scenario(spec)


def _summary(out: Path) -> dict[str, Any]:
    return dict(json.loads((out / "summary.json").read_text()))


def test_a_harness_error_makes_the_summary_say_exit_code_2(tmp_path: Path) -> None:
    out, scenario = _run_folder(tmp_path)
    error = "Cannot reach amqp://guest:hunter2@127.0.0.1:5672/: refused."
    verdict, code, shown = commands.conclude(scenario, out, 7, None, 2, error, report=False)
    summary = _summary(out)
    assert code == 2 and summary["exit_code"] == 2 and summary["passed"] is False
    assert verdict is not None and shown == error
    assert "hunter2" not in (out / "summary.json").read_text()
    assert "hunter2" not in (out / "junit.xml").read_text()


def test_a_run_that_sent_nothing_is_a_harness_error_not_a_verdict(tmp_path: Path) -> None:
    out, scenario = _run_folder(tmp_path, empty=True)
    verdict, code, error = commands.conclude(scenario, out, 7, None, 0, "", report=False)
    summary = _summary(out)
    assert verdict is None and code == 2 and error == commands.NOTHING_SENT
    assert summary["exit_code"] == 2 and summary["passed"] is False
    assert summary["errors"] == [commands.NOTHING_SENT]
    assert "guarantee" not in summary and "anomalies" not in summary
    assert '<error message="The run sent no event' in (out / "junit.xml").read_text()


def test_a_missing_report_is_an_error_and_the_summary_is_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, scenario = _run_folder(tmp_path)
    monkeypatch.setitem(sys.modules, "harness.report", None)  # import harness.report fails
    verdict, code, error = commands.conclude(scenario, out, 7, None, 0, "", report=True)
    summary = _summary(out)
    assert code == 2 and summary["exit_code"] == 2
    assert "The report was not written" in error and "harness report" in error
    assert error in summary["errors"]
    assert (out / "history.parquet").exists() and not (out / "report.html").exists()


def test_a_clean_run_keeps_the_verdicts_exit_code(tmp_path: Path) -> None:
    out, scenario = _run_folder(tmp_path)
    verdict, code, error = commands.conclude(scenario, out, 7, None, 0, "", report=False)
    assert verdict is not None and error == ""
    assert code == verdict.exit_code == _summary(out)["exit_code"]
