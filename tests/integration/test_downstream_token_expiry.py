"""examples/http_downstream_consumer.py against a downstream that demands bearer tokens of the
stack's OAuth2 issuer, through `harness run` on the real stack (Kafka and the oauth node): the
shipped token-expiry pair. Tokens live 6 s; the issuer's proxy is down for 2.5 s in both runs.

The consumer's own record (``tokens.jsonl``: every token request; ``outcomes.jsonl``: every
event's fate) is the ground truth the harness's ``request`` rows are held to.
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


def run(name: str, out: Path, seed: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "harness", "run", str(SCENARIOS / f"{name}.yaml"),
               "--seed", str(seed), "--out", str(out), "--no-progress", "--no-report"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=REPO)
    summary_path = out / "summary.json"
    assert summary_path.exists(), done.stderr[-3000:]
    summary = json.loads(summary_path.read_text())
    failed = [c for c in summary["expectations"] if not c["passed"]]
    assert done.returncode == 0, (failed, summary["errors"], done.stderr[-3000:])
    return summary


def truth(out: Path, name: str) -> list[dict[str, Any]]:
    (state,) = (out / "sut-state").iterdir()
    return [json.loads(line) for line in (state / name).open()]


def calls(out: Path) -> Counter[tuple[str, int]]:
    rows = pq.read_table(out / "history.parquet").to_pylist()
    return Counter((r["auth"], r["http_status"]) for r in rows if r["op"] == "request")


@pytest.fixture(scope="module")
def kafka_and_oauth(stack: Stack, oauth_stack: Stack) -> Stack:
    oauth_stack.reload()
    return oauth_stack


def test_correct_refreshes_and_rides_out_the_outage_without_a_401(
    kafka_and_oauth: Stack, tmp_path: Path
) -> None:
    summary = run("kafka-http-downstream-token-expiry-correct", tmp_path, seed=41)
    assert summary["effect_guarantee"] == "exactly-once"
    seen = calls(tmp_path)
    assert set(seen) == {("valid", 200)}, seen  # no call refused, no token missing
    tokens = truth(tmp_path, "tokens.jsonl")
    assert sum(t["ok"] for t in tokens) >= 3  # refreshed through the 10 s storm
    assert not all(t["ok"] for t in tokens)  # and asked the issuer while it was down
    outcomes = Counter(o["outcome"] for o in truth(tmp_path, "outcomes.jsonl"))
    assert outcomes == {"charged": summary["counts"]["events"]}
    assert [f["kind"] for f in summary["faults"]] == ["proxy.down"]


def test_buggy_caches_one_token_and_every_call_after_its_expiry_is_refused(
    kafka_and_oauth: Stack, tmp_path: Path
) -> None:
    summary = run("kafka-http-downstream-token-expiry-buggy", tmp_path, seed=42)
    seen = calls(tmp_path)
    expired = seen[("expired", 401)]
    assert expired > 0 and set(seen) <= {("valid", 200), ("expired", 401)}, seen
    assert len(truth(tmp_path, "tokens.jsonl")) == 1  # one token, never refreshed
    outcomes = Counter(o["outcome"] for o in truth(tmp_path, "outcomes.jsonl"))
    assert outcomes["dead_lettered"] == expired == summary["anomalies"]["missing_effect"]
    assert outcomes["charged"] == seen[("valid", 200)] == summary["counts"]["effects"]
