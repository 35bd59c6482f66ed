"""The verdict: the guarantees observed, for deliveries and for effects, and validity.

Each guarantee compares losses with duplicates: neither is exactly-once; duplicates only,
at-least-once; losses only, at-most-once; both, none.

- Deliveries: losses are ``lost``; duplicates are ``duplicate_delivery`` and
  ``duplicate_write``. None (not applicable) when nothing was sent.
- Effects: losses are ``missing_effect``, ``dlq_missing`` (a poison event the system dropped
  instead of dead-lettering) and ``dlq_unexpected`` (a good event
  dead-lettered instead of applied); duplicates are ``duplicate_effect``. None when no effect
  ops were recorded.

Ordering anomalies (``out_of_order``, ``out_of_order_effect``) are not part of either
guarantee: they invalidate a run through the policy, not through the guarantee.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.checks.model import Guarantee
from harness.checks.policy import CheckPolicy

DELIVERY_LOSSES = ("lost",)
DELIVERY_DUPLICATES = ("duplicate_delivery", "duplicate_write")
EFFECT_LOSSES = ("missing_effect", "dlq_missing", "dlq_unexpected")
EFFECT_DUPLICATES = ("duplicate_effect",)


def delivery_guarantee(anomalies: Mapping[str, int], *, sent: bool) -> Guarantee | None:
    """The delivery guarantee observed; None when nothing was sent."""
    if not sent:
        return None
    return _compare(_sum(anomalies, DELIVERY_LOSSES), _sum(anomalies, DELIVERY_DUPLICATES))


def effect_guarantee(anomalies: Mapping[str, int], *, effects: bool) -> Guarantee | None:
    """The effect guarantee observed; None when no effect ops were recorded."""
    if not effects:
        return None
    return _compare(_sum(anomalies, EFFECT_LOSSES), _sum(anomalies, EFFECT_DUPLICATES))


def _sum(anomalies: Mapping[str, int], names: tuple[str, ...]) -> int:
    return sum(anomalies.get(name, 0) for name in names)


def _compare(losses: int, duplicated: int) -> Guarantee:
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


__all__ = ["delivery_guarantee", "effect_guarantee", "invalidating"]
