"""The exception -> send outcome table of harness.drivers.outcomes."""

from __future__ import annotations

import asyncio

import aiokafka.errors as kerr
import pika.exceptions as perr
import pytest

from harness.drivers import Outcome, Stage, classify_amqp, classify_kafka
from harness.drivers.outcomes import describe

MAYBE_WRITTEN = [
    kerr.KafkaTimeoutError(),
    kerr.RequestTimedOutError(),
    kerr.NotEnoughReplicasAfterAppendError(),
    kerr.KafkaConnectionError("Connection at 127.0.0.1:9091 closed"),
    kerr.NodeNotReadyError(),
    kerr.CorrelationIdError(),
    kerr.KafkaStorageError(),
    kerr.UnknownError(),
    kerr.ProducerClosed(),
    asyncio.CancelledError(),
    RuntimeError("something unforeseen"),
]

NOT_WRITTEN = [
    kerr.NotEnoughReplicasError(),
    kerr.NotLeaderForPartitionError(),
    kerr.LeaderNotAvailableError(),
    kerr.UnknownTopicOrPartitionError(),
    kerr.MessageSizeTooLargeError(),
    kerr.RecordListTooLargeError(),
    kerr.TopicAuthorizationFailedError(),
    kerr.InvalidRequiredAcksError(),
    kerr.CorruptRecordException(),
    kerr.ProducerFenced(),
    kerr.OutOfOrderSequenceNumber(),
]


@pytest.mark.parametrize("exc", MAYBE_WRITTEN, ids=lambda e: type(e).__name__)
def test_kafka_delivery_errors_that_may_have_written_are_unknown(exc):
    assert classify_kafka(exc) is Outcome.UNKNOWN


@pytest.mark.parametrize("exc", NOT_WRITTEN, ids=lambda e: type(e).__name__)
def test_kafka_rejections_before_append_are_fail(exc):
    assert classify_kafka(exc) is Outcome.FAIL


@pytest.mark.parametrize("exc", MAYBE_WRITTEN + NOT_WRITTEN, ids=lambda e: type(e).__name__)
def test_kafka_errors_before_queueing_are_fail(exc):
    assert classify_kafka(exc, Stage.ENQUEUE) is Outcome.FAIL


@pytest.mark.parametrize(
    "exc",
    [
        perr.StreamLostError("reset"),
        perr.ConnectionClosedByBroker(320, "shutdown"),
        perr.ChannelClosedByBroker(406, "PRECONDITION_FAILED"),
        perr.AMQPHeartbeatTimeout(),
    ],
    ids=lambda e: type(e).__name__,
)
def test_amqp_loss_with_confirm_outstanding_is_unknown(exc):
    assert classify_amqp(exc, written=True) is Outcome.UNKNOWN
    assert classify_amqp(exc, written=False) is Outcome.FAIL


@pytest.mark.parametrize(
    "exc",
    [
        perr.BodyTooLongError(10, 5),
        perr.UnroutableError([]),
        perr.NackError([]),
        perr.ChannelWrongStateError("closed"),
        perr.ConnectionWrongStateError("closed"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_amqp_rejections_are_fail_even_after_writing(exc):
    assert classify_amqp(exc, written=True) is Outcome.FAIL


def test_describe_names_the_exception_and_its_message():
    assert describe(kerr.KafkaConnectionError("closed")) == "KafkaConnectionError: closed"
    assert "RequestTimedOutError" in describe(kerr.RequestTimedOutError())
    assert "CancelledError" in describe(asyncio.CancelledError())
