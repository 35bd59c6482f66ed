"""Dead-letter checks, applied only when the history holds poison sends or dead_letter ops.

- ``dlq_missing``: a poison id that was acknowledged or delivered but never dead-lettered.
- ``dlq_unexpected``: a sent id that is not poison, yet was dead-lettered.
"""

from __future__ import annotations

import numpy as np

from harness.checks.facts import IdFacts
from harness.checks.frame import Prepared
from harness.checks.model import Finding


def applies(history: Prepared, facts: IdFacts) -> bool:
    return len(history.dead) > 0 or bool(facts.poison.any()) or "dead_letter" in history.observed


def dlq_missing(facts: IdFacts, limit: int) -> Finding:
    owed = facts.poison & (facts.acked | facts.delivered)
    return Finding.from_flags("dlq_missing", owed & ~facts.dead, limit)


def dlq_unexpected(facts: IdFacts, limit: int, exempt: np.ndarray | None = None) -> Finding:
    """``exempt``: ids judged by another check (a schema-driven run's events)."""
    flags = facts.dead & facts.sent & ~facts.poison
    return Finding.from_flags("dlq_unexpected", flags if exempt is None else flags & ~exempt, limit)


__all__ = ["applies", "dlq_missing", "dlq_unexpected"]
