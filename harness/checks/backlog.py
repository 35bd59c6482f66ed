"""Provider mode: the time from the endpoint's recovery to the backlog's delivery.

A fault window on the webhook endpoint (target ``endpoint``: a 503/429/410 window answered in
front of it, resets, a cut) leaves a backlog: the events whose attempts failed inside it. Per
window, ``refused`` is how many events had a failed attempt (no 2xx answer) overlapping the
window, ``drained_s`` the time from the window's end to the last of them answered 2xx (0 when
all were before it ended; NaN when none was refused or some never were), and ``undrained``
how many never got a 2xx. Security-fault deliveries (``webhook_attack``) are not the backlog.

    backlog_drain(prepared.webhook, prepared.faults)  # kind, target, t_start, t_end, refused,
                                                      # drained_s, undrained
    drain_seconds(frame)                              # the worst window: inf if one never drained
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

ENDPOINT = "endpoint"
SOURCE = "webhook"
NOT_A_WINDOW = ("webhook.attack",)
"""Fault kinds on the endpoint that are not windows of failure (a security fault is a send)."""
COLUMNS = ("kind", "target", "t_start", "t_end", "refused", "drained_s", "undrained")


def backlog_drain(webhook: pd.DataFrame, faults: pd.DataFrame) -> pd.DataFrame:
    """One row per fault window on the endpoint (see the module's text)."""
    own = webhook[webhook["source"].astype(str) == SOURCE] if len(webhook) else webhook
    if len(own) == 0 or faults.empty:
        return pd.DataFrame({c: [] for c in COLUMNS})
    windows = faults[
        (faults["target"].astype(str) == ENDPOINT) & ~faults["kind"].astype(str).isin(NOT_A_WINDOW)
    ]
    ids = own["id"].astype(str).to_numpy()
    t = own["t"].to_numpy(dtype=np.float64)
    t_ack = own["t_ack"].to_numpy(dtype=np.float64)
    ended = np.where(np.isnan(t_ack), t, t_ack)
    status = own["http_status"].to_numpy(dtype=np.float64)
    ok = (status >= 200) & (status < 300)
    delivered = pd.Series(ended[ok]).groupby(ids[ok]).min()
    rows = []
    for window in windows.itertuples():
        start = float(window.t_start)
        end = float(window.t_end) if np.isfinite(window.t_end) else math.inf
        failed = ~ok & (t <= end) & (ended >= start)
        refused = np.unique(ids[failed])
        when = delivered.reindex(refused).to_numpy(dtype=np.float64)
        undrained = int(np.isnan(when).sum())
        drained = (
            max(float(np.max(when)) - end, 0.0)
            if len(refused) and not undrained and math.isfinite(end)
            else math.nan
        )
        rows.append([window.kind, window.target, start, end, len(refused), drained, undrained])
    return pd.DataFrame(rows, columns=list(COLUMNS))


def drain_seconds(frame: pd.DataFrame) -> float:
    """The slowest window's drain: NaN without a refused event, inf if some event never got a
    2xx (the backlog never drained)."""
    refused = frame[frame["refused"] > 0] if len(frame) else frame
    if len(refused) == 0:
        return math.nan
    if (refused["undrained"] > 0).any():
        return math.inf
    return float(refused["drained_s"].max())


__all__ = ["backlog_drain", "drain_seconds"]
