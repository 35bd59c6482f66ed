"""``key_rotation``: the OAuth2 issuer signs with a new key from now on.

- at: 4s
  key_rotation: {target: oauth}

The stack gives the issuer a new RSA key and restarts it; its JWKS then holds only the new key,
under the same ``kid``. Tokens issued before still carry the old key's signature: a verifier
refuses them, and a client that retries a 401 once with a fresh token loses nothing. An
endpoint that caches the JWKS forever refuses every token issued after. The new key stays:
nothing is left to heal but a restart that did not finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from harness.errors import FaultError
from harness.faults.healing import Undo
from harness.faults.kind import ActiveFault, FaultContext, NodeFaultKind
from harness.faults.kinds.kill import START_NODE
from harness.faults.targets import OAUTH_NODE
from harness.scenario.base import Problem
from harness.stack import oauth

if TYPE_CHECKING:
    from harness.scenario import Scenario


class KeyRotation(NodeFaultKind):
    name = "key_rotation"
    history = "issuer.key_rotation"
    undos = (START_NODE,)
    needs = ("restart",)

    def validate(self, settings: Any, scenario: Scenario) -> Iterator[Problem]:
        if settings.target != OAUTH_NODE:
            yield Problem(("target",), f"rotates the OAuth2 issuer's key: the target is {OAUTH_NODE}")
        elif not scenario.uses_oauth:
            yield Problem(("target",), "the run takes no tokens from the issuer (give target.webhook.oauth)")

    async def apply(self, settings: Any, ctx: FaultContext, active: ActiveFault) -> None:
        for name in active.targets:
            node = ctx.stack.node(name)
            if node.kind != oauth.KIND:
                raise FaultError(f"key_rotation: {name} is not the stack's OAuth2 issuer")
            token = await ctx.healer.register(Undo("start_node", node.name))
            await asyncio.to_thread(oauth.rotate_key, node.state)
            await asyncio.to_thread(node.restart, ctx.restart_timeout)
            await ctx.healer.discard(token)


KIND = KeyRotation()

__all__ = ["KIND", "KeyRotation"]
