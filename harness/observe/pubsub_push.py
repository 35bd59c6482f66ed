"""The push receiver: the built-in consumer of a Pub/Sub push subscription (``push:``).

    target:
      pubsub: {topic: orders, push: {}}     # or push: {port: 18090, path: /hooks/pubsub}

The harness runs the endpoint the emulator pushes to: the recording HTTP server of the
webhook and downstream work (``harness/observe/http_server.py``) on loopback, and points the
run's subscription at it (``push_config``). The emulator POSTs each message as JSON
(``{"message": {"messageId", "attributes", "data" (base64)}, "subscription"}``); an answer
2xx acks it, any other answer (or none: a reset, a timeout, a dropped connection) means the
emulator delivers it again, about a second later.

Every push request is one ``recv`` row in the pull consumer's vocabulary: the Pub/Sub message
id as the position (``msg_id``, and ``partition`` 0 / ``offset`` when numeric), the
subscription as ``queue``, the attempt number per message id (``redelivered`` from the second).
A poison message is acked (200) and recorded ``dead_letter``; any other message answered 2xx
gets its effect (``harness.drivers.effects``): once per id in ``correct`` mode, on every
accepted copy in ``buggy`` mode.

``downstream:`` faults named ``push`` make the receiver answer 500, 503, slowly, never, or drop
the answer after applying, the same settings as a downstream's; nothing else is needed to get
redeliveries. There is no Toxiproxy proxy between the emulator and the receiver: network
toxics act on the emulator's own client proxy (``pubsub``), not on pushes.

``crash()`` stops the server (pushes fail, so they come back); ``restart()`` listens again on
the same port, so the subscription's endpoint stays right.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness import clock
from harness.drivers import EffectMode, Recorder
from harness.drivers._types import EffectStore
from harness.drivers.effects import EffectApplier
from harness.drivers.pubsub import position
from harness.drivers.pubsub_consumer import decode_pubsub_message, message_identity
from harness.drivers.pubsub_target import PubsubTarget, ensure_topology, set_push_endpoint
from harness.faults.kinds.downstream import PUSH_RECEIVER
from harness.observe.http_server import RecordingServer, RequestRecord, Screening
from harness.safety import check_target

POISON_STATUS = 200
"""A poison message is acked (and dead-lettered), so it is not pushed forever."""


@dataclass(frozen=True)
class PushReceiverConfig:
    target: PubsubTarget
    mode: EffectMode = EffectMode.CORRECT
    host: str = "127.0.0.1"
    port: int = 0
    path: str = "/pubsub/push"
    effect_store: Path | None = None
    name: str = "pubsub-push"


def pushed_message(body: bytes) -> Mapping[str, Any] | None:
    """The ``message`` object of a push request's JSON body; None if it has none."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    message = document.get("message") if isinstance(document, dict) else None
    return message if isinstance(message, dict) else None


def pushed_id(message: Mapping[str, Any]) -> str | None:
    """The Pub/Sub message id (``messageId``, or ``message_id`` as the emulator also sends)."""
    found = message.get("messageId") or message.get("message_id")
    return str(found) if isinstance(found, (str, int)) and str(found) else None


def pushed_data(message: Mapping[str, Any]) -> tuple[dict[str, str], bytes]:
    """The attributes and decoded data of a pushed message; ``ValueError`` if data is not base64."""
    attributes = message.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise ValueError("attributes is not an object")
    try:
        data = base64.b64decode(str(message.get("data") or ""), validate=True)
    except binascii.Error as error:
        raise ValueError(f"data is not base64: {error}") from None
    return {str(k): str(v) for k, v in attributes.items()}, data


