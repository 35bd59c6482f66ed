"""What a webhook receiver the harness played saw: pure functions over a prepared history.

- ``status_series``: deliveries per window by the status answered (``none``: no answer left);
- ``attempts_per_event``: how many events took 1, 2, 3... attempts;
- ``backlog_drain``: per 5xx window on a receiver, how long after the window ended the last
  event it refused was accepted (the backlog drained), and how many never were.

Only the webhook requests count (those the receiver verified: ``signature`` set); a run without
a receiver gives empty frames.

    status_series(prepared, origin, 1.0)     # t, status, deliveries
    attempts_per_event(prepared)             # attempts, events
    backlog_drain(prepared, origin)          # fault, start, end, refused, drained_s, undrained
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.checks import Prepared
from harness.checks.frame import Ops

NO_ANSWER = "none"


def _webhook_requests(prepared: Prepared) -> Ops:
    calls = prepared.requests
    return calls.where(calls.signature >= 0) if len(calls) else calls


def status_series(prepared: Prepared, origin: float, window: float) -> pd.DataFrame:
    """One row per (window, status) with a delivery in it: ``t`` the window's start (seconds
    since ``origin``), ``status`` the code answered as text, ``deliveries`` the count."""
    calls = _webhook_requests(prepared)
    if len(calls) == 0:
        return pd.DataFrame({"t": [], "status": [], "deliveries": []})
    index = np.floor((calls.t - origin) / window).astype(np.int64)
    status = np.where(calls.http_status < 0, NO_ANSWER, calls.http_status.astype(str))
    frame = pd.DataFrame({"t": index * window, "status": status})
    counted = frame.groupby(["t", "status"], sort=True).size().rename("deliveries")
    return counted.reset_index()


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


__all__ = ["NO_ANSWER", "attempts_per_event", "backlog_drain", "status_series"]
