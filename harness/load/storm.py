"""The storm: every event of a run, decided before the run starts, from (spec, seed) alone.

``build_storm(spec, seed)`` returns a ``Storm``: one row per send, in intended-time order,
as numpy columns:

- ``id``: ``{run_prefix}-{n}``, ``n`` counting the original events from 0 (unique per run);
- ``key``, ``key_index``, ``seq``: the key and the event's 1-based position among its key's;
- ``t_offset``: intended send time, seconds from the storm's start;
- ``size``, ``poison``: body size and whether the body is deliberately malformed;
- ``duplicate_of``: for an injected duplicate (a re-send of an already-sent id, with the same
  id, key, seq and body), the row it repeats; -1 otherwise;
- ``version``, ``drift``: for a schema-driven storm (``storm.schema``), the index of the
  schema version each event is written with and its drift code (0: none); see
  ``harness.load.schema_bodies``. Zero for other storms.

The same (spec, seed, run_prefix) always gives the same storm, byte for byte. Each random
part (schedule, keys, sizes, poison, duplicates, bodies) draws from its own seeded stream, so
changing one setting does not reshuffle the others. ``Storm.split(n)`` deals the rows to ``n``
workers by key, which keeps each key's order within one worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.events import Event
from harness.load.keys import key_indices, key_names, sequence_numbers
from harness.load.payloads import PayloadFactory, payload_sizes
from harness.load.schedule import intended_offsets
from harness.load.schema_bodies import SchemaBodies, schema_bodies, schema_columns
from harness.scenario import Poison, StormSpec

# Duplicates repeat one of the most recent originals, as a retrying producer would.
DUPLICATE_WINDOW = 1000
_STREAMS = {"schedule": 1, "keys": 2, "sizes": 3, "poison": 4, "duplicates": 5, "schema": 6}


def _rng(seed: int, part: str) -> np.random.Generator:
    return np.random.default_rng([seed, _STREAMS[part]])


@dataclass(frozen=True, eq=False)
class Storm:
    """The rows of a storm as numpy columns (see the module docstring)."""

    run_prefix: str
    seed: int
    id: np.ndarray
    key: np.ndarray
    key_index: np.ndarray
    seq: np.ndarray
    t_offset: np.ndarray
    size: np.ndarray
    poison: np.ndarray
    duplicate_of: np.ndarray
    payloads: PayloadFactory = field(repr=False)
    version: np.ndarray | None = None
    drift: np.ndarray | None = None
    schema: SchemaBodies | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.t_offset)

    @property
    def originals(self) -> int:
        """Rows that are not injected duplicates (= distinct ids)."""
        return int(np.count_nonzero(self.duplicate_of < 0))

    def payload(self, row: int) -> bytes:
        """The body of row ``row`` (a duplicate has its original's body)."""
        if self.schema is not None and not self.poison[row]:
            assert self.version is not None and self.drift is not None
            return self.schema.body(self.id[row], int(self.version[row]), int(self.drift[row]))
        return self.payloads.body(
            self.id[row],
            self.key[row],
            int(self.seq[row]),
            int(self.size[row]),
            bool(self.poison[row]),
        )

    def event(self, row: int, intended: float, sent: float) -> Event:
        """Row ``row`` as an ``Event`` with its run-clock intended and sent times."""
        return Event(
            self.id[row],
            self.key[row],
            int(self.seq[row]),
            intended,
            sent,
            self.payload(row),
            bool(self.poison[row]),
        )

    def take(self, rows: np.ndarray) -> Storm:
        """A storm of the given rows (``duplicate_of`` keeps pointing into this storm's rows)."""
        columns = ("id", "key", "key_index", "seq", "t_offset", "size", "poison", "duplicate_of")
        optional = {
            name: getattr(self, name)[rows] if getattr(self, name) is not None else None
            for name in ("version", "drift")
        }
        return Storm(
            self.run_prefix,
            self.seed,
            **{name: getattr(self, name)[rows] for name in columns},
            payloads=self.payloads,
            **optional,
            schema=self.schema,
        )

    def split(self, workers: int) -> list[Storm]:
        """Deal rows to ``workers`` storms by key, so each key stays with one worker."""
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        return [self.take(np.flatnonzero(self.key_index % workers == w)) for w in range(workers)]

    def to_frame(self) -> pd.DataFrame:
        """The storm as a DataFrame, one row per send."""
        return pd.DataFrame(
            {
                "id": self.id,
                "key": self.key,
                "seq": self.seq,
                "t_offset": self.t_offset,
                "size": self.size,
                "poison": self.poison,
                "duplicate_of": self.duplicate_of,
            }
        )


def build_storm(
    spec: StormSpec,
    seed: int,
    run_prefix: str | None = None,
    duplicate_windows: Sequence[tuple[float, float, float]] = (),
) -> Storm:
    """The storm of ``spec`` for ``seed``; ids are ``{run_prefix}-{n}`` (default ``r{seed}``).

    ``duplicate_windows`` (``(start, end, fraction)`` in storm seconds, from the duplicate
    faults) add re-sends to the slots intended within each window, beside the storm's own
    ``duplicates`` fraction.
    """
    prefix = run_prefix if run_prefix is not None else f"r{seed}"
    offsets = intended_offsets(spec.rate, spec.duration, _rng(seed, "schedule"))
    slots = len(offsets)
    fraction = np.full(slots, spec.duplicates.fraction if spec.duplicates is not None else 0.0)
    for start, end, extra in duplicate_windows:
        fraction[(offsets >= start) & (offsets < end)] += extra
    duplicate_of = _duplicate_slots(slots, np.minimum(fraction, 1.0), _rng(seed, "duplicates"))
    original_rows = np.flatnonzero(duplicate_of < 0)
    count = len(original_rows)

    key_index = key_indices(spec.keys, count, _rng(seed, "keys"))
    seq = sequence_numbers(key_index)
    sizes = payload_sizes(spec.payload, count, _rng(seed, "sizes"))
    poison = _poison(spec.poison, count, _rng(seed, "poison"))
    numbers = np.arange(count)
    ids = np.array([f"{prefix}-{n}" for n in numbers.tolist()], dtype=object)

    # Map every slot to its original event: itself, or the original it duplicates.
    rank = np.empty(slots, dtype=np.int64)
    rank[original_rows] = numbers
    is_dup = duplicate_of >= 0
    rank[is_dup] = rank[duplicate_of[is_dup]]

    names = key_names(spec.keys.count)
    version = drift = None
    bodies = None
    if spec.schema_ is not None:
        plan = spec.schema_
        version, drift = schema_columns(plan, offsets[original_rows], _rng(seed, "schema"))
        version, drift = version[rank], drift[rank]
        bodies = schema_bodies(plan, seed)
    return Storm(
        run_prefix=prefix,
        seed=seed,
        id=ids[rank],
        key=names[key_index[rank]],
        key_index=key_index[rank],
        seq=seq[rank],
        t_offset=offsets,
        size=sizes[rank],
        poison=poison[rank],
        duplicate_of=duplicate_of,
        payloads=PayloadFactory(seed, int(sizes.max()) if count else 1),
        version=version,
        drift=drift,
        schema=bodies,
    )


def _duplicate_slots(slots: int, fraction: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each slot, -1 or the earlier original slot it re-sends (``fraction``: per slot)."""
    duplicate_of = np.full(slots, -1, dtype=np.int64)
    if slots < 2 or not np.any(fraction > 0):
        return duplicate_of
    is_dup = rng.random(slots) < fraction
    is_dup[0] = False
    original_rows = np.flatnonzero(~is_dup)
    before = np.cumsum(~is_dup) - 1  # rank of the last original at or before each slot
    dup_rows = np.flatnonzero(is_dup)
    window = np.minimum(before[dup_rows] + 1, DUPLICATE_WINDOW)
    back = np.floor(rng.random(len(dup_rows)) * window).astype(np.int64)
    duplicate_of[dup_rows] = original_rows[before[dup_rows] - back]
    return duplicate_of


def _poison(spec: Poison | None, count: int, rng: np.random.Generator) -> np.ndarray:
    if spec is None:
        return np.zeros(count, dtype=bool)
    if spec.every is not None:
        return np.arange(1, count + 1) % spec.every == 0
    return rng.random(count) < (spec.fraction or 0.0)


__all__ = ["DUPLICATE_WINDOW", "Storm", "build_storm"]
