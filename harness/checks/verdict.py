"""The verdict: the delivery guarantee observed and whether the run is valid.

The guarantee compares losses with duplicates. Losses are ``lost`` (plus ``missing_effect``
when effects are recorded); duplicates are ``duplicate_write`` plus, when effects are recorded,
``duplicate_effect`` (an idempotent consumer may see redeliveries yet apply once), otherwise
``duplicate_delivery``. No loss and no duplicate is exactly-once; duplicates only,
at-least-once; losses only, at-most-once; both, none.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.checks.model import Guarantee
from harness.checks.policy import CheckPolicy


def guarantee(anomalies: Mapping[str, int], *, effects: bool) -> Guarantee:
    losses = anomalies["lost"] + (anomalies["missing_effect"] if effects else 0)
    duplicated = anomalies["duplicate_write"] + (
        anomalies["duplicate_effect"] if effects else anomalies["duplicate_delivery"]
    )
    if losses and duplicated:
        return Guarantee.NONE
    if losses:
        return Guarantee.AT_MOST_ONCE
    if duplicated:
        return Guarantee.AT_LEAST_ONCE
    return Guarantee.EXACTLY_ONCE


def invalidating(anomalies: Mapping[str, int], policy: CheckPolicy) -> tuple[str, ...]:
    """The anomalies found that the policy does not tolerate."""
    return tuple(name for name, count in anomalies.items() if count and name not in policy.allowed)


__all__ = ["guarantee", "invalidating"]
