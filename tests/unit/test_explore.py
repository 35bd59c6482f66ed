"""``harness explore`` without brokers: the envelope's validation, the schedule strategy, the
conversion to a scenario, and the search loop with a runner function of the schedule."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from harness.errors import ConfigError
from harness.explore import (
    RunResult,
    Schedule,
    Search,
    SearchError,
    schedules,
    to_scenario,
    write_results,
)
from harness.faults import ActiveFault, FaultContext, FaultKind
from harness.scenario import Scenario, check_paths, parse_scenario
from harness.scenario.base import Problem
from harness.scenario.faults import register_fault_kind, unregister_fault_kind

ROOT = Path(__file__).resolve().parents[2]

BASE = """\
name: explore-unit
target:
  kafka: {topic: orders, partitions: 3}
producer: {acks: 1}
storm:
  duration: 10s
  rate: {shape: constant, per_second: 100}
expect:
  clean: [lost]
"""

ENVELOPE = """\
explore:
  faults:
    pause: {targets: [followers_of_partition 0, kafka-1, kafka-2]}
    kill: {targets: [leader_of_partition 0, {target: kafka-3}]}
  max_faults: 4
  window: {start: 1s, end: 5s}
  durations: {min: 1s, max: 3s}
  storm:
    shapes: [constant, poisson]
    per_second: {min: 50, max: 200}
    keys: {min: 4, max: 32}
  target: [lost, p99_ms]
"""


def scenario(envelope: str = ENVELOPE) -> Scenario:
    return parse_scenario(BASE + envelope, "explore-unit.yaml")


def problems_of(envelope: str) -> str:
    with pytest.raises(ConfigError) as raised:
        scenario(envelope)
    return str(raised.value)


# --- the envelope -------------------------------------------------------------------------


def test_a_valid_envelope_is_kept_on_the_scenario() -> None:
    envelope = scenario().explore
    assert envelope is not None
    assert list(envelope.faults) == ["pause", "kill"]
    assert (envelope.window.start, envelope.window.end) == (1.0, 5.0)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("pause: {targets", "crash: {targets"), "no fault kind is named 'crash'"),
        (("kafka-2]", "kafka-9]"), "explore.faults.pause.targets[2]"),
        (("end: 5s", "end: 10s"), "explore.window.end: 10s is not before the end of the storm"),
        (("max: 3s", "max: 500ms"), "explore.durations: max is below min"),
        (("max_faults: 4", "max_faults: 40"), "explore.max_faults"),
        (("shapes: [constant, poisson]", "shapes: [spike]"), "shape 'spike' cannot be explored"),
        (("target: [lost, p99_ms]", "target: [lag_ms]"), "unknown metric 'lag_ms'"),
        (("kill: {targets", "kill: {aims"), "explore.faults.kill.aims: unknown option"),
        (("max: 200}", "max: 20}"), "explore.storm.per_second: max is below min"),
    ],
)
def test_a_bad_envelope_is_refused_naming_the_field(change: tuple[str, str], expected: str) -> None:
    assert expected in problems_of(ENVELOPE.replace(*change))


def test_a_kind_with_no_choices_is_refused() -> None:
    assert "set 'targets' or 'settings'" in problems_of(
        ENVELOPE.replace("kill: {targets: [leader_of_partition 0, {target: kafka-3}]}", "kill: {}")
    )


def test_run_and_validate_accept_the_shipped_explore_scenarios() -> None:
    checked = check_paths([ROOT / "explore"])
    assert checked and all(not c.problems for c in checked), [c.problems for c in checked]
    assert all(c.scenario is not None and c.scenario.explore for c in checked)


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 100) | st.floats(-1, 100) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["targets", "settings", "target", "x"]), inner, max_size=3
        )
    ),
    max_leaves=12,
)
_FIELDS = ["faults", "max_faults", "window", "durations", "storm", "target", "extra"]


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(st.sampled_from(_FIELDS), _JSONISH, max_size=5),
    st.dictionaries(st.sampled_from(["pause", "kill", "nope", "consumer_crash"]), _JSONISH),
)
def test_any_explore_section_is_a_scenario_or_one_config_error(
    fields: dict[str, Any], faults: dict[str, Any]
) -> None:
    section = {"window": {"end": "2s"}, "durations": {"min": "1s", "max": "2s"}, **fields}
    section.setdefault("faults", faults)
    text = BASE + "explore: " + json.dumps(section) + "\n"
    try:
        parse_scenario(text, "fuzz.yaml")
    except ConfigError as error:
        assert str(error).strip()


# --- schedules ----------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_every_drawn_schedule_is_inside_the_envelope_and_a_valid_scenario(data: Any) -> None:
    base = scenario()
    envelope = base.explore
    assert envelope is not None
    schedule = data.draw(schedules(base))
    assert 1 <= len(schedule.faults) <= envelope.max_faults
    assert [f.at for f in schedule.faults] == sorted(f.at for f in schedule.faults)
    for fault in schedule.faults:
        assert envelope.window.start <= fault.at <= envelope.window.end
        assert fault.length is not None
        assert envelope.durations.min <= fault.length <= envelope.durations.max
    assert schedule.storm.shape in ("constant", "poisson")
    assert schedule.storm.per_second is not None and 50 <= schedule.storm.per_second <= 200
    concrete = to_scenario(base, schedule, seed=11)
    assert concrete.explore is None and concrete.seed == 11
    assert len(concrete.faults) == len(schedule.faults)
    assert concrete.storm.keys.count == schedule.storm.keys


def test_the_conversion_uses_each_kinds_end_field() -> None:
    base = scenario()
    schedule = Schedule.__new__(Schedule)
    from harness.explore import PlannedFault

    schedule = Schedule(
        (
            PlannedFault("pause", {"target": "kafka-1"}, 1.0, 2.0),
            PlannedFault("kill", {"target": "leader_of_partition", "partition": 0}, 2.0, 1.5),
        )
    )
    concrete = to_scenario(base, schedule, seed=3)
    assert [(f.action, f.at, f.resume_after, f.restart_after) for f in concrete.faults] == [
        ("pause", 1.0, 2.0, None),
        ("kill", 2.0, None, 1.5),
    ]
    assert concrete.storm == base.storm


class _ShapeSettings(BaseModel):
    shape: str


class _Shaped(FaultKind):
    """A kind that draws its own settings (as the partition kind does)."""

    name = "shaped_test_fault"
    settings = _ShapeSettings
    end_field = "duration"
    history = "test.shaped"
    shapes: ClassVar[tuple[str, ...]] = ("ring", "halves")

    def explore_settings(self, options: dict[str, Any]) -> st.SearchStrategy[Any]:
        return st.sampled_from(options["shapes"]).map(lambda shape: {"shape": shape})

    def explore_problems(self, options: dict[str, Any], scenario: Scenario) -> Iterator[Problem]:
        for index, shape in enumerate(options.get("shapes", [])):
            if shape not in self.shapes:
                yield Problem(("shapes", index), f"unknown shape {shape!r}")

    async def apply(self, settings: Any, ctx: FaultContext, active: ActiveFault) -> None:
        raise NotImplementedError


@pytest.fixture
def shaped_kind() -> Iterator[None]:
    register_fault_kind(_Shaped())
    yield
    unregister_fault_kind("shaped_test_fault")


OWN_STRATEGY = """\
explore:
  faults:
    shaped_test_fault: {shapes: [halves, ring]}
  window: {start: 0s, end: 2s}
  durations: {min: 1s, max: 1s}
