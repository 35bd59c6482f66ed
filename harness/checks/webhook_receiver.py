"""Checks of the webhooks a service sent to a receiver the harness played
(``observe: - webhook_receiver:``), applied only when the history holds verified requests.

- ``bad_signature``: an id with a webhook whose signature did not verify.
- ``retry_id_changed``: an id whose deliveries carried more than one webhook id (a retry must
  keep its id, or a receiver cannot dedupe it).
- ``retry_policy_violation``: an id whose retries break the policy the scenario declared for
  the sender (the ``policy`` of the receiver's ``observe`` row). After attempt ``n`` failed
  (any answer but 2xx, or none), with ``wait = delays[n-1]`` (raised to the answer's
  ``Retry-After`` when the policy honours it), judged from when that attempt ended (its
  answer left, or its connection closed):

  - **too early**: the next attempt came sooner than ``wait * (1 - early) - early_s``;
  - **too many**: an attempt beyond ``len(delays) + 1``, or any after a 410 when the policy
    disables the endpoint on 410;
  - **never retried**: no next attempt, though one was due (attempts left, no 410) and the
    history goes on past ``wait * (1 + late) + late_s`` after the failure.

  A repeat after a 2xx answer is not judged (a slow body or a lost answer may have left the
  sender without it).

Where events went is judged by the delivery checks: each webhook answered 2xx is a ``recv``
of group ``webhook:<name>``, so ``lost`` is an acknowledged event the receiver never accepted
and ``out_of_order`` a key's events accepted out of seq order.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from harness.checks.frame import Ops, Prepared
from harness.checks.model import Finding

NAMES = ("bad_signature", "retry_id_changed", "retry_policy_violation")


def applies(history: Prepared) -> bool:
    return bool((history.requests.signature >= 0).any()) if len(history.requests) else False


def findings(history: Prepared, limit: int) -> list[Finding]:
    calls = history.requests.where(history.requests.signature >= 0)
    end = history_end(history)
    violations = [
        retry_policy_violation(calls.where(calls.endpoint == code), json.loads(policy), end)
        for code, policy in _policies(history)
    ]
    broke = np.concatenate(violations) if violations else np.zeros(0, np.int64)
    return [
        Finding.from_codes("bad_signature", calls.id[calls.signature == 1], limit),
        retry_id_changed(calls, limit),
        Finding.from_codes("retry_policy_violation", broke, limit),
    ]


def _policies(history: Prepared) -> list[tuple[int, str]]:
    return [
        (code, history.policies[name])
        for code, name in enumerate(history.endpoints)
        if name in history.policies
    ]


def history_end(history: Prepared) -> float:
    """The latest time the history shows anything: the judged span's end."""
    times = [history.requests.t, history.requests.t_ack, history.recvs.t, history.sends.t_ack]
    finite = [t[np.isfinite(t)] for t in times if len(t)]
    ends = [float(t.max()) for t in finite if len(t)]
    return max(ends, default=float("-inf"))


def retry_id_changed(calls: Ops, limit: int) -> Finding:
    """Ids whose requests carried more than one distinct webhook id (null ids not counted)."""
    named = calls.msg_id >= 0
    pairs = np.unique(np.stack([calls.id[named], calls.msg_id[named]]), axis=1)
    ids, counts = np.unique(pairs[0], return_counts=True)
    return Finding.from_codes("retry_id_changed", ids[counts > 1], limit)


def retry_policy_violation(calls: Ops, policy: dict[str, Any], end: float) -> np.ndarray:
    """The id codes (with repeats) whose requests break ``policy``; see the module docstring."""
    if len(calls) == 0:
        return np.zeros(0, np.int64)
    order = np.lexsort((calls.t, calls.id))
    ids, t, status = calls.id[order], calls.t[order], calls.http_status[order]
    ended = np.where(np.isnan(calls.t_ack[order]), t, calls.t_ack[order])
    starts = np.r_[True, ids[1:] != ids[:-1]]
    rank = np.arange(len(ids)) - np.maximum.accumulate(np.where(starts, np.arange(len(ids)), 0))
    delays = np.asarray(policy["delays"], np.float64)
    wait = np.r_[delays, np.inf][np.minimum(rank, len(delays))]  # inf: no retry is owed
    if policy.get("honour_retry_after", True):
        wait = np.fmax(wait, calls.retry_after[order])  # NaN Retry-After: the schedule
    failed = (status < 200) | (status >= 300)
    gone = (status == 410) & bool(policy.get("disable_on_410", True))
    has_next = np.r_[~starts[1:], False]
    gap = np.r_[t[1:], np.inf] - ended
    early = wait * (1 - policy["early"]) - policy["early_s"]
    too_early = has_next & failed & ~gone & (gap < early)
    too_many = has_next & failed & (gone | (rank >= len(delays)))
    due = ended + wait * (1 + policy["late"]) + policy["late_s"]
    never = ~has_next & failed & ~gone & (rank < len(delays)) & (due < end)
    return ids[too_early | too_many | never]


__all__ = [
    "NAMES",
    "applies",
    "findings",
    "history_end",
    "retry_id_changed",
    "retry_policy_violation",
]
