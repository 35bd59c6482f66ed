"""The fault timeline's entries, and the registry of fault kinds they name.

A fault has a start (``at``), an optional end (the kind's end field: ``duration``,
``restart_after`` or ``resume_after``), an optional repetition (``every`` + ``times``) and
exactly one action: a key naming a fault kind, whose value is that kind's settings.

    faults:
      - at: 20s
        kill: {target: leader_of_partition, partition: 0}
        restart_after: 15s

The timeline entry (``Fault``) is generic; what ``kill`` or ``toxic`` accept, how they are
checked against the scenario and how they act on the stack is the kind's, one module each under
``harness/faults/kinds/``. This layer must not import the fault layer, so it knows the kinds
by module name only (``BUILTIN_FAULT_KINDS``, plus the ``harness.fault_kinds`` entry points of
installed packages) and imports them the first time a fault is validated. Adding a kind is one
new module there and one line here. docs/decisions.md says why.
"""

from __future__ import annotations

import importlib
import math
import sys
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field, ValidationError, model_serializer, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from harness.errors import ConfigError
from harness.scenario.base import (
    Problem,
    StrictModel,
    problems_from_validation,
    raw_validation_errors,
)
from harness.scenario.durations import Duration

if TYPE_CHECKING:
    from harness.scenario.models import Scenario

# The built-in kinds, in the order error messages list them. A new kind: one module, one line.
BUILTIN_FAULT_KINDS: tuple[str, ...] = (
    "harness.faults.kinds.toxic",
    "harness.faults.kinds.proxy_down",
    "harness.faults.kinds.kill",
    "harness.faults.kinds.pause",
    "harness.faults.kinds.restart",
    "harness.faults.kinds.rolling_restart",
    "harness.faults.kinds.consumer_crash",
    "harness.faults.kinds.duplicate",
    "harness.faults.kinds.downstream",
    "harness.faults.kinds.partition",
    "harness.faults.kinds.webhook_attack",
    "harness.faults.kinds.route_cut",
    "harness.faults.kinds.webhook_delivery",
    "harness.faults.kinds.key_rotation",
)
# Third-party kinds: an entry point in this group names a kind object or a module with ``KIND``.
ENTRY_POINT_GROUP = "harness.fault_kinds"

END_FIELDS: tuple[str, ...] = ("duration", "restart_after", "resume_after")
TIMING_FIELDS: tuple[str, ...] = ("at", *END_FIELDS, "every", "times")
DUPLICATE = "duplicate"  # the kind the storm builder reads (its re-sends are planned up front)


@runtime_checkable
class FaultKindSpec(Protocol):
    """What the scenario layer needs of a fault kind (``harness.faults.FaultKind`` has all of
    it, and how to apply and undo the fault).

    ``name`` is the action key in YAML; ``settings`` the pydantic model of its value;
    ``end_field`` the one end field it takes (None: instantaneous); ``validate`` yields the
    problems only the whole scenario shows, with paths relative to the action's value.
    """

    name: str
    settings: type[BaseModel]
    end_field: str | None

    def validate(self, settings: Any, scenario: Scenario) -> Iterable[Problem]: ...


_SPLIT: ContextVar[bool] = ContextVar("fault_action_split", default=False)
_registry: dict[str, FaultKindSpec] = {}
_loaded = False


def fault_kinds() -> Mapping[str, FaultKindSpec]:
    """Every known kind by action name (built-ins first); imports them on first use."""
    global _loaded
    if not _loaded:
        _loaded = True
        try:
            for name in BUILTIN_FAULT_KINDS:
                _add(_kind_in(importlib.import_module(name), name))
            for point in entry_points(group=ENTRY_POINT_GROUP):
                _add(_kind_in(_load_entry_point(point), f"entry point {point.value}"))
        except BaseException:
            _loaded = False
            raise
    return dict(_registry)


