"""Crash triggers over synthetic readings: when after_effects and lag_above fire, how the
consumer_crash kind validates them, and what the timeline records when one fires or not."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scenario_support import MINIMAL_SCENARIO

from harness import clock
from harness.drivers import ListRecorder
from harness.errors import ConfigError
from harness.faults import FaultContext, Healer, Timeline
from harness.faults.triggers import AfterEffects, LagAbove, Reading, wait_for
from harness.scenario import parse_scenario

# --- after_effects -------------------------------------------------------------------------

steps = st.lists(st.tuples(st.integers(0, 50), st.booleans()), min_size=1, max_size=60)
"""Per reading: effects added since the one before, and whether a commit happened."""


def readings_of(deltas: Iterable[tuple[int, bool]], commits: bool) -> list[Reading]:
    effects, committed, out = 0, 0, []
    for added, commit in deltas:
        effects += added
        committed += commit
        out.append(Reading(effects=effects, committed=committed if commits else None))
    return out


def first_fire(trigger: AfterEffects | LagAbove, readings: list[Reading]) -> int | None:
    for index, reading in enumerate(readings):
        if trigger.observe(reading):
            return index
    return None


@given(steps, st.integers(1, 200))
def test_without_commit_offsets_it_counts_from_its_first_reading(deltas, n) -> None:
    readings = readings_of(deltas, commits=False)
    expected = next(
        (i for i, r in enumerate(readings) if r.effects - readings[0].effects >= n), None
    )
    assert first_fire(AfterEffects(n), readings) == expected


@given(steps, st.integers(1, 200))
def test_with_commit_offsets_it_counts_from_the_last_commit_seen(deltas, n) -> None:
    readings = readings_of(deltas, commits=True)
    fired = first_fire(AfterEffects(n), readings)
    # The oracle: the first reading at which a commit seen after the first reading lies
    # behind it with at least n effects since.
    expected = None
    last_commit = None
    for i, reading in enumerate(readings):
        if i > 0 and reading.committed != readings[i - 1].committed:
            last_commit = reading.effects
        if last_commit is not None and reading.effects - last_commit >= n:
            expected = i
            break
    assert fired == expected


def test_effects_before_the_first_commit_seen_do_not_count() -> None:
    trigger = AfterEffects(10)
    assert not trigger.observe(Reading(effects=0, committed=0))
    assert not trigger.observe(Reading(effects=500, committed=0))  # no commit seen yet
    assert not trigger.observe(Reading(effects=505, committed=40))  # a commit: count anew
    assert trigger.observe(Reading(effects=515, committed=40))
    assert trigger.commits_seen == 1 and trigger.since_commit(Reading(effects=515)) == 10


# --- lag_above -----------------------------------------------------------------------------


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))
def test_lag_is_acked_less_committed_else_received_and_never_negative(acked, done, other) -> None:
    kafka = Reading(effects=0, committed=done, acked=acked, received=other)
    rabbit = Reading(effects=0, committed=None, acked=acked, received=done)
    assert kafka.lag == rabbit.lag == max(0, acked - done)
    assert Reading(effects=0, committed=done, acked=None).lag is None


def test_lag_above_fires_only_past_its_threshold() -> None:
    trigger = LagAbove(100)
    assert not trigger.observe(Reading(effects=0, acked=None, received=0))
    assert not trigger.observe(Reading(effects=0, acked=100, received=0))
    assert trigger.highest == 100
    assert trigger.observe(Reading(effects=0, acked=160, committed=59))


# --- wait_for ------------------------------------------------------------------------------


class Script:
    """Readings from a list (the last one repeats); an Exception entry is a failed read."""

    def __init__(self, items: list[Reading | Exception]) -> None:
        self.items = items
        self.reads = 0

    async def read(self) -> Reading:
        item = self.items[min(self.reads, len(self.items) - 1)]
        self.reads += 1
        if isinstance(item, Exception):
            raise item
        return item


def test_wait_for_returns_the_reading_that_fired_and_skips_failed_reads() -> None:
    script = Script([Reading(0), OSError("broker away"), Reading(3), Reading(9), Reading(12)])
    fired = asyncio.run(wait_for(AfterEffects(8), script, within=5.0, poll_s=0.001))
    assert fired == Reading(9) and script.reads == 4


def test_wait_for_gives_up_after_within() -> None:
    started = clock.now()
    fired = asyncio.run(wait_for(AfterEffects(8), Script([Reading(0)]), within=0.2, poll_s=0.01))
    assert fired is None and 0.2 <= clock.now() - started < 2.0


# --- the scenario's side -------------------------------------------------------------------


def scenario_text(crash: str, extra: str = "", target: str = "") -> str:
    text = MINIMAL_SCENARIO
    if target:
        text = text.replace("  kafka: {topic: orders, partitions: 6}", target)
    return text + extra + f"faults:\n  - at: 10s\n    consumer_crash: {crash}\n"


def problems(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_scenario(text)
    return str(info.value)


@pytest.mark.parametrize(
    ("crash", "message"),
    [
        ("{when: after_effects}", "consumer_crash.effects: required by when: after_effects"),
        ("{when: lag_above}", "consumer_crash.lag: required by when: lag_above"),
        ("{when: lag_above, lag: 5, effects: 3}", "effects: not used by when: lag_above"),
        ("{effects: 3}", "effects: not used by when: before_commit"),
        ("{within: 5s}", "within: applies only to a trigger"),
        ("{when: after_effects, effects: 0}", "effects"),
    ],
)
def test_trigger_settings_are_checked(crash: str, message: str) -> None:
    assert message in problems(scenario_text(crash))


def test_the_built_in_rabbitmq_consumer_cannot_be_crashed() -> None:
    rabbit = "  rabbitmq: {queue: orders}"
    text = problems(scenario_text("{when: before_commit}", target=rabbit))
    assert "the built-in RabbitMQ consumer cannot be crashed" in text


def test_lag_above_needs_the_harness_engine() -> None:
    locust = "load: {engine: locust}\n"
    assert "lag_above reads the harness's own producer" in problems(
        scenario_text("{when: lag_above, lag: 10}", extra=locust)
    )


def test_repetitions_must_leave_room_for_the_trigger_wait() -> None:
    text = MINIMAL_SCENARIO + (
        "faults:\n  - at: 10s\n    consumer_crash: {when: after_effects, effects: 5, within: 4s}"
        "\n    restart_after: 2s\n    every: 5s\n    times: 2\n"
    )
    assert "after up to 4s waiting for its trigger" in problems(text)
    parse_scenario(text.replace("every: 5s", "every: 7s"))


def test_within_scales_with_the_timeline() -> None:
    scenario = parse_scenario(scenario_text("{when: lag_above, lag: 5, within: 4s}"))
    (fault,) = scenario.scaled(0.5).faults
    assert (fault.at, fault.settings.within) == (5.0, 2.0)
    (default,) = parse_scenario(scenario_text("{when: lag_above, lag: 5}")).scaled(0.5).faults
    assert default.settings.within == 5.0  # half the 10 s default


# --- the timeline --------------------------------------------------------------------------


class Consumer:
    def __init__(self) -> None:
        self.crashes: list[float] = []
        self.restarts = 0

    async def crash(self) -> None:
        self.crashes.append(clock.now())

    async def restart(self) -> None:
        self.restarts += 1


async def nothing(_undo: object) -> None:
    return None


def run_timeline(crash: str, readings: Script) -> tuple[Consumer, list[dict]]:
    scenario = parse_scenario(
        MINIMAL_SCENARIO + f"faults:\n  - at: 0s\n    consumer_crash: {crash}\n"
        "    restart_after: 0.1s\n"
    )
    consumer, rows = Consumer(), ListRecorder()
    ctx = FaultContext(None, None, Healer(nothing), consumers=consumer, readings=readings)  # type: ignore[arg-type]

    async def go() -> None:
        timeline = Timeline(scenario.faults, scenario.storm.duration, ctx, rows)
        timeline.start(clock.now())
        await timeline.wait_applied()
        assert await timeline.close() == []

    asyncio.run(go())
    return consumer, rows.of("fault")


def test_a_trigger_that_fires_crashes_and_its_window_starts_then() -> None:
    script = Script([Reading(0), Reading(0), Reading(0), Reading(20)])
    consumer, (row,) = run_timeline("{when: after_effects, effects: 20, within: 5s}", script)
    assert len(consumer.crashes) == 1 and consumer.restarts == 1
    assert row["t_start"] <= consumer.crashes[0] and row["t_end"] - row["t_start"] >= 0.1
    assert row["reason"].startswith("fired after 20 effects since the last commit seen (20 ")


def test_a_trigger_that_never_fires_crashes_nothing_and_says_so() -> None:
    script = Script([Reading(0, acked=10, received=10)])
    consumer, (row,) = run_timeline("{when: lag_above, lag: 50, within: 0.3s}", script)
    assert consumer.crashes == [] and consumer.restarts == 0
    assert row["t_start"] == row["t_end"]
    assert row["reason"].startswith("not fired: when the lag exceeds 50")
    assert "highest lag 0" in row["reason"]


def test_a_trigger_still_waiting_when_the_run_ends_is_recorded_as_not_fired() -> None:
    scenario = parse_scenario(
        MINIMAL_SCENARIO + "faults:\n  - at: 0s\n    consumer_crash: "
        "{when: after_effects, effects: 5, within: 30s}\n    restart_after: 1s\n"
    )
    consumer, rows = Consumer(), ListRecorder()
    ctx = FaultContext(
        None, None, Healer(nothing), consumers=consumer, readings=Script([Reading(0)])
    )  # type: ignore[arg-type]

    async def go() -> None:
        timeline = Timeline(scenario.faults, scenario.storm.duration, ctx, rows)
        timeline.start(clock.now())
        await asyncio.sleep(0.3)  # watching, not fired
        assert await timeline.close() == []

    asyncio.run(go())
    (row,) = rows.of("fault")
    assert consumer.crashes == [] and row["t_end"] - row["t_start"] < 0.05
    assert row["reason"].endswith("the run ended before it fired")
