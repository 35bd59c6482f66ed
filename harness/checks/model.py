"""The result model: anomaly names, one finding per anomaly, and the check result.

A ``Finding`` is an exact count plus a few example ids. ``CheckResult.to_json()`` is what
``harness check --format json`` prints and what reports read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from harness.vocabulary import ANOMALIES


class Guarantee(StrEnum):
    """The delivery guarantee a run observed (see ``verdict.guarantee``)."""

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
    """The verdict on one history: anomalies, guarantee, counts and latency."""

    valid: bool
    guarantee: Guarantee
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
            "guarantee": str(self.guarantee),
            "anomalies": dict(self.anomalies),
            "examples": {k: list(v) for k, v in self.examples.items()},
            "counts": dict(self.counts),
            "latency": {k: dict(v) for k, v in self.latency.items()},
        }


__all__ = ["ANOMALIES", "CheckResult", "Finding", "Guarantee"]
