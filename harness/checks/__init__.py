"""Checks: pure functions from a history to anomalies, delivery and effect guarantees, a verdict.

    from harness.checks import check
    result = check(read_history("runs/x/history.parquet"))
    print(result.to_json())

Each concern is one module (delivery, log, ordering, idempotency, dlq, latency); ``core``
composes them; ``policy`` says which anomalies invalidate a run. ``judge`` holds a prepared
history against a scenario's thresholds and expectations (``run_verdict``).
"""

from harness.checks import latency
from harness.checks.core import check, check_file, evaluate
from harness.checks.frame import Prepared, prepare, prepare_file
from harness.checks.model import ANOMALIES, CheckResult, Finding, Guarantee
from harness.checks.policy import DEFAULT_ALLOWED, CheckPolicy
from harness.checks.run_verdict import Condition, Verdict, fault_impacts, judge

__all__ = [
    "ANOMALIES",
    "DEFAULT_ALLOWED",
    "CheckPolicy",
    "CheckResult",
    "Condition",
    "Finding",
    "Guarantee",
    "Prepared",
    "Verdict",
    "check",
    "check_file",
    "evaluate",
    "fault_impacts",
    "judge",
    "latency",
    "prepare",
    "prepare_file",
]
