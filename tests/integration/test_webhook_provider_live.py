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


def scenario_copy(
    name: str, out: Path, faults: list[dict[str, Any]] | None = None, expect: Any = None
) -> Path:
    """The shipped scenario on a free port (so parallel sessions do not collide), with its
    faults and expectations replaced if given."""
    yaml = YAML()
    data = yaml.load((ROOT / "scenarios" / f"{name}.yaml").read_text())
    data["target"]["webhook"]["url"] = f"http://127.0.0.1:{free_port()}/webhook"
    if faults is not None:
        data["faults"] = faults
    if expect is not None:
        data["expect"] = expect
    path = out / f"{name}.yaml"
    with path.open("w") as file:
        yaml.dump(data, file)
    return path


def run(path: Path, out: Path, seed: int = 11, passes: bool = True) -> dict[str, Any]:
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
    assert summary["errors"] == [], summary["errors"]
    assert (done.returncode == 0) is passes, (failed, done.stderr[-3000:])
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
    # the 503 and 429 windows were answered in front of the endpoint, and retried past
    for status in (503, 429):
        refused = attempts[attempts.http_status == status]
        assert len(refused) > 0, status
        assert set(refused.id) <= set(sends[sends.status == "ok"].id)
    retry_after = attempts[attempts.http_status == 429]
    assert (retry_after.retry_after == 100).all()
    for _, row in retry_after.iterrows():  # Retry-After 100 s at time_scale 0.001: 100 ms
        later = attempts[(attempts.id == row.id) & (attempts.attempt == row.attempt + 1)]
        assert (later.t - row.t_ack >= 0.1 - 0.005).all(), (row.id, later.t - row.t_ack)


def test_a_410_window_stops_every_delivery_and_the_endpoint_sees_nothing_after(
    stack: Stack, tmp_path: Path
) -> None:
    gone = [{"at": "2s", "duration": "1s", "downstream": {"name": "endpoint", "respond": 410}}]
    path = scenario_copy("webhook-provider-correct", tmp_path, faults=gone, expect={"clean": []})
    summary = run(path, tmp_path, passes=False)  # the events it refused are lost: that fails
    rows = history(tmp_path)
    attempts = rows[(rows.op == "request") & (rows.source == "webhook")]
    first_410 = attempts[attempts.http_status == 410].t.min()
    assert first_410 == first_410  # a 410 was answered (not NaN)
    # nothing was sent after the first 410 answer came back, during or after the window
    after = attempts[attempts.t > attempts[attempts.http_status == 410].t_ack.min()]
    assert after.empty, after[["id", "attempt", "http_status"]]
    sends = rows[rows.op == "send"]
    truth = ground_truth(tmp_path)
    disabled = sends[(sends.status == "fail") & (sends.reason == "disabled")]
    assert len(disabled) > 0 and not set(disabled.id) & set(truth)
    # lost after retries: the events that were attempted and never applied (the 410 ones);
    # those never attempted once the endpoint was disabled are `fail`/`disabled` sends
    tried = set(disabled.id) & set(attempts.id)
    assert summary["anomalies"]["lost_after_retries"] == len(tried) >= 1


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


def test_provider_behaviours_reorder_delay_and_burst_the_windows_deliveries(
    stack: Stack, tmp_path: Path
) -> None:
    behaviours = [
        {"at": "1s", "duration": "500ms", "webhook_delivery": {"behaviour": "out_of_order"}},
        {"at": "2.5s", "duration": "500ms",
         "webhook_delivery": {"behaviour": "late", "delay": "1s"}},
        {"at": "4s", "duration": "500ms", "webhook_delivery": {"behaviour": "burst"}},
    ]  # fmt: skip
    expect = {
        "clean": ["missing_effect", "duplicate_effect", "lost_after_retries"],
        "finds": ["out_of_order_effect"],
    }  # the reordering shows
    path = scenario_copy("webhook-provider-correct", tmp_path, faults=behaviours, expect=expect)
    summary = run(path, tmp_path)
    for name in ("missing_effect", "duplicate_effect", "lost_after_retries"):
        assert summary["anomalies"][name] == 0, (name, summary["anomalies"])
    rows = history(tmp_path)
    windows = rows[rows.op == "fault"].set_index("kind")
    sends = rows[rows.op == "send"].set_index("id")
    attempts = rows[(rows.op == "request") & (rows.source == "webhook")]
    first = attempts[attempts.attempt == 1].set_index("id")
    sent_at = rows[rows.op == "send"].groupby("id").t.min()  # when the storm handed it over

    def of_window(kind: str) -> pd.DataFrame:
        w = windows.loc[kind]  # its bounds are recorded around applying and healing it
        inside = (sent_at >= w.t_start + 0.02) & (sent_at < w.t_end - 0.02)
        ids = sent_at[inside].index
        assert len(ids) > 5, kind
        return first.loc[ids].assign(sent=sent_at.loc[ids], seq=sends.loc[ids, "seq"])

    shuffled = of_window("webhook.out_of_order")
    end = windows.loc["webhook.out_of_order"].t_end
    assert (shuffled.t >= end - 0.05).all()  # held until released (t_end is noted after)
    by_time = shuffled.sort_values("t")
    assert not by_time.sent.is_monotonic_increasing  # then sent out of order
    late = of_window("webhook.late")
    assert (late.t - late.sent >= 1.0 - 0.01).all()
    burst = of_window("webhook.burst")
    assert (burst.t >= windows.loc["webhook.burst"].t_end - 0.05).all()
