"""The harness's own NATS consumer (nats-py, asyncio): a core subscription or a JetStream pull
consumer that acks after the effect.

For every delivery it records ``recv``; with JetStream the position is the stream sequence
(``partition`` 0, ``offset`` = stream sequence, ``queue`` = stream), ``attempt`` the delivery
count and ``redelivered`` whether it is above one. A poison message (payload fails validation)
is terminated (``+TERM``: JetStream never redelivers it) and recorded ``dead_letter``; any other
message gets its effect (``harness.drivers.effects``), then its ack.

``process_ms`` is the time the consumer spends on each message before its effect and ack. A
JetStream consumer redelivers every message not acked within ``ack_wait``: when processing
(including the wait behind earlier messages of a fetched batch) is slower than that, the same
message arrives again (``duplicate_delivery``); a ``correct`` consumer then skips its effect,
a ``buggy`` one, which ignores redelivery, applies it twice (``duplicate_effect``).

Core NATS keeps nothing: a subscriber that is disconnected when a message is published never
sees it, and nothing is acked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats.errors as nerr

from harness import clock, events
from harness.drivers._types import EffectMode, EffectStore, Recorder
from harness.drivers.effects import EffectApplier, validate
from harness.drivers.nats_target import NatsTarget, connect, ensure_stream, pull_subscription
from harness.errors import UnsafeTargetError

log = logging.getLogger(__name__)

NatsDecode = Callable[[Any, bytes], Any]
"""``decode(headers, payload) -> event`` (with ``id``, ``key``, ``seq``); raises if poison."""


def decode_nats_message(headers: Any, payload: bytes) -> events.DecodedEvent:
    """Decode a nats-py message's headers and payload and validate it; raises for poison."""
    return validate(events.decode_nats(headers, payload))


@dataclass(frozen=True)
class NatsConsumerConfig:
    target: NatsTarget
    mode: EffectMode = EffectMode.CORRECT
    batch: int = 100
    fetch_timeout_s: float = 0.5
    process_ms: float = 0.0
    effect_store: Path | None = None
    name: str = "nats-consumer"


