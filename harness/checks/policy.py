"""Which anomalies invalidate a run, and how many examples to keep."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from harness.checks.model import ANOMALIES
from harness.errors import ConfigError

DEFAULT_ALLOWED = frozenset({"duplicate_delivery", "recovered"})


@dataclass(frozen=True)
class CheckPolicy:
    """What a check tolerates.

    ``allowed`` anomalies are reported but do not make the run invalid. The default tolerates
    ``duplicate_delivery`` (at-least-once redelivery) and ``recovered`` (a send the client gave
    up on that still arrived).

        CheckPolicy.default().allowing(["out_of_order"])
    """

    allowed: frozenset[str] = DEFAULT_ALLOWED
    max_examples: int = 5

    def __post_init__(self) -> None:
        unknown = sorted(set(self.allowed) - set(ANOMALIES))
        if unknown:
            raise ConfigError(
                f"unknown anomaly name(s) {unknown}; known anomalies are {list(ANOMALIES)}"
            )
        if self.max_examples < 0:
            raise ConfigError(
                f"max_examples (--examples) must be 0 or more, got {self.max_examples!r}; give 0 "
                "to list no examples"
            )

    @classmethod
    def default(cls) -> CheckPolicy:
        return cls()

    def allowing(self, names: Iterable[str]) -> CheckPolicy:
        """This policy with ``names`` tolerated too."""
        return CheckPolicy(allowed=self.allowed | frozenset(names), max_examples=self.max_examples)

    def denying(self, names: Iterable[str]) -> CheckPolicy:
        """This policy with ``names`` no longer tolerated."""
        names = frozenset(names)
        CheckPolicy(allowed=names)  # validates the names
        return CheckPolicy(allowed=self.allowed - names, max_examples=self.max_examples)


__all__ = ["DEFAULT_ALLOWED", "CheckPolicy"]
