"""``downstream``: the HTTP downstream the harness plays (``observe: - downstream:``) answers
badly for the fault's duration.

    - at: 5s
      downstream: {name: payments, respond: 503}              # refuse, applying nothing
      duration: 3s
    - at: 10s
      downstream: {name: payments, respond: 429, retry_after: 2s}
      duration: 3s
    - at: 15s
      downstream: {name: payments, respond: 200, drop_response: true}   # apply, lose the answer
      duration: 2s

``respond`` (default 200, the normal answer) decides whether a request is applied (2xx) and what
it is answered; ``delay``, ``slow_body``, ``hang`` and ``drop_response`` decide how the answer
travels: late, slowly (the status and headers at once, then the body a byte at a time over
``slow_body``), never (the connection is held until the client gives up or the fault ends), or
not at all (the connection is closed instead). ``fraction`` of the requests are affected. Healing is the
downstream answering normally again; requests it still holds are let go (closed unanswered).
Network toxics and ``proxy_down`` act on the downstream's own Toxiproxy proxy: name the
downstream as their ``target``.

On a webhook target (provider mode) ``name: endpoint`` acts on the user's endpoint: the run's
HTTP fault point in front of it answers a refusing fault itself (the endpoint never sees those
requests) and forwards everything else.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from harness.errors import FaultError
from harness.faults.healing import LOCAL, Repairs, Undo, UndoKind
from harness.faults.kind import ActiveFault, FaultContext, FaultKind
from harness.scenario.base import Problem, StrictModel
from harness.scenario.durations import Duration

if TYPE_CHECKING:
    from harness.scenario import Scenario

DOWNSTREAM_KIND = "downstream"


class DownstreamFault(StrictModel):
    """How a harness-played downstream misbehaves while the fault lasts."""

    name: str | None = None
    """The downstream (its ``observe`` entry's name); may be left out when there is one."""
    respond: int | None = Field(default=None, ge=200, le=599)
    """The status answered (default 200: normal). 2xx applies the request; others do not."""
    retry_after: Duration | None = None
    """Sent as ``Retry-After`` (whole seconds, rounded up) with a 429 or 5xx answer."""
    delay: Duration | None = None
    """Answer this long after the request arrived."""
    hang: bool = False
    """Never answer: hold the connection until the client gives up or the fault ends."""
    drop_response: bool = False
    """Close the connection instead of answering (after applying, with a 2xx ``respond``)."""
    slow_body: Duration | None = None
    """Send the status and headers at once, then the body slowly, over this long."""
    fraction: float = Field(default=1.0, gt=0.0, le=1.0)
    """The share of requests affected (drawn from the run's seed)."""

    @model_validator(mode="after")
    def _coherent(self) -> DownstreamFault:
        if self.hang and self.drop_response:
            raise ValueError("set hang or drop_response, not both (one answer is never sent)")
        if self.slow_body and (self.hang or self.drop_response):
            raise ValueError(
                "slow_body sends an answer: it goes with neither hang nor drop_response"
            )
        if self.retry_after is not None and self.status < 300:
            raise ValueError(
                "retry_after goes with a refusal: set respond to 429 or a 5xx status "
                "(Retry-After on a success tells the client nothing)"
            )
        if self.respond is None and not (
            self.delay or self.slow_body or self.hang or self.drop_response
        ):
            raise ValueError(
                "the fault changes nothing: set respond (e.g. 503), delay, slow_body, hang or "
                "drop_response"
            )
        return self

    @property
    def status(self) -> int:
        """The status this fault answers (200, the normal answer, unless ``respond`` says)."""
        return 200 if self.respond is None else self.respond

    @property
    def applies(self) -> bool:
        """Whether a request this fault answers is applied (its answer is a 2xx)."""
        return 200 <= self.status < 300

    @property
    def retry_after_s(self) -> int | None:
        """The ``Retry-After`` header's value: whole seconds, rounded up."""
        if self.retry_after is None:
            return None
        return int(-(-self.retry_after // 1))

    def what(self) -> str:
        """``503``, ``429 retry-after 2s``, ``200 drop_response``, ``hang``..."""
        parts = [] if self.respond is None else [str(self.respond)]
        if self.retry_after_s is not None:
            parts.append(f"retry-after {self.retry_after_s}s")
        if self.delay:
            parts.append(f"delay {self.delay:g}s")
        if self.slow_body:
            parts.append(f"slow_body {self.slow_body:g}s")
        parts += [name for name in ("hang", "drop_response") if getattr(self, name)]
        if self.fraction < 1.0:
            parts.append(f"fraction {self.fraction:g}")
        return " ".join(parts)


HTTP_ENDPOINT_KINDS = (DOWNSTREAM_KIND, "webhook_receiver")
"""The ``observe`` kinds the harness plays as an HTTP endpoint: what these faults act on."""


WEBHOOK_ENDPOINT = "endpoint"
"""A webhook target's endpoint: the run's HTTP fault point in front of it answers these faults
(``harness/observe/endpoint_front.py``)."""


PUSH_RECEIVER = "push"
"""A Pub/Sub push subscription's receiver, which the harness runs
(``harness/observe/pubsub_push.py``)."""


def downstream_names(scenario: Scenario) -> list[str]:
    """The names of the HTTP endpoints these faults act on: those the scenario has the harness
    play (``observe`` entries of kind ``downstream`` or ``webhook_receiver``), a webhook
    target's ``endpoint`` and a Pub/Sub push subscription's receiver (``push``)."""
    endpoint = [WEBHOOK_ENDPOINT] if scenario.target.webhook is not None else []
    pubsub = scenario.target.pubsub
    if pubsub is not None and pubsub.push is not None:
        endpoint.append(PUSH_RECEIVER)
    return [*endpoint, *(e.source_name for e in scenario.observe if e.kind in HTTP_ENDPOINT_KINDS)]


def _delete_proxy(undo: Undo, repairs: Repairs) -> None:
    if undo.target in repairs.toxiproxy.proxies():
        repairs.toxiproxy.delete_proxy(undo.target)


DELETE_PROXY = UndoKind(
    "delete_proxy", lambda u: f"delete the Toxiproxy proxy {u.target}", _delete_proxy
)
"""The undo of a downstream's proxy (created for one run), so ``harness heal`` removes it."""


class DownstreamFaultKind(FaultKind):
    name = "downstream"
    settings = DownstreamFault
    end_field = "duration"
    history = "downstream"
    undos = (DELETE_PROXY,)

    def history_kind(self, settings: Any) -> str:
        if settings.hang:
            return "downstream.hang"
        if settings.drop_response:
            return "downstream.drop_response"
        if settings.slow_body:
            return "downstream.slow_body"
        return f"downstream.{settings.respond}" if settings.respond else "downstream.delay"

    def describe(self, settings: Any) -> str:
        return f"downstream {settings.name or ''} answers {settings.what()}".replace("  ", " ")

    def validate(self, settings: Any, scenario: Scenario) -> Iterator[Problem]:
        names = downstream_names(scenario)
        if not names:
            yield Problem(
                (),
                "needs a downstream to act on: add an `observe: - downstream: {env: ...}` "
                "entry to the scenario (or use a webhook target: name: endpoint)",
            )
        elif settings.name is None and len(names) > 1:
            yield Problem(("name",), f"several downstreams: name one of {', '.join(names)}")
        elif settings.name is not None and settings.name not in names:
            yield Problem(
                ("name",), f"no downstream is named {settings.name!r} (known: {', '.join(names)})"
            )

    async def targets(self, settings: Any, ctx: FaultContext) -> list[str]:
        if settings.name is not None:
            return [settings.name]
        if len(ctx.downstreams) == 1:
            return list(ctx.downstreams)
        raise FaultError(
            f"The downstream fault names no downstream and this run has {len(ctx.downstreams)} "
            f"({', '.join(ctx.downstreams) or 'none'}); set `name:` to one of them."
        )

    async def apply(self, settings: Any, ctx: FaultContext, active: ActiveFault) -> None:
        for name in active.targets:
            control = ctx.downstream(name)
            undo = Undo(LOCAL, f"downstream {name}", callback=_behave(control, active.id))
            active.tokens.append(await ctx.healer.register(undo))
            control.misbehave(active.id, settings)


def _behave(control: Any, fault_id: str) -> Any:
    async def behave() -> None:
        await control.behave(fault_id)

    return behave


KIND = DownstreamFaultKind()

__all__ = [
    "DELETE_PROXY",
    "DOWNSTREAM_KIND",
    "HTTP_ENDPOINT_KINDS",
    "KIND",
    "PUSH_RECEIVER",
    "DownstreamFault",
    "DownstreamFaultKind",
    "downstream_names",
]
