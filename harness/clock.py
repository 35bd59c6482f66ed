"""The run clock: one monotonic time base shared by every process on this machine.

All op times in a history are float seconds from ``now()`` (Linux CLOCK_MONOTONIC, which is
system-wide, so a consumer process and the harness agree). ``wall_offset()`` maps them to Unix
time for display: ``unix_time = t + wall_offset()``.
"""

from __future__ import annotations

import time


def now() -> float:
    """Seconds on the run clock."""
    return time.monotonic()


def wall_offset() -> float:
    """Add this to a run-clock reading to get Unix time."""
    return time.time() - time.monotonic()


__all__ = ["now", "wall_offset"]
