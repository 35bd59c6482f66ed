"""Read scenarios from YAML, with errors that name the file, the line and the field.

    >>> scenario = load_scenario("scenarios/kafka-leader-kill-acks1.yaml")
    >>> suite = load_scenarios(["scenarios/"])

Every problem of a file is reported at once, in one ``ConfigError``::

    scenarios/x.yaml:14: faults[0].kill.target: unknown target 'kafka-9' (known: kafka-1, ...)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path as FilePath
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from harness.errors import ConfigError
from harness.scenario.base import (
    Path,
    Problem,
    ProblemsFound,
    config_error,
    problems_from_validation,
    raw_validation_errors,
)
from harness.scenario.models import Scenario

SUFFIXES = (".yaml", ".yml")


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read and fully validate one scenario file."""
    file = FilePath(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{file}: cannot read the scenario: {error.strerror or error}") from None
    return parse_scenario(text, source=str(file))


def parse_scenario(text: str, source: str = "<string>") -> Scenario:
    """Validate a scenario given as YAML text; ``source`` names it in errors."""
    document = _parse_yaml(text, source)
    if not isinstance(document, CommentedMap):
        raise ConfigError(f"{source}:1: the scenario must be a YAML mapping of fields")
    lines: dict[Path, int] = {}
    data = _plain(document, (), lines)
    return build_scenario(data, source, lines)


def build_scenario(
    data: Mapping[str, Any], source: str = "<python>", lines: dict[Path, int] | None = None
) -> Scenario:
    """Validate a scenario given as plain data (a dict as from JSON or YAML)."""
    try:
        with raw_validation_errors():
            return Scenario.model_validate(data)
    except ValidationError as error:
        problems = problems_from_validation(error, root=Scenario)
    except ProblemsFound as found:
        problems = found.problems
    raise config_error(problems, source, _lines_for(problems, lines or {}))


def load_scenarios(paths: Iterable[str | os.PathLike[str]]) -> list[Scenario]:
    """Load files and every ``*.yaml``/``*.yml`` in directories, sorted; names must be unique.

    Problems of all files are gathered into one ``ConfigError``.
    """
    scenarios: list[Scenario] = []
    errors: list[str] = []
    seen: dict[str, FilePath] = {}
    for file in _expand(paths):
        try:
            scenario = load_scenario(file)
        except ConfigError as error:
            errors.append(str(error))
            continue
        if scenario.name in seen:
            errors.append(f"{file}: name {scenario.name!r} is also used by {seen[scenario.name]}")
            continue
        seen[scenario.name] = file
        scenarios.append(scenario)
    if errors:
        raise ConfigError("\n".join(errors))
    return scenarios


def _expand(paths: Iterable[str | os.PathLike[str]]) -> list[FilePath]:
    files: list[FilePath] = []
    for raw in paths:
        path = FilePath(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
            if not found:
                raise ConfigError(f"{path}: no scenario files (*.yaml, *.yml) in this directory")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise ConfigError(f"{path}: no such scenario file or directory")
    return files


def _parse_yaml(text: str, source: str) -> Any:
    yaml = YAML(typ="rt")
    try:
        return yaml.load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        reason = " ".join(str(p) for p in (error.context, error.problem) if p)
        raise ConfigError(f"{source}{line}: not valid YAML: {reason}") from None
    except YAMLError as error:
        raise ConfigError(f"{source}: not valid YAML: {error}") from None


def _plain(node: Any, path: Path, lines: dict[Path, int]) -> Any:
    """Plain dicts, lists and scalars from ruamel's nodes, noting each field's line (1-based)."""
    if isinstance(node, CommentedMap):
        lines.setdefault(path, node.lc.line + 1)
        result = {}
        for key in node:
            lines[(*path, str(key))] = node.lc.key(key)[0] + 1
            result[str(key)] = _plain(node[key], (*path, str(key)), lines)
        return result
    if isinstance(node, CommentedSeq):
        lines.setdefault(path, node.lc.line + 1)
        items = []
        for index, item in enumerate(node):
            lines[(*path, index)] = node.lc.item(index)[0] + 1
            items.append(_plain(item, (*path, index), lines))
        return items
    return _scalar(node)


def _scalar(node: Any) -> Any:
    # ruamel's round-trip scalars subclass the builtins; pydantic wants the builtins.
    for kind in (bool, int, float, str):
        if isinstance(node, kind):
            return kind(node)
    return node


def _lines_for(problems: list[Problem], lines: dict[Path, int]) -> dict[Path, int]:
    """The line of each problem: its own field's, else that of its nearest written parent."""
    found: dict[Path, int] = {}
    for problem in problems:
        for end in range(len(problem.path), -1, -1):
            line = lines.get(problem.path[:end])
            if line is not None:
                found[problem.path] = line
                break
    return found


__all__ = ["build_scenario", "load_scenario", "load_scenarios", "parse_scenario"]
