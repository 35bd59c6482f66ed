"""Durations as people write them: ``"500ms"``, ``"60s"``, ``"2m"``, ``"1h"``, ``"1m30s"``.

A bare number means seconds. Parsing returns float seconds; ``format_duration`` gives the
shortest exact spelling back, for error messages and reports.

    >>> parse_duration("1m30s")
    90.0
    >>> parse_duration("250ms")
    0.25
"""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h)")
_WHOLE = re.compile(r"(?:(?:\d+(?:\.\d+)?|\.\d+)(?:ms|s|m|h))+")
_HINT = "use a number with a unit (ms, s, m, h), e.g. 500ms, 60s, 2m, 1m30s"


def parse_duration(value: object) -> float:
    """Seconds in ``value``: a non-negative number (seconds) or a string such as ``"2m"``.

    Raises ``ValueError`` (pydantic turns it into a field error) for anything else.
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}: {_HINT}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_text(value)
    else:
        raise ValueError(f"invalid duration {_shown(value)}: {_HINT}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"invalid duration {_shown(value)}: must be a finite time >= 0; {_HINT}")
    return seconds


def _parse_text(text: str) -> float:
    compact = text.strip().replace(" ", "")
    try:
        return float(compact)
    except ValueError:
        pass
    if not compact or not _WHOLE.fullmatch(compact):
        raise ValueError(f"invalid duration {_shown(text)}: {_HINT}")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _PART.findall(compact))


def _shown(value: object) -> str:
    """``value!r``, cut short: a message must stay one readable line."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def format_duration(seconds: float) -> str:
    """A short spelling of ``seconds`` that ``parse_duration`` reads back: ``90.0 -> "90s"``."""
    if seconds < 1 and seconds != 0:
        return f"{round(seconds * 1000, 6):.12g}ms"
    return f"{round(seconds, 9):.12g}s"


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]
"""A pydantic field type: accepts ``"60s"`` or ``60`` and holds float seconds."""

__all__ = ["Duration", "format_duration", "parse_duration"]
