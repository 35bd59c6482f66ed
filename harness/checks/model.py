"""The result model: anomaly names, one finding per anomaly, and the check result.

A ``Finding`` is an exact count plus a few example ids. ``CheckResult.to_json()`` is what
``harness check --format json`` prints and what reports read; it holds only finite numbers (a
non-finite one, such as a latency that overflowed, becomes null), so strict parsers accept it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from harness.vocabulary import ANOMALIES

DELIVERY_CHECKS = ("lost", "duplicate_delivery", "out_of_order", "recovered")
"""Checks of what a consumer received; they need its deliveries, which a black box hides."""


class Guarantee(StrEnum):
    """A guarantee a run observed, for deliveries or for effects (see ``verdict``)."""

    EXACTLY_ONCE = "exactly-once"
    AT_LEAST_ONCE = "at-least-once"
    AT_MOST_ONCE = "at-most-once"
    NONE = "none"


@dataclass(frozen=True)
class Finding:
    """One anomaly: its exact count and up to a few example id codes."""

    name: str
    count: int
    examples: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @classmethod
    def from_flags(cls, name: str, flags: np.ndarray, limit: int) -> Finding:
        """A finding counting the ids whose flag is set (``flags`` indexed by id code)."""
        hits = np.flatnonzero(flags)
        return cls(name, len(hits), hits[:limit])

    @classmethod
    def from_codes(cls, name: str, codes: np.ndarray, limit: int) -> Finding:
        """A finding counting the distinct id codes in ``codes``."""
        unique = np.unique(codes)
        return cls(name, len(unique), unique[:limit])


@dataclass(frozen=True)
class CheckResult:
    """The verdict on one history: anomalies, guarantees, counts and latency.

    ``delivery_guarantee`` is None when nothing was sent; ``effect_guarantee`` is None when
    no effect ops were recorded.
    """

    valid: bool
    delivery_guarantee: Guarantee | None
    effect_guarantee: Guarantee | None
    anomalies: dict[str, int]
    examples: dict[str, list[str]]
    counts: dict[str, int]
    latency: dict[str, dict[str, float]]
    skipped: tuple[str, ...] = ()
    invalidating: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The JSON object ``harness check --format json`` prints."""
        return {
            "valid": self.valid,
            "delivery_guarantee": _name(self.delivery_guarantee),
            "effect_guarantee": _name(self.effect_guarantee),
            "anomalies": dict(self.anomalies),
            "examples": {k: list(v) for k, v in self.examples.items()},
            "counts": dict(self.counts),
            "latency": {k: {s: _finite(v) for s, v in d.items()} for k, d in self.latency.items()},
        }


def _name(guarantee: Guarantee | None) -> str | None:
    return None if guarantee is None else str(guarantee)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


__all__ = ["ANOMALIES", "CheckResult", "Finding", "Guarantee"]
