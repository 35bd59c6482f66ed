"""The harness's own RabbitMQ consumer: pika on its own thread, manual ack after the effect.

For every delivery it records ``recv`` (queue, delivery_tag, redelivered); a poison message
(payload fails validation) is rejected with ``requeue=False`` so the queue's dead-letter exchange
moves it to ``<queue>.dlq``, and recorded ``dead_letter`` with the reason; any other message gets
its effect (``harness.drivers.effects``) and then ``basic_ack``.

The thread reconnects with backoff whenever the connection drops (broker killed or restarted, a
``reset_peer`` toxic, a disabled proxy) for as long as the driver runs. Messages that were
effected but not yet acked come back with ``redelivered=True``: a ``correct`` consumer skips their
effect, a ``buggy`` one applies it twice.

``dead_letter`` is recorded when the reject is sent; AMQP does not confirm a reject, so if the
connection drops first the message is redelivered and rejected (and recorded) again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pika
import pika.exceptions as perr

from harness import clock
from harness.drivers._types import EffectMode, EffectStore, Recorder
from harness.drivers.effects import EffectApplier, decode_amqp_message
from harness.drivers.rabbitmq_topology import (
    AmqpTarget,
    connect_blocking,
    declare,
    declare_topology,
)
from harness.errors import StackError, UnsafeTargetError

log = logging.getLogger(__name__)

AmqpDecode = Callable[[Any, bytes], Any]
"""``decode(properties, body) -> event`` (with ``id``, ``key``, ``seq``); raises if poison."""


@dataclass(frozen=True)
class RabbitConsumerConfig:
    target: AmqpTarget
    mode: EffectMode = EffectMode.CORRECT
    prefetch: int = 100
    effect_store: Path | None = None
    reconnect_backoff_s: tuple[float, float] = (0.2, 5.0)
    name: str = "rabbitmq-consumer"


class RabbitConsumerDriver:
    """Consumes one queue on a thread, recording every op."""

    def __init__(
        self,
        config: RabbitConsumerConfig,
        recorder: Recorder,
        *,
        decode: AmqpDecode | None = None,
    ) -> None:
        self.config = config
        self._recorder = recorder
        self._decode = decode or decode_amqp_message
        self._effects = EffectApplier(
            recorder, config.mode, EffectStore(config.effect_store), consumer=config.name
        )
        self._stopping = threading.Event()
        self._consuming = threading.Event()
        self._thread: threading.Thread | None = None
        self._connection: pika.BlockingConnection | None = None
        self.unsafe: UnsafeTargetError | None = None
        self._consumed_since_connect = False
        self.counts = {"received": 0, "dead_lettered": 0, "connections": 0, "disconnects": 0}

    async def start(self, timeout_s: float = 15.0) -> None:
        """Declare the topology, start the thread, return once it consumes."""
        await declare_topology(self.config.target)
        self._thread = threading.Thread(target=self._run, name=self.config.name, daemon=True)
        self._thread.start()
        if not await asyncio.to_thread(self._consuming.wait, timeout_s):
            self._stopping.set()
            self.raise_if_unsafe()
            raise StackError(
                f"RabbitMQ consumer {self.config.name!r} could not start consuming "
                f"{self.config.target.queue!r} within {timeout_s}s. Is RabbitMQ up?"
            )

    def raise_if_unsafe(self) -> None:
        """Raise the ``UnsafeTargetError`` that stopped the consumer thread, if any."""
        if self.unsafe is not None:
            raise self.unsafe

    @property
    def worker(self) -> str:
        return f"{self.config.name}#{self.counts['connections']}"

    def _run(self) -> None:
        low, high = self.config.reconnect_backoff_s
        backoff = low
        while not self._stopping.is_set():
            try:
                self._consume_once()
                backoff = low
            except UnsafeTargetError as exc:
                log.error("RabbitMQ consumer %s: %s", self.config.name, exc)
                self.unsafe = exc
                return
            except (perr.AMQPError, OSError) as exc:
                self.counts["disconnects"] += 1
                log.warning("RabbitMQ consumer %s: %r; reconnecting", self.config.name, exc)
                if self._consumed_since_connect:
                    backoff = low
            finally:
                self._consuming.clear()
                self._close_quietly()
            self._stopping.wait(backoff)
            backoff = min(high, backoff * 2)

    def _consume_once(self) -> None:
        self._consumed_since_connect = False
        self._connection = connect_blocking(self.config.target)
        channel = self._connection.channel()
        declare(channel, self.config.target)
        channel.basic_qos(prefetch_count=self.config.prefetch)
        channel.basic_consume(self.config.target.queue, self._on_message, auto_ack=False)
        self.counts["connections"] += 1
        self._consumed_since_connect = True
        self._consuming.set()
        while not self._stopping.is_set():
            self._connection.process_data_events(time_limit=0.2)

    def _close_quietly(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except Exception:
                log.debug("RabbitMQ consumer %s: close failed", self.config.name)

    def _on_message(self, channel: Any, method: Any, props: Any, body: bytes) -> None:
        where = {
            "queue": self.config.target.queue,
            "delivery_tag": method.delivery_tag,
            "redelivered": bool(method.redelivered),
            "worker": self.worker,
        }
        self.counts["received"] += 1
        try:
            event = self._decode(props, body)
        except Exception as exc:
            identity = _identity(props, getattr(exc, "event", None))
            self._record("recv", identity, where)
            channel.basic_reject(method.delivery_tag, requeue=False)
            reason = f"{type(exc).__name__}: {exc}"
            self._record("dead_letter", identity, {**where, "reason": reason})
            self.counts["dead_lettered"] += 1
            return
        self._record("recv", _identity(props, event), where)
        self._effects.apply(event, where)
        channel.basic_ack(method.delivery_tag)

    def _record(self, op: str, identity: dict[str, Any], where: dict[str, Any]) -> None:
        row = {"op": op, "t": clock.now(), "consumer": self.config.name, **identity, **where}
        self._recorder.append(row)

    async def close(self, timeout_s: float = 15.0) -> None:
        """Stop consuming and join the thread. Idempotent."""
        if self._thread is None:
            return
        self._stopping.set()
        await asyncio.to_thread(self._thread.join, timeout_s)
        self._thread = None
        self._effects.store.close()

    def stats(self) -> dict[str, int]:
        return {
            **self.counts,
            "effects": self._effects.applied,
            "effects_skipped": self._effects.skipped,
        }

    async def __aenter__(self) -> RabbitConsumerDriver:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _identity(props: Any, event: Any) -> dict[str, Any]:
    if event is not None:
        return {"id": event.id, "key": event.key, "seq": event.seq}
    headers = getattr(props, "headers", None) or {}
    event_id = headers.get("ce-id") or headers.get("cloudEvents:id") or props.message_id
    return {"id": event_id if isinstance(event_id, str) else None}


__all__ = ["AmqpDecode", "RabbitConsumerConfig", "RabbitConsumerDriver"]