class NatsConsumerDriver:
    """Consumes one subject (core) or one stream's durable pull consumer, recording every op."""

    def __init__(
        self,
        config: NatsConsumerConfig,
        recorder: Recorder,
        *,
        decode: NatsDecode | None = None,
    ) -> None:
        self.config = config
        self._recorder = recorder
        self._decode = decode or decode_nats_message
        self._effects = EffectApplier(
            recorder, config.mode, EffectStore(config.effect_store), consumer=config.name
        )
        self.unsafe: UnsafeTargetError | None = None
        self._nc: Any = None
        self._sub: Any = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.counts = {"received": 0, "dead_lettered": 0, "connections": 0, "disconnects": 0}

    @property
    def worker(self) -> str:
        return f"{self.config.name}#{self.counts['connections']}"

    async def start(self) -> None:
        """Connect (checked), subscribe; for JetStream create the stream and the durable."""
        target = self.config.target
        self._stopping.clear()
        self._nc = await connect(
            target,
            self.config.name,
            on_unsafe=self._set_unsafe,
            disconnected=self._on_disconnect,
            reconnected=self._on_reconnect,
        )
        self.counts["connections"] += 1
        if target.jetstream:
            js = self._nc.jetstream()
            await ensure_stream(js, target)
            self._sub = await pull_subscription(js, target)
            self._task = asyncio.get_running_loop().create_task(self._pull_loop())
        else:
            self._sub = await self._nc.subscribe(target.subject, cb=self._on_core)
            await self._nc.flush()

    def _set_unsafe(self, error: UnsafeTargetError) -> None:
        self.unsafe = error

    def raise_if_unsafe(self) -> None:
        if self.unsafe is not None:
            raise self.unsafe

    async def _on_disconnect(self) -> None:
        self.counts["disconnects"] += 1

    async def _on_reconnect(self) -> None:
        self.counts["connections"] += 1

    async def _on_core(self, msg: Any) -> None:
        where = {"worker": self.worker}
        await self._handle(msg, where, jetstream=False)

    async def _pull_loop(self) -> None:
        """Fetch while the worker processes, keeping up to ``batch`` messages in hand: the
        server redelivers a message whose ack wait passed on a later fetch, as it does to any
        consumer that keeps pulling while it works."""
        inbox: asyncio.Queue[Any] = asyncio.Queue()
        worker = asyncio.get_running_loop().create_task(self._work(inbox))
        try:
            while not self._stopping.is_set():
                room = self.config.batch - inbox.qsize()
                if room <= 0:
                    await asyncio.sleep(0.02)
                    continue
                try:
                    batch = await self._sub.fetch(room, timeout=self.config.fetch_timeout_s)
                except (TimeoutError, nerr.TimeoutError):
                    continue
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # disconnected, leader moving: nats-py reconnects
                    log.debug("NATS consumer %s: fetch failed: %r", self.config.name, exc)
                    await asyncio.sleep(0.2)
                    continue
                for msg in batch:
                    inbox.put_nowait(msg)
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    async def _work(self, inbox: asyncio.Queue[Any]) -> None:
        while True:
            msg = await inbox.get()
            meta = msg.metadata
            where = {
                "queue": meta.stream,
                "partition": 0,
                "offset": int(meta.sequence.stream),
                "attempt": int(meta.num_delivered),
                "redelivered": int(meta.num_delivered) > 1,
                "worker": self.worker,
            }
            await self._handle(msg, where, jetstream=True)

    async def _handle(self, msg: Any, where: dict[str, Any], *, jetstream: bool) -> None:
        self.counts["received"] += 1
        try:
            event = self._decode(msg.headers, msg.data)
        except Exception as exc:
            identity = _identity(msg.headers, getattr(exc, "event", None))
            self._record("recv", identity, where)
            if jetstream:
                with contextlib.suppress(Exception):
                    await msg.term()
            self._record(
                "dead_letter", identity, {**where, "reason": f"{type(exc).__name__}: {exc}"}
            )
            self.counts["dead_lettered"] += 1
            return
        self._record("recv", _identity(msg.headers, event), where)
        if self.config.process_ms > 0:
            await asyncio.sleep(self.config.process_ms / 1000.0)
        self._effects.apply(event, where)
        if jetstream:
            with contextlib.suppress(Exception):  # a lost ack means a redelivery, as it should
                await msg.ack()

    def _record(self, op: str, identity: dict[str, Any], where: dict[str, Any]) -> None:
        row = {"op": op, "t": clock.now(), "consumer": self.config.name, **identity, **where}
        self._recorder.append(row)

    async def crash(self) -> None:
        """Stop at once without acking what is in hand (JetStream redelivers it after
        ``ack_wait``); ``restart`` resumes the same durable."""
        await self._stop()

    async def restart(self) -> None:
        await self.start()

    async def _stop(self) -> None:
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        nc, self._nc = self._nc, None
        if nc is not None:
            with contextlib.suppress(Exception):
                await nc.close()

    async def close(self, timeout_s: float = 15.0) -> None:
        """Stop consuming and close the connection. Idempotent."""
        await self._stop()
        self._effects.store.close()

    def stats(self) -> dict[str, int]:
        return {
            **self.counts,
            "effects": self._effects.applied,
            "effects_skipped": self._effects.skipped,
        }

    async def __aenter__(self) -> NatsConsumerDriver:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _identity(headers: Any, event: Any) -> dict[str, Any]:
    if event is not None:
        return {"id": event.id, "key": event.key, "seq": event.seq}
    found = headers or {}
    event_id = found.get("ce-id") or found.get(events.NATS_MSG_ID_HEADER)
    return {"id": event_id if isinstance(event_id, str) else None}


__all__ = ["NatsConsumerConfig", "NatsConsumerDriver", "NatsDecode", "decode_nats_message"]
