"""The fault kind interface: what one module under ``harness/faults/kinds/`` provides.

A kind is the action key of a timeline entry (``kill``, ``toxic``...) and everything about it:

    class Kill(NodeFaultKind):
        name = "kill"                      # the YAML key
        settings = NodeTarget              # the pydantic model of its value
        end_field = "restart_after"        # or "duration", "resume_after", None
        history = "process.kill"           # the history's ``kind`` of its window
        undos = (START_NODE,)              # the journaled undo actions it registers
        needs = ("kill", "restart")        # node controls it uses (healing included)

        async def apply(self, settings, ctx, active): ...   # undo registered, then the fault

    KIND = Kill()

``validate`` yields the problems only the whole scenario shows (paths relative to the action's
value); ``targets`` resolves what the fault acts on when it starts; ``apply`` registers every
undo with ``ctx.healer`` *before* the part of the fault it repairs, and appends its token to
``active.tokens``. Blocking calls run on worker threads so the storm's loop never stalls.

Optional, for ``harness explore``: ``explore_settings(options)`` returns a Hypothesis strategy
of settings values (their YAML form) drawn from the kind's options in an ``explore:`` envelope,
and ``explore_problems(options, scenario)`` yields what is wrong with those options (paths
relative to them). A kind without them takes the default: its options' ``targets`` and
``settings`` lists (``harness.scenario.explore``).
"""

from __future__ import annotations

import asyncio
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel

from harness.errors import FaultError
from harness.faults.healing import Healer, Undo, UndoKind
from harness.faults.targets import NodeTarget, check_node_target, proxy_of, resolve
from harness.faults.triggers import Readings
from harness.scenario.base import Problem
from harness.stack import NodeHandle, Stack
from harness.stack.toxiproxy import ToxiproxyClient

if TYPE_CHECKING:
    from harness.scenario import Scenario


class ConsumerControl(Protocol):
    """What a ``consumer_crash`` fault needs from the system under test."""

    async def crash(self) -> None: ...

    async def restart(self) -> None: ...


class DownstreamControl(Protocol):
    """What ``downstream`` faults and network toxics need from an HTTP downstream the harness
    plays (``harness.observe``): its Toxiproxy proxy, and a way to answer badly for a while."""

    @property
    def proxy(self) -> str | None: ...

    def misbehave(self, fault_id: str, settings: Any) -> None: ...

    async def behave(self, fault_id: str) -> None: ...


class WebhookControl(Protocol):
    """What webhook faults need from the run's webhook sender (provider mode)."""

    @property
    def proxy(self) -> str | None: ...

    async def attack(
        self, attack: str, *, label: str, count: int = 1, stale_by: float = 600.0,
        retired: str | None = None,
    ) -> list[Any]: ...  # fmt: skip

    def hold(
        self, fault_id: str, *, late: float | None = None, shuffle: bool = False,
        rng: random.Random | None = None,
    ) -> None: ...  # fmt: skip

    def release(self, fault_id: str) -> int: ...


ENDPOINT = "endpoint"
"""The proxy-fault target naming a webhook endpoint (``toxic``/``proxy_down``)."""


@dataclass
class FaultContext:
    """Everything faults act through. ``downstreams`` are the run's HTTP downstreams by name."""

    stack: Stack
    toxiproxy: ToxiproxyClient
    healer: Healer
    topic: str | None = None
    rng: random.Random = field(default_factory=random.Random)
    consumers: ConsumerControl | None = None
    restart_timeout: float = 120.0
    readings: Readings | None = None
    """What crash triggers watch (effects, committed offsets, lag); None: no triggers."""
    downstreams: Mapping[str, DownstreamControl] = field(default_factory=dict)
    webhook: WebhookControl | None = None
    """The run's webhook sender (provider mode); None otherwise."""

    async def resolve(self, target: NodeTarget | str) -> list[NodeHandle]:
        """The nodes ``target`` names now (partition rules ask the cluster)."""
        return await resolve(target, self.stack, self.topic, self.rng)

    def downstream(self, name: str) -> DownstreamControl:
        """The run's downstream called ``name``; ``FaultError`` if there is none."""
        if name not in self.downstreams:
            raise FaultError(
                f"This run has no downstream named {name!r} (it has "
                f"{', '.join(self.downstreams) or 'none'}); name one of the scenario's "
                "`observe: - downstream:` entries."
            )
        return self.downstreams[name]

    def proxy(self, target: str) -> str:
        """The Toxiproxy proxy in front of ``target``: a node of the stack, a downstream or
        the webhook ``endpoint``."""
        if target == ENDPOINT and self.webhook is not None:
            if self.webhook.proxy is None:
                raise FaultError(
                    "The webhook endpoint has no Toxiproxy proxy in front of it (target.webhook"
                    ".proxy is false), so it takes no network fault; set proxy: true."
                )
            return self.webhook.proxy
        if target not in self.downstreams:
            return proxy_of(self.stack.node(target))
        proxy = self.downstreams[target].proxy
        if proxy is None:
            raise FaultError(
                f"The downstream {target!r} has no Toxiproxy proxy in front of it (the run has "
                "no Toxiproxy), so it takes no toxic; use a `downstream:` fault instead."
            )
        return proxy


