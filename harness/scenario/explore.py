"""The ``explore:`` section: the envelope ``harness explore`` searches fault schedules in.

    explore:
      faults:                       # the allowed kinds, each with its own options
        pause: {targets: [followers_of_partition 0, leader_of_partition 0]}
        kill: {targets: [leader_of_partition 0, kafka-1]}
        consumer_crash: {settings: [{when: before_commit}]}
      max_faults: 4                 # 1..max_faults faults per schedule
      window: {start: 1s, end: 6s}  # when faults may start (storm seconds)
      durations: {min: 1s, max: 4s} # how long each lasts (the kind's end field)
      storm:                        # optional: what the storm may vary
        shapes: [constant, poisson]
        per_second: {min: 200, max: 600}
        keys: {min: 8, max: 64}
      target: [lost, p99_ms]        # optional: metrics guided search pushes up

A kind's options are read by the kind when it provides ``explore_settings(options)`` (a
Hypothesis strategy of settings values) and ``explore_problems(options, scenario)``; otherwise
by the default here and in ``harness.explore``: ``targets`` (each a node target, written
``kafka-1``, ``leader_of_partition 0`` or ``{target: ..., partition: ...}``) and/or
``settings`` (a list of literal settings values). Every target and settings value is checked
now as a fault of that kind on this scenario, so a schedule drawn from a valid envelope is a
valid scenario. ``harness run`` ignores the section.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field, ValidationError, field_validator

from harness.scenario.base import (
    Path,
    Problem,
    StrictModel,
    problems_from_validation,
    raw_validation_errors,
)
from harness.scenario.durations import Duration, format_duration
from harness.scenario.faults import fault_kinds
from harness.scenario.kinds import Shape
from harness.scenario.thresholds import KNOWN_METRICS

if TYPE_CHECKING:
    from harness.scenario.models import Scenario

MAX_EXPLORE_FAULTS = 16
MAX_CHOICES = 256
DEFAULT_OPTIONS = ("targets", "settings")
# Shapes whose only parameter is per_second: the storm variation can draw them freely.
EXPLORE_SHAPES = (Shape.CONSTANT, Shape.POISSON)


class Window(StrictModel):
    """When faults may start, in seconds from the storm's start."""

    start: Duration = 0.0
    end: Duration


class Span(StrictModel):
    """A range of fault lengths."""

    min: Duration
    max: Duration


class NumberRange(StrictModel):
    min: float = Field(gt=0)
    max: float = Field(gt=0)


class CountRange(StrictModel):
    min: int = Field(ge=1, le=1_000_000)
    max: int = Field(ge=1, le=1_000_000)


class StormVariation(StrictModel):
    """What the storm may vary between examples (unset: the scenario's own)."""

    shapes: list[Shape] | None = Field(default=None, min_length=1)
    per_second: NumberRange | None = None
    keys: CountRange | None = None

    @field_validator("shapes")
    @classmethod
    def _simple_shapes(cls, shapes: list[Shape] | None) -> list[Shape] | None:
        for shape in shapes or []:
            if shape not in EXPLORE_SHAPES:
                raise ValueError(
                    f"shape {shape.value!r} cannot be explored (its parameters are not drawn); "
                    f"use {' or '.join(s.value for s in EXPLORE_SHAPES)}"
                )
        return shapes


class Explore(StrictModel):
    """The envelope of ``harness explore``: which schedules it may try."""

    faults: dict[str, dict[str, Any]] = Field(min_length=1)
    max_faults: int = Field(default=4, ge=1, le=MAX_EXPLORE_FAULTS)
    window: Window
    durations: Span
    storm: StormVariation | None = None
    target: list[str] = Field(default_factory=list, max_length=8)

    @field_validator("target")
    @classmethod
    def _known_metrics(cls, names: list[str]) -> list[str]:
        for name in names:
            if name not in KNOWN_METRICS:
                raise ValueError(f"unknown metric {name!r}; use one of {', '.join(KNOWN_METRICS)}")
        return names


def target_value(written: Any) -> Any:
    """A target as the kind's settings take it: ``"leader_of_partition 0"`` becomes
    ``{target: leader_of_partition, partition: 0}``; a mapping is kept."""
    if isinstance(written, str):
        name, _, partition = written.strip().partition(" ")
        if partition.strip().isdigit():
            return {"target": name, "partition": int(partition)}
        return {"target": written.strip()}
    return written


