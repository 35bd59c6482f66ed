"""Effect checks, applied only when the history holds effect ops.

- ``duplicate_effect``: the system under test applied one id's side effect more than once.
- ``missing_effect``: an id that was sent and delivered, is not poison and was not
  dead-lettered, yet was never applied. When effects are observed from outside and no
  delivery is reported (a black box), "delivered" is unknown and every acknowledged id is owed.
"""

from __future__ import annotations

import numpy as np

from harness.checks.facts import IdFacts
from harness.checks.frame import Prepared
from harness.checks.model import Finding


def applies(history: Prepared) -> bool:
    return len(history.effects) > 0 or "effect" in history.observed


def duplicate_effect(history: Prepared, limit: int) -> Finding:
    counts = np.bincount(history.effects.id, minlength=history.n_ids)
    return Finding.from_flags("duplicate_effect", counts > 1, limit)


def missing_effect(history: Prepared, facts: IdFacts, limit: int) -> Finding:
    applied = np.zeros(history.n_ids, bool)
    applied[history.effects.id] = True
    # A black box hides deliveries: every acknowledged event is owed its effect.
    reached = facts.acked if history.black_box else facts.delivered
    owed = facts.sent & reached & ~facts.poison & ~facts.dead
    return Finding.from_flags("missing_effect", owed & ~applied, limit)


__all__ = ["applies", "duplicate_effect", "missing_effect"]
