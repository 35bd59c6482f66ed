"""SNS and EventBridge producer driver: boto3 ``Publish`` / ``PutEvents`` on its own threads.

``send(event)`` never blocks: the call runs on a thread pool of ``threads`` workers (boto3 is
blocking; the event loop never waits on it); a send row's ``t`` is when a worker started the
call, so an event queued behind a busy pool shows as schedule slip. Each event gets exactly one ``send`` row when its
outcome is known (``harness.drivers.outcomes.classify_aws``): ``ok`` once ``Publish`` returned
a MessageId (kept in ``msg_id``) or the ``PutEvents`` entry came back without an ErrorCode.
Neither service has a log position, so send rows carry none; ``queue`` names the topic or bus.

The event's body is JSON (``id``, ``key``, ``seq``, the send's wall time and the fan-out
attribute); on SNS the attribute and the id are also message attributes (what filter policies
match), on EventBridge they are fields of ``detail`` (what event patterns match).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from harness import clock
from harness.drivers._types import EventLike, Recorder
from harness.drivers.outcomes import Outcome, classify_aws, describe
from harness.drivers.rows import SendLog
from harness.drivers.sns_topology import FanoutTopology, aws_client


@dataclass(frozen=True)
class FanoutProducerConfig:
    topology: FanoutTopology
    attribute: str
    value_of: Callable[[str], str]
    """The attribute value of an event, from its key."""
    detail_type: str = "storm-event"
    publish_timeout_s: float = 5.0
    threads: int = 4
    name: str = "sns-producer"


def event_body(event: EventLike, attribute: str, value: str) -> dict[str, Any]:
    return {"id": event.id, "key": event.key, "seq": event.seq, "sent_unix": time.time(),
            attribute: value}  # fmt: skip


class FanoutProducerDriver:
    """Publishes each event once to the run's SNS topic or EventBridge bus."""

    def __init__(self, config: FanoutProducerConfig, recorder: Recorder) -> None:
        self.config = config
        self._log = SendLog(recorder, config.name)
        self.counts = self._log.counts
        self._client: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._tasks: set[asyncio.Future[None]] = set()
        self._closed = False

    async def start(self) -> None:
        topology = self.config.topology
        service = "sns" if topology.kind == "sns" else "events"
        self._client = await asyncio.to_thread(
            aws_client, service, topology.endpoint,
            timeout_s=self.config.publish_timeout_s, pool=self.config.threads,
        )  # fmt: skip
        self._pool = ThreadPoolExecutor(self.config.threads, thread_name_prefix=self.config.name)

    def send(self, event: EventLike) -> None:
        """Start publishing ``event``; never blocks."""
        if self._closed or self._pool is None:
            raise RuntimeError(
                f"Cannot send {event.id!r}: producer {self.config.name!r} is not started or "
                "has been closed; start a new producer to send more."
            )
        loop = asyncio.get_running_loop()
        self._log.sent()
        future = loop.run_in_executor(self._pool, self._publish, event)
        self._tasks.add(future)
        future.add_done_callback(self._tasks.discard)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def _publish(self, event: EventLike) -> None:
        """One call on a pool thread; records the outcome (the recorder is thread-safe).

        The send's ``t`` is when a thread took the event up, so time spent queued behind a
        busy pool counts as schedule slip."""
        t = clock.now()
        topology = self.config.topology
        value = self.config.value_of(event.key)
        body = json.dumps(event_body(event, self.config.attribute, value))
        try:
            if topology.kind == "sns":
                reply = self._client.publish(
                    TopicArn=topology.topic_arn, Message=body,
                    MessageAttributes={
                        self.config.attribute: {"DataType": "String", "StringValue": value},
                        "ce_id": {"DataType": "String", "StringValue": event.id},
                    },
                )  # fmt: skip
                msg_id = str(reply.get("MessageId") or "")
            else:
                reply = self._client.put_events(Entries=[{
                    "Source": topology.event_source, "DetailType": self.config.detail_type,
                    "Detail": body, "EventBusName": topology.name,
                }])  # fmt: skip
                entry = (reply.get("Entries") or [{}])[0]
                if entry.get("ErrorCode"):
                    error = f"PutEvents refused the entry: {entry['ErrorCode']}: " + str(
                        entry.get("ErrorMessage") or ""
                    )
                    self._log.record(event, t, Outcome.FAIL, error, queue=topology.name)
                    return
                msg_id = str(entry.get("EventId") or "")
        except Exception as exc:
            self._log.record(event, t, classify_aws(exc), describe(exc), queue=topology.name)
            return
        self._log.record(event, t, Outcome.OK, None, attempt=1, queue=topology.name,
                         msg_id=msg_id or None)  # fmt: skip

    async def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until every handed-over event has an outcome; False if ``timeout_s`` passed."""
        pending = list(self._tasks)
        if not pending:
            return True
        _done, waiting = await asyncio.wait(pending, timeout=timeout_s)
        return not waiting

    async def close(self, timeout_s: float = 30.0) -> None:
        """Flush, then stop the pool (a call still running finishes and records). Idempotent."""
        if self._pool is None:
            return
        await self.flush(timeout_s)
        self._closed = True
        pool, self._pool = self._pool, None
        await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=False)

    async def __aenter__(self) -> FanoutProducerDriver:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class EmulatorDelivers:
    """The consumer side of a fan-out run: the emulator itself delivers to the subscriber
    queues (read by the ``sns_subscriber`` sources), so nothing of the harness consumes."""

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def stats(self) -> dict[str, int]:
        return {}


__all__ = ["EmulatorDelivers", "FanoutProducerConfig", "FanoutProducerDriver", "event_body"]
