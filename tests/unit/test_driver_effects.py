"""Effect application and the effect store of the built-in consumers (pure, no broker)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.drivers import EffectMode, EffectStore, ListRecorder
from harness.drivers.effects import EffectApplier


@dataclass(frozen=True)
class Ev:
    id: str
    key: str = "k"
    seq: int = 0


def test_correct_mode_applies_each_id_once_across_a_restart(tmp_path):
    path = tmp_path / "effects.txt"
    rows = ListRecorder()
    first = EffectApplier(rows, EffectMode.CORRECT, EffectStore(path), consumer="c")
    assert first.apply(Ev("a"), {"offset": 1}) is True
    assert first.apply(Ev("a"), {"offset": 1}) is False
    first.store.close()
    again = EffectApplier(rows, EffectMode.CORRECT, EffectStore(path), consumer="c")
    assert again.apply(Ev("a"), {"offset": 1}) is False
    assert again.apply(Ev("b"), {"offset": 2}) is True
    assert [r["id"] for r in rows.of("effect")] == ["a", "b"]


def test_buggy_mode_reapplies_redeliveries():
    rows = ListRecorder()
    applier = EffectApplier(rows, EffectMode.BUGGY, EffectStore(), consumer="c", group="g")
    applier.apply(Ev("a"), {})
    applier.apply(Ev("a"), {})
    assert [(r["id"], r["group"]) for r in rows.of("effect")] == [("a", "g"), ("a", "g")]
