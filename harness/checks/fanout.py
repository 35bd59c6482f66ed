"""Fan-out checks: ``lost`` and ``unexpected`` judged per subscriber (SNS, EventBridge).

A fan-out run's subscriber sources declare which keys' events each subscriber should receive
(``observe`` rows whose ``policy`` is ``{"subscriber": {"group": G, "keys": [...]}}``, from
the scenario's ``expect``). Then, for each declared subscriber G:

- ``lost``: an acknowledged, non-poison, non-dead-lettered id of an expected key that G never
  received (a declared subscriber that received nothing is judged too: a lost subscription);
- ``unexpected``: an id G received that was sent but whose key G should not get (a filter
  policy or rule pattern that lets through what it should not).

An id counts once in the overall finding however many subscribers it affects;
``per_subscriber`` gives the counts by subscriber.
"""

from __future__ import annotations

import json

import numpy as np

from harness.checks.facts import IdFacts
from harness.checks.frame import Prepared
from harness.checks.model import Finding


def expectations(history: Prepared) -> dict[str, frozenset[str]]:
    """The keys each declared subscriber should receive, by subscriber (consumer group)."""
    found: dict[str, frozenset[str]] = {}
    for policy in history.policies.values():
        try:
            data = json.loads(policy)
        except ValueError:
            continue
        sub = data.get("subscriber") if isinstance(data, dict) else None
        if isinstance(sub, dict) and isinstance(sub.get("group"), str):
            found[sub["group"]] = frozenset(str(k) for k in sub.get("keys") or ())
    return found


def applies(history: Prepared) -> bool:
    return bool(expectations(history))


def _id_keys(history: Prepared) -> np.ndarray:
    """The key code of each id's send (-1 for an id never sent)."""
    keys = np.full(history.n_ids, -1, np.int64)
    keys[history.sends.id] = history.sends.key
    return keys


def _wanted(history: Prepared, keys: frozenset[str], id_keys: np.ndarray) -> np.ndarray:
    codes = [c for c, name in enumerate(history.key_names) if name in keys]
    return np.isin(id_keys, np.array(codes, np.int64))


def _group_flags(history: Prepared, group: str) -> np.ndarray:
    received = np.zeros(history.n_ids, bool)
    if group in history.group_names:
        code = history.group_names.index(group)
        recvs = history.recvs
        received[recvs.id[recvs.group == code]] = True
    return received


def per_subscriber(history: Prepared, facts: IdFacts) -> dict[str, dict[str, int]]:
    """``{subscriber: {"lost": n, "unexpected": m, "received": r}}`` for every declared one."""
    id_keys = _id_keys(history)
    owed = facts.acked & ~facts.poison & ~facts.dead
    counts = {}
    for group, keys in sorted(expectations(history).items()):
        wanted = _wanted(history, keys, id_keys)
        received = _group_flags(history, group)
        counts[group] = {
            "lost": int((owed & wanted & ~received).sum()),
            "unexpected": int((received & facts.sent & ~wanted).sum()),
            "received": int(received.sum()),
        }
    return counts


def lost(history: Prepared, facts: IdFacts, limit: int) -> Finding:
    id_keys = _id_keys(history)
    owed = facts.acked & ~facts.poison & ~facts.dead
    missing = np.zeros(history.n_ids, bool)
    for group, keys in expectations(history).items():
        missing |= owed & _wanted(history, keys, id_keys) & ~_group_flags(history, group)
    return Finding.from_flags("lost", missing, limit)


def unexpected(history: Prepared, facts: IdFacts, limit: int) -> Finding:
    """Ids never sent (as everywhere), and ids a subscriber got that it should not."""
    id_keys = _id_keys(history)
    flags = facts.observed & ~facts.sent
    for group, keys in expectations(history).items():
        flags |= _group_flags(history, group) & facts.sent & ~_wanted(history, keys, id_keys)
    return Finding.from_flags("unexpected", flags, limit)


__all__ = ["applies", "expectations", "lost", "per_subscriber", "unexpected"]
