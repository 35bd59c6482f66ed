"""Thresholds: ``"p99_ms < 500"`` parsed once, at load time, into (metric, op, value).

The metric must be one of ``KNOWN_METRICS``: every anomaly name (a count) and the latency,
slip, recovery and volume figures the checks measure. The runner evaluates a threshold with
``Threshold.holds(measured)``.

    >>> t = Threshold.parse("p99_ms < 500")
    >>> (t.metric, t.op, t.value, t.holds(420.0))
    ('p99_ms', '<', 500.0, True)
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, field_validator

from harness.vocabulary import ANOMALIES

MEASURES: tuple[str, ...] = (
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "p999_ms",
    "max_ms",
    "publish_p99_ms",
    "slip_p99_ms",
    "recovery_s",
    "ack_stall_s",
    "backlog_drain_s",
    "throughput_per_s",
    "offered_per_s",
    "released_per_s",
    "sent",
    "unsent",
    "acked",
    "received",
)
"""Measured figures: end-to-end latency from the intended send time (coordinated-omission
corrected), publish latency, schedule slip, recovery time after the last fault, the longest
stall between acknowledgements, the time from a webhook endpoint's recovery to its backlog's
delivery (provider mode: the slowest window, ``harness.checks.backlog``), rates (achieved
over the real send-to-ack span, offered by the schedule, released by the engine), volumes."""

KNOWN_METRICS: tuple[str, ...] = ANOMALIES + MEASURES

Op = Literal["<", "<=", ">", ">=", "==", "!="]
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_PATTERN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|==|!=|<|>)\s*(\S+)\s*")


class Threshold(BaseModel):
    """One pass/fail condition on a measured metric (the string or the map form: both are
    checked alike; a value is finite, since ``x < nan`` can never pass)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    metric: str
    op: Op
    value: float

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str) -> str:
        if metric not in KNOWN_METRICS:
            raise ValueError(f"unknown metric {metric!r}; use one of {', '.join(KNOWN_METRICS)}")
        return metric

    @classmethod
    def parse(cls, text: str) -> Threshold:
        """Parse ``"metric op value"``; raise ``ValueError`` naming the known metrics."""
        match = _PATTERN.fullmatch(text)
        text = text if len(text) <= 80 else text[:77] + "..."  # shown in messages
        if match is None:
            raise ValueError(
                f"cannot read threshold {text!r}: write 'metric op number', e.g. 'p99_ms < 500' "
                f"(ops: {', '.join(_OPS)})"
            )
        metric, op, raw = match.groups()
        if metric not in KNOWN_METRICS:
            raise ValueError(
                f"unknown metric {metric!r} in threshold {text!r}; use one of "
                f"{', '.join(KNOWN_METRICS)}"
            )
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(
                f"threshold {text!r}: {raw!r} is not a number; write it as e.g. 'p99_ms < 500'"
            ) from None
        if not math.isfinite(value):
            raise ValueError(
                f"threshold {text!r}: the value must be finite (nan and inf never pass); give "
                "a number such as 500"
            )
        return cls(metric=metric, op=op, value=value)

    def holds(self, measured: float) -> bool:
        """True when ``measured`` satisfies the condition (NaN never does)."""
        return _OPS[self.op](measured, self.value)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


def _coerce(value: object) -> object:
    return Threshold.parse(value) if isinstance(value, str) else value


ThresholdField = Annotated[
    Threshold,
    BeforeValidator(_coerce),
    PlainSerializer(str, return_type=str),
]
"""A pydantic field type that reads a threshold string (or a Threshold)."""

__all__ = ["ANOMALIES", "KNOWN_METRICS", "MEASURES", "Op", "Threshold", "ThresholdField"]
