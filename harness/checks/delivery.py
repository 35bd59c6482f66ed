"""Delivery checks: lost, unexpected, recovered and duplicate_delivery.

Definitions (the choices are documented in ``docs/history-format.md``):

- ``lost``: an id whose send was acknowledged (status ok), not poison and never dead-lettered,
  that some consumer group never received. With several groups the loss is judged per group
  (every group that received anything must receive every acknowledged id); an id missing from
  several groups counts once. With no receives at all every acknowledged id is lost.
- ``unexpected``: an id received, applied or dead-lettered that no send names.
- ``recovered``: sent, never acknowledged (fail, unknown or no status), yet delivered.
- ``duplicate_delivery``: an id delivered to one group more than once at the same position
  (partition, offset); when receives carry no position (RabbitMQ) any repeat within a group.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.checks.facts import IdFacts
from harness.checks.frame import Prepared, dense_codes
from harness.checks.model import Finding


def lost(history: Prepared, facts: IdFacts, limit: int) -> Finding:
    expected = facts.acked & ~facts.poison & ~facts.dead
    recvs = history.recvs
    if len(recvs) == 0:
        return Finding.from_flags("lost", expected, limit)
    missing = np.zeros(history.n_ids, bool)
    for group in np.unique(recvs.group):
        received = np.zeros(history.n_ids, bool)
        received[recvs.id[recvs.group == group]] = True
        missing |= expected & ~received
    return Finding.from_flags("lost", missing, limit)


def unexpected(facts: IdFacts, limit: int) -> Finding:
    return Finding.from_flags("unexpected", facts.observed & ~facts.sent, limit)


def recovered(facts: IdFacts, limit: int) -> Finding:
    return Finding.from_flags("recovered", facts.sent & ~facts.acked & facts.delivered, limit)


def duplicate_delivery(history: Prepared, limit: int) -> Finding:
    recvs = history.recvs
    if len(recvs) == 0:
        return Finding("duplicate_delivery", 0)
    pair = dense_codes(recvs.group.astype(np.int64) * history.n_ids + recvs.id)
    # Only (group, id) pairs received more than once can hold a duplicate; usually none are.
    repeated = np.bincount(pair)[pair] > 1
    if not repeated.any():
        return Finding("duplicate_delivery", 0)
    rows = pd.DataFrame(
        {"pair": pair[repeated], "p": recvs.partition[repeated], "o": recvs.offset[repeated]}
    )
    again = rows.duplicated().to_numpy()
    return Finding.from_codes("duplicate_delivery", recvs.id[repeated][again], limit)


__all__ = ["duplicate_delivery", "lost", "recovered", "unexpected"]
