"""Imports follow the data flow: no module imports a module of a higher layer.

The order (lowest first) is the one in ``docs/decisions.md``: the leaf modules, then scenario,
stack, load (and webhooks), drivers, faults, sut, history, checks (and metrics), report, locust, run; the CLI glue
(``harness.cli``, ``harness.__main__`` and every package's ``commands.py``) sits on top and
may import anything. A module may import its own package freely. The graph is built
statically with ``ast`` from every ``import`` and ``from`` statement, function-level (lazy)
ones and ``TYPE_CHECKING`` ones included, plus ``importlib.import_module("harness...")``
literals; so a lazy import cannot hide a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "harness"

LEAF = ("harness", "harness.errors", "harness.clock", "harness.vocabulary", "harness.safety")
LEAF += ("harness.events",)
LAYERS = {
    "scenario": 1,
    "schemas": 1,
    "auth": 2,
    "stack": 2,
    "load": 3,
    "webhooks": 3,
    "drivers": 4,
    "faults": 5,
    "observe": 6,
    "sut": 6,
    "history": 7,
    "checks": 8,
    "metrics": 8,
    "report": 9,
    "locust": 10,
    "run": 11,
    "explore": 12,
}
GLUE_LAYER = 13
GLUE = ("harness.cli", "harness.__main__")

Edge = tuple[str, str]


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> int:
    """The layer of ``module``; ``KeyError`` for a module the order does not place."""
    parts = module.split(".")
    if module in GLUE or parts[-1] == "commands":
        return GLUE_LAYER
    if module in LEAF:
        return 0
    return LAYERS[parts[1]]


def unit(module: str) -> str:
    """The node of the package graph: a package, or a leaf or glue module on its own."""
    parts = module.split(".")
    return "harness." + parts[1] if len(parts) > 1 and parts[1] in LAYERS else module


def imports_of(source: str, module: str, is_package: bool, known: set[str]) -> Iterator[str]:
    """Every harness module ``source`` (the text of ``module``) imports, at any depth."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, is_package)
            for alias in node.names:
                # ``from harness import checks`` imports the module harness.checks
                candidate = f"{base}.{alias.name}"
                yield candidate if candidate in known else base
        elif _is_import_module(node):
            yield node.args[0].value  # type: ignore[attr-defined]


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def _is_import_module(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "import_module"
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    )


def import_graph(package: Path = PACKAGE) -> set[Edge]:
    """(importer, imported) for every import of a harness module by a harness module."""
    files = {module_name(p, package.parent): p for p in package.rglob("*.py")}
    known = set(files)
    edges: set[Edge] = set()
    for name, path in files.items():
        source = path.read_text(encoding="utf-8")
        for target in imports_of(source, name, path.name == "__init__.py", known):
            if target.split(".")[0] == "harness" and target != name:
                edges.add((name, _owner(target, known)))
    return edges


def _owner(target: str, known: set[str]) -> str:
    """The module a dotted name lives in (``harness.x.y.Name`` -> ``harness.x.y``)."""
    while target not in known and "." in target:
        target = target.rsplit(".", 1)[0]
    return target


def violations(edges: set[Edge]) -> list[str]:
    found = []
    for importer, imported in sorted(edges):
        if unit(importer) == unit(imported):
            continue
        if layer(imported) > layer(importer):
            found.append(
                f"{importer} -> {imported} "
                f"(layer {layer(importer)} imports layer {layer(imported)})"
            )
    return found


def package_cycles(edges: set[Edge]) -> list[list[str]]:
    """Cycles of the package graph (CLI glue left out: it may import anything)."""
    graph: dict[str, set[str]] = {}
    for importer, imported in edges:
        if GLUE_LAYER in (layer(importer), layer(imported)):
            continue
        if unit(importer) != unit(imported):
            graph.setdefault(unit(importer), set()).add(unit(imported))
    return [cycle for start in sorted(graph) if (cycle := _cycle_from(graph, start))]


