"""Webhook deliveries, either direction: pure functions over a prepared history.

Receiver mode (what a webhook receiver the harness played saw):

- ``status_series``: deliveries per window by the status answered (``none``: no answer left);
- ``attempts_per_event``: how many events took 1, 2, 3... attempts;
- ``backlog_drain``: per 5xx window on a receiver, how long after the window ended the last
  event it refused was accepted (the backlog drained), and how many never were.

Only the webhook requests count (those the receiver verified: ``signature`` set); a run without
a receiver gives empty frames.

Provider mode (what the user's endpoint answered the harness's deliveries, ``Prepared.webhook``):
``provider_status_series``, ``provider_attempts`` and ``provider_drain`` (per fault window on
the endpoint, ``harness.checks.backlog``) give the same frames; ``security_faults`` lists each
security-fault delivery with what the endpoint answered and whether it applied it anyway.

    status_series(prepared, origin, 1.0)     # t, status, deliveries
    attempts_per_event(prepared)             # attempts, events
    backlog_drain(prepared, origin)          # fault, target, start, end, refused, drained_s,
                                             # undrained
    security_faults(prepared)                # attack, id, status, applied
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.checks import Prepared
from harness.checks.backlog import backlog_drain as endpoint_backlog
from harness.checks.frame import Ops

NO_ANSWER = "none"


def _webhook_requests(prepared: Prepared) -> Ops:
    calls = prepared.requests
    return calls.where(calls.signature >= 0) if len(calls) else calls


def status_series(prepared: Prepared, origin: float, window: float) -> pd.DataFrame:
    """One row per (window, status) with a delivery in it: ``t`` the window's start (seconds
    since ``origin``), ``status`` the code answered as text, ``deliveries`` the count."""
    calls = _webhook_requests(prepared)
    return _by_status(calls.t, calls.http_status, origin, window)


def _by_status(
    t: np.ndarray, http_status: np.ndarray, origin: float, window: float
) -> pd.DataFrame:
    """Deliveries per (window, status); a status below 0 or NaN is ``none`` (no answer)."""
    if len(t) == 0:
        return pd.DataFrame({"t": [], "status": [], "deliveries": []})
    index = np.floor((t - origin) / window).astype(np.int64)
    answered = np.nan_to_num(http_status.astype(np.float64), nan=-1.0)
    status = np.where(answered < 0, NO_ANSWER, answered.astype(np.int64).astype(str))
    frame = pd.DataFrame({"t": index * window, "status": status})
    counted = frame.groupby(["t", "status"], sort=True).size().rename("deliveries")
    return counted.reset_index()


def _own(prepared: Prepared) -> pd.DataFrame:
    """The harness's own webhook attempts (provider mode), security faults left out."""
    webhook = prepared.webhook
    return webhook[webhook["source"].astype(str) == "webhook"] if len(webhook) else webhook


def provider_status_series(prepared: Prepared, origin: float, window: float) -> pd.DataFrame:
    """Provider mode: the harness's attempts per window by the status the endpoint answered."""
    own = _own(prepared)
    t = own["t"].to_numpy(dtype=np.float64)
    return _by_status(t, own["http_status"].to_numpy(dtype=np.float64), origin, window)


def provider_attempts(prepared: Prepared) -> pd.DataFrame:
    """Provider mode: how many events took 1, 2, 3... attempts."""
    own = _own(prepared)
    if len(own) == 0:
        return pd.DataFrame({"attempts": [], "events": []})
    attempts, events = np.unique(own.groupby("id").size().to_numpy(), return_counts=True)
    return pd.DataFrame({"attempts": attempts, "events": events})


