"""``partition``: cut the Kafka brokers' replication and controller traffic in one of Jepsen's
nemesis shapes, healed at ``duration``. Client traffic (through Toxiproxy) is never cut.

- at: 10s
  partition: {shape: isolate, target: leader_of_partition, partition: 0}
  duration: 20s
- at: 10s
  partition: {shape: isolate, target: controller_leader}
  duration: 15s
- at: 5s
  partition: {shape: ring}          # halves, majority, bridge, ring: nodes shuffled by the seed
  duration: 10s

The cut is made by ``harness.stack.netcut`` (one cgroup per broker, iptables rules in the
harness's own chain); its undo removes the fault's rules, and ``harness heal`` flushes the
whole chain as well.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from harness.errors import FaultError, StackError
from harness.faults import grudges
from harness.faults.healing import Repairs, Undo, UndoKind
from harness.faults.kind import ActiveFault, FaultContext, FaultKind
from harness.faults.targets import (
    ALL,
    PARTITION_TARGETS,
    RANDOM_BROKER,
    NodeTarget,
    check_node_target,
)
from harness.scenario.base import Problem, StrictModel
from harness.scenario.explore import check_settings, target_value
from harness.stack import Stack, netcut
from harness.stack.quorum import controller_leader

if TYPE_CHECKING:
    from harness.scenario import Scenario

CONTROLLER_LEADER = "controller_leader"
Shape = Literal["isolate", "halves", "majority", "bridge", "ring"]
SHAPES: tuple[str, ...] = ("isolate", "halves", "majority", "bridge", "ring")
"""Simplest first: explore's shrinking prefers the shapes listed earlier."""
EXPLORE_OPTIONS = ("shapes", "targets")


class Partition(StrictModel):
    """Which brokers stop hearing which: a Jepsen shape, and for ``isolate`` the node cut off."""

    shape: Shape
    target: str | None = None
    """``isolate`` only: a broker, ``random_broker`` (the default), ``leader_of_partition``
    (with ``partition``) or ``controller_leader`` (the KRaft quorum's leader)."""
    partition: int | None = Field(default=None, ge=0)
    action: Literal["drop", "reject"] = "drop"
    """``drop`` (silence, as a real partition) or ``reject`` (peers see errors at once)."""

    def describe(self) -> str:
        if self.shape != "isolate":
            return self.shape
        target = self.target or RANDOM_BROKER
        where = target if self.partition is None else f"{target} {self.partition}"
        return f"isolate {where}"


def _heal_partition(undo: Undo, repairs: Repairs) -> None:
    netcut.remove(undo.detail)


HEAL_PARTITION = UndoKind(
    "heal_partition",
    lambda u: f"remove the network cut {u.detail} between {u.target}",
    _heal_partition,
)


