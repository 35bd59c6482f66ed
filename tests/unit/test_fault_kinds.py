"""The fault kind registry: one module per kind, found by name, parsed and checked through it.

A test-only kind (``blink``, below) is registered the way a new kind would be, and must be
parsed, validated, dumped and applied like the built-in ones.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import Field
from scenario_support import MINIMAL_SCENARIO

from harness.errors import ConfigError, FaultError
from harness.faults import (
    ActiveFault,
    FaultContext,
    FaultKind,
    Undo,
    UndoKind,
    apply,
    history_kind,
    undo_kinds,
    undo_on_stack,
)
from harness.scenario import Fault, Scenario, build_scenario, load_scenarios, parse_scenario
from harness.scenario import faults as registry
from harness.scenario.base import Problem, StrictModel

VALID = MINIMAL_SCENARIO + "faults:\n"
BUILTIN = (
    "toxic",
    "proxy_down",
    "kill",
    "pause",
    "restart",
    "rolling_restart",
    "consumer_crash",
    "duplicate",
    "downstream",
    "partition",
    "webhook_attack",
    "route_cut",
    "webhook_delivery",
    "key_rotation",
)


class Blinking(StrictModel):
    target: str
    period_ms: int = Field(default=100, gt=0)


BLINKED: list[str] = []


class Blink(FaultKind):
    """A test-only kind: flips a node's proxy on and off (here: records that it would)."""

    name = "blink"
    settings = Blinking
    end_field = "duration"
    history = "proxy.blink"
    undos = (UndoKind("steady", lambda u: f"steady {u.target}", lambda u, r: None),)

    def validate(self, settings: Any, scenario: Scenario) -> Iterator[Problem]:
        if settings.target not in scenario.target.nodes:
            yield Problem(("target",), f"no node {settings.target!r} to blink")

    async def targets(self, settings: Any, ctx: FaultContext) -> list[str]:
        return [settings.target]

    async def apply(self, settings: Any, ctx: FaultContext, active: ActiveFault) -> None:
        BLINKED.extend(active.targets)


@pytest.fixture
def blink() -> Iterator[Blink]:
    kind = Blink()
    registry.register_fault_kind(kind)
    yield kind
    registry.unregister_fault_kind(kind.name)


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_scenario(VALID + text, "scenarios/x.yaml")
    return str(caught.value)


def test_every_builtin_kind_is_one_module_exporting_its_kind_in_the_listed_order() -> None:
    assert tuple(registry.fault_kinds()) == BUILTIN
    for module_name, name in zip(registry.BUILTIN_FAULT_KINDS, BUILTIN, strict=True):
        kind = importlib.import_module(module_name).KIND
        assert isinstance(kind, FaultKind) and kind.name == name == module_name.rsplit(".")[-1]
        assert kind.end_field in (*registry.END_FIELDS, None)


def test_every_undo_a_kind_registers_is_known_to_harness_heal() -> None:
    known = undo_kinds()
    assert {"remove_toxic", "enable_proxy", "start_node", "resume_node", "stop_process"} <= set(
        known
    )
    assert Undo("remove_toxic", "kafka-1", "harness-f0").describe() == (
        "remove toxic 'harness-f0' from proxy kafka-1"
    )
    assert Undo("start_node", "kafka-2").describe() == "start kafka-2 again"
    assert Undo("stop_process", "the sut", "41:7").describe() == "stop the sut (pid 41)"


def test_a_registered_kind_is_parsed_and_validated_through_the_registry(blink: Blink) -> None:
    scenario = parse_scenario(
        VALID + "  - at: 5s\n    blink: {target: kafka-2, period_ms: 50}\n    duration: 3s\n"
    )
    (fault,) = scenario.faults
    assert (fault.action, fault.settings, fault.length) == (
        "blink",
        Blinking(target="kafka-2", period_ms=50),
        3,
    )
    assert error_of("  - at: 5s\n    blink: {target: kafka-9}\n") == (
        "scenarios/x.yaml:9: faults[0].blink.target: no node 'kafka-9' to blink"
    )
    assert error_of("  - at: 5s\n    blink: {target: kafka-1, period_ms: 0}\n") == (
        "scenarios/x.yaml:9: faults[0].blink.period_ms: Input should be greater than 0"
    )
    assert error_of("  - at: 5s\n    blink: {target: kafka-1, perod: 1}\n") == (
        "scenarios/x.yaml:9: faults[0].blink.perod: unknown field (known: target, period_ms)"
    )
    assert "does not apply to blink; blink ends with 'duration'" in error_of(
        "  - at: 5s\n    blink: {target: kafka-1}\n    restart_after: 2s\n"
    )
    assert "exactly one action of toxic, proxy_down" in error_of("  - at: 5s\n")
    assert ", webhook_attack, route_cut, webhook_delivery, key_rotation, blink (found none)" in error_of(
        "  - at: 5s\n"
    )


