"""The order service (examples/kafka_output_consumer.py) tested black-box through `harness run`.

The service has no harness code: the harness reads its output topic and the run's dead-letter
topic itself (``observe: [output, dead_letters]``). Each test runs a scenario with the CLI
against the real stack, then holds the verdict against the service's own ground-truth record
(``produced.log`` in its state directory: ``sent`` before each write, ``acked``/``committed``
with partition and offset once it is durable):

- buggy mode under two crashes: ``duplicate_effect`` is found, and its count is exactly the
  ids that have more than one output in the topic; every output the service logged as acked is
  in the history at the partition and offset the broker gave it, and every other output in the
  history is a write the service sent but could not log before it was killed;
- correct mode under the same crashes: no anomaly, one output per order;
- a service that only *says* it dead-lettered (it reports dead letters, writes none) is
  caught by ``dlq_missing`` once the DLQ is read, and believed when it is not.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.stack import Stack

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"
RUN_TIMEOUT_S = 240


def run(scenario: Path, out: Path, seed: int = 11) -> dict[str, Any]:
    """`harness run` the scenario; its summary (the run must meet its own expectations)."""
    command = [
        *(sys.executable, "-m", "harness", "run", str(scenario)),
        *("--seed", str(seed), "--out", str(out), "--no-progress"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=REPO)
    summary_path = out / "summary.json"
    assert summary_path.exists(), done.stderr[-3000:]
    summary = json.loads(summary_path.read_text())
    failed = [c for c in summary["thresholds"] + summary["expectations"] if not c["passed"]]
    assert done.returncode == 0, (failed, summary["errors"], done.stderr[-3000:])
    return summary


@dataclass
class GroundTruth:
    """What the service's ``produced.log`` says it wrote."""

    durable: Counter[tuple[str, int, int]]
    """(id, partition, offset) of every output it logged as acked or committed."""
    unlogged: Counter[str]
    """Ids a process sent but never logged durable (it was killed in between)."""

    @classmethod
    def read(cls, out: Path) -> GroundTruth:
        (log,) = out.glob("sut-state/*/produced.log")
        lines = [line.split() for line in log.read_text().splitlines()]
        durable = Counter((f[2], int(f[3]), int(f[4])) for f in lines if f[0] != "sent")
        sent = Counter((f[1], f[2]) for f in lines if f[0] == "sent")
        logged = Counter((f[1], f[2]) for f in lines if f[0] != "sent")
        unlogged: Counter[str] = Counter()
        for (pid, event_id), n in sent.items():
            unlogged[event_id] += n - logged[(pid, event_id)]
        return cls(durable, +unlogged)

    def duplicated(self) -> tuple[int, int]:
        """How many ids the record proves written twice, and how many it allows."""
        once = Counter(i for i, _, _ in self.durable.elements())
        proven = sum(1 for n in once.values() if n > 1)
        allowed = sum(
            1 for i in once.keys() | self.unlogged.keys() if once[i] + self.unlogged[i] > 1
        )
        return proven, allowed


def observed_effects(out: Path) -> pd.DataFrame:
    history = pd.read_parquet(out / "history.parquet")
    return history[history.op == "effect"]


def check_against_truth(out: Path, summary: dict[str, Any]) -> tuple[GroundTruth, Counter[str]]:
    """Every durable output observed where the broker put it, nothing observed that the
    service did not send; returns the truth and the outputs observed per id."""
    truth = GroundTruth.read(out)
    effects = observed_effects(out)
    assert set(effects.source) == {"observe:output"}
    places = Counter(
        zip(effects.id, effects.partition.astype(int), effects.offset.astype(int), strict=True)
    )
    assert not truth.durable - places, "an output the service logged is not in the history"
    extra = places - truth.durable
    assert all(truth.unlogged[i] > 0 for i, _, _ in extra), extra
    per_id = Counter(effects.id)
    assert summary["counts"]["effects"] == len(effects)
    return truth, per_id


@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_buggy_outputs_after_crashes_are_duplicates_counted_exactly(
    stack: Stack, tmp_path: Path
) -> None:
    summary = run(SCENARIOS / "kafka-output-crash-buggy.yaml", tmp_path)
    truth, per_id = check_against_truth(tmp_path, summary)

    found = summary["anomalies"]["duplicate_effect"]
    assert found == sum(1 for n in per_id.values() if n > 1)
    proven, allowed = truth.duplicated()
    assert proven > 0
    assert proven <= found <= allowed
    assert [f["kind"] for f in summary["faults"]] == ["consumer.crash", "consumer.crash"]
    assert summary["anomalies"]["missing_effect"] == 0
    assert summary["anomalies"]["dlq_missing"] == 0


@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_correct_transactional_outputs_are_exactly_once_across_crashes(
    stack: Stack, tmp_path: Path
) -> None:
    summary = run(SCENARIOS / "kafka-output-crash-correct.yaml", tmp_path)
    truth, per_id = check_against_truth(tmp_path, summary)

    assert {name: n for name, n in summary["anomalies"].items() if n} == {}
    assert set(per_id.values()) == {1}
    assert truth.duplicated()[0] == 0
    counts = summary["counts"]
    assert counts["effects"] + counts["dead_letters"] == counts["sends_ok"]
    assert len(summary["faults"]) == 2


LIAR = """\
name: dead-letters-{name}
about: The order service reports the dead letters it never writes.
target:
  kafka: {{topic: orders-liar-{name}, partitions: 2, replication_factor: 3}}
producer: {{acks: all}}
consumer: {{group: orders-liar}}
system_under_test:
  command: [python, {example}]
  env: {{ORDERS_DEAD_LETTERS: report}}
  mode: correct
  ready: subscribed
observe:
  - output: {{kafka: {{topic: orders-liar-out}}, env: ORDERS_OUT_TOPIC}}
{dead_letters}storm:
  duration: 5s
  rate: {{shape: constant, per_second: 200}}
  poison: {{every: 25}}
drain: {{timeout: 30s}}
expect:
  {expect}
"""


@pytest.mark.timeout(2 * RUN_TIMEOUT_S + 60)
def test_dead_letters_reported_but_never_written_are_caught_when_the_dlq_is_read(
    stack: Stack, tmp_path: Path
) -> None:
    example = REPO / "examples" / "kafka_output_consumer.py"
    read = tmp_path / "read.yaml"
    read.write_text(
        LIAR.format(
            name="read",
            example=example,
            dead_letters="  - dead_letters: {}\n",
            expect="finds: [dlq_missing]",
        )  # fmt: skip
    )
    trusted = tmp_path / "trusted.yaml"
    trusted.write_text(
        LIAR.format(name="trusted", example=example, dead_letters="", expect="clean: [dlq_missing]")
    )

    caught = run(read, tmp_path / "read")
    believed = run(trusted, tmp_path / "believed")

    poison = 5 * 200 // 25
    assert caught["anomalies"]["dlq_missing"] == poison
    assert caught["counts"]["dead_letters"] == 0
    assert caught["counts"]["reported_dead_letters_set_aside"] == poison
    assert believed["anomalies"]["dlq_missing"] == 0
    assert believed["counts"]["dead_letters"] == poison
    for summary in (caught, believed):
        assert summary["anomalies"]["missing_effect"] == 0
        assert summary["counts"]["effects"] == summary["counts"]["sends_ok"] - poison
