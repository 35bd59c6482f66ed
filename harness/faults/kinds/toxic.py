"""``toxic``: a Toxiproxy toxic on the proxy in front of the target node(s).

- at: 10s
  toxic: {type: latency, target: kafka-1, attributes: {latency: 300, jitter: 20}}
  duration: 20s
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pydantic import Field

from harness.faults.healing import Repairs, Undo, UndoKind
from harness.faults.kind import ActiveFault, FaultContext, NodeFaultKind
from harness.faults.targets import NodeTarget
from harness.scenario.base import Problem
from harness.stack.toxiproxy import ToxicSpec
from harness.vocabulary import Stream, ToxicType

if TYPE_CHECKING:
    from harness.scenario import Scenario

# Toxiproxy's attributes per toxic: name -> required (True) or optional (False).
TOXIC_ATTRIBUTES: dict[ToxicType, dict[str, bool]] = {
    ToxicType.LATENCY: {"latency": True, "jitter": False},
    ToxicType.BANDWIDTH: {"rate": True},
    ToxicType.TIMEOUT: {"timeout": False},
    ToxicType.RESET_PEER: {"timeout": False},
    ToxicType.SLOW_CLOSE: {"delay": True},
    ToxicType.SLICER: {"average_size": True, "size_variation": False, "delay": False},
    ToxicType.LIMIT_DATA: {"bytes": True},
}


class Toxic(NodeTarget):
    """A Toxiproxy toxic on the proxy in front of the target broker(s)."""

    type: ToxicType
    stream: Stream = Stream.DOWNSTREAM
    toxicity: float = Field(default=1.0, ge=0.0, le=1.0)
    attributes: dict[str, int] = Field(default_factory=dict)


def _remove_toxic(undo: Undo, repairs: Repairs) -> None:
    present = {t.name for t in repairs.toxiproxy.toxics(undo.target)}
    if undo.detail in present:
        repairs.toxiproxy.remove_toxic(undo.target, undo.detail)


REMOVE_TOXIC = UndoKind(
    "remove_toxic",
    lambda u: f"remove toxic {u.detail!r} from proxy {u.target}",
    _remove_toxic,
)


class ToxicKind(NodeFaultKind):
    name = "toxic"
    settings = Toxic
    end_field = "duration"
    history = "toxic"
    undos = (REMOVE_TOXIC,)
    proxy_targets = True

    def history_kind(self, settings: Any) -> str:
        return f"toxic.{settings.type.value}"

    def describe(self, settings: Any) -> str:
        return f"{settings.type.value} toxic on {settings.describe()}"

    def validate(self, settings: Any, scenario: Scenario) -> Iterator[Problem]:
        yield from super().validate(settings, scenario)
        yield from _attribute_problems(settings)

    async def apply(self, settings: Any, ctx: FaultContext, active: ActiveFault) -> None:
        spec = ToxicSpec(settings.type, dict(settings.attributes))
        name = f"harness-{active.id}"
        for target in active.targets:
            proxy = ctx.proxy(target)
            active.tokens.append(await ctx.healer.register(Undo("remove_toxic", proxy, name)))
            await asyncio.to_thread(
                ctx.toxiproxy.add_toxic,
                proxy,
                spec,
                settings.stream.value,
                settings.toxicity,
                name,
            )


def _attribute_problems(toxic: Toxic) -> Iterator[Problem]:
    schema = TOXIC_ATTRIBUTES[toxic.type]
    kind = toxic.type.value
    for name, value in toxic.attributes.items():
        if name not in schema:
            yield Problem(
                ("attributes", name),
                f"not an attribute of a {kind} toxic (known: {', '.join(schema)})",
            )
        elif value < 0:
            yield Problem(("attributes", name), "must be >= 0")
    for name, required in schema.items():
        if required and name not in toxic.attributes:
            yield Problem(("attributes",), f"a {kind} toxic needs '{name}'")


KIND = ToxicKind()

__all__ = ["KIND", "REMOVE_TOXIC", "TOXIC_ATTRIBUTES", "Toxic", "ToxicKind"]