def provider_drain(prepared: Prepared, origin: float) -> pd.DataFrame:
    """Provider mode: per fault window on the endpoint, its backlog and how long it took to
    drain after the window (the frame ``backlog_drain`` gives for a receiver)."""
    frame = endpoint_backlog(prepared.webhook, prepared.faults)
    return pd.DataFrame(
        {
            "fault": frame["kind"],
            "target": frame["target"],
            "start": frame["t_start"] - origin,
            "end": frame["t_end"] - origin,
            "refused": frame["refused"],
            "drained_s": frame["drained_s"],
            "undrained": frame["undrained"],
        }
    )


def security_faults(prepared: Prepared) -> pd.DataFrame:
    """Provider mode: each security-fault delivery, what the endpoint answered (``none``: no
    answer), whether an effect with its id was seen (never for a replay: its id is a real
    event's, applied once already), and ``accepted`` as ``forged_accepted`` judges it (a 2xx, or
    applied)."""
    webhook = prepared.webhook
    attacks = (
        webhook[webhook["source"].astype(str) == "webhook_attack"] if len(webhook) else webhook
    )
    if len(attacks) == 0:
        return pd.DataFrame({"attack": [], "id": [], "status": [], "applied": [], "accepted": []})
    applied = set(prepared.names(np.unique(prepared.effects.id)))
    status = np.nan_to_num(attacks["http_status"].to_numpy(dtype=np.float64), nan=-1.0)
    ids = attacks["id"].astype(str)
    attack = attacks["reason"].astype(str).to_numpy()
    took = ids.isin(applied).to_numpy() & (attack != "replay")
    return pd.DataFrame(
        {
            "attack": attack,
            "id": ids.to_numpy(),
            "status": np.where(status < 0, NO_ANSWER, status.astype(np.int64).astype(str)),
            "applied": took,
            "accepted": took | ((status >= 200) & (status < 300)),
        }
    )


def attempts_per_event(prepared: Prepared) -> pd.DataFrame:
    """How many events (ids) the receiver saw with each number of attempts."""
    calls = _webhook_requests(prepared)
    if len(calls) == 0:
        return pd.DataFrame({"attempts": [], "events": []})
    per_id = np.bincount(calls.id, minlength=prepared.n_ids)
    per_id = per_id[per_id > 0]
    attempts, events = np.unique(per_id, return_counts=True)
    return pd.DataFrame({"attempts": attempts, "events": events})


def backlog_drain(prepared: Prepared, origin: float) -> pd.DataFrame:
    """Per fault window that answered 5xx: ``refused`` events (a 5xx inside the window),
    ``drained_s`` from the window's end to the last of them accepted (NaN: some never were),
    ``undrained`` those never accepted."""
    calls = _webhook_requests(prepared)
    columns = ["fault", "target", "start", "end", "refused", "drained_s", "undrained"]
    if len(calls) == 0 or prepared.faults.empty:
        return pd.DataFrame({c: [] for c in columns})
    faults = prepared.faults
    windows = faults[faults["kind"].astype(str).str.fullmatch(r"downstream\.5\d\d")]
    accepted = np.full(prepared.n_ids, np.inf)
    np.minimum.at(accepted, prepared.recvs.id, prepared.recvs.t)
    rows = []
    for fault in windows.itertuples():
        end = fault.t_end if np.isfinite(fault.t_end) else np.inf
        inside = (calls.t >= fault.t_start) & (calls.t <= end) & (calls.http_status >= 500)
        ids = np.unique(calls.id[inside])
        last = accepted[ids].max() if len(ids) else np.nan
        undrained = int(np.isinf(accepted[ids]).sum())
        drained = max(float(last - end), 0.0) if len(ids) and not undrained else np.nan
        start, stop = fault.t_start - origin, end - origin
        rows.append([fault.kind, fault.target, start, stop, len(ids), drained, undrained])
    return pd.DataFrame(rows, columns=columns)


__all__ = [
    "NO_ANSWER",
    "attempts_per_event",
    "backlog_drain",
    "provider_attempts",
    "provider_drain",
    "provider_status_series",
    "security_faults",
    "status_series",
]
