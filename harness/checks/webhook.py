"""Checks of provider mode (the harness delivered webhooks to the user's endpoint), applied when
the history holds the harness's webhook attempts (``request`` rows of source ``webhook`` or
``webhook_attack``; ``Prepared.webhook``).

- ``forged_accepted``: a security-fault delivery (forged or wrong-key signature, stale
  timestamp, replay after the tolerance, tampered body, missing headers, only a retired key's
  signature) that the endpoint answered with a 2xx, or refused but applied anyway (an effect
  carries its id). Counted per delivery. A replay reuses a delivered id, so applying it shows
  as ``duplicate_effect``; here it counts only when answered 2xx.
- ``lost_after_retries``: an event the harness delivered, whose every attempt failed (the
  retry policy ran out, or a 410 disabled the endpoint), and of which no effect was seen.

Duplicate effects across redeliveries and ``out_of_order_effect`` are the effect checks of
``harness.checks.idempotency`` and ``harness.checks.ordering``, over the observed effects.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.checks.frame import Prepared
from harness.checks.model import Finding

NAMES = ("forged_accepted", "lost_after_retries")
ATTACK_SOURCE = "webhook_attack"
REPLAY = "replay"


def applies(history: Prepared) -> bool:
    return len(history.webhook) > 0


def findings(history: Prepared, limit: int) -> list[Finding]:
    applied = set(history.names(np.unique(history.effects.id)))
    codes = {name: code for code, name in enumerate(history.id_names.to_pylist())}
    return [
        forged_accepted(history.webhook, applied, codes, limit),
        lost_after_retries(history.webhook, applied, codes, limit),
    ]


def forged_accepted(
    attempts: pd.DataFrame, applied: set[str], codes: dict[str, int], limit: int
) -> Finding:
    """Security-fault deliveries the endpoint took (2xx) or applied after refusing them."""
    attacks = attempts[attempts["source"] == ATTACK_SOURCE]
    status = attacks["http_status"].fillna(-1).astype(np.int64)
    took = (status >= 200) & (status < 300)
    ids = attacks["id"].astype(str)
    applied_anyway = ids.isin(applied) & (attacks["reason"] != REPLAY)
    bad = attacks[took | applied_anyway]
    return Finding("forged_accepted", len(bad), _codes(bad["id"], codes, limit))


def lost_after_retries(
    attempts: pd.DataFrame, applied: set[str], codes: dict[str, int], limit: int
) -> Finding:
    """Delivered ids with no 2xx attempt and no effect: the provider gave up on them."""
    own = attempts[attempts["source"] != ATTACK_SOURCE]
    status = own["http_status"].fillna(-1).astype(np.int64)
    accepted = own.assign(ok=(status >= 200) & (status < 300)).groupby("id")["ok"].any()
    lost = [i for i in accepted.index[~accepted.to_numpy()] if i not in applied]
    return Finding("lost_after_retries", len(lost), _codes(pd.Series(lost), codes, limit))


def _codes(ids: pd.Series, codes: dict[str, int], limit: int) -> np.ndarray:
    known = [codes[i] for i in dict.fromkeys(ids.astype(str)) if i in codes]
    return np.array(known[:limit], dtype=np.int64)


__all__ = ["NAMES", "applies", "findings"]
