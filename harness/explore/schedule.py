"""Fault schedules: what one example of ``harness explore`` runs, and the Hypothesis strategy
that draws them inside a scenario's ``explore:`` envelope.

    strategy = schedules(scenario)          # SearchStrategy[Schedule]
    concrete = to_scenario(scenario, schedule, seed=7)   # a plain, valid Scenario

A schedule is 1..``max_faults`` faults (kind, settings, start, length) and, when the envelope
lets the storm vary, a rate shape, a rate and a key count. Times are drawn in tenths of a
second from the window's start and the shortest duration upwards, so Hypothesis's shrinking
(fewer list items, smaller integers, earlier choices) means fewer faults, earlier, shorter,
and the kinds and targets listed first in the envelope: list the simplest first.

Each kind draws its own settings: a kind with ``explore_settings(options)`` returns a
Hypothesis strategy of settings values (in their YAML form); every other kind takes the
default, a choice among the envelope's ``targets`` and ``settings`` lists.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from hypothesis import strategies as st

from harness.scenario import Scenario, format_duration
from harness.scenario.base import plain_data
from harness.scenario.explore import Explore, default_choices
from harness.scenario.faults import get_fault_kind

TICK_S = 0.1
"""The resolution of drawn times."""


@dataclass(frozen=True)
class PlannedFault:
    """One fault of a schedule: ``length`` is None for a kind without an end field."""

    kind: str
    settings: Any
    at: float
    length: float | None

    def describe(self) -> str:
        value = self.settings
        if isinstance(value, Mapping) and set(value) <= {"target", "partition"}:
            shown = " ".join(str(value[k]) for k in ("target", "partition") if k in value)
        else:
            shown = json.dumps(value, sort_keys=True, separators=(",", ":"))
        span = f" for {format_duration(self.length)}" if self.length is not None else ""
        return f"{self.kind} {shown} at {format_duration(self.at)}{span}"


@dataclass(frozen=True)
class StormChoice:
    """The storm's variation for one example (None: the scenario's own)."""

    shape: str | None = None
    per_second: float | None = None
    keys: int | None = None

    def describe(self) -> str:
        parts = [f"{name}={value}" for name, value in asdict(self).items() if value is not None]
        return f"storm {' '.join(parts)}" if parts else ""


@dataclass(frozen=True)
class Schedule:
    """The faults, in start order, and the storm variation of one example."""

    faults: tuple[PlannedFault, ...]
    storm: StormChoice = StormChoice()

    def as_data(self) -> dict[str, Any]:
        return {"faults": [asdict(f) for f in self.faults], "storm": asdict(self.storm)}

    def key(self) -> str:
        """The canonical text of the schedule: equal schedules run once (memoised)."""
        return json.dumps(self.as_data(), sort_keys=True, separators=(",", ":"))

    def size(self) -> tuple[int, float, float, str]:
        """An order of simplicity for people (fewer faults, shorter, earlier): the page's
        shrink path keeps each failure smaller than the one before it."""
        lengths = sum(f.length or 0.0 for f in self.faults)
        return (
            len(self.faults),
            round(lengths, 3),
            round(sum(f.at for f in self.faults), 3),
            self.key(),
        )

    def describe(self) -> str:
        parts = [f.describe() for f in self.faults]
        storm = self.storm.describe()
        return "; ".join([*parts, *([storm] if storm else [])]) or "no faults"


def _ticks(seconds: float) -> int:
    return round(seconds / TICK_S)


def settings_strategy(kind_name: str, options: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    """How ``kind_name`` draws its settings from its envelope ``options``."""
    kind = get_fault_kind(kind_name)
    own = getattr(kind, "explore_settings", None)
    if callable(own):
        strategy: st.SearchStrategy[Any] = own(options)
        return strategy
    values = [value for _, value in default_choices(options)]
    return st.sampled_from(values)


@st.composite
def _fault(draw: st.DrawFn, envelope: Explore) -> PlannedFault:
    names = list(envelope.faults)
    name = draw(st.sampled_from(names))
    settings = draw(settings_strategy(name, envelope.faults[name]))
    window = envelope.window
    at = draw(st.integers(_ticks(window.start), _ticks(window.end))) * TICK_S
    length = None
    if get_fault_kind(name).end_field is not None:
        spans = envelope.durations
        length = draw(st.integers(_ticks(spans.min), _ticks(spans.max))) * TICK_S
    return PlannedFault(name, settings, round(at, 3), None if length is None else round(length, 3))


@st.composite
def _storm(draw: st.DrawFn, envelope: Explore) -> StormChoice:
    storm = envelope.storm
    if storm is None:
        return StormChoice()
    shape = draw(st.sampled_from([s.value for s in storm.shapes])) if storm.shapes else None
    rate = None
    if storm.per_second is not None:
        low, high = storm.per_second.min, storm.per_second.max
        rate = float(draw(st.integers(round(low), max(round(low), round(high)))))
    keys = None
    if storm.keys is not None:
        keys = draw(st.integers(storm.keys.min, storm.keys.max))
    return StormChoice(shape, rate, keys)


def schedules(scenario: Scenario) -> st.SearchStrategy[Schedule]:
    """Every schedule inside ``scenario.explore`` (``ValueError`` if it has none)."""
    envelope = scenario.explore
    if envelope is None:
        raise ValueError(f"{scenario.name} has no explore: section")
    faults = st.lists(_fault(envelope), min_size=1, max_size=envelope.max_faults)
    return st.builds(
        lambda drawn, storm: Schedule(tuple(sorted(drawn, key=_start_order)), storm),
        faults,
        _storm(envelope),
    )


def _start_order(fault: PlannedFault) -> tuple[float, str]:
    return fault.at, fault.kind


def to_scenario(base: Scenario, schedule: Schedule, seed: int) -> Scenario:
    """``base`` with the schedule's faults and storm, its seed, and no ``explore:`` section:
    a plain scenario ``harness run`` and ``harness validate`` take as it is."""
    data = plain_data(base)
    data.pop("explore", None)
    data["seed"] = seed
    data["faults"] = [_fault_data(fault) for fault in schedule.faults]
    rate = data["storm"]["rate"]
    choice = schedule.storm
    if choice.shape is not None:
        rate["shape"] = choice.shape
    if choice.per_second is not None:
        rate["per_second"] = choice.per_second
    if choice.keys is not None:
        data["storm"]["keys"]["count"] = choice.keys
    return Scenario(**data)


def _fault_data(fault: PlannedFault) -> dict[str, Any]:
    entry: dict[str, Any] = {"at": fault.at, fault.kind: fault.settings}
    end_field = get_fault_kind(fault.kind).end_field
    if end_field is not None and fault.length is not None:
        entry[end_field] = fault.length
    return entry


__all__ = [
    "TICK_S",
    "PlannedFault",
    "Schedule",
    "StormChoice",
    "schedules",
    "settings_strategy",
    "to_scenario",
]
