"""Read scenarios from YAML, with errors that name the file, the line and the field.

    >>> scenario = load_scenario("scenarios/kafka-leader-kill-acks1.yaml")
    >>> suite = load_scenarios(["scenarios/"])

Every problem of a file is reported at once, in one ``ConfigError`` (a ``ScenarioError``,
whose ``problems`` tools can read one by one)::

    scenarios/x.yaml:14: faults[0].kill.target: unknown target 'kafka-9' (known: kafka-1, ...)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any

from pydantic import ValidationError

from harness.scenario.base import (
    Located,
    Path,
    Problem,
    ProblemsFound,
    ScenarioError,
    config_error,
    located,
    problems_from_validation,
    raw_validation_errors,
)
from harness.scenario.models import Scenario
from harness.scenario.reader import MAX_BYTES, decode, read_yaml
from harness.scenario.schema import schema_files_from

SUFFIXES = (".yaml", ".yml")


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read and fully validate one scenario file."""
    return _load(FilePath(path))[0]


def parse_scenario(text: str, source: str = "<string>") -> Scenario:
    """Validate a scenario given as YAML text; ``source`` names it in errors."""
    return _parse(text, source)[0]


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


@dataclass(frozen=True)
class Checked:
    """One file of a suite: its scenario when valid, else every problem found in it."""

    path: FilePath
    scenario: Scenario | None
    problems: tuple[Located, ...] = ()


def check_paths(paths: Iterable[str | os.PathLike[str]]) -> list[Checked]:
    """Validate files and every ``*.yaml``/``*.yml`` under directories, sorted, without raising.

    Names must be unique across all of them. This is what ``harness validate`` reports and
    what ``harness run`` refuses to start on.
    """
    checked: list[Checked] = []
    seen: dict[str, FilePath] = {}
    for path, missing in _expand(paths):
        if missing is not None:
            checked.append(Checked(path, None, (missing,)))
            continue
        try:
            scenario, lines = _load(path)
        except ScenarioError as error:
            checked.append(Checked(path, None, error.problems))
            continue
        if scenario.name in seen:
            reason = f"{scenario.name!r} is also used by {seen[scenario.name]}; names are unique"
            problem = Located(str(path), lines.get(("name",)), "name", reason)
            checked.append(Checked(path, None, (problem,)))
            continue
        seen[scenario.name] = path
        checked.append(Checked(path, scenario))
    return checked


def load_suite(paths: Iterable[str | os.PathLike[str]]) -> list[tuple[FilePath, Scenario]]:
    """(file, scenario) of every scenario in ``paths``; one ``ConfigError`` lists every
    problem of every file."""
    checked = check_paths(paths)
    problems = [p for c in checked for p in c.problems]
    if problems:
        raise ScenarioError(problems)
    return [(c.path, c.scenario) for c in checked if c.scenario is not None]


def load_scenarios(paths: Iterable[str | os.PathLike[str]]) -> list[Scenario]:
    """Load files and every ``*.yaml``/``*.yml`` in directories, sorted; names must be unique.

    Problems of all files are gathered into one ``ConfigError``.
    """
    return [scenario for _, scenario in load_suite(paths)]


def _expand(paths: Iterable[str | os.PathLike[str]]) -> list[tuple[FilePath, Located | None]]:
    """Every scenario file named, with the problem of a path that gives none."""
    found: list[tuple[FilePath, Located | None]] = []
    for raw in paths:
        path = FilePath(raw)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
            if not files:
                reason = (
                    "no scenario files (*.yaml, *.yml) in this directory; give the folder "
                    "that holds them"
                )
                found.append((path, Located(str(path), None, None, reason)))
            found.extend((file, None) for file in files)
        elif path.exists():
            found.append((path, None))
        else:
            reason = "no such scenario file or directory; check the path"
            found.append((path, Located(str(path), None, None, reason)))
    return found


def _load(file: FilePath) -> tuple[Scenario, dict[Path, int]]:
    try:
        with file.open("rb") as stream:
            data = stream.read(MAX_BYTES + 1)
    except OSError as error:
        reason = (
            f"cannot read the scenario: {error.strerror or error}; check that it is a readable file"
        )
        raise located(str(file), None, reason) from None
    with schema_files_from(file.resolve().parent):
        return _parse(decode(data, str(file)), str(file))


def _parse(text: str, source: str) -> tuple[Scenario, dict[Path, int]]:
    document, lines = read_yaml(text, source)
    if not isinstance(document, dict):
        raise located(
            source,
            1,
            "the scenario must be a YAML mapping of fields; start from a shipped one in "
            "scenarios/ (name:, target:, storm:, ...)",
        )
    return build_scenario(document, source, lines), lines


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


__all__ = [
    "Checked",
    "build_scenario",
    "check_paths",
    "load_scenario",
    "load_scenarios",
    "load_suite",
    "parse_scenario",
]
