"""The strict model base and the problem list that becomes one ``ConfigError``.

Every scenario model forbids unknown fields. Building a model in Python raises
``ConfigError`` (not pydantic's ``ValidationError``), with every problem listed, each with its
field path: ``<python>: storm.rate.per_second: Input should be greater than 0``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ClassVar, get_args

from pydantic import BaseModel, ConfigDict, ValidationError

from harness.errors import ConfigError

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario: where (field path) and why."""

    path: Path
    reason: str


def format_path(path: Sequence[str | int]) -> str:
    """``("faults", 0, "kill")`` -> ``"faults[0].kill"``; the empty path is ``"(scenario)"``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(scenario)"


def problems_from_validation(
    error: ValidationError, prefix: Path = (), root: type[BaseModel] | None = None
) -> list[Problem]:
    """Turn pydantic's errors into problems, with messages fit for people.

    ``root`` is the model validated; it lets an unknown field's message list the known ones.
    """
    problems = []
    for item in error.errors(include_url=False):
        loc = tuple(p for p in item["loc"] if isinstance(p, str | int))
        reason = _reason(item)
        if item["type"] == "extra_forbidden" and root is not None:
            known = _known_fields(root, loc[:-1])
            if known:
                reason = f"unknown field (known: {', '.join(known)})"
        problems.append(Problem(prefix + loc, reason))
    return problems


def _known_fields(root: type[BaseModel], parent: Path) -> list[str]:
    """Field names (as written in YAML) of the model found at ``parent`` under ``root``."""
    model: Any = root
    for part in parent:
        if isinstance(part, int):
            continue
        fields = getattr(model, "model_fields", {})
        field = next((f for n, f in fields.items() if part in (n, f.alias)), None)
        if field is None:
            return []
        model = _model_in(field.annotation)
        if model is None:
            return []
    return [info.alias or name for name, info in getattr(model, "model_fields", {}).items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _reason(item: Any) -> str:
    kind = item["type"]
    if kind == "extra_forbidden":
        return "unknown field (docs/scenario-format.md lists every field)"
    if kind == "missing":
        return "required field is missing"
    message = str(item["msg"])
    return message.removeprefix("Value error, ")


def config_error(
    problems: Iterable[Problem], source: str, lines: dict[Path, int] | None = None
) -> ConfigError:
    """One ``ConfigError`` listing every problem as ``source[:line]: path: reason``."""
    rendered = []
    for problem in problems:
        line = (lines or {}).get(problem.path)
        where = f"{source}:{line}" if line else source
        rendered.append(f"{where}: {format_path(problem.path)}: {problem.reason}")
    count = len(rendered)
    head = (
        rendered[0] if count == 1 else f"{count} problems in {source}:\n  " + "\n  ".join(rendered)
    )
    return ConfigError(head)


_VALIDATING: ContextVar[bool] = ContextVar("scenario_validating", default=False)


class ProblemsFound(Exception):
    """Cross-field problems; deliberately not a ValueError, so pydantic lets it through."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problems")
        self.problems = problems


class StrictModel(BaseModel):
    """Base of every scenario model: unknown fields are errors, instances are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    # The first element of error paths when the model is built directly in Python.
    path_root: ClassVar[Path | None] = None

    def __init__(self, /, **data: Any) -> None:
        # pydantic calls this for nested models too: only the outermost call converts errors.
        if _VALIDATING.get():
            super().__init__(**data)
            return
        token = _VALIDATING.set(True)
        try:
            super().__init__(**data)
        except ValidationError as error:
            root = type(self).path_root
            prefix = (type(self).__name__,) if root is None else root
            problems = problems_from_validation(error, prefix, type(self))
            raise config_error(problems, "<python>") from None
        except ProblemsFound as found:
            raise config_error(found.problems, "<python>") from None
        finally:
            _VALIDATING.reset(token)


@contextmanager
def raw_validation_errors() -> Iterator[None]:
    """Inside, models raise pydantic's ``ValidationError`` and ``ProblemsFound`` unconverted,
    so that a loader can map them to file lines itself."""
    token = _VALIDATING.set(True)
    try:
        yield
    finally:
        _VALIDATING.reset(token)


__all__ = [
    "Path",
    "Problem",
    "ProblemsFound",
    "StrictModel",
    "config_error",
    "format_path",
    "problems_from_validation",
    "raw_validation_errors",
]
