"""Where a system under test's reports travel: a Kafka report topic or a RabbitMQ report queue.

A channel prepares what the service needs before it starts (Kafka: the report and dead-letter
topics; RabbitMQ: the input queue with its dead-letter exchange and queue, and the report
queue), owns the observer that reads the reports, and deletes the report topic or queue at the
end. A RabbitMQ service never needs Kafka: its reports stay on RabbitMQ.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Protocol

from harness.drivers import (
    AmqpTarget,
    Recorder,
    create_topic,
    declare_topology,
    delete_blocking,
    delete_topic,
)
from harness.sut.amqp_observer import AmqpReportObserver
from harness.sut.contract import AmqpWiring, SutWiring, Wiring
from harness.sut.observer import ReportObserver


class Observer(Protocol):
    """What ``ExternalSut`` needs of an observer."""

    async def start(self) -> None: ...

    async def catch_up(self, timeout_s: float) -> bool: ...

    async def stop(self) -> None: ...

    @property
    def counts(self) -> dict[str, Any]: ...


class ReportChannel(Protocol):
    observer: Observer

    async def prepare(self) -> None: ...

    async def discard(self) -> None: ...


class KafkaReports:
    """A Kafka service: report and dead-letter topics, one partition each."""

    def __init__(self, wiring: Wiring, recorder: Recorder, replication_factor: int) -> None:
        self.wiring = wiring
        self.replication_factor = replication_factor
        self.observer: Observer = ReportObserver(wiring.bootstrap, wiring.report_topic, recorder)

    async def prepare(self) -> None:
        for topic in (self.wiring.report_topic, self.wiring.dlq_topic):
            await create_topic(
                self.wiring.bootstrap,
                topic,
                partitions=1,
                replication_factor=self.replication_factor,
                exist_ok=True,
            )

    async def discard(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                delete_topic(self.wiring.bootstrap, self.wiring.report_topic), 30
            )


class AmqpReports:
    """A RabbitMQ service: its input queue (dead-lettered) and a durable report queue."""

    def __init__(self, wiring: AmqpWiring, recorder: Recorder) -> None:
        self.wiring = wiring
        self.input = AmqpTarget.from_url(wiring.amqp_url, wiring.queue, durable=wiring.durable)
        self.reports = AmqpTarget.from_url(
            wiring.amqp_url, wiring.report_queue, durable=True, dead_letter=False
        )
        self.observer: Observer = AmqpReportObserver(self.reports, recorder)

    async def prepare(self) -> None:
        await declare_topology(self.input)

    async def discard(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.to_thread(delete_blocking, self.reports), 30)


def report_channel(wiring: SutWiring, recorder: Recorder, replication_factor: int) -> ReportChannel:
    """The channel for ``wiring``'s broker."""
    if isinstance(wiring, AmqpWiring):
        return AmqpReports(wiring, recorder)
    assert isinstance(wiring, Wiring), wiring
    return KafkaReports(wiring, recorder, replication_factor)


__all__ = ["AmqpReports", "KafkaReports", "Observer", "ReportChannel", "report_channel"]
