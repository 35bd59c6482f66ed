"""Apply one fault of the timeline, registering its undo with the healer first.

Each action returns an ``ActiveFault``: what it did, to which nodes, and the healer tokens
that end it. Blocking calls (Toxiproxy's HTTP API, signals, waiting for a broker to serve again)
run on worker threads so the storm's event loop never stalls.
"""

from __future__ import annotations

import asyncio
import random
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from harness import clock
from harness.errors import FaultError
from harness.faults.healing import Healer, Undo, UndoAction, Undoer
from harness.faults.targets import proxy_of, resolve
from harness.scenario.faults import Fault
from harness.stack import NodeHandle, Stack, process
from harness.stack.toxiproxy import ToxicSpec, ToxiproxyClient


class ConsumerControl(Protocol):
    """What a ``consumer_crash`` fault needs from the system under test."""

    async def crash(self) -> None: ...

    async def restart(self) -> None: ...


@dataclass
class FaultContext:
    """Everything faults act through."""

    stack: Stack
    toxiproxy: ToxiproxyClient
    healer: Healer
    topic: str | None = None
    rng: random.Random = field(default_factory=random.Random)
    consumers: ConsumerControl | None = None
    restart_timeout: float = 120.0


Action = Callable[[Fault, str, list[NodeHandle], "FaultContext", "ActiveFault"], Awaitable[None]]


@dataclass
class ActiveFault:
    """A fault that has been applied and not yet healed."""

    id: str
    kind: str
    targets: list[str]
    t_start: float
    tokens: list[int] = field(default_factory=list)
    t_end: float | None = None


def fault_kind(fault: Fault) -> str:
    """The history's ``kind`` of a fault: ``toxic.latency``, ``process.kill``, ``proxy.down``..."""
    if fault.toxic is not None:
        return f"toxic.{fault.toxic.type.value}"
    return {
        "proxy_down": "proxy.down",
        "kill": "process.kill",
        "pause": "process.pause",
        "restart": "process.restart",
        "rolling_restart": "process.rolling_restart",
        "consumer_crash": "consumer.crash",
        "duplicate": "producer.duplicate",
    }[fault.action]


async def apply(
    fault: Fault,
    fault_id: str,
    ctx: FaultContext,
    on_start: Callable[[ActiveFault], None] = lambda active: None,
) -> ActiveFault:
    """Apply ``fault`` now; every undo is registered before its part of the fault happens.

    ``on_start`` receives the ``ActiveFault`` before any part of it is applied, so a caller
    interrupted while the fault is being applied (a pause waits for the process to stop) still
    knows, and records, the fault's window.
    """
    action = _ACTIONS[fault.action]
    nodes = await _targets(fault, ctx)
    active = ActiveFault(fault_id, fault_kind(fault), [n.name for n in nodes], clock.now())
    on_start(active)
    await action(fault, fault_id, nodes, ctx, active)
    return active


async def heal(active: ActiveFault, ctx: FaultContext) -> None:
    """End ``active`` by running its undos, newest first."""
    for token in reversed(active.tokens):
        await ctx.healer.heal(token)
    active.t_end = clock.now()


async def _targets(fault: Fault, ctx: FaultContext) -> list[NodeHandle]:
    if fault.consumer_crash is not None or fault.duplicate is not None:
        return []
    if fault.rolling_restart is not None:
        names = fault.rolling_restart.targets
        if names == "all":
            return await resolve("all", ctx.stack, ctx.topic, ctx.rng)
        return [ctx.stack.node(name) for name in names]
    target = getattr(fault, fault.action)
    return await resolve(target, ctx.stack, ctx.topic, ctx.rng)


async def _toxic(
    fault: Fault, fault_id: str, nodes: list[NodeHandle], ctx: FaultContext, active: ActiveFault
) -> None:
    toxic = fault.toxic
    assert toxic is not None
    spec = ToxicSpec(toxic.type, dict(toxic.attributes))
    name = f"harness-{fault_id}"
    for node in nodes:
        proxy = proxy_of(node)
        active.tokens.append(await ctx.healer.register(Undo("remove_toxic", proxy, name)))
        await asyncio.to_thread(
            ctx.toxiproxy.add_toxic, proxy, spec, toxic.stream.value, toxic.toxicity, name
        )