def get_fault_kind(name: str) -> FaultKindSpec:
    """The kind whose action key is ``name``; ``ConfigError`` naming the known ones if none."""
    kinds = fault_kinds()
    if name not in kinds:
        raise ConfigError(
            f"No fault kind is named {name!r}; the known kinds are {', '.join(kinds)}. "
            "A new kind is a module under harness/faults/kinds/ listed in BUILTIN_FAULT_KINDS."
        )
    return kinds[name]


def register_fault_kind(kind: FaultKindSpec) -> None:
    """Add ``kind`` (for kinds defined in code rather than installed as an entry point)."""
    fault_kinds()
    _add(kind)


def unregister_fault_kind(name: str) -> None:
    """Forget a kind added with ``register_fault_kind`` (a test's, say)."""
    _registry.pop(name, None)


def _add(kind: FaultKindSpec) -> None:
    if not isinstance(kind, FaultKindSpec):
        raise ConfigError(
            f"{kind!r} is not a fault kind: it needs name, settings, end_field and validate "
            "(subclass harness.faults.FaultKind)."
        )
    clash = _registry.get(kind.name)
    if clash is not None and clash is not kind:
        raise ConfigError(
            f"Two fault kinds are named {kind.name!r} ({clash!r} and {kind!r}); rename one."
        )
    if kind.name in TIMING_FIELDS or kind.end_field not in (*END_FIELDS, None):
        raise ConfigError(
            f"The fault kind {kind.name!r} clashes with the timeline's fields: its name must "
            f"not be one of {', '.join(TIMING_FIELDS)} and its end_field must be one of "
            f"{', '.join(END_FIELDS)} or None (got {kind.end_field!r})."
        )
    _registry[kind.name] = kind


def _kind_in(found: Any, origin: str) -> FaultKindSpec:
    kind = getattr(found, "KIND", found)
    if not isinstance(kind, FaultKindSpec):
        raise ConfigError(
            f"{origin} defines no fault kind (a module needs a KIND object). Define KIND as an "
            "instance of a harness.faults.FaultKind subclass."
        )
    return kind


def _load_entry_point(point: Any) -> Any:
    try:
        return point.load()
    except Exception as error:  # a broken plug-in must read as such, not as a traceback
        raise ConfigError(
            f"The fault kind entry point {point.name!r} ({point.value}) could not be loaded: "
            f"{error!r}. Fix or uninstall the package that provides it."
        ) from None


class Fault(StrictModel):
    """One entry of the fault timeline. Times are seconds from the storm's start.

    ``action`` names the kind and ``settings`` holds its parsed settings; written and dumped
    as one key, ``{kill: {target: kafka-1}}``.
    """

    at: Duration
    duration: Duration | None = None
    restart_after: Duration | None = None
    resume_after: Duration | None = None
    every: Duration | None = None
    times: int | None = Field(default=None, ge=1)
    action: str
    settings: Any

    @model_validator(mode="wrap")
    @classmethod
    def _one_action(cls, data: Any, handler: Any) -> Fault:
        if not isinstance(data, Mapping) or _SPLIT.get():
            return handler(data)  # an instance, a bad type, or the split data coming back
        split, errors = _split_action(data)
        token = _SPLIT.set(True)  # StrictModel's __init__ brings the split data back here
        try:
            with raw_validation_errors():
                fault = handler(split)
        except ValidationError as error:
            errors += [_error(p.path, p.reason, data) for p in problems_from_validation(error)]
        finally:
            _SPLIT.reset(token)
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return fault

    @model_serializer(mode="wrap")
    def _as_written(self, handler: Any) -> dict[str, Any]:
        dumped = handler(self)
        dumped[dumped.pop("action")] = dumped.pop("settings")
        return dumped

    def as_written(self) -> dict[str, Any]:
        """The fault's fields in its YAML form: the timing fields and ``{action: settings}``."""
        timing = {name: getattr(self, name) for name in type(self).model_fields}
        settings = timing.pop("settings")
        timing[timing.pop("action")] = settings
        return timing

    @property
    def kind(self) -> FaultKindSpec:
        return get_fault_kind(self.action)

    @property
    def length(self) -> float | None:
        """Seconds from start to heal, or None when the fault lasts until the run heals it."""
        field = self.kind.end_field
        return getattr(self, field) if field else None

    def repetitions(self, storm_duration: float) -> int:
        """How many times the fault starts (arithmetic: nothing is materialised)."""
        if self.every is None or self.every <= 0:
            return 1
        if self.times is not None:
            return self.times
        span = (storm_duration - self.at) // self.every
        if not math.isfinite(span):  # an interval of 5e-324 s: no count fits, say "very many"
            return sys.maxsize
        return max(1 + int(span), 1)

    def last_start(self, storm_duration: float) -> float:
        """When the last repetition starts."""
        return self.at + (self.repetitions(storm_duration) - 1) * (self.every or 0.0)

    def starts(self, storm_duration: float) -> list[float]:
        """Start times of every repetition (call only on a validated scenario, whose counts
        are bounded)."""
        every = self.every or 0.0
        return [self.at + k * every for k in range(self.repetitions(storm_duration))]

    def scaled(self, factor: float) -> Fault:
        """The same fault with every time multiplied by ``factor`` (a kind's own times too, if
        it has a ``scaled_settings(settings, factor)``)."""
        update: dict[str, Any] = {
            name: getattr(self, name) * factor
            for name in ("at", "every", *END_FIELDS)
            if getattr(self, name) is not None
        }
        scale_settings = getattr(self.kind, "scaled_settings", None)
        if scale_settings is not None:
            update["settings"] = scale_settings(self.settings, factor)
        return self.model_copy(update=update)


