"""SQS producer driver: boto3 ``SendMessage`` on the driver's own threads.

``send(event)`` never blocks: it starts a task that waits for one of ``max_in_flight`` slots
and runs the request on the driver's thread pool (boto3 blocks; the event loop never does).
Each event gets exactly one ``send`` row when its outcome is known
(``harness.drivers.outcomes.classify_sqs``): ``ok`` with the queue, the ``MessageId``
(``msg_id``, folded into ``offset``, ``partition`` 0) and the attempt that succeeded.

``retries`` sends an event again after an attempt ended ``unknown`` or ``fail``. On a
standard queue a retry of a send that was in fact stored (its answer was lost) is stored
again under a second message id (``duplicate_write``); on a FIFO queue with ``dedup`` the
event id is the ``MessageDeduplicationId``, so SQS drops the retry (five-minute window).
A FIFO message's group is its key, so per-key order holds.

A send that finds the queue gone (``QueueDoesNotExist``: an in-memory ElasticMQ restarted)
is ``fail``, and the queues are declared again, as an application does on that error.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness import clock
from harness.drivers._types import EventLike, Recorder
from harness.drivers.outcomes import Outcome, classify_sqs, describe, sqs_error_code
from harness.drivers.rows import SendLog
from harness.drivers.sqs_codec import encode_sqs
from harness.drivers.sqs_target import QueueUrls, SqsTarget, client, position

SqsEncode = Callable[[Any, float], tuple[str, dict[str, Any]]]
"""``encode(event, t_sent) -> (body, message_attributes)`` of one event."""

GONE = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


@dataclass(frozen=True)
class SqsProducerConfig:
    target: SqsTarget
    dedup: bool = True
    retries: int = 0
    retry_backoff_s: float = 0.2
    max_in_flight: int = 16
    name: str = "sqs-producer"


class SqsProducerDriver:
    """Sends events to one queue and records each outcome."""

    def __init__(
        self, config: SqsProducerConfig, recorder: Recorder, *, encode: SqsEncode | None = None
    ) -> None:
        self.config = config
        offset = clock.wall_offset()
        self._encode = encode or (lambda e, t: encode_sqs(e._replace(sent=t), offset))
        self._log = SendLog(recorder, config.name, "retries", "redeclared")
        self.counts = self._log.counts
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._urls: QueueUrls | None = None
        self._slots: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def start(self) -> None:
        """Make the client and declare the queues (on the driver's threads)."""
        workers = self.config.max_in_flight
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, f"{self.config.name}-io")
        sqs = await self._run(client, self.config.target, workers)
        self._urls = QueueUrls(self.config.target, sqs)
        await self._run(self._urls.ensure)
        self._slots = asyncio.Semaphore(workers)

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def send(self, event: EventLike) -> None:
        """Start sending ``event``; never blocks."""
        if self._closed or self._urls is None:
            raise RuntimeError(
                f"Cannot send {event.id!r}: producer {self.config.name!r} is not started or "
                "has been closed; start a new producer to send more."
            )
        task = asyncio.get_running_loop().create_task(self._send(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def _send(self, event: EventLike) -> None:
        assert self._slots is not None
        t: float | None = None
        try:
            async with self._slots:
                t = clock.now()
                self._log.sent()
                status, error, where = await self._run(self._attempts, event, t)
                self._log.record(event, t, status, error, **where)
        except asyncio.CancelledError:
            if t is None:
                self._log.sent()
                self._log.record(event, clock.now(), Outcome.FAIL, "Not sent: producer closed")
            else:  # the request may be on the wire
                self._log.record(event, t, Outcome.UNKNOWN, describe(asyncio.CancelledError()))
            raise

    def _attempts(self, event: EventLike, t: float) -> tuple[Outcome, str | None, dict[str, Any]]:
        """Every attempt of one event, on a driver thread; returns its outcome."""
        try:
            body, attributes = self._encode(event, t)
        except Exception as exc:
            return Outcome.FAIL, describe(exc), {}
        attempt = 0
        while True:
            attempt += 1
            status, error, where = self._send_once(event, body, attributes)
            if status is Outcome.OK or attempt > self.config.retries or self._closed:
                return status, error, {**where, "attempt": attempt}
            self.counts["retries"] += 1
            time.sleep(self.config.retry_backoff_s)

    def _send_once(
        self, event: EventLike, body: str, attributes: dict[str, Any]
    ) -> tuple[Outcome, str | None, dict[str, Any]]:
        urls = self._urls
        assert urls is not None
        request: dict[str, Any] = {
            "QueueUrl": urls.main, "MessageBody": body, "MessageAttributes": attributes,
        }  # fmt: skip
        if self.config.target.fifo:
            request["MessageGroupId"] = event.key or "default"
            if self.config.dedup:
                request["MessageDeduplicationId"] = event.id
        try:
            reply = urls.sqs.send_message(**request)
        except Exception as exc:
            if sqs_error_code(exc) in GONE:
                self._redeclare()
            return classify_sqs(exc), describe(exc), {}
        message_id = str(reply["MessageId"])
        where = {"queue": self.config.target.queue, "partition": 0,
                 "offset": position(message_id), "msg_id": message_id}  # fmt: skip
        return Outcome.OK, None, where

    def _redeclare(self) -> None:
        assert self._urls is not None
        try:
            self._urls.ensure()
            self.counts["redeclared"] += 1
        except Exception:  # still down: the next send tries again
            return

    async def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until every handed-over event has an outcome; False if ``timeout_s`` passed."""
        pending = list(self._tasks)
        if not pending:
            return True
        _done, waiting = await asyncio.wait(pending, timeout=timeout_s)
        return not waiting

    async def close(self, timeout_s: float = 30.0) -> None:
        """Flush, then stop; sends still waiting for a slot are cancelled and recorded
        ``fail``. Idempotent."""
        if self._pool is None:
            return
        await self.flush(timeout_s)
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        pool, self._pool = self._pool, None
        await asyncio.to_thread(pool.shutdown, True)

    async def __aenter__(self) -> SqsProducerDriver:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


__all__ = ["SqsEncode", "SqsProducerConfig", "SqsProducerDriver"]
