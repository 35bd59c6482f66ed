"""The harness's own Kafka consumer: the built-in system under test.

An aiokafka consumer in a group with manual commits. For every message it records ``recv``
(partition, offset, consumer, group); then it either dead-letters the message (its payload fails
validation: produced to ``<topic>.dlq`` and recorded ``dead_letter`` with the reason) or applies
the effect (see ``harness.drivers.effects``).

Commit policy:

- ``after_effect``: offsets are committed after their effects, at most every
  ``commit_interval_s`` (and on partition revocation). A crash loses the uncommitted tail, which is
  redelivered after ``restart()``: duplicate ``recv`` rows, and duplicate ``effect`` rows unless
  the mode is ``correct``.
- ``before_effect``: each fetched batch is committed before its effects. A crash in the middle of
  a batch loses effects (``missing_effect``) instead.

``crash()`` stops the consumer abruptly without committing, like a process killed before its
commit; ``restart()`` rejoins the same group. (It leaves the group on the way out, unlike a real
crash, so the partitions come back without waiting for the session timeout.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

from harness import clock
from harness.drivers._types import EffectMode, EffectStore, Recorder
from harness.drivers.effects import EffectApplier, decode_kafka_record
from harness.drivers.kafka_admin import create_topic
from harness.drivers.kafka_guard import KafkaGuard, guard
from harness.safety import check_addresses

log = logging.getLogger(__name__)

KafkaDecode = Callable[[ConsumerRecord], Any]
"""``decode(record) -> event`` (with ``id``, ``key``, ``seq``); raises if the event is poison."""


class CommitPolicy(StrEnum):
    AFTER_EFFECT = "after_effect"
    BEFORE_EFFECT = "before_effect"


@dataclass(frozen=True)
class KafkaConsumerConfig:
    bootstrap: str
    topic: str
    group: str = "harness-verifier"
    mode: EffectMode = EffectMode.CORRECT
    commit: CommitPolicy = CommitPolicy.AFTER_EFFECT
    commit_interval_s: float = 1.0
    max_poll_records: int = 500
    dlq_topic: str | None = None
    dlq_replication_factor: int = 1
    effect_store: Path | None = None
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 1_000
    name: str = "kafka-consumer"

    def __post_init__(self) -> None:
        check_addresses(self.bootstrap)

    @property
    def dlq(self) -> str:
        return self.dlq_topic or f"{self.topic}.dlq"


def header(record: ConsumerRecord, name: str) -> str | None:
    """The value of header ``name`` as text, or None."""
    for key, value in record.headers or ():
        if key == name and value is not None:
            return value.decode("utf-8", "replace")
    return None


class _Listener(ConsumerRebalanceListener):
    def __init__(self, driver: KafkaConsumerDriver) -> None:
        self._driver = driver

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._driver._commit_processed(set(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        return None


class KafkaConsumerDriver:
    """Consumes a topic in a group, records every op, applies or dead-letters each event."""

    def __init__(
        self,
        config: KafkaConsumerConfig,
        recorder: Recorder,
        *,
        decode: KafkaDecode | None = None,
    ) -> None:
        self.config = config
        self._recorder = recorder
        self._decode = decode or decode_kafka_record
        self._effects = EffectApplier(
            recorder,
            config.mode,
            EffectStore(config.effect_store),
            consumer=config.name,
            group=config.group,
        )
        self._consumer: AIOKafkaConsumer | None = None
        self._dlq: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None
        self._processed: dict[TopicPartition, int] = {}
        self._last_commit = 0.0
        self._incarnation = 0
        self._crashing = False
        self._guards: list[KafkaGuard] = []
        self.counts = {"received": 0, "dead_lettered": 0, "commits": 0, "crashes": 0, "errors": 0}

    async def start(self) -> None:
        """Create the DLQ topic if needed, join the group and start consuming."""
        await create_topic(
            self.config.bootstrap,
            self.config.dlq,
            partitions=1,
            replication_factor=self.config.dlq_replication_factor,
            exist_ok=True,
        )
        self._dlq = AIOKafkaProducer(bootstrap_servers=self.config.bootstrap, acks="all")
        self._guards.append(guard(self._dlq.client, f"the dead-letter producer of {self.worker}"))
        await self._dlq.start()
        self.raise_if_unsafe()
        await self._start_consumer()
        self.raise_if_unsafe()

    def raise_if_unsafe(self) -> None:
        """Raise ``UnsafeTargetError`` if Kafka advertised, or a client reached, a broker off
        loopback (the client was kept from using it)."""
        for kafka_guard in self._guards:
            kafka_guard.raise_if_unsafe()

    async def _start_consumer(self) -> None:
        self._incarnation += 1
        self._crashing = False
        self._processed = {}
        c = self.config
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=c.bootstrap,
            group_id=c.group,
            client_id=f"{c.name}-{self._incarnation}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=c.max_poll_records,
            session_timeout_ms=c.session_timeout_ms,
            heartbeat_interval_ms=c.heartbeat_interval_ms,
        )
        self._guards.append(guard(self._consumer._client, f"the consumer {self.worker}"))
        self._consumer.subscribe([c.topic], listener=_Listener(self))
        await self._consumer.start()
        self._last_commit = clock.now()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def wait_assigned(self, timeout_s: float = 30.0) -> bool:
        """Wait until this member owns at least one partition; False after ``timeout_s``."""
        deadline = clock.now() + timeout_s
        while clock.now() < deadline:
            if self._consumer is not None and self._consumer.assignment():
                return True
            await asyncio.sleep(0.05)
        return False

    @property
    def worker(self) -> str:
        return f"{self.config.name}#{self._incarnation}"

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=200)
                await self._handle(batches)
                if self.config.commit is CommitPolicy.AFTER_EFFECT:
                    await self._maybe_commit()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.counts["errors"] += 1
                log.exception("Kafka consumer %s: error in the consume loop", self.worker)
                await asyncio.sleep(0.5)

    async def _handle(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        if self.config.commit is CommitPolicy.BEFORE_EFFECT and batches:
            assert self._consumer is not None
            await self._consumer.commit({tp: recs[-1].offset + 1 for tp, recs in batches.items()})
            self.counts["commits"] += 1
        for tp, records in batches.items():
            for record in records:
                if not await self._handle_one(tp, record):
                    break

    async def _handle_one(self, tp: TopicPartition, record: ConsumerRecord) -> bool:
        """Process one record; False if it must be retried (the partition was rewound)."""
        where = {"partition": record.partition, "offset": record.offset, "worker": self.worker}
        self.counts["received"] += 1
        try:
            event = self._decode(record)
        except Exception as exc:
            envelope = getattr(exc, "event", None)
            self._record_recv(record, envelope, where)
            reason = f"{type(exc).__name__}: {exc}"
            if not await self._dead_letter(tp, record, envelope, reason, where):
                return False
        else:
            self._record_recv(record, event, where)
            self._effects.apply(event, where)
        self._processed[tp] = record.offset + 1
        return True

    def _record_recv(self, record: ConsumerRecord, event: Any, where: dict[str, Any]) -> None:
        row = {"op": "recv", "t": clock.now(), "consumer": self.config.name,
               "group": self.config.group, **where}  # fmt: skip
        row.update(_identity(record, event))
        self._recorder.append(row)

    async def _dead_letter(
        self,
        tp: TopicPartition,
        record: ConsumerRecord,
        envelope: Any,
        reason: str,
        where: dict[str, Any],
    ) -> bool:
        assert self._dlq is not None and self._consumer is not None
        headers = [*(record.headers or ()), ("x-dead-letter-reason", reason.encode())]
        try:
            await self._dlq.send_and_wait(
                self.config.dlq, value=record.value, key=record.key, headers=headers
            )
        except Exception as exc:
            log.warning("DLQ produce failed for offset %s of %s: %r", record.offset, tp, exc)
            self._consumer.seek(tp, record.offset)
            await asyncio.sleep(0.2)
            return False
        row = {"op": "dead_letter", "t": clock.now(), "reason": reason,
               "consumer": self.config.name, "group": self.config.group, **where}  # fmt: skip
        row.update(_identity(record, envelope))
        self._recorder.append(row)
        self.counts["dead_lettered"] += 1
        return True

    async def _maybe_commit(self) -> None:
        if self._processed and clock.now() - self._last_commit >= self.config.commit_interval_s:
            await self._commit_processed(None)

    async def _commit_processed(self, only: set[TopicPartition] | None) -> None:
        """Commit the offsets whose effects are done (all partitions, or ``only`` these)."""
        if self._crashing or self._consumer is None or self.config.commit != "after_effect":
            return
        offsets = {tp: o for tp, o in self._processed.items() if only is None or tp in only}
        if not offsets:
            return
        await self._consumer.commit(offsets)
        for tp in offsets:
            if self._processed.get(tp) == offsets[tp]:
                del self._processed[tp]
        self._last_commit = clock.now()
        self.counts["commits"] += 1

    async def crash(self) -> None:
        """Stop abruptly: no commit of what was processed since the last commit."""
        self._crashing = True
        self.counts["crashes"] += 1
        await self._stop_consumer()

    async def restart(self) -> None:
        """Rejoin the same group after ``crash()``; uncommitted messages are redelivered."""
        await self._stop_consumer()
        await self._start_consumer()

    async def _stop_consumer(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._consumer.stop(), 15.0)
            self._consumer = None

    async def close(self) -> None:
        """Commit what is done (unless crashed) and stop. Idempotent."""
        if self._task is not None and not self._crashing:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._commit_processed(None), 10.0)
        await self._stop_consumer()
        if self._dlq is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._dlq.stop(), 10.0)
            self._dlq = None
        self._effects.store.close()

    def stats(self) -> dict[str, int]:
        """Counters: received, effects applied and skipped, dead-lettered, commits, crashes."""
        return {
            **self.counts,
            "effects": self._effects.applied,
            "effects_skipped": self._effects.skipped,
        }

    async def __aenter__(self) -> KafkaConsumerDriver:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _identity(record: ConsumerRecord, event: Any) -> dict[str, Any]:
    """id/key/seq from the decoded event, else from the raw CloudEvents headers."""
    if event is not None:
        return {"id": event.id, "key": event.key, "seq": event.seq}
    out: dict[str, Any] = {"id": header(record, "ce_id")}
    if record.key is not None:
        out["key"] = record.key.decode("utf-8", "replace")
    return out


__all__ = ["CommitPolicy", "KafkaConsumerConfig", "KafkaConsumerDriver", "KafkaDecode", "header"]
