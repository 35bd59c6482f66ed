"""Fault occurrences: start times, repetitions and ids, in start order."""

from __future__ import annotations

from harness.faults.actions import fault_kind
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
    assert fault_kind(kill) == "process.kill"
    assert fault_kind(toxic) == "toxic.latency"


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
    assert fault_kind(fault) == "producer.duplicate"
    assert (targets, tokens) == (["producer"], []) and t_end is not None
