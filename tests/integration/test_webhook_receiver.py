"""examples/webhook_sender.py against the webhook receiver the harness plays, through
`harness run` on the real stack (Kafka in, signed webhooks out through the receiver's Toxiproxy
proxy): the shipped scenario pair.

The sender keeps its own record of every attempt (``attempts.jsonl``) and of every event's fate
(``outcomes.jsonl``) in its state directory: the ground truth the harness's findings are held
to. The buggy sender gives up on the first 5xx, so exactly the events it gave up on that way
are lost and never retried against the declared schedule.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from integration_support import harness_run

from harness.stack import Stack

pytestmark = pytest.mark.integration

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
RUN_TIMEOUT_S = 240


def run(scenario: Path, out: Path, seed: int) -> dict[str, Any]:
    return harness_run(scenario, out, seed, RUN_TIMEOUT_S)


def truth(out: Path) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The sender's own record: its attempts, and each event's outcome by id."""
    (state,) = (out / "sut-state").iterdir()
    read = lambda name: [json.loads(line) for line in (state / name).open()]  # noqa: E731
    return read("attempts.jsonl"), {o["id"]: o for o in read("outcomes.jsonl")}


def history(out: Path, op: str) -> list[dict[str, Any]]:
    rows = pq.read_table(out / "history.parquet").to_pylist()
    return [r for r in rows if r["op"] == op]


def test_buggy_sender_giving_up_on_5xx_is_lost_and_off_policy_exactly_as_its_record_says(
    stack: Stack, tmp_path: Path
):
    summary = run(SCENARIOS / "webhook-sender-buggy.yaml", tmp_path, seed=31)
    attempts, outcomes = truth(tmp_path)
    last = {a["id"]: a for a in attempts}  # each id's last attempt
    gave_up = {i for i, o in outcomes.items() if o["outcome"] == "gave_up"}
    on_5xx = {i for i in gave_up if (last[i]["status"] or 0) >= 500}
    assert on_5xx and gave_up == on_5xx
    anomalies = summary["anomalies"]
    assert anomalies["lost"] == len(on_5xx)
    assert anomalies["retry_policy_violation"] == len(on_5xx)
    assert anomalies["bad_signature"] == anomalies["retry_id_changed"] == 0
    delivered = {i for i, o in outcomes.items() if o["outcome"] == "delivered"}
    assert {r["id"] for r in history(tmp_path, "recv")} == delivered
    requests = history(tmp_path, "request")
    assert {r["signature"] for r in requests} == {"valid"}
    assert Counter(r["http_status"] for r in requests)[503] == len(on_5xx)


def test_correct_sender_delivers_everything_on_schedule_through_503_and_resets(
    stack: Stack, tmp_path: Path
):
    summary = run(SCENARIOS / "webhook-sender-correct.yaml", tmp_path, seed=32)
    assert summary["valid"], summary["anomalies"]
    attempts, outcomes = truth(tmp_path)
    sent = {r["id"] for r in history(tmp_path, "send")}
    assert set(outcomes) == sent
    assert {o["outcome"] for o in outcomes.values()} == {"delivered"}
    assert [f["kind"] for f in summary["faults"]] == ["downstream.503", "toxic.reset_peer"]
    requests = history(tmp_path, "request")
    assert Counter(r["http_status"] for r in requests)[503] > 0
    reset = sum(a["result"] in ("error", "disconnected") for a in attempts)
    assert reset > 0  # the reset window cut deliveries the receiver never saw
    assert len(requests) == len(attempts) - reset
    assert {r["msg_id"] for r in requests} == {f"msg_{i}" for i in sent}
    assert {r["signature"] for r in requests} == {"valid"}


def test_correct_sender_waits_out_429_and_survives_hangs_and_slow_bodies(
    stack: Stack, tmp_path: Path
):
    text = (SCENARIOS / "webhook-sender-correct.yaml").read_text()
    head, _, _ = text.partition("faults:")
    scenario = tmp_path / "webhook-sender-slow.yaml"
    scenario.write_text(
        head.replace("name: webhook-sender-correct", "name: webhook-sender-slow") + "faults:\n"
        "  - {at: 2s, duration: 2s, downstream: {name: partner, respond: 429, retry_after: 2s}}\n"
        "  - {at: 5s, duration: 1500ms, downstream: {name: partner, hang: true}}\n"
        "  - {at: 7s, duration: 1500ms, downstream: {name: partner, slow_body: 3s}}\n"
        "drain: {timeout: 30s}\n"
        "expect:\n"
        "  clean: [lost, bad_signature, retry_policy_violation, retry_id_changed,\n"
        "          retry_after_ignored, out_of_order]\n"
    )
    summary = run(scenario, tmp_path / "out", seed=33)
    attempts, outcomes = truth(tmp_path / "out")
    assert {o["outcome"] for o in outcomes.values()} == {"delivered"}
    requests = history(tmp_path / "out", "request")
    answers = Counter((r["http_status"], r["retry_after"]) for r in requests)
    assert answers[(429, 2.0)] > 0 and answers[(None, None)] > 0  # refused, then held
    timeouts = [a for a in attempts if a["result"] == "timeout"]
    assert timeouts  # the hangs and the slow bodies outlasted the sender's 1 s timeout
    accepted = Counter(r["id"] for r in history(tmp_path / "out", "recv"))
    twice = {i for i, n in accepted.items() if n > 1}
    assert summary["anomalies"]["duplicate_delivery"] == len(twice) > 0  # slow 200s, re-sent
    assert summary["valid"]


def test_webhook_bodies_are_held_to_the_receivers_schema(stack: Stack, tmp_path: Path) -> None:
    """The example sender's webhooks against the shipped schema of its body (all hold), then
    against a stricter one naming a field it never sends (every webhook breaks it)."""
    shipped = SCENARIOS.parent / "schemas" / "order-webhook.json"
    strict = json.loads(shipped.read_text())
    strict["properties"]["data"]["required"].append("amount_cents")
    strict["properties"]["data"]["properties"]["amount_cents"] = {"type": "integer"}
    (tmp_path / "strict.json").write_text(json.dumps(strict))
    head = (SCENARIOS / "webhook-sender-correct.yaml").read_text().partition("faults:")[0]
    head = head.replace("duration: 10s", "duration: 4s")
    anchor = '      id: {jsonpath: "$.data.event_id"}\n'
    assert anchor in head
    found = {}
    for name, schema, expect in (("held", shipped, "clean: [lost, invalid_output]"),
                                 ("broken", tmp_path / "strict.json", "finds: [invalid_output]")):  # fmt: skip
        scenario = tmp_path / f"webhook-sender-{name}.yaml"
        scenario.write_text(
            head.replace("name: webhook-sender-correct", f"name: webhook-sender-{name}")
            .replace(anchor, f"{anchor}      schema: {{file: {schema}}}\n")
            + f"drain: {{timeout: 30s}}\nexpect:\n  {expect}\n"
        )
        summary = run(scenario, tmp_path / name, seed=34)
        accepted = {r["id"] for r in history(tmp_path / name, "recv")}
        found[name] = (summary["anomalies"]["invalid_output"], len(accepted))
    assert found["held"][0] == 0 and found["held"][1] > 0
    assert found["broken"][0] == found["broken"][1] > 0  # every event's webhook, once each
