"""Checks of the calls a service made to an HTTP downstream the harness played, applied only
when the history holds ``request`` ops (one per call the downstream received).

- ``request_after_give_up``: the downstream received a call for an id after that id was
  dead-lettered (the service gave the event up, yet still calls, or a call it had abandoned was
  still travelling: either way the downstream may apply an event that is also parked in the
  dead-letter queue).
- ``retry_after_ignored``: a call for an id arrived after the downstream answered the id's
  previous call with ``Retry-After: R``, and sooner than R seconds after that answer
  (``RETRY_AFTER_SLACK_S`` is allowed for timer and clock granularity).

Duplicate and missing effects are ``duplicate_effect`` and ``missing_effect`` of
``harness.checks.idempotency``: each call the downstream applied is an ``effect`` op.
Counted per id, as every anomaly is.
"""

from __future__ import annotations

import numpy as np

from harness.checks.frame import Prepared
from harness.checks.model import Finding

NAMES = ("request_after_give_up", "retry_after_ignored")

RETRY_AFTER_SLACK_S = 0.05
"""A retry this much early still honours ``Retry-After`` (timers may fire a little early; the
request's arrival and the answer's departure are read at slightly different points)."""


def applies(history: Prepared) -> bool:
    return len(history.requests) > 0


def findings(history: Prepared, limit: int) -> list[Finding]:
    """Both checks over the history's ``request`` ops (and its dead letters)."""
    calls, dead = history.requests, history.dead
    return [
        request_after_give_up(calls.id, calls.t, dead.id, dead.t, history.n_ids, limit),
        retry_after_ignored(calls.id, calls.t, calls.t_ack, calls.retry_after, limit),
    ]


def request_after_give_up(
    request_id: np.ndarray, request_t: np.ndarray, dead_id: np.ndarray, dead_t: np.ndarray,
    n_ids: int, limit: int,
) -> Finding:  # fmt: skip
    """Ids with a call received after the id's first dead letter (id codes index ``n_ids``)."""
    gave_up = np.full(n_ids, np.inf)
    np.minimum.at(gave_up, dead_id, np.where(np.isnan(dead_t), np.inf, dead_t))
    late = request_t > gave_up[request_id]
    return Finding.from_codes("request_after_give_up", request_id[late], limit)


def retry_after_ignored(
    request_id: np.ndarray, request_t: np.ndarray, answered_t: np.ndarray,
    retry_after: np.ndarray, limit: int,
) -> Finding:  # fmt: skip
    """Ids whose next call came before the ``Retry-After`` of the answer to the one before.

    ``answered_t`` is when the answer left (NaN: none was sent); ``retry_after`` its seconds
    (NaN: the answer had none). Calls are taken per id in arrival order; a call that arrived
    before the previous answer left cannot have read it and is not judged against it.
    """
    order = np.lexsort((request_t, request_id))
    ids, t = request_id[order], request_t[order]
    answered, wait = answered_t[order], retry_after[order]
    same = ids[1:] == ids[:-1]
    after_answer = t[1:] >= answered[:-1]
    too_soon = t[1:] < answered[:-1] + wait[:-1] - RETRY_AFTER_SLACK_S  # NaN compares False
    return Finding.from_codes("retry_after_ignored", ids[1:][same & after_answer & too_soon], limit)


__all__ = [
    "NAMES",
    "RETRY_AFTER_SLACK_S",
    "applies",
    "findings",
    "request_after_give_up",
    "retry_after_ignored",
]
