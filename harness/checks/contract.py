"""Contract checks on what a service emits, applied when the history holds effects.

- ``invalid_output``: an id with an observed output whose body broke the output source's
  declared schema (an ``effect`` row with ``status: fail``; see
  ``harness.observe.output_contract``), or a webhook the service sent to the harness's
  receiver whose body broke the receiver's schema (a ``request`` row whose ``reason`` starts
  ``invalid_output``).
"""

from __future__ import annotations

import numpy as np

from harness.checks.frame import FAIL, Prepared
from harness.checks.model import Finding

NAMES = ("invalid_output",)


def applies(history: Prepared) -> bool:
    """Whether bodies were held to a schema outside the effects: a webhook receiver's."""
    return bool(len(history.requests)) and bool((history.requests.reason >= 0).any())


def invalid_output(history: Prepared, limit: int) -> Finding:
    effects = history.effects
    broke = effects.id[effects.status == FAIL]
    requests = history.requests
    if len(requests):
        broke = np.concatenate([broke, requests.id[requests.reason == 1]])
    return Finding.from_codes("invalid_output", broke, limit)


__all__ = ["NAMES", "applies", "invalid_output"]
