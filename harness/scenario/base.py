"""The strict model base and the problem list that becomes one ``ConfigError``.

Every scenario model forbids unknown fields. Building a model in Python raises
``ConfigError`` (not pydantic's ``ValidationError``), with every problem listed, each with its
field path: ``<python>: storm.rate.per_second: Input should be greater than 0``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ClassVar, get_args

from pydantic import BaseModel, ConfigDict, ValidationError

from harness.errors import ConfigError

Path = tuple[str | int, ...]
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario: where (field path) and why."""

    path: Path
    reason: str


def format_path(path: Sequence[str | int]) -> str:
    """``("faults", 0, "kill")`` -> ``"faults[0].kill"``; the empty path is ``"(scenario)"``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not _PLAIN_KEY.fullmatch(part):
            text += f"[{part[:60]!r}]"  # a key as written could hold anything, line breaks too
        else:
            text += f".{part}" if text else part
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


@dataclass(frozen=True)
class Located:
    """A problem placed in its file: ``source:line: field: reason`` (line and field optional)."""

    source: str
    line: int | None
    field: str | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.field}: {self.reason}" if self.field else f"{where}: {self.reason}"


class ScenarioError(ConfigError):
    """A ``ConfigError`` that keeps its problems apart, for tools (``harness validate``)."""

    def __init__(self, problems: Sequence[Located]) -> None:
        self.problems: tuple[Located, ...] = tuple(problems)
        rendered = [str(p) for p in self.problems]
        sources = sorted({p.source for p in self.problems})
        where = sources[0] if len(sources) == 1 else f"{len(sources)} files"
        if len(rendered) == 1:
            head = rendered[0]
        else:
            head = f"{len(rendered)} problems in {where}:\n  " + "\n  ".join(rendered)
        super().__init__(head)


def located(source: str, line: int | None, reason: str) -> ScenarioError:
    """One problem of a whole file (no field): unreadable, not YAML, too large..."""
    return ScenarioError([Located(source, line, None, reason)])


def config_error(
    problems: Iterable[Problem], source: str, lines: dict[Path, int] | None = None
) -> ScenarioError:
    """One ``ConfigError`` listing every problem as ``source[:line]: path: reason``."""
    return ScenarioError(
        [
            Located(source, (lines or {}).get(p.path), format_path(p.path), p.reason)
            for p in problems
        ]
    )


_VALIDATING: ContextVar[bool] = ContextVar("scenario_validating", default=False)


class ProblemsFound(Exception):
    """Cross-field problems; deliberately not a ValueError, so pydantic lets it through."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problems")
        self.problems = problems


class StrictModel(BaseModel):
    """Base of every scenario model: unknown fields are errors, instances are frozen, and a
    float is finite (``.inf`` and ``.nan`` are never a usable rate, factor or fraction)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )
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


def plain_data(value: Any) -> Any:
    """A model as the plain data that builds it again (field aliases as keys, floats kept as
    floats), so that a changed copy can go through validation once more."""
    if isinstance(value, BaseModel):
        written = getattr(value, "as_written", None)  # a model whose YAML form is not its fields
        if callable(written):
            return {key: plain_data(item) for key, item in written().items()}
        fields = type(value).model_fields
        return {
            (info.alias or name): plain_data(getattr(value, name)) for name, info in fields.items()
        }
    if isinstance(value, list | tuple):
        return [plain_data(item) for item in value]
    if isinstance(value, dict):
        return {key: plain_data(item) for key, item in value.items()}
    return value


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
    "Located",
    "Path",
    "Problem",
    "ProblemsFound",
    "ScenarioError",
    "StrictModel",
    "config_error",
    "format_path",
    "located",
    "plain_data",
    "problems_from_validation",
    "raw_validation_errors",
]
