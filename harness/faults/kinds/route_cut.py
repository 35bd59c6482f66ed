"""``route_cut``: cut a NATS node off from its cluster by disabling every route proxy that
carries its routes (to and from each peer), while its client proxy stays up.

- at: 5s
  route_cut: {target: nats-1}
  duration: 6s

The node keeps serving the clients connected to it, but sees no peer: with JetStream R3 it is
a minority of one (its streams cannot reach a quorum, so publishes to it time out) and core
NATS messages published on it reach no subscriber on the other nodes. Healing re-enables the
proxies and the routes reconnect within a second.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from harness.errors import FaultError
from harness.faults.healing import Undo
from harness.faults.kind import ActiveFault, FaultContext, NodeFaultKind
from harness.faults.kinds.proxy_down import ENABLE_PROXY
from harness.scenario.base import Problem

if TYPE_CHECKING:
    from harness.scenario import Scenario
    from harness.stack import Stack


class RouteCut(NodeFaultKind):
    name = "route_cut"
    end_field = "duration"
    history = "nats.route_cut"
    undos = (ENABLE_PROXY,)

    def validate(self, settings: Any, scenario: Scenario) -> Iterator[Problem]:
        if scenario.target.nats is None:
            yield Problem((), "route_cut cuts NATS cluster routes; this scenario targets "
                              f"{scenario.target.kind}")  # fmt: skip
            return
        yield from super().validate(settings, scenario)

    def environment_problem(self, settings: Any, stack: Stack) -> str | None:
        if stack.env is None:
            return None
        target = getattr(settings, "target", None)
        if (
            isinstance(target, str)
            and target in stack.nodes
            and not stack.nats_route_proxies(target)
        ):
            return (
                f"{stack.path} names no route proxies for {target}; list the Toxiproxy proxies "
                f"that carry its cluster routes under nats.nodes.{target}.routes"
            )
        return None

    async def apply(self, settings: Any, ctx: FaultContext, active: ActiveFault) -> None:
        count = ctx.stack.nats_node_count
        if count < 2:
            raise FaultError(
                f"route_cut needs a NATS cluster; this stack runs {count} NATS node(s). Start "
                "one with `harness stack up --with nats --nats-nodes 3`."
            )
        for target in active.targets:
            proxies = ctx.stack.nats_route_proxies(target)
            if not proxies:
                raise FaultError(
                    f"route_cut found no route proxies for {target}; name them in the env "
                    f"file under nats.nodes.{target}.routes"
                )
            for proxy in proxies:
                active.tokens.append(await ctx.healer.register(Undo("enable_proxy", proxy)))
                await asyncio.to_thread(ctx.toxiproxy.disable, proxy)


KIND = RouteCut()

__all__ = ["KIND", "RouteCut"]
