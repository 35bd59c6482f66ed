"""Partition shapes as grudges: for each node, the set of nodes it must not hear from.

The shapes are Jepsen's nemesis ones (``jepsen.nemesis``), written afresh over node names:

- ``isolate``: one node on its own, the rest together;
- ``halves``: the first ``n // 2`` nodes against the rest;
- ``majority``: a strict majority (``n // 2 + 1``) against the minority;
- ``bridge``: two halves that do not hear each other, and one node of the second that hears
  both (and is heard by both);
- ``ring``: the nodes in a ring, each hearing the strict majority of the ring that starts
  ``(m - 1) // 2`` places before it (``m = n // 2 + 1``), so every node sees a majority but no
  two nodes see the same one.

Every shape is a pure function of the node order (callers shuffle with the run's seed), and no
grudge ever cuts a node from itself.

    >>> describe(grudge("halves", ["a", "b", "c"]))
    'a -/- b, c'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

Grudge = dict[str, frozenset[str]]

SHAPES: tuple[str, ...] = ("isolate", "halves", "majority", "bridge", "ring")
SYMMETRIC_SHAPES: tuple[str, ...] = ("isolate", "halves", "majority", "bridge")


def complete(components: Sequence[Sequence[str]]) -> Grudge:
    """Each node hears only the nodes of its own component."""
    everyone = frozenset(n for component in components for n in component)
    return {n: everyone - frozenset(c) for c in components for n in c}


def bisect(nodes: Sequence[str]) -> tuple[list[str], list[str]]:
    """The first ``len // 2`` nodes, and the rest (the larger half when odd)."""
    middle = len(nodes) // 2
    return list(nodes[:middle]), list(nodes[middle:])


def majority_size(count: int) -> int:
    return count // 2 + 1


def isolate(node: str, nodes: Sequence[str]) -> Grudge:
    return complete([[node], [n for n in nodes if n != node]])


def halves(nodes: Sequence[str]) -> Grudge:
    return complete(bisect(nodes))


def majority(nodes: Sequence[str]) -> Grudge:
    size = majority_size(len(nodes))
    return complete([list(nodes[:size]), list(nodes[size:])])


def bridge(nodes: Sequence[str]) -> Grudge:
    """Two halves cut apart, except the first node of the second half, which hears everyone
    and whom everyone hears."""
    first, second = bisect(nodes)
    if not second:
        return {n: frozenset() for n in nodes}
    hub = second[0]
    grudge = complete([first, second])
    return {n: (frozenset() if n == hub else hates - {hub}) for n, hates in grudge.items()}


def ring(nodes: Sequence[str]) -> Grudge:
    """Each node hears the ``m``-node arc of the ring around it (``m`` a strict majority)."""
    count = len(nodes)
    size = majority_size(count)
    back = (size - 1) // 2
    everyone = frozenset(nodes)
    grudge: Grudge = {}
    for i, node in enumerate(nodes):
        arc = {nodes[(i - back + k) % count] for k in range(size)}
        grudge[node] = everyone - arc
    return grudge


def grudge(shape: str, nodes: Sequence[str], isolated: str | None = None) -> Grudge:
    """The grudge of ``shape`` over ``nodes`` in this order (``isolated`` for ``isolate``)."""
    if len(set(nodes)) != len(nodes):
        raise ValueError(f"nodes must be distinct, got {list(nodes)}")
    if shape == "isolate":
        if isolated is None or isolated not in nodes:
            raise ValueError(f"isolate needs one of {list(nodes)}, got {isolated!r}")
        return isolate(isolated, nodes)
    builders = {"halves": halves, "majority": majority, "bridge": bridge, "ring": ring}
    if shape not in builders:
        raise ValueError(f"unknown partition shape {shape!r} (known: {', '.join(SHAPES)})")
    return builders[shape](nodes)


def cut_pairs(grudge: Mapping[str, frozenset[str]]) -> set[tuple[str, str]]:
    """``(deaf, sender)`` for every cut direction."""
    return {(deaf, sender) for deaf, senders in grudge.items() for sender in senders}


def describe(grudge: Mapping[str, frozenset[str]]) -> str:
    """One line for people: the components when the cut is symmetric and transitive
    (``a -/- b, c``), each node's grudge otherwise (``a hears not c; b hears not a``)."""
    pairs = cut_pairs(grudge)
    if not pairs:
        return "no cut"
    nodes = sorted(grudge)
    hears = {n: frozenset(m for m in nodes if (n, m) not in pairs) for n in nodes}
    groups = sorted({hears[n] for n in nodes}, key=lambda g: sorted(g))
    if all((b, a) in pairs for a, b in pairs) and sum(len(g) for g in groups) == len(nodes):
        return " -/- ".join(", ".join(sorted(g)) for g in groups)
    return "; ".join(f"{n} hears not {', '.join(sorted(grudge[n]))}" for n in nodes if grudge[n])


__all__ = [
    "SHAPES",
    "SYMMETRIC_SHAPES",
    "Grudge",
    "bisect",
    "bridge",
    "complete",
    "cut_pairs",
    "describe",
    "grudge",
    "halves",
    "isolate",
    "majority",
    "majority_size",
    "ring",
]
