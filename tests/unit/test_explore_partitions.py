"""``harness explore`` draws partitions through the partition kind's own strategy: shapes
simplest first, and a node for ``isolate``; every drawn schedule is a valid scenario."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import ConfigError
from harness.explore import schedules, to_scenario
from harness.scenario import Scenario, parse_scenario

BASE = """\
name: explore-partitions
target:
  kafka: {topic: orders, partitions: 3, unclean_leader_election: true}
producer: {acks: 1}
storm:
  duration: 10s
  rate: {shape: constant, per_second: 100}
expect:
  clean: [lost]
explore:
  faults:
"""
TAIL = """\
  max_faults: 3
  window: {start: 1s, end: 5s}
  durations: {min: 1s, max: 3s}
"""


def scenario(options: str) -> Scenario:
    return parse_scenario(BASE + f"    partition: {options}\n" + TAIL, "explore-partitions.yaml")


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_drawn_partitions_stay_in_the_envelope_and_make_valid_scenarios(data: Any) -> None:
    base = scenario(
        "{shapes: [isolate, majority, ring], targets: [controller_leader, leader_of_partition 0]}"
    )
    schedule = data.draw(schedules(base))
    for fault in schedule.faults:
        assert fault.kind == "partition"
        assert fault.settings["shape"] in ("isolate", "majority", "ring")
        if fault.settings["shape"] == "isolate":
            assert fault.settings["target"] in ("controller_leader", "leader_of_partition")
        else:
            assert set(fault.settings) == {"shape"}
    concrete = to_scenario(base, schedule, seed=5)
    assert [f.action for f in concrete.faults] == ["partition"] * len(schedule.faults)


def test_without_options_every_shape_may_be_drawn_and_isolate_picks_a_random_broker() -> None:
    base = scenario("{}")
    seen: set[str] = set()

    @settings(max_examples=200, deadline=None, database=None)
    @given(schedules(base))
    def collect(schedule: Any) -> None:
        for fault in schedule.faults:
            seen.add(fault.settings["shape"])
            if fault.settings["shape"] == "isolate":
                assert fault.settings["target"] == "random_broker"

    collect()
    assert seen == {"isolate", "halves", "majority", "bridge", "ring"}


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ("{shapes: [square]}", "explore.faults.partition.shapes[0]: unknown shape 'square'"),
        (
            "{targets: [kafka-9]}",
            "explore.faults.partition.targets[0].target: unknown target 'kafka-9'",
        ),
        ("{shapes: [ring], targets: [kafka-1]}", "only shape isolate takes a target"),
        ("{every: 2}", "explore.faults.partition.every: unknown option"),
    ],
)
def test_bad_partition_options_are_refused_naming_the_field(options: str, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        scenario(options)
    assert expected in str(raised.value)
