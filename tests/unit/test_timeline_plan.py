"""Fault occurrences: start times, repetitions and ids, in start order."""

from __future__ import annotations

from harness.faults import history_kind
from harness.faults.timeline import occurrences
from harness.scenario import Fault


def test_single_and_repeated_faults_are_planned_in_start_order() -> None:
    kill = Fault.model_validate({"at": 20, "kill": {"target": "kafka-1"}, "restart_after": 5})
    toxic = Fault.model_validate(
        {
            "at": 5,
            "every": 10,
            "times": 3,
            "duration": 2,
            "toxic": {"type": "latency", "target": "kafka-2", "attributes": {"latency": 100}},
        }
    )
    plan = occurrences([kill, toxic], storm_duration=60)
    assert [(o.id, o.at) for o in plan] == [("f1.0", 5), ("f1.1", 15), ("f0", 20), ("f1.2", 25)]
    assert history_kind(kill) == "process.kill"
    assert history_kind(toxic) == "toxic.latency"


def test_repetition_without_times_fills_the_storm() -> None:
    pause = Fault.model_validate(
        {"at": 10, "every": 20, "pause": {"target": "kafka-3"}, "resume_after": 5}
    )
    assert [o.at for o in occurrences([pause], storm_duration=60)] == [10, 30, 50]


def test_a_duplicate_fault_touches_no_node_and_is_recorded_against_the_producer() -> None:
    import asyncio
    from typing import Any, cast

    from harness.faults.actions import FaultContext, apply, heal

    fault = Fault.model_validate({"at": 3, "duplicate": {"fraction": 0.2}, "duration": 4})
    nothing = cast(Any, None)  # the action must not reach for the stack, Toxiproxy or healer
    ctx = FaultContext(nothing, nothing, nothing, topic="t")

    async def apply_and_heal() -> tuple[list[str], list[int], float | None]:
        active = await apply(fault, "f0", ctx)
        await heal(active, ctx)
        return active.targets, active.tokens, active.t_end

    targets, tokens, t_end = asyncio.run(apply_and_heal())
    assert history_kind(fault) == "producer.duplicate"
    assert (targets, tokens) == (["producer"], []) and t_end is not None


def test_close_is_idempotent_and_a_failed_undo_stays_journaled(tmp_path) -> None:
    import asyncio
    from typing import Any, cast

    from harness import clock
    from harness.errors import FaultError
    from harness.faults import FaultContext, Healer, Journal, Timeline, Undo

    attempts: list[str] = []

    async def unreachable(undo: Undo) -> None:
        attempts.append(undo.target)
        raise FaultError(f"{undo.target} is unreachable")

    journal = Journal(tmp_path / "run.json")
    healer = Healer(unreachable, journal)
    nothing = cast(Any, None)  # a duplicate fault touches neither the stack nor Toxiproxy
    records: list[dict[str, Any]] = []

    class Recorder:
        def append(self, record: Any) -> None:
            records.append(dict(record))

    fault = Fault.model_validate({"at": 0, "duplicate": {"fraction": 0.1}})
    timeline = Timeline([fault], 10, FaultContext(nothing, nothing, healer), Recorder())

    async def run() -> tuple[list[str], list[str]]:
        await healer.register(Undo("enable_proxy", "kafka-1"))
        timeline.start(clock.now())
        await timeline.wait_applied()
        return await timeline.close(), await timeline.close()

    first, second = asyncio.run(run())
    assert first == [
        f"could not enable proxy kafka-1: kafka-1 is unreachable (kept in {journal.path} for "
        "`harness heal`)"
    ]
    assert second == [] and attempts == ["kafka-1"]
    assert [r["kind"] for r in records] == ["producer.duplicate"]
    assert journal.read() == [Undo("enable_proxy", "kafka-1")]
