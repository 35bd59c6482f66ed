"""Provider mode end to end: `harness run` delivers signed webhooks to the example receiver
(examples/webhook_receiver.py) through the run's Toxiproxy proxy, under a reset window, a cut
endpoint and every security fault.

Each test counts the receiver's SQLite effects table itself (the ground truth) and checks the
anomalies against it and against the history's attempts.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from ruamel.yaml import YAML

from harness.stack import Stack
from harness.webhooks.attacks import ATTACKS

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scenario_copy(name: str, out: Path) -> Path:
    """The shipped scenario on a free port (so parallel sessions do not collide)."""
    yaml = YAML()
    data = yaml.load((ROOT / "scenarios" / f"{name}.yaml").read_text())
    data["target"]["webhook"]["url"] = f"http://127.0.0.1:{free_port()}/webhook"
    path = out / f"{name}.yaml"
    with path.open("w") as file:
        yaml.dump(data, file)
    return path


def run(path: Path, out: Path, seed: int = 11) -> dict[str, Any]:
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    env = {**os.environ, "WEBHOOK_SECRET": secret}
    command = [sys.executable, "-m", "harness", "run", str(path), "--seed", str(seed),
               "--out", str(out), "--no-progress", "--no-report"]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=env, cwd=ROOT
    )
    summary_path = out / "summary.json"
    assert summary_path.exists(), done.stderr[-3000:]
    summary = json.loads(summary_path.read_text())
    failed = [c for c in summary["expectations"] if not c["passed"]]
    assert done.returncode == 0, (failed, summary["errors"], done.stderr[-3000:])
    for name in ("summary.json", "history.parquet", "sut.log"):  # the secret is stored nowhere
        assert secret.encode() not in (out / name).read_bytes(), name
    return summary


def ground_truth(out: Path) -> Counter[str]:
    """Effects per id in the receiver's own table."""
    (db,) = (out / "sut-state").glob("*/effects.db")
    with sqlite3.connect(db) as conn:
        return Counter(r[0] for r in conn.execute("SELECT event_id FROM effects"))


def history(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "history.parquet")


def test_the_correct_receiver_passes_resets_a_cut_and_every_security_fault(
    stack: Stack, tmp_path: Path
) -> None:
    summary = run(scenario_copy("webhook-provider-correct", tmp_path), tmp_path)
    anomalies = summary["anomalies"]
    for name in ("missing_effect", "duplicate_effect", "forged_accepted", "lost_after_retries"):
        assert anomalies[name] == 0, (name, anomalies)
    rows = history(tmp_path)
    sends = rows[rows.op == "send"]
    truth = ground_truth(tmp_path)
    # every delivered event applied exactly once, nothing else applied
    assert set(truth) == set(sends[sends.status == "ok"].id)
    assert set(truth.values()) == {1}
    attempts = rows[(rows.op == "request") & (rows.source == "webhook")]
    assert (attempts.attempt > 1).any(), "the faults should have caused retries"
    attacks = rows[(rows.op == "request") & (rows.source == "webhook_attack")]
    assert sorted(attacks.reason) == sorted(ATTACKS)
    assert attacks.http_status.between(400, 499).all(), attacks[["reason", "http_status"]]


def test_the_buggy_receiver_is_caught_with_the_counts_of_its_table(
    stack: Stack, tmp_path: Path
) -> None:
    summary = run(scenario_copy("webhook-provider-buggy", tmp_path), tmp_path)
    anomalies = summary["anomalies"]
    truth = ground_truth(tmp_path)
    rows = history(tmp_path)
    attacks = rows[(rows.op == "request") & (rows.source == "webhook_attack")]
    # it answers 200 to every forgery: each one counts, exactly
    assert anomalies["forged_accepted"] == len(attacks) == len(ATTACKS)
    forged_applied = {i for i in truth if i.startswith("atk-")}
    assert anomalies["unexpected"] == len(forged_applied) == len(ATTACKS) - 1  # all but replay
    # duplicate effects are exactly the ids its table holds more than once
    assert anomalies["duplicate_effect"] == sum(1 for n in truth.values() if n > 1) > 0