def test_a_registered_kind_is_applied_and_its_undo_replayed(blink: Blink) -> None:
    import asyncio

    fault = Fault.model_validate({"at": 1, "blink": {"target": "kafka-3"}})
    nothing = cast(Any, None)  # the kind acts on nothing but its own list
    active = asyncio.run(apply(fault, "f0", FaultContext(nothing, nothing, nothing)))
    assert (active.kind, active.targets, history_kind(fault)) == (
        "proxy.blink",
        ["kafka-3"],
        "proxy.blink",
    )
    assert BLINKED[-1] == "kafka-3"
    asyncio.run(undo_on_stack(nothing, nothing)(Undo("steady", "kafka-3")))
    assert Undo("steady", "kafka-3").describe() == "steady kafka-3"


def test_an_unregistered_kind_is_an_unknown_field() -> None:
    message = error_of("  - at: 5s\n    blink: {target: kafka-1}\n")
    assert "scenarios/x.yaml:9: faults[0].blink: unknown field (known: at, " in message
    assert "blink" not in message.rsplit("known:", 1)[-1]


def test_a_kind_from_an_entry_point_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = types.ModuleType("harness_test_blink_plugin")
    plugin.KIND = Blink()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, plugin.__name__, plugin)
    point = EntryPoint("blink", plugin.__name__, registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [point])
    monkeypatch.setattr(registry, "_registry", {})
    monkeypatch.setattr(registry, "_loaded", False)
    assert list(registry.fault_kinds()) == [*BUILTIN, "blink"]
    assert (
        parse_scenario(VALID + "  - at: 5s\n    blink: {target: kafka-1}\n").faults[0].action
        == "blink"
    )


def test_a_broken_entry_point_reads_as_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    point = EntryPoint("bad", "no_such_module_anywhere:KIND", registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [point])
    monkeypatch.setattr(registry, "_registry", {})
    monkeypatch.setattr(registry, "_loaded", False)
    with pytest.raises(ConfigError, match="entry point 'bad'.*could not be loaded.*uninstall"):
        registry.fault_kinds()


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (object(), "is not a fault kind"),
        (type("Timed", (Blink,), {"name": "every"})(), "clashes with the timeline's fields"),
        (type("Ends", (Blink,), {"end_field": "until"})(), "clashes with the timeline's fields"),
        (type("Twin", (Blink,), {"name": "kill"})(), "Two fault kinds are named 'kill'"),
    ],
)
def test_a_kind_that_does_not_fit_is_refused(kind: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        registry.register_fault_kind(kind)
    assert tuple(registry.fault_kinds()) == BUILTIN


def test_a_kind_that_is_not_a_fault_kind_can_be_validated_but_not_applied() -> None:
    import asyncio

    class Spec:
        name = "spec_only"
        settings = Blinking
        end_field = None

        def validate(self, settings: Any, scenario: Scenario) -> Iterator[Problem]:
            return iter(())

    registry.register_fault_kind(cast(Any, Spec()))
    try:
        fault = Fault.model_validate({"at": 1, "spec_only": {"target": "kafka-1"}})
        nothing = cast(Any, None)
        with pytest.raises(FaultError, match="can be validated but not applied"):
            asyncio.run(apply(fault, "f0", FaultContext(nothing, nothing, nothing)))
    finally:
        registry.unregister_fault_kind("spec_only")


def test_every_shipped_fault_dumps_in_the_written_form_and_loads_back() -> None:
    for scenario in load_scenarios(["scenarios"]):
        dumped = scenario.model_dump(mode="json", by_alias=True)
        for fault, written in zip(scenario.faults, dumped["faults"], strict=True):
            assert fault.action in written and "settings" not in written and "action" not in written
        assert build_scenario(dumped) == scenario


def test_a_huge_repetition_count_is_refused_without_being_expanded() -> None:
    message = error_of(
        "  - at: 5s\n    every: 0.000000001\n    times: 1000000000000\n"
        "    pause: {target: kafka-1}\n"
    )
    # The occurrence bound (harness.scenario.limits) answers first, by arithmetic.
    assert "faults[0].times: this fault would start more than 10,000 times" in message


@given(
    at=st.floats(0, 50),
    every=st.floats(0.5, 30),
    times=st.none() | st.integers(1, 40),
    storm=st.floats(51, 120),
)
def test_the_arithmetic_count_and_last_start_agree_with_the_listed_starts(
    at: float, every: float, times: int | None, storm: float
) -> None:
    fault = Fault(at=at, every=every, times=times, kill={"target": "kafka-1"})
    starts = fault.starts(storm)
    assert len(starts) == fault.repetitions(storm)
    assert starts[-1] == pytest.approx(fault.last_start(storm))
    if times is None:
        assert starts[-1] <= storm + 1e-9 and storm < starts[-1] + every + 1e-9


def test_an_interval_too_small_to_count_gives_a_huge_count_not_an_overflow() -> None:
    fault = Fault(at=5, every=5e-324, pause={"target": "kafka-1"})
    assert fault.repetitions(60) == sys.maxsize and fault.last_start(60) >= 5