def _per_node(undo_action: UndoAction, act: Callable[[NodeHandle, FaultContext], None]) -> Action:
    """An action that, node by node, registers ``undo_action`` then does ``act`` (blocking)."""

    async def action(
        fault: Fault, fault_id: str, nodes: list[NodeHandle], ctx: FaultContext, active: ActiveFault
    ) -> None:
        for node in nodes:
            target = proxy_of(node) if undo_action == "enable_proxy" else node.name
            active.tokens.append(await ctx.healer.register(Undo(undo_action, target)))
            await asyncio.to_thread(act, node, ctx)

    return action


async def _restart(
    fault: Fault, fault_id: str, nodes: list[NodeHandle], ctx: FaultContext, active: ActiveFault
) -> None:
    """Restart each node in turn, the next only once the previous serves again."""
    for node in nodes:
        token = await ctx.healer.register(Undo("start_node", node.name))
        await asyncio.to_thread(node.restart, ctx.restart_timeout)
        await ctx.healer.discard(token)


async def _consumer_crash(
    fault: Fault, fault_id: str, nodes: list[NodeHandle], ctx: FaultContext, active: ActiveFault
) -> None:
    consumers = ctx.consumers
    if consumers is None:
        raise FaultError("consumer_crash needs a consumer the harness controls; this run has none.")
    undo = Undo("local", "the consumer", callback=consumers.restart)
    active.tokens.append(await ctx.healer.register(undo))
    active.targets = ["consumer"]
    await consumers.crash()


async def _duplicate(
    fault: Fault, fault_id: str, nodes: list[NodeHandle], ctx: FaultContext, active: ActiveFault
) -> None:
    """Nothing to do to the stack: the storm was built with this window's re-sends (so a seed
    replays them); the timeline only records the window."""
    active.targets = ["producer"]


_ACTIONS: dict[str, Action] = {
    "toxic": _toxic,
    "proxy_down": _per_node(
        "enable_proxy", lambda node, ctx: ctx.toxiproxy.disable(proxy_of(node))
    ),
    "kill": _per_node("start_node", lambda node, ctx: node.kill()),
    "pause": _per_node("resume_node", lambda node, ctx: node.pause()),
    "restart": _restart,
    "rolling_restart": _restart,
    "consumer_crash": _consumer_crash,
    "duplicate": _duplicate,
}


def undo_on_stack(
    stack: Stack, toxiproxy: ToxiproxyClient, restart_timeout: float = 120.0
) -> Undoer:
    """The ``Undoer`` that repairs journaled faults on ``stack`` (also used by ``harness heal``)."""

    def run(undo: Undo) -> None:
        if undo.action == "remove_toxic":
            present = {t.name for t in toxiproxy.toxics(undo.target)}
            if undo.detail in present:
                toxiproxy.remove_toxic(undo.target, undo.detail)
        elif undo.action == "enable_proxy":
            toxiproxy.enable(undo.target)
        elif undo.action == "resume_node":
            node = stack.node(undo.target)
            if node.is_paused():
                node.resume()
        elif undo.action == "start_node":
            node = stack.node(undo.target)
            if node.is_paused():
                node.resume()
            if not node.is_alive():
                node.restart(restart_timeout)
        elif undo.action == "stop_process":
            pid, _, ticks = undo.detail.partition(":")
            if process.is_running(int(pid), int(ticks)):
                process.signal_group(int(pid), signal.SIGKILL)
        else:
            raise FaultError(f"{undo.describe()} can only be done by the run that crashed it.")

    async def undoer(undo: Undo) -> None:
        await asyncio.to_thread(run, undo)

    return undoer


__all__ = [
    "ActiveFault",
    "ConsumerControl",
    "FaultContext",
    "apply",
    "fault_kind",
    "heal",
    "undo_on_stack",
]
