"""Schema drift: a value changed the way a producer that strays from its schema changes it.

``extra_field`` adds a property the schema does not declare; ``type_change`` turns one declared
field into another JSON type (a number into a string, anything else into a number). Both are
pure functions of the value and a seeded ``random.Random``. Drift applies to JSON bodies: an
Avro writer cannot encode a value its schema does not describe.
"""

from __future__ import annotations

import random
from enum import StrEnum
from typing import Any


class DriftKind(StrEnum):
    EXTRA_FIELD = "extra_field"
    TYPE_CHANGE = "type_change"


EXTRA_FIELD = "x_undeclared"


def drifted(value: Any, kind: DriftKind, rng: random.Random) -> Any:
    """A copy of ``value`` (an object) with one drift of ``kind``."""
    if not isinstance(value, dict):
        return value
    out = dict(value)
    if kind is DriftKind.EXTRA_FIELD or not out:
        out[EXTRA_FIELD] = rng.randint(0, 1_000_000)
        return out
    name = rng.choice(sorted(out))
    current = out[name]
    is_number = isinstance(current, int | float) and not isinstance(current, bool)
    out[name] = str(current) if is_number else rng.randint(0, 1_000_000)
    return out


__all__ = ["EXTRA_FIELD", "DriftKind", "drifted"]
