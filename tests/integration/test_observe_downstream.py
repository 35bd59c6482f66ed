"""examples/http_downstream_consumer.py against the HTTP downstream the harness plays, through
`harness run` on the real stack: the shipped scenario pair, and the buggy mode under a 429 window.

The consumer keeps its own record of every call it made (``attempts.jsonl``) and of every event's
fate (``outcomes.jsonl``) in its state directory: the ground truth the harness's findings are
held to. A call whose answer was lost (dropped connection, timeout) was applied by the
downstream in these scenarios (the faults apply first, then lose the answer), so an id the
buggy consumer called more than once that way is charged more than once.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from harness.stack import Stack

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"
RUN_TIMEOUT_S = 300
MAY_HAVE_APPLIED = ("ok", "disconnected", "timeout")


def run(scenario: Path, out: Path, seed: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "harness", "run", str(scenario), "--seed", str(seed),
               "--out", str(out), "--no-progress", "--no-report"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=REPO)
    summary_path = out / "summary.json"
    assert summary_path.exists(), done.stderr[-3000:]
    summary = json.loads(summary_path.read_text())
    failed = [c for c in summary["expectations"] if not c["passed"]]
    assert done.returncode == 0, (failed, summary["errors"], done.stderr[-3000:])
    return summary


def truth(out: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The consumer's own record: its calls and its events' outcomes."""
    (state,) = (out / "sut-state").iterdir()
    read = lambda name: [json.loads(line) for line in (state / name).open()]  # noqa: E731
    return read("attempts.jsonl"), read("outcomes.jsonl")


def history(out: Path, op: str) -> list[dict[str, Any]]:
    rows = pq.read_table(out / "history.parquet").to_pylist()
    return [r for r in rows if r["op"] == op]


def test_buggy_retries_without_a_key_charge_twice_exactly_as_its_own_record_says(
    stack: Stack, tmp_path: Path
):
    summary = run(SCENARIOS / "http-downstream-buggy.yaml", tmp_path, seed=21)
    attempts, outcomes = truth(tmp_path)
    applied = Counter(a["id"] for a in attempts if a["result"] in MAY_HAVE_APPLIED)
    charged_twice = {i for i, n in applied.items() if n > 1}
    effects = Counter(r["id"] for r in history(tmp_path, "effect"))
    assert charged_twice and summary["anomalies"]["duplicate_effect"] == len(charged_twice)
    assert {i for i, n in effects.items() if n > 1} == charged_twice
    assert sum(effects.values()) == sum(applied.values())  # one effect per applied call
    assert summary["anomalies"]["missing_effect"] == 0
    assert [o["outcome"] for o in outcomes] == ["charged"] * summary["counts"]["events"]
    assert [f["kind"] for f in summary["faults"]] == ["downstream.drop_response", "toxic.timeout"]


def test_correct_charges_once_through_503_429_and_lost_answers(stack: Stack, tmp_path: Path):
    summary = run(SCENARIOS / "http-downstream-correct.yaml", tmp_path, seed=22)
    assert summary["valid"] and summary["effect_guarantee"] == "exactly-once"
    requests = history(tmp_path, "request")
    answers = Counter((r["reason"], r["http_status"], r["retry_after"]) for r in requests)
    assert answers[("refused", 503, None)] > 0 and answers[("refused", 429, 1.0)] > 0
    assert sum(n for (reason, _, _), n in answers.items() if reason == "replayed") > 0
    attempts, outcomes = truth(tmp_path)
    sent = {r["id"] for r in history(tmp_path, "send")}
    charged = Counter(o["id"] for o in outcomes if o["outcome"] == "charged")
    assert set(charged) == sent and set(charged.values()) == {1}
    assert Counter(r["id"] for r in history(tmp_path, "effect")) == charged
    assert len(requests) == len(attempts) - sum(a["result"] == "refused" for a in attempts)


def test_buggy_retries_that_ignore_retry_after_are_found(stack: Stack, tmp_path: Path):
    text = (SCENARIOS / "http-downstream-correct.yaml").read_text()
    head, _, _ = text.partition("faults:")
    scenario = tmp_path / "http-downstream-429-buggy.yaml"
    scenario.write_text(
        head.replace("name: http-downstream-correct", "name: http-downstream-429-buggy")
        .replace("mode: correct", "mode: buggy")
        .replace("duration: 12s", "duration: 8s")
        + "faults:\n"
        "  - at: 3s\n"
        "    downstream: {name: payments, respond: 429, retry_after: 2s}\n"
        "    duration: 2s\n"
        "expect:\n"
        "  finds: [retry_after_ignored]\n"
        "  clean: [duplicate_effect, missing_effect]\n"
    )
    summary = run(scenario, tmp_path / "out", seed=23)
    attempts, _ = truth(tmp_path / "out")
    by_id: dict[str, list[dict[str, Any]]] = {}
    for a in attempts:
        by_id.setdefault(a["id"], []).append(a)
    early = {
        before["id"]
        for calls in by_id.values()
        for before, after in zip(calls, calls[1:], strict=False)
        if before["status"] == 429 and after["t_sent"] - before["t"] < 2.0
    }
    assert early and summary["anomalies"]["retry_after_ignored"] == len(early)