class PubsubPushReceiver:
    """The endpoint of the run's push subscription; a ``Consumer`` and a ``DownstreamControl``."""

    proxy: str | None = None

    def __init__(
        self, config: PushReceiverConfig, recorder: Recorder, rng: random.Random | None = None
    ) -> None:
        check_target(config.host)
        self.config = config
        self.target = config.target
        self._recorder = recorder
        self._rng = rng or random.Random()
        self._effects = EffectApplier(
            recorder, config.mode, EffectStore(config.effect_store), consumer=config.name
        )
        self._server: RecordingServer | None = None
        self._port = config.port
        self._faults: dict[str, Any] = {}
        self._attempts: dict[str, int] = {}
        self._settled: set[str] = set()
        self.counts = {"deliveries": 0, "dead_lettered": 0, "refused": 0, "unidentified": 0}

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self._port}{self.config.path}"

    async def start(self) -> None:
        """Listen, then create the topic and subscription and point it at this receiver."""
        await self._listen()
        self.target = replace(self.config.target, push_endpoint=self.url)
        await ensure_topology(self.target)
        await set_push_endpoint(self.target)

    async def _listen(self) -> None:
        server = RecordingServer(
            self._extract,
            self._on_request,
            self._on_effect,
            idempotency_key=None,
            rng=self._rng,
            host=self.config.host,
            port=self._port,
            screen=self._screen,
        )
        self._port = await server.start()
        for fault_id, behaviour in self._faults.items():
            server.misbehave(fault_id, behaviour)
        self._server = server

    def misbehave(self, fault_id: str, settings: Any) -> None:
        self._faults[fault_id] = settings
        if self._server is not None:
            self._server.misbehave(fault_id, settings)

    async def behave(self, fault_id: str) -> None:
        self._faults.pop(fault_id, None)
        if self._server is not None:
            await self._server.behave(fault_id)

    def _extract(self, headers: Mapping[str, str], body: bytes) -> str | None:
        message = pushed_message(body)
        found = pushed_id(message) if message is not None else None
        if found is None:
            self.counts["unidentified"] += 1
        return found

    def _screen(self, headers: Mapping[str, str], body: bytes) -> Screening:
        """Record the delivery (``recv``), and decode it: a poison is dead-lettered and acked."""
        message = pushed_message(body) or {}
        message_id = pushed_id(message) or ""
        attempt = self._attempts[message_id] = self._attempts.get(message_id, 0) + 1
        where = {
            "queue": self.target.subscription,
            **position(message_id),
            "worker": self.config.name,
            "attempt": attempt,
            "redelivered": attempt > 1,
        }
        self.counts["deliveries"] += 1
        attributes: dict[str, str] = {}
        try:
            attributes, data = pushed_data(message)
            event = decode_pubsub_message(attributes, data)
        except Exception as exc:
            identity = message_identity(attributes, getattr(exc, "event", None))
            self._record("recv", identity, where)
            reason = f"{type(exc).__name__}: {exc}"
            self._record("dead_letter", identity, {**where, "reason": reason})
            self.counts["dead_lettered"] += 1
            return Screening({"poison": reason}, POISON_STATUS)
        self._record("recv", message_identity(attributes, event), where)
        return Screening({"event": event, "where": where})

    def _on_effect(self, request: RequestRecord) -> None:
        event = request.extra.get("event")
        if event is not None:
            self._effects.apply(event, dict(request.extra["where"]))

    def _on_request(self, request: RequestRecord) -> None:
        if request.status is not None and 200 <= request.status < 300:
            self._settled.add(request.id)  # acked: the emulator will not push it again
        else:
            self.counts["refused"] += 1

    def _record(self, op: str, identity: dict[str, Any], where: dict[str, Any]) -> None:
        row = {"op": op, "t": clock.now(), "consumer": self.config.name, **identity, **where}
        self._recorder.append(row)

    async def crash(self) -> None:
        """Stop listening: pushes fail until ``restart`` and are delivered again."""
        server, self._server = self._server, None
        if server is not None:
            await server.stop()

    async def restart(self) -> None:
        if self._server is None:
            await self._listen()

    async def close(self) -> None:
        """Stop the server and the effect store. Idempotent."""
        await self.crash()
        self._effects.store.close()

    def stats(self) -> dict[str, int]:
        """``received``: messages acked (answered 2xx), what the drain waits for."""
        return {
            **self.counts,
            "received": len(self._settled),
            "effects": self._effects.applied,
            "effects_skipped": self._effects.skipped,
        }


__all__ = [
    "PUSH_RECEIVER",
    "PubsubPushReceiver",
    "PushReceiverConfig",
    "pushed_data",
    "pushed_id",
    "pushed_message",
]
