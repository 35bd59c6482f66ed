"""The ``sns_subscriber`` source: one SNS or EventBridge subscriber's SQS queue inside moto.

An SNS or EventBridge run builds one of these per subscriber of its target (they are not
written under ``observe:``). Each reads its subscriber's queue with boto3 on its own thread
and records one ``recv`` row per message, ``group`` = the subscriber's name, keyed by the
event id in the body (SNS raw delivery: the body is the event; EventBridge: its ``detail``),
and deletes the message. Checks then judge each subscriber as its own consumer group.

Its declaration names the keys whose events the subscriber should receive (the scenario's
``expect``, in ``policy``: ``{"subscriber": {"group": ..., "keys": [...]}}``), so
``harness.checks.fanout`` can call a missing expected event ``lost`` and a delivered event
the subscriber should not get ``unexpected``, for that subscriber only; and a subscriber that
received nothing is judged too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness import clock
from harness.drivers import FanoutTopology, aws_client
from harness.observe.context import ObserveContext
from harness.observe.source import Source

log = logging.getLogger(__name__)

BATCH = 10  # SQS's most per ReceiveMessage
QUIET_S = 0.5
"""The drain is over once the queue answered empty for this long."""
POLL_IDLE_S = 0.1


@dataclass(frozen=True)
class SubscriberQueue:
    """Where one subscriber's queue is and which keys it should get."""

    subscriber: str
    topology: FanoutTopology
    """The run's topology: its ``queue_urls`` are known once it is created."""
    expected_keys: tuple[str, ...]

    @property
    def queue_url(self) -> str:
        return self.topology.queue_urls[self.subscriber]


def event_id(body: str) -> str | None:
    """The event id a subscriber's message carries (SNS raw body, or EventBridge detail)."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    detail = data.get("detail")
    if isinstance(detail, dict) and "id" in detail:
        data = detail
    found = data.get("id")
    return found if isinstance(found, str) else None


class SnsSubscriber(Source[SubscriberQueue]):
    """One subscriber's queue, read from outside."""

    kind = "sns_subscriber"
    observes = "recv"

    def __init__(self, name: str, settings: SubscriberQueue, ctx: ObserveContext) -> None:
        super().__init__(name, settings, ctx)
        self._client: Any = None
        self._task: asyncio.Task[None] | None = None
        self._last_empty: float | None = None

    def describe(self) -> str:
        return f"subscriber {self.settings.subscriber!r}"

    def declaration(self) -> Mapping[str, Any]:
        expect = {"group": self.settings.subscriber, "keys": list(self.settings.expected_keys)}
        return {**super().declaration(), "policy": json.dumps({"subscriber": expect})}

    async def start(self) -> None:
        self._client = await asyncio.to_thread(aws_client, "sqs", self.settings.topology.endpoint)
        self._task = asyncio.get_running_loop().create_task(self._follow())

    async def _follow(self) -> None:
        while True:
            try:
                taken = await asyncio.to_thread(self._take)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a fault on the emulator's proxy: try again
                self.count("errors")
                log.debug("reading %s failed: %r", self.describe(), error)
                taken = 0
            if taken:
                self._last_empty = None
            elif self._last_empty is None:
                self._last_empty = clock.now()
            await asyncio.sleep(0 if taken else POLL_IDLE_S)

    def _take(self) -> int:
        """One ReceiveMessage on this thread: record and delete what came back."""
        reply = self._client.receive_message(
            QueueUrl=self.settings.queue_url, MaxNumberOfMessages=BATCH, WaitTimeSeconds=0
        )
        messages = reply.get("Messages") or []
        for message in messages:
            found = event_id(str(message.get("Body") or ""))
            if found is None:
                self.count("unreadable")
            else:
                self.record(found, group=self.settings.subscriber, consumer=self.name,
                            queue=self.settings.subscriber, msg_id=message.get("MessageId"))  # fmt: skip
        if messages:
            self._client.delete_message_batch(
                QueueUrl=self.settings.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                         for i, m in enumerate(messages)],
            )  # fmt: skip
        return len(messages)

    async def drain(self, timeout_s: float) -> bool:
        deadline = clock.now() + timeout_s
        self._last_empty = None
        while clock.now() < deadline:
            if self._task is None or self._task.done():
                return False
            if self._last_empty is not None and clock.now() - self._last_empty >= QUIET_S:
                return True
            await asyncio.sleep(POLL_IDLE_S)
        return False

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


KIND = SnsSubscriber

__all__ = ["KIND", "SnsSubscriber", "SubscriberQueue", "event_id"]