@dataclass
class ActiveFault:
    """A fault that has been applied and not yet healed."""

    id: str
    kind: str
    targets: list[str]
    t_start: float
    tokens: list[int] = field(default_factory=list)
    t_end: float | None = None
    fired: bool = True
    """False for a fault whose trigger never fired: nothing was done (``note`` says why)."""
    note: str | None = None
    """Recorded with the window (the history's ``reason``): what fired it, or why it did not."""


class FaultKind(ABC):
    """Base of every fault kind; a kind module exports one instance as ``KIND``."""

    name: ClassVar[str]
    settings: ClassVar[type[BaseModel]]
    end_field: ClassVar[str | None] = None
    history: ClassVar[str]
    undos: ClassVar[tuple[UndoKind, ...]] = ()
    needs: ClassVar[tuple[str, ...]] = ()
    """The node controls it uses (``kill``, ``pause``, ``resume``, ``restart``), healing
    included: a node whose environment lacks one is refused before the run."""

    def history_kind(self, settings: Any) -> str:
        """The history's ``kind`` of this fault's window (``process.kill``, ``toxic.latency``)."""
        return self.history

    def describe(self, settings: Any) -> str:
        """One line for people: ``kill leader_of_partition 0``."""
        return self.name

    def validate(self, settings: Any, scenario: Scenario) -> Iterator[Problem]:
        """Problems of ``settings`` on ``scenario``, paths relative to the action's value."""
        return iter(())

    def environment_problem(self, settings: Any, stack: Stack) -> str | None:
        """Why ``stack`` cannot take this fault at all (checked before the run); None if it can.
        Node controls are ``needs``; this is for what no node command can give."""
        return None

    def max_wait(self, settings: Any) -> float:
        """How long the fault may wait after ``at`` before it acts (a trigger); 0 by default."""
        return 0.0

    async def targets(self, settings: Any, ctx: FaultContext) -> list[str]:
        """The names the fault acts on, resolved when it starts (recorded with its window)."""
        return []

    @abstractmethod
    async def apply(self, settings: Any, ctx: FaultContext, active: ActiveFault) -> None:
        """Do the fault to ``active.targets``, registering each undo first."""

    def __repr__(self) -> str:
        return f"<fault kind {self.name!r}>"


class NodeFaultKind(FaultKind):
    """A kind whose settings are a ``NodeTarget`` (or extend it): checked and resolved alike.

    A kind acting on proxies only (``proxy_targets``) may also target the scenario's HTTP
    downstreams by name, each behind its own proxy.
    """

    settings: ClassVar[type[BaseModel]] = NodeTarget
    proxy_targets: ClassVar[bool] = False

    def describe(self, settings: Any) -> str:
        return f"{self.name} {settings.describe()}"

    def validate(self, settings: Any, scenario: Scenario) -> Iterator[Problem]:
        return check_node_target(scenario, settings, proxies=self.proxy_targets)

    async def targets(self, settings: Any, ctx: FaultContext) -> list[str]:
        if self.proxy_targets and settings.target in ctx.downstreams:
            return [settings.target]
        if self.proxy_targets and settings.target == ENDPOINT and ctx.webhook is not None:
            return [ENDPOINT]
        return [node.name for node in await ctx.resolve(settings)]


async def per_node(
    ctx: FaultContext,
    active: ActiveFault,
    undo_for: Callable[[NodeHandle], Undo],
    act: Callable[[NodeHandle], object],
) -> None:
    """Node by node: register ``undo_for(node)``, then ``act(node)`` on a worker thread."""
    for name in active.targets:
        node = ctx.stack.node(name)
        active.tokens.append(await ctx.healer.register(undo_for(node)))
        await asyncio.to_thread(act, node)


__all__ = [
    "ActiveFault",
    "ConsumerControl",
    "DownstreamControl",
    "ENDPOINT",
    "FaultContext",
    "FaultKind",
    "NodeFaultKind",
    "WebhookControl",
    "per_node",
]