def _split_action(data: Mapping[str, Any]) -> tuple[dict[str, Any], list[InitErrorDetails]]:
    """The timing fields plus ``action`` and parsed ``settings``, and what was wrong."""
    kinds = fault_kinds()
    errors: list[InitErrorDetails] = []
    # action and settings are always set, so the model reports only the timing fields' faults
    split = {
        **{k: v for k, v in data.items() if k in TIMING_FIELDS},
        "action": "",
        "settings": None,
    }
    chosen = [k for k in data if k in kinds]
    known = ", ".join((*TIMING_FIELDS, *kinds))
    for key in (k for k in data if k not in TIMING_FIELDS and k not in kinds):
        errors.append(_error((str(key),), f"unknown field (known: {known})", data[key]))
    if len(chosen) != 1:
        found = f"found {', '.join(chosen)}" if chosen else "found none"
        errors.append(_error((), f"set exactly one action of {', '.join(kinds)} ({found})", data))
        return split, errors
    action = split["action"] = chosen[0]
    try:
        with raw_validation_errors():  # pydantic's errors, to be re-rooted under the action
            split["settings"] = kinds[action].settings.model_validate(data[action])
    except ValidationError as error:
        for problem in problems_from_validation(error, (action,), kinds[action].settings):
            errors.append(_error(problem.path, problem.reason, data[action]))
    return split, errors


def _error(loc: tuple[str | int, ...], reason: str, value: Any) -> InitErrorDetails:
    # The reason is final text: a custom error keeps it verbatim through the scenario's
    # problem rendering (pydantic's own types would be re-worded there).
    return InitErrorDetails(type=PydanticCustomError("fault", reason), loc=loc, input=value)


def duplicate_windows(
    faults: list[Fault], storm_duration: float
) -> list[tuple[float, float, float]]:
    """``(start, end, fraction)`` of every duplicate-injection occurrence, in storm seconds (a
    fault without ``duration`` lasts to the storm's end)."""
    return [
        (at, min(at + (fault.duration or storm_duration), storm_duration), fault.settings.fraction)
        for fault in faults
        if fault.action == DUPLICATE
        for at in fault.starts(storm_duration)
    ]


__all__ = [
    "BUILTIN_FAULT_KINDS",
    "DUPLICATE",
    "END_FIELDS",
    "ENTRY_POINT_GROUP",
    "TIMING_FIELDS",
    "Fault",
    "FaultKindSpec",
    "duplicate_windows",
    "fault_kinds",
    "get_fault_kind",
    "register_fault_kind",
    "unregister_fault_kind",
]
