"""Per-id facts every check shares, each a boolean array indexed by id code."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.checks.frame import OK, Prepared


@dataclass(frozen=True)
class IdFacts:
    """What happened to each id, as flags over id codes ``0..n_ids-1``.

    ``acked``: some send of the id has status ok. ``delivered``: received by at least one
    consumer of any group. ``dead``: seen in the dead-letter queue. ``poison``: some send was
    marked poison. ``observed``: received, applied or dead-lettered.
    """

    sent: np.ndarray
    acked: np.ndarray
    poison: np.ndarray
    delivered: np.ndarray
    dead: np.ndarray
    observed: np.ndarray


def id_facts(history: Prepared) -> IdFacts:
    """Compute the shared per-id flags (a few fancy assignments, no loops over events)."""
    n = history.n_ids
    sends = history.sends
    sent = _flags(n, sends.id)
    acked = _flags(n, sends.id[sends.status == OK])
    poison = _flags(n, sends.id[sends.poison])
    delivered = _flags(n, history.recvs.id)
    dead = _flags(n, history.dead.id)
    observed = delivered | dead | _flags(n, history.effects.id)
    return IdFacts(sent, acked, poison, delivered, dead, observed)


def _flags(n: int, codes: np.ndarray) -> np.ndarray:
    flags = np.zeros(n, bool)
    flags[codes] = True
    return flags


__all__ = ["IdFacts", "id_facts"]
