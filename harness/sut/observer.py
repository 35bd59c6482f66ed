"""The observer: reads the system under test's report topic and appends its history rows.

``ReportTally`` turns report records into history rows (pure: no broker), dropping records whose
``rid`` it has already seen; ``ReportObserver`` feeds it from an aiokafka consumer. The observer
assigns itself the report topic's partitions instead of joining a group: nothing else reads the
topic, and a group join would add seconds before the first report is seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from harness import clock
from harness.drivers import Recorder
from harness.drivers.kafka_guard import guard
from harness.errors import UnsafeTargetError
from harness.sut.contract import report_to_row

log = logging.getLogger(__name__)

_COUNTED = {"recv": "received", "effect": "effects", "dead_letter": "dead_lettered"}


class ReportTally:
    """Report records in, history rows out to ``recorder``; counts what it saw."""

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self._rids: set[str] = set()
        self.counts = {
            "received": 0,
            "effects": 0,
            "dead_lettered": 0,
            "ready": 0,
            "reports": 0,
            "repeated_reports": 0,
            "bad_reports": 0,
        }
        self.last_problem: str | None = None

    def take(self, value: bytes | None) -> None:
        """Record the report(s) of one report message: a JSON object, or an array of them."""
        try:
            found = json.loads(value or b"")
        except ValueError as exc:
            self.counts["reports"] += 1
            self._bad(value, str(exc))
            return
        for report in found if isinstance(found, list) else [found]:
            self._take_one(report, value)

    def _take_one(self, report: Any, value: bytes | None) -> None:
        self.counts["reports"] += 1
        try:
            if not isinstance(report, dict):
                raise ValueError(
                    f"a report must be a JSON object, got a {type(report).__name__}; send one "
                    "object (or an array of objects) per message"
                )
            row = report_to_row(report)
        except ValueError as exc:
            self._bad(value, str(exc))
            return
        rid = report.get("rid")
        if rid is not None:
            if rid in self._rids:
                self.counts["repeated_reports"] += 1
                return
            self._rids.add(str(rid))
        if row is None:
            self.counts["ready"] += 1  # the only report that is not a history row
            return
        self._recorder.append(row)
        self.counts[_COUNTED[row["op"]]] += 1

    def _bad(self, value: bytes | None, problem: str) -> None:
        self.counts["bad_reports"] += 1
        self.last_problem = f"{problem} in report {value[:200] if value else value!r}"
        if self.counts["bad_reports"] <= 5:
            log.warning("Ignoring a report of the system under test: %s", self.last_problem)


class ReportObserver:
    """Follows the report topic from its beginning into a ``ReportTally``."""

    def __init__(self, bootstrap: str, topic: str, recorder: Recorder, partitions: int = 1) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.partitions = partitions
        self.tally = ReportTally(recorder)
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._next: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id="harness-sut-observer",
        )
        kafka_guard = guard(consumer._client, "the report observer")
        await consumer.start()
        try:
            kafka_guard.raise_if_unsafe()
        except UnsafeTargetError:
            await consumer.stop()
            raise
        consumer.assign([TopicPartition(self.topic, p) for p in range(self.partitions)])
        await consumer.seek_to_beginning()
        self._consumer = consumer
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=200)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a broker fault: the consumer reconnects by itself
                log.warning("Reading the report topic %s failed: %r", self.topic, exc)
                await asyncio.sleep(0.5)
                continue
            for tp, records in batches.items():
                for record in records:
                    self.tally.take(record.value)
                self._next[tp] = records[-1].offset + 1

    async def catch_up(self, timeout_s: float) -> bool:
        """Wait until every report written so far has been taken; False after ``timeout_s``."""
        if self._consumer is None:
            return True
        deadline = clock.now() + timeout_s
        ends = await self._end_offsets(timeout_s)
        while clock.now() < deadline:
            if all(self._next.get(tp, 0) >= end for tp, end in ends.items()):
                return True
            await asyncio.sleep(0.05)
        return False

    async def _end_offsets(self, timeout_s: float) -> dict[TopicPartition, int]:
        assert self._consumer is not None
        assigned = list(self._consumer.assignment())
        return await asyncio.wait_for(self._consumer.end_offsets(assigned), timeout_s)

    async def stop(self) -> None:
        """Stop reading. Idempotent."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._consumer.stop(), 10.0)
            self._consumer = None

    @property
    def counts(self) -> dict[str, Any]:
        return self.tally.counts


__all__ = ["ReportObserver", "ReportTally"]
