"""Bounds checked by arithmetic before anything is materialised, and the options' rules.

A fault that repeats ``every: 1ns`` would expand into billions of start times; validation must
say so without expanding them. ``fault_limits`` reads only ``at``, ``every``, ``times`` (and the
storm's duration) and hands back the faults safe to check further: an oversized one is passed
on without its repetition, so no later check expands it.

The seed and duration-scale rules are stated once here, for the YAML field and the command
line alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from harness.errors import ConfigError
from harness.scenario.base import Problem

if TYPE_CHECKING:
    from harness.scenario.faults import Fault

MAX_FAULT_OCCURRENCES = 10_000
MAX_SEED = 2**63 - 1
SEED_RULE = f"give a whole number from 0 to 2**63 - 1 ({MAX_SEED})"
SCALE_RULE = "give a finite number above 0, e.g. 0.2 for a run 5 times shorter"


def occurrences(fault: Fault, storm_duration: float) -> float:
    """How many times ``fault`` starts (``Fault.starts`` would list them), by arithmetic."""
    every, times = fault.every, fault.times
    if every is None:
        return 1.0
    if times is not None:
        return float(times) if times <= MAX_FAULT_OCCURRENCES else math.inf
    if not every > 0:
        return 1.0  # an interval <= 0 is reported by the cross-field checks
    ratio = (storm_duration - fault.at) / every
    if not math.isfinite(ratio):
        return math.inf if ratio > 0 else 1.0
    return float(max(1 + math.floor(ratio), 1))


def fault_limits(
    faults: Sequence[Fault], storm_duration: float
) -> tuple[list[Problem], list[Fault]]:
    """Problems of timelines too long to expand, and the faults safe to check further."""
    counts = [occurrences(f, storm_duration) for f in faults]
    problems = [
        Problem(
            ("faults", i, "times" if faults[i].times is not None else "every"),
            f"this fault would start {_count(n)} times; at most {MAX_FAULT_OCCURRENCES:,} "
            "fault occurrences fit a run (use a longer 'every' or fewer 'times')",
        )
        for i, n in enumerate(counts)
        if n > MAX_FAULT_OCCURRENCES
    ]
    total = sum(counts)
    if not problems and total > MAX_FAULT_OCCURRENCES:
        problems.append(
            Problem(
                ("faults",),
                f"the timeline holds {_count(total)} fault occurrences in all; at most "
                f"{MAX_FAULT_OCCURRENCES:,} fit a run (repeat fewer faults, or less often)",
            )
        )
    if not problems:
        return [], list(faults)
    safe = [
        f.model_copy(update={"every": None, "times": None}) if n > 1 else f
        for f, n in zip(faults, counts, strict=True)
    ]
    return problems, safe


def _count(n: float) -> str:
    return f"more than {MAX_FAULT_OCCURRENCES:,}" if not math.isfinite(n) else f"{n:,.0f}"


def seed_problem(seed: int) -> str | None:
    """Why ``seed`` is not a usable seed, or None."""
    return None if 0 <= seed <= MAX_SEED else f"{seed} is not a usable seed: {SEED_RULE}"


def parse_seed(text: object, option: str = "--seed") -> int:
    """The seed given on the command line as ``text``; ``ConfigError`` with the rule if not."""
    try:
        seed = int(str(text).strip())
    except ValueError:
        raise ConfigError(f"{option} {text!r} is not a usable seed: {SEED_RULE}.") from None
    problem = seed_problem(seed)
    if problem is not None:
        raise ConfigError(f"{option} {problem}.")
    return seed


def check_scale(scale: float, option: str = "duration_scale") -> float:
    """``scale`` if it is a usable duration scale; ``ConfigError`` with the rule if not."""
    if isinstance(scale, bool) or not isinstance(scale, int | float):
        raise ConfigError(f"{option} {scale!r} is not a number: {SCALE_RULE}.")
    if not (math.isfinite(scale) and scale > 0):
        raise ConfigError(f"{option} {scale!r} is not usable: {SCALE_RULE}.")
    return float(scale)


def parse_scale(text: object, option: str = "--duration-scale") -> float:
    """The duration scale given on the command line as ``text``."""
    try:
        scale = float(str(text).strip())
    except ValueError:
        raise ConfigError(f"{option} {text!r} is not a number: {SCALE_RULE}.") from None
    return check_scale(scale, option)


__all__ = [
    "MAX_FAULT_OCCURRENCES",
    "MAX_SEED",
    "SCALE_RULE",
    "SEED_RULE",
    "check_scale",
    "fault_limits",
    "occurrences",
    "parse_scale",
    "parse_seed",
    "seed_problem",
]
