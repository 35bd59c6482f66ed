"""``target: {sns: ...}`` and ``target: {eventbridge: ...}``: one publish, several subscribers.

    target:
      sns:
        topic: orders
        attribute: region            # each event carries it: a message attribute (SNS) or a
        values: [eu, us]             # detail field (EventBridge); value = values[key % len]
        subscribers:
          - {name: all-orders}                                  # gets every event
          - {name: eu-orders, filter_policy: {region: [eu]}, expect: [eu]}
          - {name: audit, subscribe: false}                     # a subscription never made

    target:
      eventbridge:
        bus: orders
        attribute: region
        values: [eu, us]
        subscribers:                 # one rule each, its target an SQS queue
          - {name: eu-orders, pattern: {detail: {region: [eu]}}, expect: [eu]}

Each subscriber is an SQS queue inside the emulator, observed as its own source, so checks run
per subscriber. ``expect`` is the harness's own statement of which attribute values the
subscriber should get (default: all of them); the policy or pattern given to SNS/EventBridge
is what the system under test configured. A policy that delivers what ``expect`` excludes is
``unexpected`` for that subscriber; one that drops what ``expect`` includes is ``lost``.
``subscribe: false`` leaves the subscriber's queue without its subscription (or rule): a
deployment that lost one subscription among several.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from harness.scenario.base import StrictModel

MAX_SUBSCRIBERS = 8
MAX_VALUES = 16
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


class Subscriber(StrictModel):
    """One subscriber: an SQS queue, subscribed with a filter policy (SNS) or reached by a rule
    with an event pattern (EventBridge)."""

    name: str
    filter_policy: dict[str, Any] | None = None
    pattern: dict[str, Any] | None = None
    expect: list[str] | None = Field(default=None, max_length=MAX_VALUES)
    subscribe: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(
                f"{name!r} is not a subscriber name: 1-40 letters, digits, '-' or '_' (it names "
                "an SQS queue and a consumer group)"
            )
        return name


class FanoutTarget(StrictModel):
    """What SNS and EventBridge targets share: the event attribute and the subscribers."""

    attribute: str = Field(default="region", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
    values: list[str] = Field(default_factory=lambda: ["eu", "us"], min_length=1,
                              max_length=MAX_VALUES)  # fmt: skip
    subscribers: list[Subscriber] = Field(min_length=1, max_length=MAX_SUBSCRIBERS)
    publish_timeout: float = Field(default=5.0, gt=0, le=120)
    threads: int = Field(default=4, ge=1, le=32)
    """boto3 calls run on this many threads of their own (never on the event loop)."""

    @model_validator(mode="after")
    def _consistent(self) -> FanoutTarget:
        names = [s.name for s in self.subscribers]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"subscriber names must differ; {twice} appear more than once")
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"values must differ; got {self.values}")
        for sub in self.subscribers:
            unknown = sorted(set(sub.expect or ()) - set(self.values))
            if unknown:
                raise ValueError(
                    f"subscriber {sub.name!r} expects {unknown}, which are not among values "
                    f"{self.values}"
                )
        return self

    def value_of(self, key: str) -> str:
        """The attribute value an event of ``key`` (``key-07``) carries: values[7 % len]."""
        return self.values[key_index(key) % len(self.values)]

    def expected_keys(self, subscriber: Subscriber, key_names: list[str]) -> list[str]:
        """The keys among ``key_names`` whose events ``subscriber`` should receive."""
        wanted = set(subscriber.expect if subscriber.expect is not None else self.values)
        return [k for k in key_names if self.value_of(k) in wanted]


class SnsTarget(FanoutTarget):
    topic: str = Field(pattern=r"^[A-Za-z0-9_-]{1,200}$")

    @model_validator(mode="after")
    def _sns_only(self) -> SnsTarget:
        for sub in self.subscribers:
            if sub.pattern is not None:
                raise ValueError(
                    f"subscriber {sub.name!r}: pattern is an EventBridge rule's; an SNS "
                    "subscription takes filter_policy"
                )
        return self


class EventBridgeTarget(FanoutTarget):
    bus: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,200}$")
    source: str = Field(default="harness.storm", pattern=r"^[A-Za-z0-9_.-]{1,200}$")
    detail_type: str = Field(default="storm-event", min_length=1, max_length=128)

    @model_validator(mode="after")
    def _eventbridge_only(self) -> EventBridgeTarget:
        for sub in self.subscribers:
            if sub.filter_policy is not None:
                raise ValueError(
                    f"subscriber {sub.name!r}: filter_policy is an SNS subscription's; an "
                    "EventBridge rule takes pattern"
                )
        return self


def key_index(key: str) -> int:
    """The index in a storm key name (``key-07`` -> 7); 0 for a key without one."""
    tail = key.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


__all__ = [
    "MAX_SUBSCRIBERS",
    "EventBridgeTarget",
    "FanoutTarget",
    "SnsTarget",
    "Subscriber",
    "key_index",
]
