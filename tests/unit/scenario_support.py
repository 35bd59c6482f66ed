"""What several unit test modules build scenarios from: the smallest valid scenario text."""

from __future__ import annotations

MINIMAL_SCENARIO = """\
name: ok
target:
  kafka: {topic: orders, partitions: 6}
storm:
  duration: 60s
  rate: {shape: constant, per_second: 1000}
"""
"""A valid Kafka scenario with no faults; tests append fields (``faults:`` ...) to it."""
