"""Property tests: generated histories with planted anomalies give exact counts.

A clean history (several keys interleaved, keyless sends, 1-2 groups with 1-2 consumers each,
Kafka-like positions or none as with RabbitMQ, optional effects and poison events) must check
with zero anomalies; each anomaly is then planted on its own fresh events, so the expected
count of every anomaly is known exactly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from harness.checks import check, check_file
from harness.history.schema import conform

Row = dict[str, Any]


@dataclass
class Shape:
    clean: int
    keys: int
    groups: int
    consumers: int
    positions: bool
    effects: bool
    poison: int
    seed: int
    plant: dict[str, int] = field(default_factory=dict)


@dataclass
class Builder:
    shape: Shape
    rows: list[Row] = field(default_factory=list)
    next_event: int = 0

    def event(self, key: str | None, seq: int | None, *, poison: bool = False) -> str:
        """Append the clean ops of one event; return its id."""
        i = self.next_event
        self.next_event += 1
        event_id = f"e{i}"
        t0 = i * 0.01
        position = {"partition": i % 3, "offset": i} if self.shape.positions else {}
        self.rows.append(
            {
                "op": "send",
                "id": event_id,
                "key": key,
                "seq": seq,
                "t_intended": t0,
                "t": t0 + 0.001,
                "t_ack": t0 + 0.003,
                "status": "ok",
                "producer": "p0",
                "poison": poison,
                **position,
            }
        )
        for g in range(self.shape.groups):
            consumer = f"c{g}-{hash(key) % self.shape.consumers}"
            self.rows.append(
                {
                    "op": "recv",
                    "id": event_id,
                    "key": key,
                    "seq": seq,
                    "t": t0 + 0.005 + g * 1e-4,
                    "group": f"g{g}",
                    "consumer": consumer,
                    **position,
                }
            )
        if poison:
            self.rows.append({"op": "dead_letter", "id": event_id, "t": t0 + 0.006, "reason": "x"})
        elif self.shape.effects:
            effect = {"op": "effect", "id": event_id, "key": key, "seq": seq, "t": t0 + 0.006}
            self.rows.append({**effect, "consumer": "c0"})
        return event_id

    def rows_of(self, event_id: str, op: str) -> list[Row]:
        return [r for r in self.rows if r.get("id") == event_id and r["op"] == op]


def clean(builder: Builder) -> None:
    shape = builder.shape
    rng = random.Random(shape.seed)
    seqs = [0] * shape.keys
    for _ in range(shape.clean):
        k = rng.randrange(shape.keys + 1)
        if k == shape.keys:
            builder.event(None, None)  # a send without key
        else:
            seqs[k] += 1
            builder.event(f"k{k}", seqs[k])
    for p in range(shape.poison):
        builder.event(f"poison{p}", 1, poison=True)


def plant(builder: Builder) -> dict[str, int]:
    """Plant every requested anomaly on fresh events; return the exact expected counts."""
    shape, expected = builder.shape, {}
    for name, count in shape.plant.items():
        planted = 0
        for n in range(count):
            planted += PLANTERS[name](builder, f"{name}{n}")
        expected[name] = planted
    return expected


def _lost(b: Builder, key: str) -> int:
    if not any(r["op"] == "recv" and r.get("group") == "g0" for r in b.rows):
        # Groups are known from their deliveries only: a group that received nothing at all
        # is not in the history, so it needs one delivered event for its loss to be seen.
        b.event(f"{key}-witness", 1)
    e = b.event(key, 1)
    b.rows.remove(next(r for r in b.rows_of(e, "recv") if r["group"] == "g0"))
    if b.shape.groups == 1:
        b.rows[:] = [r for r in b.rows if not (r.get("id") == e and r["op"] == "effect")]
    return 1


def _unexpected(b: Builder, key: str) -> int:
    position = {"partition": 900, "offset": len(b.rows)} if b.shape.positions else {}
    b.rows.append({"op": "recv", "id": f"ghost-{key}", "t": 1e6, "group": "g0", **position})
    return 1


def _duplicate_delivery(b: Builder, key: str) -> int:
    e = b.event(key, 1)
    again = dict(b.rows_of(e, "recv")[0], t=1e6, redelivered=True)
    b.rows.append(again)
    return 1


def _duplicate_write(b: Builder, key: str) -> int:
    if not b.shape.positions:
        return 0
    e = b.event(key, 1)
    retry = dict(b.rows_of(e, "send")[0], partition=700, offset=len(b.rows), attempt=2)
    b.rows.append(retry)
    return 1


def _inconsistent_offset(b: Builder, key: str) -> int:
    if not b.shape.positions:
        return 0
    a, other = b.event(key, 1), b.event(key + "b", 1)
    where = b.rows_of(a, "send")[0]
    for row in b.rows_of(other, "send") + b.rows_of(other, "recv"):
        row.update(partition=where["partition"], offset=where["offset"])
    return 1


def _out_of_order(b: Builder, key: str) -> int:
    first, second = b.event(key, 1), b.event(key, 2)
    r1 = next(r for r in b.rows_of(first, "recv") if r["group"] == "g0")
    r2 = next(r for r in b.rows_of(second, "recv") if r["group"] == "g0")
    r1["t"], r2["t"] = r2["t"], r1["t"]
    return 1


def _out_of_order_effect(b: Builder, key: str) -> int:
    if not b.shape.effects:
        return 0
    first, second = b.event(key, 1), b.event(key, 2)
    e1, e2 = b.rows_of(first, "effect")[0], b.rows_of(second, "effect")[0]
    e1["t"], e2["t"] = e2["t"], e1["t"]  # deliveries stay in order; effects do not
    return 1


def _recovered(b: Builder, key: str) -> int:
    e = b.event(key, 1)
    b.rows_of(e, "send")[0].update(status=random.Random(key).choice(["fail", "unknown"]))
    return 1


def _duplicate_effect(b: Builder, key: str) -> int:
    if not b.shape.effects:
        return 0
    e = b.event(key, 1)
    b.rows.append({"op": "effect", "id": e, "t": 1e6, "consumer": "c1"})
    return 1


def _missing_effect(b: Builder, key: str) -> int:
    if not b.shape.effects:
        return 0
    # A history shows that effects are recorded only through effect ops: keep one applied
    # event beside the planted one, or a history of nothing but this event records no effects.
    b.event(key, 1)
    e = b.event(key, 1)
    b.rows.remove(b.rows_of(e, "effect")[0])
    return 1


def _dlq_missing(b: Builder, key: str) -> int:
    e = b.event(key, 1, poison=True)
    b.rows.remove(b.rows_of(e, "dead_letter")[0])
    return 1


def _dlq_unexpected(b: Builder, key: str) -> int:
    e = b.event(key, 1)
    b.rows.append({"op": "dead_letter", "id": e, "t": 1e6, "reason": "bug"})
    return 1


PLANTERS = {
    "lost": _lost,
    "unexpected": _unexpected,
    "duplicate_delivery": _duplicate_delivery,
    "duplicate_write": _duplicate_write,
    "inconsistent_offset": _inconsistent_offset,
    "out_of_order": _out_of_order,
    "out_of_order_effect": _out_of_order_effect,
    "recovered": _recovered,
    "duplicate_effect": _duplicate_effect,
    "missing_effect": _missing_effect,
    "dlq_missing": _dlq_missing,
    "dlq_unexpected": _dlq_unexpected,
}

shapes = st.builds(
    Shape,
    clean=st.integers(0, 60),
    keys=st.integers(1, 4),
    groups=st.integers(1, 2),
    consumers=st.integers(1, 2),
    positions=st.booleans(),
    effects=st.booleans(),
    poison=st.integers(0, 3),
    seed=st.integers(0, 2**16),
)
plants = st.dictionaries(st.sampled_from(sorted(PLANTERS)), st.integers(0, 4))


def history_of(builder: Builder, rng_seed: int) -> pd.DataFrame:
    rows = list(builder.rows)
    random.Random(rng_seed).shuffle(rows)  # row order must not matter, only times
    return pd.DataFrame(rows, columns=sorted({k for r in rows for k in r}) or ["op"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=shapes)
def test_clean_histories_have_no_anomalies(shape: Shape) -> None:
    builder = Builder(shape)
    clean(builder)
    result = check(history_of(builder, shape.seed))
    assert result.anomalies == dict.fromkeys(result.anomalies, 0)
    assert result.valid
    assert result.delivery_guarantee == ("exactly-once" if result.counts["events"] else None)
    assert result.effect_guarantee == ("exactly-once" if result.counts["effects"] else None)
    assert result.counts["events"] == shape.clean + shape.poison


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=shapes, planted=plants)
def test_planted_anomalies_are_counted_exactly(shape: Shape, planted: dict[str, int]) -> None:
    shape.plant = planted
    builder = Builder(shape)
    clean(builder)
    expected = plant(builder)
    result = check(history_of(builder, shape.seed))
    wanted = {name: expected.get(name, 0) for name in result.anomalies}
    assert result.anomalies == wanted
    for name, count in wanted.items():
        ids_per_anomaly = 2 if name == "inconsistent_offset" else 1  # both ids at the position
        assert len(result.examples.get(name, [])) == min(count * ids_per_anomaly, 5)


@settings(max_examples=100, deadline=None)
@given(
    order=st.permutations(range(1, 9)),
    applied_twice=st.lists(st.integers(1, 8), max_size=3),
)
def test_effect_order_matches_a_running_max_reference(
    order: list[int], applied_twice: list[int]
) -> None:
    """Deliveries in seq order; effects applied in ``order``; re-applications come last."""
    rows: list[Row] = []
    for seq in range(1, 9):
        rows.append({"op": "send", "id": f"e{seq}", "key": "k", "seq": seq, "status": "ok"})
        rows.append({"op": "recv", "id": f"e{seq}", "key": "k", "seq": seq, "t": seq, "group": "g"})
    for at, seq in enumerate([*order, *applied_twice]):
        rows.append({"op": "effect", "id": f"e{seq}", "key": "k", "seq": seq, "t": 100.0 + at})
    highest, late = 0, 0
    for seq in order:  # the reference: one Python loop, as the definition reads
        late += seq < highest
        highest = max(highest, seq)
    result = check(pd.DataFrame(rows))
    assert result.anomalies["out_of_order"] == 0
    assert result.anomalies["out_of_order_effect"] == late
    assert result.anomalies["duplicate_effect"] == len(set(applied_twice))
    assert result.effect_guarantee == ("at-least-once" if applied_twice else "exactly-once")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=shapes, planted=plants, group_rows=st.integers(1, 40))
def test_parquet_row_groups_give_the_in_memory_result(
    shape: Shape, planted: dict[str, int], group_rows: int, tmp_path_factory: Any
) -> None:
    """``check_file`` streams Parquet a row group at a time, converting each column once per
    group; whatever the row groups, its result is ``check``'s on the whole table."""
    shape.plant = planted
    builder = Builder(shape)
    clean(builder)
    plant(builder)
    frame = history_of(builder, shape.seed)
    assume(len(frame) > 0)  # check_file refuses an empty history; check does not
    path = tmp_path_factory.mktemp("groups") / "history.parquet"
    table = conform(pa.Table.from_pandas(frame, preserve_index=False), source="test")
    pq.write_table(table, path, row_group_size=group_rows)
    assert check_file(path).to_json() == check(frame).to_json()
