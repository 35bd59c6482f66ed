"""When a started service counts as ready to consume: the three ways a run can tell.

- ``report``: it reports ``ready`` on the report topic (the report contract);
- ``subscribed``: seen from outside, no harness code in the service: its Kafka consumer group
  is ``Stable`` with a member (so the partitions are assigned), or its RabbitMQ queue has a
  consumer;
- ``{log: REGEX}``: a line its current incarnation wrote to its log matches.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from harness.drivers import group_state
from harness.scenario import Scenario
from harness.scenario.models import ReadyLog, ReadyWhen

Probe = Callable[[int], Awaitable[bool]]
"""Called with the incarnation to wait for; True once it is ready."""


def ready_when(scenario: Scenario) -> ReadyWhen:
    """The scenario's readiness rule, with its default filled in."""
    chosen = scenario.system_under_test.ready
    if chosen is not None:
        return chosen
    return "subscribed" if scenario.observe else "report"


def kafka_subscribed(bootstrap: str, group: str) -> Probe:
    async def probe(incarnation: int) -> bool:
        state, members = await group_state(bootstrap, group)
        return state == "Stable" and members > 0

    return probe


def log_matches(log_path: Path, rule: ReadyLog) -> Probe:
    pattern = re.compile(rule.log)

    async def probe(incarnation: int) -> bool:
        return _current_incarnation_matches(log_path, pattern, incarnation)

    return probe


def _current_incarnation_matches(
    log_path: Path, pattern: re.Pattern[str], incarnation: int
) -> bool:
    try:
        with log_path.open("rb") as log:
            log.seek(max(0, log_path.stat().st_size - 4_000_000))  # bounded: the tail only
            text = log.read().decode("utf-8", "replace")
    except OSError:
        return False
    header = f"=== incarnation {incarnation} at"
    start = text.rfind(header)
    if start < 0:
        return False
    return any(pattern.search(line) for line in text[start:].splitlines()[1:])


__all__ = ["Probe", "kafka_subscribed", "log_matches", "ready_when"]
