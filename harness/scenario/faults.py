"""The fault timeline's models: when a fault starts, how long it lasts, and what it does.

A fault has a start (``at``), an optional end (``duration`` for toxics, proxy_down and
duplicate injection; ``restart_after`` for kill and consumer crashes; ``resume_after`` for
pause), an optional repetition (``every`` + ``times``) and exactly one action. Targets name
nodes of the stack (``kafka-1``..``kafka-3``, ``rabbitmq``) or are resolved at run time
(``leader_of_partition`` or ``followers_of_partition`` with ``partition``, ``random_broker``,
``all``).

    faults:
      - at: 20s
        kill: {target: leader_of_partition, partition: 0}
        restart_after: 15s
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.scenario.base import StrictModel
from harness.scenario.durations import Duration
from harness.vocabulary import Stream, ToxicType

# Toxiproxy's attributes per toxic: name -> required (True) or optional (False).
TOXIC_ATTRIBUTES: dict[ToxicType, dict[str, bool]] = {
    ToxicType.LATENCY: {"latency": True, "jitter": False},
    ToxicType.BANDWIDTH: {"rate": True},
    ToxicType.TIMEOUT: {"timeout": False},
    ToxicType.RESET_PEER: {"timeout": False},
    ToxicType.SLOW_CLOSE: {"delay": True},
    ToxicType.SLICER: {"average_size": True, "size_variation": False, "delay": False},
    ToxicType.LIMIT_DATA: {"bytes": True},
}

# Targets resolved at run time, beside plain node names.
LEADER_OF_PARTITION = "leader_of_partition"
FOLLOWERS_OF_PARTITION = "followers_of_partition"
RANDOM_BROKER = "random_broker"
ALL = "all"
PARTITION_TARGETS: tuple[str, ...] = (LEADER_OF_PARTITION, FOLLOWERS_OF_PARTITION)
DYNAMIC_TARGETS: tuple[str, ...] = (*PARTITION_TARGETS, RANDOM_BROKER, ALL)


class NodeTarget(StrictModel):
    """A node, or a rule choosing nodes: ``{target: leader_of_partition, partition: 0}``."""

    target: str
    partition: int | None = Field(default=None, ge=0)


class Toxic(NodeTarget):
    """A Toxiproxy toxic on the proxy in front of the target broker(s)."""

    type: ToxicType
    stream: Stream = Stream.DOWNSTREAM
    toxicity: float = Field(default=1.0, ge=0.0, le=1.0)
    attributes: dict[str, int] = Field(default_factory=dict)


class RollingRestart(StrictModel):
    """Restart the targets one after the other, each once the previous is back."""

    targets: list[str] | Literal["all"] = "all"


class ConsumerCrash(StrictModel):
    """Kill the consumer (built-in or the system under test) at a chosen point."""

    when: Literal["before_commit"] = "before_commit"


class DuplicateInjection(StrictModel):
    """Re-send already-sent ids (same id, key, seq and body) while the fault lasts, as a
    producer retrying after lost acks would: ``fraction`` of the sends in the window are such
    re-sends of recent events."""

    fraction: float = Field(gt=0, lt=1)


ACTIONS: tuple[str, ...] = (
    "toxic",
    "proxy_down",
    "kill",
    "pause",
    "restart",
    "rolling_restart",
    "consumer_crash",
    "duplicate",
)

# Which end field each action accepts (None: the action is instantaneous).
END_FIELD: dict[str, str | None] = {
    "toxic": "duration",
    "proxy_down": "duration",
    "kill": "restart_after",
    "pause": "resume_after",
    "restart": None,
    "rolling_restart": None,
    "consumer_crash": "restart_after",
    "duplicate": "duration",
}
END_FIELDS: tuple[str, ...] = ("duration", "restart_after", "resume_after")


class Fault(StrictModel):
    """One entry of the fault timeline. Times are seconds from the storm's start."""

    at: Duration
    duration: Duration | None = None
    restart_after: Duration | None = None
    resume_after: Duration | None = None
    every: Duration | None = None
    times: int | None = Field(default=None, ge=1)

    toxic: Toxic | None = None
    proxy_down: NodeTarget | None = None
    kill: NodeTarget | None = None
    pause: NodeTarget | None = None
    restart: NodeTarget | None = None
    rolling_restart: RollingRestart | None = None
    consumer_crash: ConsumerCrash | None = None
    duplicate: DuplicateInjection | None = None

    @property
    def action(self) -> str:
        """The name of the one action set (``"kill"``, ``"toxic"``...)."""
        chosen = [name for name in ACTIONS if getattr(self, name) is not None]
        return chosen[0] if chosen else ""

    @property
    def length(self) -> float | None:
        """Seconds from start to heal, or None when the fault lasts until the run heals it."""
        field = END_FIELD.get(self.action)
        return getattr(self, field) if field else None

    def starts(self, storm_duration: float) -> list[float]:
        """Start times of every repetition that begins before the storm ends."""
        if self.every is None:
            return [self.at]
        count = (
            self.times
            if self.times is not None
            else 1 + int((storm_duration - self.at) // self.every)
        )
        return [self.at + k * self.every for k in range(max(count, 1))]

    def scaled(self, factor: float) -> Fault:
        """The same fault with every time multiplied by ``factor``."""
        update = {
            name: getattr(self, name) * factor
            for name in ("at", "every", *END_FIELDS)
            if getattr(self, name) is not None
        }
        return self.model_copy(update=update)


def duplicate_windows(
    faults: list[Fault], storm_duration: float
) -> list[tuple[float, float, float]]:
    """``(start, end, fraction)`` of every duplicate-injection occurrence, in storm seconds (a
    fault without ``duration`` lasts to the storm's end)."""
    return [
        (at, min(at + (fault.duration or storm_duration), storm_duration), fault.duplicate.fraction)
        for fault in faults
        if fault.duplicate is not None
        for at in fault.starts(storm_duration)
    ]


__all__ = [
    "ACTIONS",
    "ALL",
    "DYNAMIC_TARGETS",
    "END_FIELD",
    "END_FIELDS",
    "FOLLOWERS_OF_PARTITION",
    "LEADER_OF_PARTITION",
    "PARTITION_TARGETS",
    "RANDOM_BROKER",
    "TOXIC_ATTRIBUTES",
    "ConsumerCrash",
    "DuplicateInjection",
    "Fault",
    "NodeTarget",
    "RollingRestart",
    "Stream",
    "Toxic",
    "ToxicType",
    "duplicate_windows",
]
