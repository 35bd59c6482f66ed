"""Bounded YAML reading: plain data and the line of every field, from untrusted text.

A scenario file may come from anywhere (a pull request, a fuzzer), so reading it is bounded
before anything is built:

- at most ``MAX_BYTES`` of UTF-8 (other encodings are refused with the line of the bad byte);
- at most ``MAX_DEPTH`` nested collections and ``MAX_NODES`` nodes, counted *after* alias
  expansion, so an alias bomb is stopped at its first few thousand nodes, not after building
  millions;
- plain data only: a tag other than the standard ``!!str``/``!!int``/``!!float``/``!!bool``/
  ``!!null``/``!!map``/``!!seq`` is refused, never constructed (``!!python/...`` included);
- merge keys (``<<: *defaults``) merge as YAML specifies; duplicate keys are errors.

The tree is composed here from ruamel's parser events, iteratively (no recursion), so every
bound is checked as the events arrive. Aliases share the anchored value (pydantic only reads
it); the node bound counts each use in full.

    >>> data, lines = read_yaml("a: 1\\nb: [x, y]\\n", "x.yaml")
    >>> data, lines[("b", 1)]
    ({'a': 1, 'b': ['x', 'y']}, 2)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
)
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.reader import ReaderError

from harness.scenario.base import Path, ScenarioError, located

MAX_BYTES = 1_048_576
MAX_DEPTH = 32
MAX_NODES = 20_000

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null")}
_MERGE = _CORE + "merge"
_TIMESTAMP = _CORE + "timestamp"
_PLAIN_KEY = (
    "a mapping key must be a plain value, not a collection; use a name, number or quoted text"
)
_FIX_SYNTAX = (
    "fix the syntax there (indentation and unclosed quotes or brackets are the usual causes)"
)


def decode(data: bytes, source: str) -> str:
    """``data`` as text: at most ``MAX_BYTES`` of UTF-8 (a leading BOM is dropped)."""
    if len(data) > MAX_BYTES:
        raise located(
            source,
            None,
            f"the file is larger than {MAX_BYTES:,} bytes; a scenario is a small text file "
            "(split a long timeline into several scenarios)",
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        byte = data[error.start : error.start + 1]
        raise located(
            source,
            line,
            f"not UTF-8 text (byte {byte!r} at offset {error.start}); save the file as UTF-8",
        ) from None


def read_yaml(text: str, source: str) -> tuple[Any, dict[Path, int]]:
    """The one YAML document of ``text`` as plain data, and the 1-based line of each path."""
    if len(text) > MAX_BYTES:
        raise located(
            source,
            None,
            f"the text is longer than {MAX_BYTES:,} characters; a scenario is a small text "
            "file (split a long timeline into several scenarios)",
        )
    composer = _Composer(source)
    yaml = YAML(typ="safe", pure=True)
    try:
        for event in yaml.parse(text):
            composer.feed(event, yaml)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        reason = " ".join(str(p) for p in (error.context, error.problem) if p)
        raise located(
            source, mark.line + 1 if mark else None, f"not valid YAML: {reason}; {_FIX_SYNTAX}"
        ) from None
    except ReaderError as error:
        line = text[: error.position].count("\n") + 1
        raise located(
            source,
            line,
            f"not valid YAML: {error.reason}; remove the control character from that line",
        ) from None
    except YAMLError as error:
        raise located(source, None, f"not valid YAML: {error}; {_FIX_SYNTAX}") from None
    return composer.result, composer.lines


@dataclass
class _Frame:
    """A collection being composed."""

    value: dict[str, Any] | list[Any]
    path: Path
    anchor: str | None
    size: int = 1
    key: str | None = None  # a mapping's key waiting for its value
    key_is_merge: bool = False
    key_lines: dict[str, int] = field(default_factory=dict)
    merges: list[dict[str, Any]] = field(default_factory=list)


class _Composer:
    """Builds plain data from parser events, checking every bound as it goes."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.lines: dict[Path, int] = {}
        self.nodes = 0
        self.aliased = 0
        self.documents = 0
        self.result: Any = None

    def fail(self, event: Event, reason: str) -> ScenarioError:
        mark = event.start_mark
        return located(self.source, mark.line + 1 if mark else None, reason)

    def feed(self, event: Event, yaml: YAML) -> None:
        if isinstance(event, DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise self.fail(
                    event,
                    "a scenario file holds one YAML document; found a second: remove the "
                    "'---' line, or split the documents into one file each",
                )
        elif isinstance(event, ScalarEvent):
            self.scalar(event, yaml)
        elif isinstance(event, AliasEvent):
            self.alias(event)
        elif isinstance(event, CollectionStartEvent):
            self.start(event)
        elif isinstance(event, MappingEndEvent | SequenceEndEvent):
            self.end()

    def count(self, event: Event, nodes: int) -> None:
        self.nodes += nodes
        if self.nodes > MAX_NODES:
            why = (
                "aliases count each time they are used: this looks like an alias bomb; "
                "write the values out instead of nesting aliases"
                if self.aliased
                else "a scenario is far smaller: split it into several"
            )
            raise self.fail(event, f"the document holds more than {MAX_NODES:,} values ({why})")

    def path_here(self) -> Path:
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.value, list):
            return (*top.path, len(top.value))
        return (*top.path, top.key if top.key is not None else "")

    def is_key(self) -> bool:
        top = self.stack[-1] if self.stack else None
        return top is not None and isinstance(top.value, dict) and top.key is None

    def scalar(self, event: ScalarEvent, yaml: YAML) -> None:
        self.count(event, 1)
        if self.is_key():
            merge = event.tag is None and event.implicit[0] and event.value == "<<"
            self.set_key(event, event.value, merge)
            return
        value = self.construct(event, yaml)
        self.anchor(event, value, 1)
        self.attach(event, value, 1)

    def construct(self, event: ScalarEvent, yaml: YAML) -> Any:
        tag = None if event.tag is None else str(event.tag)
        if tag == "!":
            tag = _CORE + "str"
        elif tag is None:
            tag = str(yaml.resolver.resolve(ScalarNode, event.value, event.implicit))
        if tag == _TIMESTAMP:
            return event.value  # a date is kept as written; the fields are not dates
        if tag not in _SCALAR_TAGS:
            raise self.refused_tag(event, tag)
        node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
        try:
            return yaml.constructor.construct_object(node, deep=True)
        except (YAMLError, ValueError, OverflowError) as error:
            reason = getattr(error, "problem", None) or str(error)
            raise self.fail(
                event,
                f"cannot read {event.value[:40]!r} as {tag[len(_CORE) :]}: {reason}; "
                "fix the value, or quote it to keep it as text",
            ) from None

    def refused_tag(self, event: Event, tag: str) -> ScenarioError:
        return self.fail(
            event,
            f"the tag {tag!r} is not allowed: a scenario holds plain values (text, numbers, "
            "booleans, lists and mappings); remove the tag",
        )

    def set_key(self, event: Event, text: str, merge: bool = False) -> None:
        top = self.stack[-1]
        if not merge and text in top.value:
            first = top.key_lines.get(text)
            raise self.fail(
                event,
                f"not valid YAML: duplicate key {text!r} (first at line {first}); "
                "keep one of the two",
            )
        top.key, top.key_is_merge = text, merge
        top.size += 1
        line = event.start_mark.line + 1
        top.key_lines[text] = line
        if not merge:
            self.lines[(*top.path, text)] = line

    def alias(self, event: AliasEvent) -> None:
        if event.anchor not in self.anchors:
            raise self.fail(
                event,
                f"not valid YAML: alias *{event.anchor} refers to no anchor defined before it "
                "(or to a collection that contains it); define the anchor &NAME first",
            )
        value, size = self.anchors[event.anchor]
        self.aliased += size
        self.count(event, size)
        if self.is_key():
            if isinstance(value, dict | list):
                raise self.fail(event, _PLAIN_KEY)
            self.set_key(event, str(value))
            return
        self.attach(event, value, size)

    def start(self, event: CollectionStartEvent) -> None:
        self.count(event, 1)
        if self.is_key():
            raise self.fail(event, _PLAIN_KEY)
        wanted = _CORE + ("map" if isinstance(event, MappingStartEvent) else "seq")
        if event.tag is not None and str(event.tag) not in ("!", wanted):
            raise self.refused_tag(event, str(event.tag))
        if len(self.stack) >= MAX_DEPTH:
            raise self.fail(
                event,
                f"nested more than {MAX_DEPTH} levels deep; a scenario needs about 5: "
                "check for unclosed brackets",
            )
        path = self.path_here()
        self.lines.setdefault(path, event.start_mark.line + 1)
        value: dict[str, Any] | list[Any] = {} if isinstance(event, MappingStartEvent) else []
        self.stack.append(_Frame(value, path, event.anchor))

    def end(self) -> None:
        frame = self.stack.pop()
        if isinstance(frame.value, dict):
            for merged in frame.merges:
                for key, item in merged.items():
                    frame.value.setdefault(key, item)
        if frame.anchor is not None:
            self.anchors[frame.anchor] = (frame.value, frame.size)
        self._attach_value(frame.value, frame.size, frame.path, None)

    def anchor(self, event: ScalarEvent, value: Any, size: int) -> None:
        if event.anchor is not None:
            self.anchors[event.anchor] = (value, size)

    def attach(self, event: Event, value: Any, size: int) -> None:
        self._attach_value(value, size, self.path_here(), event)

    def _attach_value(self, value: Any, size: int, path: Path, event: Event | None) -> None:
        if event is not None and event.start_mark is not None:
            self.lines.setdefault(path, event.start_mark.line + 1)
        if not self.stack:
            self.result = value
            return
        top = self.stack[-1]
        top.size += size
        if isinstance(top.value, list):
            top.value.append(value)
            return
        assert top.key is not None
        if top.key_is_merge:
            self.merge_into(top, value, event)
        else:
            top.value[top.key] = value
        top.key = None

    def merge_into(self, top: _Frame, value: Any, event: Event | None) -> None:
        sources = value if isinstance(value, list) else [value]
        if not all(isinstance(s, dict) for s in sources):
            line = top.key_lines.get("<<")
            raise located(
                self.source,
                line,
                "not valid YAML: a merge key '<<' takes a mapping or a list of mappings; "
                "point it at an anchored mapping (<<: *NAME)",
            )
        top.merges.extend(sources)
        del top.key_lines["<<"]


__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "decode", "read_yaml"]