class PartitionKind(FaultKind):
    name = "partition"
    settings = Partition
    end_field = "duration"
    history = "partition"
    undos = (HEAL_PARTITION,)

    def history_kind(self, settings: Any) -> str:
        return f"partition.{settings.shape}"

    def describe(self, settings: Any) -> str:
        return f"partition: {settings.describe()}"

    def validate(self, settings: Any, scenario: Scenario) -> Iterator[Problem]:
        if scenario.target.kafka is None:
            yield Problem(
                ("shape",), "partitions cut Kafka brokers apart; this target is not Kafka"
            )
            return
        if settings.shape != "isolate":
            if settings.target is not None:
                yield Problem(("target",), f"applies only to shape isolate, not {settings.shape}")
            if settings.partition is not None:
                yield Problem(("partition",), "applies only to shape isolate")
            return
        target = settings.target or RANDOM_BROKER
        if target == CONTROLLER_LEADER:
            if settings.partition is not None:
                yield Problem(
                    ("partition",), f"applies only to targets {' and '.join(PARTITION_TARGETS)}"
                )
            return
        if target == ALL or target == "followers_of_partition":
            yield Problem(
                ("target",), "isolate cuts off one broker: name one, or a rule choosing one"
            )
            return
        spec = NodeTarget(target=target, partition=settings.partition)
        yield from check_node_target(scenario, spec)

    async def targets(self, settings: Any, ctx: FaultContext) -> list[str]:
        """``isolate``: the node cut off. Other shapes: every broker, in the seeded order the
        shape is laid over."""
        brokers = sorted(node.name for node in ctx.stack.kafka_nodes())
        if len(brokers) < 2:
            raise FaultError(
                f"A partition needs at least 2 Kafka brokers; this stack has {len(brokers)}. Run "
                "`harness stack up --kafka-brokers 3`."
            )
        if settings.shape != "isolate":
            ctx.rng.shuffle(brokers)
            return brokers
        target = settings.target or RANDOM_BROKER
        if target == CONTROLLER_LEADER:
            return [(await controller_leader(ctx.stack)).name]
        spec = NodeTarget(target=target, partition=settings.partition)
        return [node.name for node in await ctx.resolve(spec)]

    def explore_settings(self, options: Mapping[str, Any]) -> Any:
        """``harness explore``'s strategy: a shape from ``shapes`` (all five, simplest first,
        by default) and, for ``isolate``, a node from ``targets`` (default ``random_broker``)."""
        from hypothesis import strategies as st

        def settings(shape: str, target: Any) -> dict[str, Any]:
            return (
                {"shape": shape, **target_value(target)} if shape == "isolate" else {"shape": shape}
            )

        targets = st.sampled_from(list(options.get("targets") or [RANDOM_BROKER]))
        shapes = st.sampled_from(list(options.get("shapes") or SHAPES))
        return st.builds(settings, shapes, targets)

    def explore_problems(self, options: Mapping[str, Any], scenario: Scenario) -> Iterator[Problem]:
        for key in options:
            if key not in EXPLORE_OPTIONS:
                yield Problem((str(key),), f"unknown option (known: {', '.join(EXPLORE_OPTIONS)})")
        shapes, targets = options.get("shapes") or list(SHAPES), options.get("targets") or []
        for name, values in (("shapes", shapes), ("targets", targets)):
            if not isinstance(values, list):
                yield Problem((name,), "must be a list")
                return
        if targets and "isolate" not in shapes:
            yield Problem(("targets",), "only shape isolate takes a target; list isolate too")
        for index, shape in enumerate(shapes):
            if shape not in SHAPES:
                yield Problem(
                    ("shapes", index), f"unknown shape {shape!r}; use {', '.join(SHAPES)}"
                )
            elif shape != "isolate":
                yield from check_settings(self, {"shape": shape}, scenario, ("shapes", index))
        for index, target in enumerate(targets):
            value = {"shape": "isolate", **target_value(target)}
            yield from check_settings(self, value, scenario, ("targets", index))

    def environment_problem(self, settings: Any, stack: Stack) -> str | None:
        if stack.state.backend == "local":
            return None
        return (
            "partitions cut the local stack's broker processes apart (a cgroup per broker, "
            f"iptables on this host); this stack runs on the {stack.state.backend!r} backend, "
            "whose brokers the harness cannot reach that way. Use `harness stack up` (local)."
        )

    async def apply(self, settings: Any, ctx: FaultContext, active: ActiveFault) -> None:
        stack = ctx.stack
        refused = self.environment_problem(settings, stack)
        if refused:
            raise FaultError(refused[0].upper() + refused[1:])
        brokers = sorted(node.name for node in stack.kafka_nodes())
        if settings.shape == "isolate":
            grudge = grudges.grudge("isolate", brokers, active.targets[0])
        else:
            grudge = grudges.grudge(settings.shape, active.targets)
        tag = f"{active.id}-{uuid.uuid4().hex[:6]}"
        active.note = grudges.describe(grudge)
        active.tokens.append(
            await ctx.healer.register(Undo("heal_partition", ",".join(brokers), tag))
        )
        # The rules land in one transaction on a worker thread that a cancellation cannot
        # stop; wait for it even when cancelled, so the heal that follows finds them all.
        cut = asyncio.ensure_future(
            asyncio.to_thread(_cut, stack, brokers, grudge, tag, settings.action)
        )
        try:
            await asyncio.shield(cut)
        except asyncio.CancelledError:
            await asyncio.wait([cut])
            raise


def _cut(stack: Stack, brokers: list[str], grudge: grudges.Grudge, tag: str, action: str) -> None:
    peers: dict[str, netcut.Peer] = {}
    for name in brokers:
        node = stack.node(name)
        if node.pid is None or not node.is_alive():
            raise FaultError(f"Cannot partition {name}: it is not running (heal it first).")
        try:
            cgroup = netcut.check_enclosed(node.pid, name, node.state.cgroup)
        except StackError as error:
            raise FaultError(str(error)) from error
        ports = (node.ports["internal"], node.ports["controller"])
        peers[name] = netcut.Peer(name, int(name.rsplit("-", 1)[1]), cgroup, ports)
    netcut.apply(netcut.cut_rules(grudge, peers, tag, action))


KIND = PartitionKind()

__all__ = ["CONTROLLER_LEADER", "HEAL_PARTITION", "KIND", "Partition", "PartitionKind"]
