"""The harness's own SQS consumer: ``workers`` threads long-polling one queue, deleting each
message after its effect, and one more thread reading the dead-letter queue.

For every received message it records ``recv`` with the position of ``sqs_target``
(``msg_id`` = MessageId, folded into ``offset``), ``attempt`` = ``ApproximateReceiveCount``
and ``redelivered`` when that is above one. Then:

- a valid message waits ``process_ms`` (the consumer's work), gets its effect
  (``harness.drivers.effects``: ``correct`` skips an id already applied, ``buggy`` applies
  every delivery) and is deleted. When the work outlasts the queue's visibility timeout the
  message is visible again and another worker receives it (``duplicate_delivery``);
- a poison message (its payload fails validation) is, with a redrive policy, made visible
  again at once (``ChangeMessageVisibility`` 0) so SQS counts the receive, and after
  ``maxReceiveCount`` receives SQS moves it to the DLQ. The DLQ reader records each message
  it finds there as ``dead_letter`` (``queue`` = the DLQ) and deletes it: the harness reads
  the DLQ instead of trusting the consumer. Without a DLQ the consumer dead-letters poison
  itself (``dead_letter`` row, then delete).

A queue that vanished (``QueueDoesNotExist``: an in-memory ElasticMQ restarted) is declared
again; every other receive error is retried after a short pause, as a real poller does.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness import clock
from harness.drivers._types import EffectMode, EffectStore, Recorder
from harness.drivers.effects import EffectApplier
from harness.drivers.outcomes import sqs_error_code
from harness.drivers.sqs import GONE
from harness.drivers.sqs_codec import attributes_of, decode_sqs
from harness.drivers.sqs_target import QueueUrls, SqsTarget, client, position

log = logging.getLogger(__name__)

SqsDecode = Callable[[dict[str, Any]], Any]
"""``decode(message) -> event`` (with ``id``, ``key``, ``seq``); raises for poison."""

ERROR_PAUSE_S = 0.2


@dataclass(frozen=True)
class SqsConsumerConfig:
    target: SqsTarget
    mode: EffectMode = EffectMode.CORRECT
    workers: int = 2
    batch: int = 10
    wait_s: int = 1
    process_ms: float = 0.0
    effect_store: Path | None = None
    name: str = "sqs-consumer"


class SqsConsumerDriver:
    """Consumes one queue (and reads its DLQ), recording every op."""

    def __init__(
        self, config: SqsConsumerConfig, recorder: Recorder, *, decode: SqsDecode | None = None
    ) -> None:
        self.config = config
        self._recorder = recorder
        self._decode = decode or decode_sqs
        self._effects = EffectApplier(
            recorder, config.mode, EffectStore(config.effect_store), consumer=config.name
        )
        self._urls: QueueUrls | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.counts = {"received": 0, "dead_lettered": 0, "deleted": 0, "errors": 0,
                       "redeclared": 0}  # fmt: skip
        self._distinct: set[str] = set()
        """MessageIds received at least once (``received`` counts every redelivery too)."""

    async def start(self) -> None:
        """Make the client, declare the queues and start the poller threads."""
        cfg = self.config
        # A long poll waits up to wait_s before it answers: the read timeout covers that too.
        polling = replace(cfg.target, read_timeout_s=cfg.target.read_timeout_s + cfg.wait_s)
        sqs = await asyncio.to_thread(client, polling, cfg.workers + 2)
        self._urls = QueueUrls(cfg.target, sqs)
        await asyncio.to_thread(self._urls.ensure)
        self._stopping.clear()
        loops = [(self._poll, f"{cfg.name}-{n}") for n in range(1, cfg.workers + 1)]
        if cfg.target.dlq is not None:
            loops.append((self._read_dlq, f"{cfg.name}-dlq"))
        for loop, name in loops:
            thread = threading.Thread(target=loop, args=(name,), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _receive(self, url: str) -> list[dict[str, Any]]:
        assert self._urls is not None
        try:
            reply = self._urls.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=self.config.batch,
                WaitTimeSeconds=self.config.wait_s, MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            )  # fmt: skip
        except Exception as exc:
            self._count("errors")
            if sqs_error_code(exc) in GONE:
                self._redeclare()
            log.debug("SQS consumer %s: receive failed: %r", self.config.name, exc)
            self._stopping.wait(ERROR_PAUSE_S)
            return []
        return list(reply.get("Messages") or [])

    def _poll(self, worker: str) -> None:
        while not self._stopping.is_set():
            assert self._urls is not None
            for message in self._receive(self._urls.main):
                if self._stopping.is_set():
                    return  # not deleted: SQS delivers it again, as to a consumer that died
                self._handle(message, worker)

    def _handle(self, message: dict[str, Any], worker: str) -> None:
        assert self._urls is not None
        self._count("received")
        with self._lock:
            self._distinct.add(str(message.get("MessageId", "")))
        where = self._where(message, self.config.target.queue, worker)
        try:
            event = self._decode(message)
        except Exception as exc:
            identity = _identity(message, getattr(exc, "event", None))
            self._record("recv", identity, where)
            if self.config.target.dlq is not None:
                self._call("change_message_visibility", QueueUrl=self._urls.main,
                           ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)  # fmt: skip
                return
            self._record("dead_letter", identity,
                         {**where, "reason": f"{type(exc).__name__}: {exc}"})  # fmt: skip
            self._count("dead_lettered")
            self._delete(self._urls.main, message)
            return
        self._record("recv", _identity(message, event), where)
        if self.config.process_ms > 0:
            time.sleep(self.config.process_ms / 1000.0)
        self._effects.apply(event, where)
        self._delete(self._urls.main, message)

    def _read_dlq(self, worker: str) -> None:
        dlq = self.config.target.dlq
        while not self._stopping.is_set():
            assert self._urls is not None
            for message in self._receive(self._urls.dead):
                where = self._where(message, dlq or "", worker)
                reason = f"moved to {dlq} after {where.get('attempt', '?')} receive(s)"
                self._record("dead_letter", _identity(message, None), {**where, "reason": reason})
                self._count("dead_lettered")
                self._delete(self._urls.dead, message)

    def _where(self, message: dict[str, Any], queue: str, worker: str) -> dict[str, Any]:
        message_id = str(message.get("MessageId", ""))
        count = int((message.get("Attributes") or {}).get("ApproximateReceiveCount") or 1)
        return {"queue": queue, "partition": 0, "offset": position(message_id),
                "msg_id": message_id, "attempt": count, "redelivered": count > 1,
                "worker": worker}  # fmt: skip

    def _delete(self, url: str, message: dict[str, Any]) -> None:
        if self._call("delete_message", QueueUrl=url, ReceiptHandle=message["ReceiptHandle"]):
            self._count("deleted")

    def _call(self, method: str, **request: Any) -> bool:
        """One SQS call whose failure only means a redelivery later (as it should)."""
        assert self._urls is not None
        try:
            getattr(self._urls.sqs, method)(**request)
        except Exception as exc:
            self._count("errors")
            log.debug("SQS consumer %s: %s failed: %r", self.config.name, method, exc)
            return False
        return True

    def _redeclare(self) -> None:
        assert self._urls is not None
        try:
            self._urls.ensure()
            self._count("redeclared")
        except Exception:  # still down: the next poll tries again
            return

    def _count(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1

    def _record(self, op: str, identity: dict[str, Any], where: dict[str, Any]) -> None:
        row = {"op": op, "t": clock.now(), "consumer": self.config.name, **identity, **where}
        self._recorder.append(row)

    async def crash(self) -> None:
        """Stop at once: what is in hand is not deleted, so SQS redelivers it after the
        visibility timeout; ``restart`` polls again."""
        await self._stop()

    async def restart(self) -> None:
        await self.start()

    async def _stop(self) -> None:
        self._stopping.set()
        threads, self._threads = self._threads, []
        for thread in threads:
            await asyncio.to_thread(thread.join, self.config.wait_s + 10.0)

    async def close(self, timeout_s: float = 15.0) -> None:
        """Stop polling (each poller finishes the message in hand). Idempotent."""
        await self._stop()
        self._effects.store.close()

    def stats(self) -> dict[str, int]:
        with self._lock:
            counts = {**self.counts, "distinct": len(self._distinct)}
        return {**counts, "effects": self._effects.applied,
                "effects_skipped": self._effects.skipped}  # fmt: skip

    async def __aenter__(self) -> SqsConsumerDriver:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _identity(message: dict[str, Any], event: Any) -> dict[str, Any]:
    if event is not None:
        return {"id": event.id, "key": event.key, "seq": event.seq}
    found = attributes_of(message)
    identity: dict[str, Any] = {"id": found.get("id")}
    if found.get("partitionkey") is not None:
        identity["key"] = found["partitionkey"]
    if found.get("seq", "").isdigit():
        identity["seq"] = int(found["seq"])
    return identity


__all__ = ["SqsConsumerConfig", "SqsConsumerDriver", "SqsDecode"]
