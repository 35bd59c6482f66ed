"""Compose the checks into one pure function: history in, ``CheckResult`` out."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from harness.checks import (
    contract,
    delivery,
    dlq,
    downstream,
    fanout,
    idempotency,
    log,
    ordering,
    schema,
    verdict,
    webhook,
    webhook_receiver,
)
from harness.checks.facts import IdFacts, id_facts
from harness.checks.frame import Prepared, prepare, prepare_file
from harness.checks.latency import latency_report
from harness.checks.model import ANOMALIES, DELIVERY_CHECKS, CheckResult, Finding
from harness.checks.policy import CheckPolicy
from harness.errors import HistoryError


def check(
    history: pd.DataFrame | pa.Table,
    policy: CheckPolicy | None = None,
    schema_plan: pa.Table | None = None,
) -> CheckResult:
    """Check an in-memory history (with a schema-driven run's plan, if it was one).

    result = check(read_history("history.parquet"))
    result.valid, result.anomalies["lost"], result.to_json()
    """
    return evaluate(prepare(history), policy, schema_plan)


def check_file(path: Path | str, policy: CheckPolicy | None = None) -> CheckResult:
    """Check a history file (Parquet is streamed by row group to bound memory).

    A file without a single op raises ``HistoryError``: an empty history proves nothing.
    """
    path = Path(path)
    history = prepare_file(path)
    if history.n_rows == 0:
        raise HistoryError(
            f"{path}: the history is empty (no ops); a history needs at least one row, so "
            "check that the run recorded anything, or give the history of another run"
        )
    return evaluate(history, policy)


def evaluate(
    history: Prepared, policy: CheckPolicy | None = None, schema_plan: pa.Table | None = None
) -> CheckResult:
    """Run every applicable check on a prepared history (``schema_plan``: see
    ``harness.checks.schema``; by default the one read with the history file)."""
    if schema_plan is None:
        schema_plan = history.schema_plan
    policy = policy or CheckPolicy.default()
    limit = policy.max_examples
    facts = id_facts(history)
    where = log.positions(history)
    per_subscriber = fanout.applies(history)
    findings = [
        fanout.unexpected(history, facts, limit)
        if per_subscriber
        else delivery.unexpected(facts, limit),
        log.duplicate_write(history, limit, where),
    ]
    findings.append(log.inconsistent_offset(history, limit, where))
    skipped: list[str] = []
    if history.black_box:
        skipped += list(DELIVERY_CHECKS)
    else:
        findings += [
            fanout.lost(history, facts, limit)
            if per_subscriber
            else delivery.lost(history, facts, limit),
            delivery.duplicate_delivery(history, limit),
            delivery.recovered(facts, limit),
        ]
        if per_subscriber:  # standard SNS topics and EventBridge buses promise no order
            skipped.append("out_of_order")
        else:
            findings.append(ordering.out_of_order(history, limit))
    if idempotency.applies(history):
        findings.append(ordering.out_of_order_effect(history, limit))
        findings.append(idempotency.duplicate_effect(history, limit))
        findings.append(idempotency.missing_effect(history, facts, limit))
    else:
        skipped += ["out_of_order_effect", "duplicate_effect", "missing_effect"]
    if idempotency.applies(history) or contract.applies(history):
        findings.append(contract.invalid_output(history, limit))
    else:
        skipped += list(contract.NAMES)
    if schema_plan is not None:
        must, may = schema.plan_flags(history, schema_plan)
        findings.append(schema.schema_rejected(facts, must, limit))
    else:
        must = may = None
    if dlq.applies(history, facts):
        unexpected = dlq.dlq_unexpected(facts, limit)
        if must is not None and may is not None:  # schema events are judged by schema_rejected
            unexpected = dlq.dlq_unexpected(facts, limit, exempt=must | may)
        findings += [dlq.dlq_missing(facts, limit), unexpected]
    else:
        skipped += ["dlq_missing", "dlq_unexpected"]
    if downstream.applies(history):
        findings += downstream.findings(history, limit)
    else:
        skipped += list(downstream.NAMES)
    if webhook.applies(history):
        findings += webhook.findings(history, limit)
    else:
        skipped += list(webhook.NAMES)
    if webhook_receiver.applies(history):
        findings += webhook_receiver.findings(history, limit)
    else:
        skipped += list(webhook_receiver.NAMES)
    if schema_plan is None:
        skipped += list(schema.NAMES)
    extra = _subscriber_counts(history, facts, per_subscriber)
    return _result(history, findings, tuple(skipped), policy, facts.sent.sum(), extra)


def _result(
    history: Prepared,
    findings: list[Finding],
    skipped: tuple[str, ...],
    policy: CheckPolicy,
    events: int,
    extra: dict[str, int] | None = None,
) -> CheckResult:
    by_name = {f.name: f for f in findings}
    anomalies = {name: by_name[name].count if name in by_name else 0 for name in ANOMALIES}
    examples = {f.name: history.names(f.examples) for f in findings if f.count and len(f.examples)}
    bad = verdict.invalidating(anomalies, policy)
    return CheckResult(
        valid=not bad,
        delivery_guarantee=verdict.delivery_guarantee(
            anomalies, sent=events > 0 and "lost" not in skipped
        ),
        effect_guarantee=verdict.effect_guarantee(
            anomalies, effects="duplicate_effect" not in skipped
        ),
        anomalies=anomalies,
        examples=examples,
        counts=_counts(history, int(events)) | (extra or {}),
        latency=latency_report(history),
        skipped=skipped,
        invalidating=bad,
    )


def _subscriber_counts(history: Prepared, facts: IdFacts, applies: bool) -> dict[str, int]:
    """``subscriber:<name>:lost`` and ``...:unexpected`` of a fan-out run (none otherwise)."""
    if not applies:
        return {}
    return {
        f"subscriber:{group}:{name}": n
        for group, counts in fanout.per_subscriber(history, facts).items()
        for name, n in counts.items()
    }


def _counts(history: Prepared, events: int) -> dict[str, int]:
    status = history.sends.status
    return {
        "events": events,
        "sends": len(history.sends),
        "sends_ok": int((status == 0).sum()),
        "sends_fail": int((status == 1).sum()),
        "sends_unknown": int((status >= 2).sum() + (status == -1).sum()),
        "deliveries": len(history.recvs),
        "effects": len(history.effects),
        "dead_letters": len(history.dead),
        "requests": len(history.requests),
        "webhook_attempts": len(history.webhook),
        **{f"reported_{op}s_set_aside": n for op, n in history.reported.items()},
        "faults": len(history.faults),
        "groups": len(history.group_names),
    }


__all__ = ["check", "check_file", "evaluate"]
