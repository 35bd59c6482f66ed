"""The database source against the real PostgreSQL of the stack, through `harness run`.

The example consumer (examples/postgres_consumer.py) writes one row per applied event; the
harness sees only those rows. Each test keeps the run's database (``keep: true``) and counts the
rows itself, so the anomalies are cross-checked against the table, the ground truth, and the
acknowledged sends of the history.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
import pytest
from psycopg import sql
from ruamel.yaml import YAML

from harness.observe.kinds._database_clients import with_database
from harness.observe.kinds.database import database_name
from harness.stack import Stack

pytestmark = pytest.mark.integration

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
RUN_TIMEOUT_S = 300


def scenario_copy(name: str, out: Path, **changes: Any) -> Path:
    """The shipped scenario, keeping its database, with top-level fields replaced."""
    yaml = YAML()
    data = yaml.load((SCENARIOS / f"{name}.yaml").read_text())
    data["observe"][0]["database"]["keep"] = True
    data.update(changes)
    path = out / f"{name}.yaml"
    with path.open("w") as file:
        yaml.dump(data, file)
    return path


def run(path: Path, out: Path, seed: int = 5) -> dict[str, Any]:
    command = [sys.executable, "-m", "harness", "run", str(path), "--seed", str(seed),
               "--out", str(out), "--no-progress", "--no-report"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    summary_path = out / "summary.json"
    assert summary_path.exists(), done.stderr[-3000:]
    summary = json.loads(summary_path.read_text())
    failed = [c for c in summary["expectations"] if not c["passed"]]
    assert done.returncode == 0, (failed, summary["errors"], done.stderr[-3000:])
    return summary


def ground_truth(stack: Stack, summary: dict[str, Any]) -> Counter[str]:
    """Rows per event id in the run's (kept) orders table; the database is dropped after."""
    name = database_name(summary["run"]["id"])
    with psycopg.connect(with_database(stack.postgres_dsn, name), autocommit=True) as conn:
        rows = Counter(r[0] for r in conn.execute("SELECT event_id FROM orders").fetchall())
    with psycopg.connect(stack.postgres_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
    return rows


def acknowledged(out: Path) -> set[str]:
    history = pd.read_parquet(out / "history.parquet")
    sends = history[(history.op == "send") & (history.status == "ok")]
    return set(sends.id)


def observed(out: Path) -> Counter[str]:
    history = pd.read_parquet(out / "history.parquet")
    return Counter(history[(history.op == "effect") & (history.source == "observe:orders")].id)


def test_buggy_consumer_is_caught_losing_exactly_the_rows_the_table_lacks(
    postgres: Stack, tmp_path: Path
) -> None:
    summary = run(scenario_copy("kafka-postgres-crash-buggy", tmp_path), tmp_path)
    table = ground_truth(postgres, summary)
    acked = acknowledged(tmp_path)
    missing = acked - set(table)
    assert missing, "the crash during the cut lost no committed batch"
    assert summary["anomalies"]["missing_effect"] == len(missing)
    assert summary["anomalies"]["duplicate_effect"] == sum(n - 1 for n in table.values())
    assert observed(tmp_path) == table  # every row seen once, nothing invented
    assert summary["counts"]["effects"] == sum(table.values())


def test_correct_consumer_has_exactly_one_row_per_acknowledged_event(
    postgres: Stack, tmp_path: Path
) -> None:
    summary = run(scenario_copy("kafka-postgres-crash-correct", tmp_path), tmp_path)
    table = ground_truth(postgres, summary)
    assert set(table) == acknowledged(tmp_path) and set(table.values()) == {1}
    assert observed(tmp_path) == table
    anomalies = summary["anomalies"]
    assert anomalies["missing_effect"] == anomalies["duplicate_effect"] == 0


def test_postgres_killed_and_restarted_mid_storm_loses_no_effect(
    postgres: Stack, tmp_path: Path
) -> None:
    faults = [{"at": "3s", "kill": {"target": "postgres"}, "restart_after": "2s"}]
    path = scenario_copy("kafka-postgres-crash-correct", tmp_path, faults=faults)
    summary = run(path, tmp_path, seed=6)
    table = ground_truth(postgres, summary)
    assert set(table) == acknowledged(tmp_path) and set(table.values()) == {1}
    assert [f["kind"] for f in summary["faults"]] == ["process.kill"]
    postgres.reload()  # the run restarted it: a new pid in the state file
    assert postgres.nodes["postgres"].is_healthy()
    log = (tmp_path / "sut.log").read_text()
    assert "database unavailable" in log  # the service saw the outage and retried


def test_a_dead_postgres_is_restarted_by_heal(postgres: Stack) -> None:
    node = postgres.nodes["postgres"]
    node.kill()
    assert not node.is_alive()
    assert "restarted postgres" in postgres.heal()
    with psycopg.connect(postgres.postgres_dsn, connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_run_on_a_stack_without_postgres_is_refused_by_name(tmp_path: Path) -> None:
    from harness.stack import load_state, local

    state = load_state()
    assert state is not None
    local.remove_postgres(state)
    try:
        command = [sys.executable, "-m", "harness", "run",
                   str(SCENARIOS / "kafka-postgres-crash-correct.yaml"), "--out", str(tmp_path),
                   "--no-progress", "--no-report"]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2
        assert "harness stack up --with postgres" in done.stderr
    finally:
        local.add_postgres(state)
