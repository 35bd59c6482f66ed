"""The recording HTTP downstream: a loopback aiohttp server the harness plays as a service's
downstream API (payments, CRM, a partner's endpoint).

Any method on any path is one call of the API. Each request is correlated to the input event by
``extract(headers, body)`` (the scenario's ``IdField``) and ends as one ``RequestRecord``: its
attempt number for that id, what the downstream did (``applied``, ``replayed``, ``refused``),
the status answered (None: no answer reached the client), any ``Retry-After``, and when it
arrived and was answered. A request answered 2xx is **applied** once, which is an effect.

Like Stripe, a request carrying an idempotency key (``Idempotency-Key`` by default) that was
already applied is not applied again: it gets the first answer back, marked
``Idempotent-Replayed: true``. Without the key, every accepted request is applied: a client that
retries without one applies twice once an answer is lost.

Faults (``harness/faults/kinds/downstream.py``) change the answers for a while: ``misbehave``
starts one, ``behave`` ends it (the newest active one wins). A fault's ``respond`` decides the
status and whether the request is applied; ``delay``, ``slow_body``, ``hang`` and ``drop_response``
how the answer travels.

A ``screen(headers, body)`` (a webhook receiver's signature check) may refuse a request before
any fault or effect: it is answered the screen's status and never applied; what the screen
found is kept in the record's ``extra`` either way. A screen may be a coroutine function (a
bearer-token check that may have to fetch the issuer's keys): it is awaited.

With a ``forward(request, body)`` (the HTTP fault point in front of a webhook target's
endpoint, ``harness/observe/endpoint_front.py``) a request that a fault does not refuse is
passed on and answered with the real endpoint's answer instead of being applied here; a fault
that refuses answers it here, and the endpoint never sees it.

    server = RecordingServer(extract, on_request=rows.append, on_effect=effects.append)
    port = await server.start()       # 127.0.0.1, a free port
    ...
    await server.stop()               # lets held requests go, closes every connection
"""

from __future__ import annotations

import asyncio
import inspect
import json
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

from harness import clock
from harness.safety import check_target

HOST = "127.0.0.1"
IDEMPOTENCY_KEY = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
APPLIED, REPLAYED, REFUSED = "applied", "replayed", "refused"
"""What the downstream did with a request: applied it (an effect), answered it with the answer
of the request its idempotency key first applied, or refused it (a fault's non-2xx answer)."""


class Behaviour(Protocol):
    """A fault's settings as the server reads them (``harness.faults.DownstreamFault``)."""

    @property
    def status(self) -> int: ...

    @property
    def applies(self) -> bool: ...

    @property
    def retry_after_s(self) -> int | None: ...

    @property
    def delay(self) -> float | None: ...

    @property
    def hang(self) -> bool: ...

    @property
    def drop_response(self) -> bool: ...

    @property
    def fraction(self) -> float: ...

    @property
    def slow_body(self) -> float | None: ...


@dataclass(frozen=True)
class Screening:
    """What a screen found in one request: fields for its record, and a refusal (a status) or
    None to let it through."""

    fields: Mapping[str, Any]
    refuse: int | None = None


Screen = Callable[[Mapping[str, str], bytes], "Screening | Awaitable[Screening]"]


@dataclass
class RequestRecord:
    """One request and what became of it. ``status`` None: no answer was sent."""

    id: str
    t: float
    attempt: int
    outcome: str
    status: int | None = None
    retry_after: float | None = None
    t_answer: float | None = None
    fault: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class _Fault:
    id: str
    behaviour: Behaviour
    released: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(frozen=True)
