"""Contract checks on what a service emits, applied when the history holds effects.

- ``invalid_output``: an id with an observed output whose body broke the output source's
  declared schema (an ``effect`` row with ``status: fail``; see
  ``harness.observe.output_contract``).
"""

from __future__ import annotations

from harness.checks.frame import FAIL, Prepared
from harness.checks.model import Finding

NAMES = ("invalid_output",)


def invalid_output(history: Prepared, limit: int) -> Finding:
    effects = history.effects
    return Finding.from_codes("invalid_output", effects.id[effects.status == FAIL], limit)


__all__ = ["NAMES", "invalid_output"]