"""


@pytest.mark.usefixtures("shaped_kind")
@settings(max_examples=30, deadline=None)
@given(st.data())
def test_a_kind_can_bring_its_own_strategy_and_option_checks(data: Any) -> None:
    base = scenario(OWN_STRATEGY)
    schedule = data.draw(schedules(base))
    assert {f.settings["shape"] for f in schedule.faults} <= {"halves", "ring"}
    assert all(f.length == 1.0 for f in schedule.faults)


@pytest.mark.usefixtures("shaped_kind")
def test_a_kinds_own_option_check_reports_under_the_envelope() -> None:
    text = problems_of(OWN_STRATEGY.replace("ring]", "star]"))
    assert "explore.faults.shaped_test_fault.shapes[1]: unknown shape 'star'" in text


# --- the search ---------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def loses_when_followers_paused_and_leader_killed(clock: FakeClock, cost: float = 20.0):
    """A synthetic system: a run 'loses writes' when partition 0's followers are paused
    and its leader is killed while they are (a literal rule, not a broker)."""

    def run(concrete: Scenario, label: str) -> RunResult:
        clock.now += cost
        pauses = [
            (f.at, f.at + (f.resume_after or 0))
            for f in concrete.faults
            if f.action == "pause" and f.settings.target == "followers_of_partition"
        ]
        kills = [
            f.at
            for f in concrete.faults
            if f.action == "kill" and f.settings.target == "leader_of_partition"
        ]
        lost = any(start <= k <= end for k in kills for start, end in pauses)
        return RunResult(
            failed=lost,
            reasons=["clean lost (measured 7)"] if lost else [],
            metrics={"lost": 7.0 if lost else 0.0, "p99_ms": 12.0},
            seconds=cost,
        )

    return run


def test_the_search_finds_the_loss_and_shrinks_it_to_two_faults(tmp_path: Path) -> None:
    clock = FakeClock()
    runner = loses_when_followers_paused_and_leader_killed(clock)
    result = Search(
        scenario(), runner, budget_s=1e6, max_examples=500, repeat=2, seed=5, clock=clock
    ).run()
    assert result.minimal is not None and result.exit_code == 1
    faults = result.minimal.schedule.faults
    assert len(faults) == 2
    assert {(f.kind, f.settings["target"]) for f in faults} == {
        ("pause", "followers_of_partition"),
        ("kill", "leader_of_partition"),
    }
    assert result.reproduced == "always"
    assert result.minimal.failures == len(result.minimal.runs) == 2
    path = result.shrink_path
    assert path[0] is result.first_failure and path[-1] is result.minimal
    assert all(len(a.runs) == 2 for a in result.attempts if a.phase == "shrink")
    assert all(len(a.runs) == 1 for a in result.attempts if a.phase == "search" and not a.failed)


def test_a_failure_that_repeats_only_sometimes_says_so() -> None:
    clock = FakeClock()
    inner = loses_when_followers_paused_and_leader_killed(clock)
    calls = {"n": 0}

    def flaky(concrete: Scenario, label: str) -> RunResult:
        calls["n"] += 1
        result = inner(concrete, label)
        result.failed = result.failed and label.endswith("-1")  # the second run passes
        return result

    result = Search(scenario(), flaky, budget_s=1e6, max_examples=500, seed=5, clock=clock).run()
    assert result.minimal is not None
    assert result.reproduced == "sometimes"
    assert (result.minimal.failures, len(result.minimal.runs)) == (1, 2)


def test_a_system_without_the_bug_passes_until_the_examples_run_out() -> None:
    clock = FakeClock()
    result = Search(
        scenario(),
        lambda s, label: RunResult(failed=False, seconds=1.0),
        budget_s=1e6,
        max_examples=15,
        seed=1,
        clock=clock,
    ).run()
    assert result.minimal is None and result.exit_code == 0
    assert result.stopped == "examples" and 1 <= len(result.attempts) <= 15


def test_the_budget_stops_the_search_and_keeps_what_ran() -> None:
    clock = FakeClock()

    def slow(concrete: Scenario, label: str) -> RunResult:
        clock.now += 100.0
        return RunResult(failed=False, seconds=100.0)

    result = Search(scenario(), slow, budget_s=350, max_examples=100, seed=1, clock=clock).run()
    assert result.stopped == "budget" and result.exit_code == 0
    assert len(result.attempts) == 4  # started at 0, 100, 200, 300 s; none after 350 s


def test_the_budget_ending_during_shrinking_keeps_the_best_failure_so_far() -> None:
    clock = FakeClock()
    runner = loses_when_followers_paused_and_leader_killed(clock, cost=50.0)
    full = Search(scenario(), runner, budget_s=1e6, max_examples=500, seed=5, clock=clock).run()
    assert full.first_failure is not None
    spent_at_first = full.first_failure.started_s + 50.0 * 2
    clock = FakeClock()
    runner = loses_when_followers_paused_and_leader_killed(clock, cost=50.0)
    cut = Search(
        scenario(), runner, budget_s=spent_at_first + 120, max_examples=500, seed=5, clock=clock
    ).run()
    assert cut.minimal is not None and cut.stopped == "budget" and cut.exit_code == 1
    assert len(cut.attempts) < len(full.attempts)
    assert cut.not_run > 0


def test_an_interrupted_run_ends_the_search_with_what_was_found() -> None:
    clock = FakeClock()
    runs: list[str] = []

    def interrupted_third(concrete: Scenario, label: str) -> RunResult:
        runs.append(label)
        clock.now += 1
        return RunResult(failed=False, interrupted=len(runs) == 3, error="")

    result = Search(scenario(), interrupted_third, budget_s=1e6, seed=2, clock=clock).run()
    assert result.stopped == "interrupted" and result.exit_code == 130
    assert len(runs) == 3


def test_an_interrupt_during_a_repeat_runs_nothing_more() -> None:
    clock = FakeClock()
    labels: list[str] = []

    def fails_then_interrupted(concrete: Scenario, label: str) -> RunResult:
        labels.append(label)
        if len(labels) == 1:
            return RunResult(failed=True, reasons=["clean lost (measured 3)"])
        return RunResult(failed=False, interrupted=True, error="interrupted")

    result = Search(scenario(), fails_then_interrupted, budget_s=1e6, seed=2, clock=clock).run()
    assert labels == ["001-1", "001-2"]
    assert result.stopped == "interrupted" and result.exit_code == 1
    assert result.minimal is not None and result.minimal.failures == 1


def test_a_first_example_that_cannot_run_is_a_setup_error() -> None:
    def broken(concrete: Scenario, label: str) -> RunResult:
        return RunResult(failed=False, error="kafka-1 is not healthy")

    with pytest.raises(SearchError, match="kafka-1 is not healthy"):
        Search(scenario(), broken, budget_s=1e6, seed=2, clock=FakeClock()).run()


def test_errors_after_a_good_run_are_recorded_until_three_in_a_row() -> None:
    calls = {"n": 0}

    def then_broken(concrete: Scenario, label: str) -> RunResult:
        calls["n"] += 1
        return RunResult(failed=False, error="" if calls["n"] == 1 else "a fault failed")

    result = Search(scenario(), then_broken, budget_s=1e6, seed=2, clock=FakeClock()).run()
    assert result.stopped == "error" and result.exit_code == 2
    assert [a.outcome for a in result.attempts] == ["pass", "error", "error", "error"]


def test_a_stored_failure_is_replayed_first(tmp_path: Path) -> None:
    db = tmp_path / "db"
    clock = FakeClock()
    runner = loses_when_followers_paused_and_leader_killed(clock)
    first = Search(scenario(), runner, budget_s=1e6, max_examples=500, seed=5, clock=clock, db=db)
    found = first.run().minimal
    assert found is not None and any(db.iterdir())
    again = Search(scenario(), runner, budget_s=1e6, max_examples=500, seed=99, clock=clock, db=db)
    replayed = again.run()
    assert replayed.attempts[0].schedule == found.schedule
    assert replayed.attempts[0].failed


def test_the_results_are_a_valid_minimal_scenario_a_page_and_a_summary(tmp_path: Path) -> None:
    clock = FakeClock()
    runner = loses_when_followers_paused_and_leader_killed(clock)
    result = Search(scenario(), runner, budget_s=1e6, max_examples=500, seed=5, clock=clock).run()
    written = write_results(result, tmp_path)
    checked = check_paths([written["minimal"]])
    assert not checked[0].problems, checked[0].problems
    minimal = checked[0].scenario
    assert minimal is not None and minimal.seed == 5 and minimal.explore is None
    assert len(minimal.faults) == 2
    data = json.loads(written["summary"].read_text())
    assert data["found"] is True and data["exit_code"] == 1
    assert data["examples"] == len(result.attempts)
    assert data["shrink_path"][0] == result.first_failure.index  # type: ignore[union-attr]
    assert data["minimal"]["faults"] == 2 and data["reproduced"] == "always"
    page = written["page"].read_text()
    assert "FAILURE FOUND" in page and "Shrink path" in page
    assert page.count("<tr><td>#") >= len(result.attempts)


def test_the_results_of_a_clean_search_have_no_minimal_scenario(tmp_path: Path) -> None:
    result = Search(
        scenario(),
        lambda s, label: RunResult(failed=False, seconds=1.0),
        budget_s=1e6,
        max_examples=5,
        seed=1,
        clock=FakeClock(),
    ).run()
    written = write_results(result, tmp_path)
    assert "minimal" not in written and not (tmp_path / "minimal.yaml").exists()
    assert "NO FAILURE FOUND" in written["page"].read_text()
    assert json.loads(written["summary"].read_text())["found"] is False


# --- the command line ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scenarios/kafka-latency-spike.yaml"], "has no explore: section"),
        (["explore/kafka-acks1.yaml", "--budget", "0s"], "--budget '0s' must be longer"),
        (["explore/kafka-acks1.yaml", "--budget", "soon"], "--budget: invalid duration"),
        (["explore/kafka-acks1.yaml", "--examples", "0"], "--examples '0' is not a whole"),
        (["explore/kafka-acks1.yaml", "--repeat", "x"], "--repeat 'x' is not a whole"),
    ],
)
def test_bad_command_lines_exit_2_with_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    from harness.cli import main

    monkeypatch.chdir(ROOT)
    assert main(["explore", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