class Answer:
    """An answer to send: status, body, headers."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str | None = "application/json"


Extract = Callable[[Mapping[str, str], bytes], "str | None"]
Forward = Callable[[web.Request, bytes], Awaitable["Answer"]]


class RecordingServer:
    """The downstream: records every request, applies accepted ones, misbehaves on demand."""

    def __init__(
        self,
        extract: Extract,
        on_request: Callable[[RequestRecord], None],
        on_effect: Callable[[RequestRecord], None],
        *,
        idempotency_key: str | None = IDEMPOTENCY_KEY,
        rng: random.Random | None = None,
        host: str = HOST,
        port: int = 0,
        screen: Screen | None = None,
        forward: Forward | None = None,
    ) -> None:
        check_target(host)
        self.host = host
        self._listen_port = port
        self._screen = screen
        self._forward = forward
        self.port: int | None = None
        self._extract = extract
        self._on_request = on_request
        self._on_effect = on_effect
        self._key_header = idempotency_key
        self._rng = rng or random.Random()
        self._faults: dict[str, _Fault] = {}
        self._answers: dict[str, Answer] = {}
        self._attempts: dict[str, int] = {}
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.counts = {
            "requests": 0,
            APPLIED: 0,
            REPLAYED: 0,
            REFUSED: 0,
            "unanswered": 0,
            "unidentified": 0,
        }

    @property
    def url(self) -> str:
        """Where the server listens (direct, not through its proxy)."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> int:
        """Listen on the loopback port asked for (0: a free one); return it."""
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # Cancelled on the client's disconnect: a held request ends when the client gives up.
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=5.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._listen_port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self.port

    async def stop(self) -> None:
        """Let held requests go and close the server. Idempotent."""
        self._stopping.set()
        for fault in self._faults.values():
            fault.released.set()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def misbehave(self, fault_id: str, behaviour: Behaviour) -> None:
        """Answer as ``behaviour`` says until ``behave(fault_id)``; the newest fault wins."""
        self._faults[fault_id] = _Fault(fault_id, behaviour)

    async def behave(self, fault_id: str) -> None:
        """End the fault ``fault_id``: the requests it holds are let go (closed unanswered)."""
        fault = self._faults.pop(fault_id, None)
        if fault is not None:
            fault.released.set()

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no request is being handled; False if some still are after the timeout."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def in_flight(self) -> int:
        return self._in_flight

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        t = clock.now()
        self._enter()
        try:
            body = await request.read()
            event_id = self._extract(request.headers, body)
            if event_id is None:
                self.counts["unidentified"] += 1
                return _json(400, {"error": "no event id found in the request"})
            attempt = self._attempts[event_id] = self._attempts.get(event_id, 0) + 1
            record = RequestRecord(event_id, t, attempt, REFUSED)
            screening = await self._screening(request.headers, body)
            if screening is not None:
                record.extra = screening.fields
                if screening.refuse is not None:
                    answer = Answer(screening.refuse, _body({"error": "request refused"}))
                    return await self._deliver(request, record, answer, None)
            fault = self._fault_now()
            record.fault = fault.id if fault else None
            if self._forward is not None and (fault is None or fault.behaviour.applies):
                record.outcome = APPLIED
                try:
                    answer = await self._forward(request, body)
                except (TimeoutError, OSError, ConnectionError, ForwardFailed):
                    _abort(request)  # the endpoint's connection broke: so does the client's
                    self._finish(record, None)
                    return web.Response(status=499)  # never written
            else:
                answer = self._decide(record, fault, request.headers.get(self._key_header or ""))
            return await self._deliver(request, record, answer, fault)
        finally:
            self._leave()

    async def _screening(self, headers: Mapping[str, str], body: bytes) -> Screening | None:
        if self._screen is None:
            return None
        found = self._screen(headers, body)
        return await found if inspect.isawaitable(found) else found

    def _fault_now(self) -> _Fault | None:
        if not self._faults:
            return None
        fault = next(reversed(self._faults.values()))
        return fault if self._rng.random() < fault.behaviour.fraction else None

    def _decide(self, record: RequestRecord, fault: _Fault | None, key: str | None) -> Answer:
        """What to answer, and whether this request applies its effect (synchronously: two
        requests with one key cannot both apply)."""
        if fault is not None and not fault.behaviour.applies:
            status = fault.behaviour.status
            headers: tuple[tuple[str, str], ...] = ()
            if fault.behaviour.retry_after_s is not None:
                record.retry_after = float(fault.behaviour.retry_after_s)
                headers = (("Retry-After", str(fault.behaviour.retry_after_s)),)
            return Answer(status, _body({"error": f"downstream fault {fault.id}"}), headers)
        if key and key in self._answers:
            record.outcome = REPLAYED
            first = self._answers[key]
            return Answer(first.status, first.body, ((REPLAYED_HEADER, "true"),))
        record.outcome = APPLIED
        status = fault.behaviour.status if fault is not None else 200
        answer = Answer(status, _body({"id": record.id, "status": "applied"}))
        if key:
            self._answers[key] = answer
        self.counts[APPLIED] += 1
        self._on_effect(record)
        return answer

    async def _deliver(
        self, request: web.Request, record: RequestRecord, answer: Answer, fault: _Fault | None
    ) -> web.StreamResponse:
        behaviour = fault.behaviour if fault is not None else None
        try:
            if behaviour is not None and behaviour.delay:
                await self._sleep(behaviour.delay)
            if behaviour is not None and behaviour.hang:
                await fault.released.wait()  # type: ignore[union-attr]
        except asyncio.CancelledError:
            self._finish(record, None)  # the client gave up waiting
            raise
        if behaviour is not None and (behaviour.hang or behaviour.drop_response):
            _abort(request)
            self._finish(record, None)
            return web.Response(status=499)  # never written: the connection is gone
        if behaviour is not None and behaviour.slow_body:
            return await self._trickle(request, record, answer, behaviour.slow_body)
        self._finish(record, answer.status)
        headers = dict(answer.headers)
        return web.Response(
            status=answer.status,
            body=answer.body,
            content_type=answer.content_type,
            headers=headers,
        )

    async def _trickle(
        self, request: web.Request, record: RequestRecord, answer: Answer, seconds: float
    ) -> web.StreamResponse:
        """Send the status and headers now, then the body a byte at a time over ``seconds``;
        recorded when the body is done or the client gave up (it saw the status either way)."""
        response = web.StreamResponse(status=answer.status, headers=dict(answer.headers))
        response.content_type = "application/json"
        response.content_length = len(answer.body)
        try:
            await response.prepare(request)
            pause = seconds / max(1, len(answer.body))
            for at in range(len(answer.body)):
                await self._sleep(pause)
                await response.write(answer.body[at : at + 1])
            await response.write_eof()
        except asyncio.CancelledError:
            self._finish(record, answer.status)
            raise
        except ConnectionError:
            pass  # the client went away mid-body; it had the status
        self._finish(record, answer.status)
        return response

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass

    def _finish(self, record: RequestRecord, status: int | None) -> None:
        record.status = status
        if status is None:
            record.retry_after = None  # never reached the client
        record.t_answer = clock.now()
        self.counts["requests"] += 1
        if record.outcome != APPLIED:
            self.counts[record.outcome] += 1
        if status is None:
            self.counts["unanswered"] += 1
        self._on_request(record)

    def _enter(self) -> None:
        self._in_flight += 1
        self._idle.clear()

    def _leave(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0:
            self._idle.set()


class ForwardFailed(Exception):
    """The forwarded request got no answer (the connection broke or timed out)."""


def _abort(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


def _body(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data).encode()


def _json(status: int, data: Mapping[str, Any]) -> web.Response:
    return web.Response(status=status, body=_body(data), content_type="application/json")


__all__ = [
    "APPLIED",
    "Answer",
    "ForwardFailed",
    "Forward",
    "IDEMPOTENCY_KEY",
    "REFUSED",
    "REPLAYED",
    "REPLAYED_HEADER",
    "Behaviour",
    "RecordingServer",
    "RequestRecord",
    "Screen",
    "Screening",
]