def explore_problems(scenario: Scenario) -> Iterator[Problem]:
    """What is wrong with ``scenario.explore`` as an envelope on this scenario."""
    envelope = scenario.explore
    if envelope is None:
        return
    base: Path = ("explore",)
    yield from _timing(scenario, envelope, base)
    yield from _storm(envelope, base)
    if (scenario.target.kafka is None) == (scenario.target.rabbitmq is None):
        return  # choices cannot be checked against an unknown broker; the target check says so
    kinds = fault_kinds()
    for name, options in envelope.faults.items():
        where = (*base, "faults", name)
        if name not in kinds:
            yield Problem(where, f"no fault kind is named {name!r}; use one of {', '.join(kinds)}")
            continue
        kind = kinds[name]
        custom = getattr(kind, "explore_problems", None)
        if callable(custom):
            for problem in custom(options, scenario):
                yield Problem((*where, *problem.path), problem.reason)
        else:
            yield from _default_options(kind, options, scenario, where)


def _timing(scenario: Scenario, envelope: Explore, base: Path) -> Iterator[Problem]:
    window, spans, storm = envelope.window, envelope.durations, scenario.storm.duration
    if window.end < window.start:
        yield Problem((*base, "window"), "end is before start")
    if window.end >= storm:
        yield Problem(
            (*base, "window", "end"),
            f"{format_duration(window.end)} is not before the end of the storm "
            f"({format_duration(storm)})",
        )
    if spans.max < spans.min:
        yield Problem((*base, "durations"), "max is below min")
    if spans.min <= 0:
        yield Problem((*base, "durations", "min"), "must be longer than 0s")


def _storm(envelope: Explore, base: Path) -> Iterator[Problem]:
    storm = envelope.storm
    if storm is None:
        return
    for name in ("per_second", "keys"):
        span = getattr(storm, name)
        if span is not None and span.max < span.min:
            yield Problem((*base, "storm", name), "max is below min")


def _default_options(
    kind: Any, options: Mapping[str, Any], scenario: Scenario, where: Path
) -> Iterator[Problem]:
    for key in options:
        if key not in DEFAULT_OPTIONS:
            yield Problem(
                (*where, str(key)), f"unknown option (known: {', '.join(DEFAULT_OPTIONS)})"
            )
    choices = list(default_choices(options))
    if not choices:
        yield Problem(where, "set 'targets' or 'settings' (the values this kind may take)")
    if len(choices) > MAX_CHOICES:
        yield Problem(where, f"{len(choices)} choices; at most {MAX_CHOICES}")
        return
    for path, value in choices:
        yield from check_settings(kind, value, scenario, (*where, *path))


def default_choices(options: Mapping[str, Any]) -> Iterator[tuple[Path, Any]]:
    """Every settings value the default strategy may draw, with its path in the options."""
    for key in DEFAULT_OPTIONS:
        values = options.get(key)
        if values is None:
            continue
        if not isinstance(values, list):
            yield (key,), values  # reported by the settings check as not a list
            continue
        for index, value in enumerate(values):
            yield (key, index), target_value(value) if key == "targets" else value


def check_settings(kind: Any, value: Any, scenario: Scenario, where: Path) -> Iterator[Problem]:
    """Problems of ``value`` as settings of fault ``kind`` on ``scenario``, under ``where``."""
    if where[-1] in DEFAULT_OPTIONS:  # the option itself, not one of its items
        yield Problem(where, "must be a list")
        return
    try:
        with raw_validation_errors():
            settings = kind.settings.model_validate(value)
    except ValidationError as error:
        for problem in problems_from_validation(error, (), kind.settings):
            yield Problem((*where, *problem.path), problem.reason)
        return
    for problem in kind.validate(settings, scenario):
        yield Problem((*where, *problem.path), problem.reason)


__all__ = [
    "EXPLORE_SHAPES",
    "check_settings",
    "MAX_EXPLORE_FAULTS",
    "CountRange",
    "Explore",
    "NumberRange",
    "Span",
    "StormVariation",
    "Window",
    "default_choices",
    "explore_problems",
    "target_value",
]