def _cycle_from(graph: dict[str, set[str]], start: str) -> list[str]:
    """The shortest path start -> ... -> start, or [] (breadth first)."""
    paths = [[start]]
    seen: set[str] = set()
    while paths:
        path = paths.pop(0)
        for nxt in sorted(graph.get(path[-1], ())):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                paths.append([*path, nxt])
    return []


EDGES = import_graph()


def test_every_module_has_a_layer() -> None:
    unplaced = set()
    for module in {m for edge in EDGES for m in edge}:
        try:
            layer(module)
        except (KeyError, IndexError):
            unplaced.add(module)
    assert not unplaced, f"place these in the layer order (tests/unit/test_layering.py): {unplaced}"


def test_no_module_imports_a_higher_layer() -> None:
    real = violations(EDGES)
    assert not real, "imports against the data flow:\n" + "\n".join(real)


def test_no_cycle_between_packages() -> None:
    cycles = package_cycles(EDGES)
    assert not cycles, "package cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_only_upward_reference_is_the_declared_fault_kind_list() -> None:
    """The scenario finds fault kinds by module name (see docs/decisions.md): that list is the
    one place a lower layer names a higher one, so it may name nothing but fault kind modules,
    and none of them may be imported statically from below the fault layer."""
    from harness.scenario.faults import BUILTIN_FAULT_KINDS

    assert BUILTIN_FAULT_KINDS
    assert all(name.startswith("harness.faults.kinds.") for name in BUILTIN_FAULT_KINDS)
    assert all(layer(name) == LAYERS["faults"] for name in BUILTIN_FAULT_KINDS)
    below = [(a, b) for a, b in EDGES if b in BUILTIN_FAULT_KINDS and layer(a) < LAYERS["faults"]]
    assert not below, f"fault kinds imported statically from a lower layer: {below}"


@pytest.mark.parametrize(
    ("source", "module", "is_package", "expected"),
    [
        ("import harness.run.runner", "harness.report.x", False, {"harness.run.runner"}),
        (
            "def f():\n    from harness.run import bench",
            "harness.report.x",
            False,
            {"harness.run.bench"},
        ),
        ("from harness import checks", "harness.report.x", False, {"harness.checks"}),
        ("from harness.checks import check", "harness.report.x", False, {"harness.checks"}),
        ("from ..run import bench", "harness.report.x", False, {"harness.run.bench"}),
        ("from . import view", "harness.report", True, {"harness.report.view"}),
        (
            "if TYPE_CHECKING:\n    from harness.run.bench import K",
            "harness.a",
            False,
            {"harness.run.bench"},
        ),
        (
            "importlib.import_module('harness.run.commands')",
            "harness.cli",
            False,
            {"harness.run.commands"},
        ),
    ],
)
def test_the_graph_sees_every_kind_of_import(
    source: str, module: str, is_package: bool, expected: set[str]
) -> None:
    known = {"harness.checks", "harness.run.bench", "harness.report.view", "harness.run.runner"}
    found = {t for t in imports_of(source, module, is_package, known)}
    assert found == expected


def test_the_rule_flags_an_upward_import_and_spares_glue_and_own_package() -> None:
    edges = {
        ("harness.report.view", "harness.run.runner"),
        ("harness.report.commands", "harness.run.synthetic"),
        ("harness.run.bench", "harness.run.commands"),
        ("harness.sut.external", "harness.faults.healing"),
    }
    assert violations(edges) == [
        "harness.report.view -> harness.run.runner (layer 9 imports layer 11)"
    ]


def test_a_cycle_between_packages_is_found() -> None:
    edges = {("harness.load.schedule", "harness.scenario.models")}
    edges.add(("harness.scenario.validate", "harness.load.schedule"))
    assert package_cycles(edges) == [
        ["harness.load", "harness.scenario", "harness.load"],
        ["harness.scenario", "harness.load", "harness.scenario"],
    ]
