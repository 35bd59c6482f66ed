"""The errors module's docstring draws the hierarchy as it is: every class, under its parent,
with the builtin it also derives from."""

from __future__ import annotations

import inspect
import re

import harness.errors as errors

# "    │   └── UnsafeTargetError           ..." -> indent, name, builtin
LINE = re.compile(r"^(?P<indent>[ │├└─]*)(?P<name>[A-Z]\w*Error)\b(?: \((?P<builtin>\w+)\))?")


def drawn() -> dict[str, tuple[str | None, str | None]]:
    """Class name -> (parent drawn above it, builtin named after it)."""
    found: dict[str, tuple[str | None, str | None]] = {}
    stack: list[tuple[int, str]] = []
    for line in (errors.__doc__ or "").splitlines():
        match = LINE.match(line)
        if not match:
            continue
        depth = len(match["indent"])
        while stack and stack[-1][0] >= depth:
            stack.pop()
        found[match["name"]] = (stack[-1][1] if stack else None, match["builtin"])
        stack.append((depth, match["name"]))
    return found


CLASSES = {
    name: cls
    for name, cls in vars(errors).items()
    if inspect.isclass(cls) and issubclass(cls, BaseException) and cls.__module__ == errors.__name__
}


def test_every_error_class_is_drawn_and_nothing_else() -> None:
    assert set(drawn()) == set(CLASSES)


def test_each_class_is_drawn_under_its_parent_with_its_builtin() -> None:
    for name, (parent, builtin) in drawn().items():
        bases = CLASSES[name].__bases__
        ours = [b.__name__ for b in bases if b.__module__ == errors.__name__]
        assert ours == ([parent] if parent else []), name
        builtins = [b.__name__ for b in bases if b.__module__ == "builtins" and b is not Exception]
        assert builtins == ([builtin] if builtin else []), name


def test_every_class_is_exported() -> None:
    assert set(errors.__all__) == set(CLASSES)
