"""examples/rabbitmq_consumer.py as the system under test, crashed by an after_effects trigger.

Each mode runs its shipped scenario at full length (12 s at 300 ev/s, two crashes), then the
test holds the verdict against a ground truth the checks never see: the example's own SQLite
ledger (the payments it booked, the events it rejected) and the dead-letter queue on the
broker. The buggy mode runs through `harness run`; the correct mode runs in-process on a view
of the stack that has no Kafka broker at all, so nothing of a RabbitMQ service may need Kafka.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from harness.checks import check_file
from harness.drivers import AmqpTarget, delete_blocking
from harness.drivers.rabbitmq_topology import connect_blocking
from harness.run import run_scenario
from harness.scenario import load_scenario
from harness.stack import Stack

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 240


def run(name: str, out: Path, seed: int = 5) -> tuple[dict[str, Any], pd.DataFrame, Path]:
    command = [sys.executable, "-m", "harness", "run", str(REPO / "scenarios" / f"{name}.yaml")]
    command += ["--seed", str(seed), "--out", str(out), "--no-progress"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=REPO)
    summary = json.loads((out / "summary.json").read_text())
    assert done.returncode == 0, (summary["expectations"], summary["errors"], done.stderr[-3000:])
    history = pq.read_table(out / "history.parquet").to_pandas()
    return summary, history, out / "sut-state" / summary["run"]["id"] / "ledger.sqlite"


def ledger(path: Path) -> tuple[list[str], set[str]]:
    with sqlite3.connect(path) as db:
        booked = [row[0] for row in db.execute("SELECT event_id FROM payments")]
        rejected = {row[0] for row in db.execute("SELECT event_id FROM rejected")}
    return booked, rejected


def dead_letters_on_the_broker(stack: Stack, queue: str) -> int:
    """Messages in the run's DLQ; then the run's queues are deleted."""
    target = AmqpTarget.from_url(stack.rabbitmq_url, queue)
    connection = connect_blocking(target)
    try:
        count = connection.channel().queue_declare(target.dlq, passive=True).method.message_count
    finally:
        connection.close()
    delete_blocking(target)
    return int(count)


def crashes(history: pd.DataFrame) -> pd.DataFrame:
    faults = history[history.op == "fault"]
    assert set(faults.kind) == {"consumer.crash"}
    return faults


@pytest.mark.timeout(300)
def test_auto_ack_loses_what_the_crashed_process_held(stack: Stack, tmp_path: Path) -> None:
    summary, history, ledger_path = run("rabbitmq-consumer-crash-autoack-buggy", tmp_path)
    booked, rejected = ledger(ledger_path)
    sends = history[history.op == "send"]
    acked = set(sends.id[(sends.status == "ok") & ~sends.poison.fillna(False).astype(bool)])
    truly_lost = acked - set(booked) - rejected

    assert len(truly_lost) > 0
    assert summary["anomalies"]["lost"] == len(truly_lost)
    assert set(history.id[history.op == "effect"]) == set(booked)
    assert summary["anomalies"]["duplicate_effect"] == 0 == len(booked) - len(set(booked))
    assert set(history.id[history.op == "dead_letter"]) == rejected
    faults = crashes(history)
    assert len(faults) == 2 and all(faults.reason.str.startswith("fired after 200 effects"))
    # The buggy service publishes poison to the DLX by hand inside its ledger transaction; a
    # SIGKILL between that publish and the commit leaves a dead letter the ledger never
    # recorded (and, auto-acked, never sees again). Each crash can strand at most the poison
    # of one batch: prefetch 100 with poison every 97 holds at most two.
    on_broker = dead_letters_on_the_broker(stack, summary["run"]["destination"])
    assert len(rejected) <= on_broker <= len(rejected) + 2 * len(faults)


def without_kafka(stack: Stack, tmp_path: Path) -> Stack:
    """The same RabbitMQ and Toxiproxy, with every Kafka broker left out of the view."""
    state = stack.state.model_copy(
        update={
            "kafka_brokers": 0,
            "kafka_bootstrap": [],
            "nodes": {n: s for n, s in stack.state.nodes.items() if not n.startswith("kafka")},
            "proxies": [p for p in stack.state.proxies if not p.name.startswith("kafka")],
        }
    )
    return Stack(state, tmp_path / "rabbitmq-only.json")


@pytest.mark.timeout(300)
def test_manual_ack_after_the_effect_books_every_payment_once_without_kafka(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # the scenario's command is relative to the repository
    scenario = load_scenario(REPO / "scenarios/rabbitmq-consumer-crash-autoack-correct.yaml")
    rabbit_only = without_kafka(stack, tmp_path)
    record = asyncio.run(run_scenario(scenario, tmp_path, 5, stack=rabbit_only))
    assert record.errors == []
    found = check_file(record.history).anomalies
    history = pq.read_table(record.history).to_pandas()
    booked, rejected = ledger(tmp_path / "sut-state" / record.run_id / "ledger.sqlite")
    sends = history[history.op == "send"]
    poison = sends.poison.fillna(False).astype(bool)
    acked = set(sends.id[(sends.status == "ok") & ~poison])

    assert len(booked) == len(set(booked)) == len(acked)
    assert set(booked) == acked == set(history.id[history.op == "effect"])
    assert rejected == set(sends.id[poison]) == set(history.id[history.op == "dead_letter"])
    for name in ("lost", "duplicate_effect", "missing_effect"):
        assert found[name] == 0, name
    assert dead_letters_on_the_broker(stack, record.destination) == len(rejected)
    faults = crashes(history)
    assert len(faults) == 2 and all(faults.reason.str.startswith("fired after 200 effects"))
    workers = set(history.worker[history.op == "recv"])
    assert len(workers) == 3, f"three incarnations consume, got {workers}"
