"""The one place that maps client exceptions to send outcomes.

A send ends in exactly one of three statuses, recorded on its history row:

- ``ok``: the broker acknowledged it (Kafka produce response, AMQP ``basic.ack``), or, for a
  fire-and-forget client, the client library accepted it.
- ``fail``: it was certainly not written. The client never handed it to a broker, or the broker
  answered with an error that it raises *before* appending.
- ``unknown``: it may have been written. The request left the client and no definitive answer
  came back (timeout, connection lost, broker wrote to the leader but not enough replicas).

The checkers treat ``fail`` and ``unknown`` alike for loss (neither was acknowledged) and report a
delivered one as ``recovered``. When in doubt, this module answers ``unknown``: calling a maybe-
written send ``fail`` would turn a real duplicate into a false "recovered" story.

Kafka (aiokafka), exception on the delivery future (the request may have left the client):

================================================  =========  ===========================================
exception                                         outcome    why
================================================  =========  ===========================================
KafkaTimeoutError                                 unknown    batch expired; an earlier attempt may have landed
RequestTimedOutError                              unknown    leader appended, replicas did not answer in time
NotEnoughReplicasAfterAppendError                 unknown    leader appended, then ISR shrank
KafkaConnectionError, NodeNotReadyError           unknown    connection lost with the request possibly sent
Cancelled, CorrelationIdError, KafkaProtocolError unknown    the response was lost or garbled
KafkaStorageError, UnknownError                   unknown    the broker failed part way
asyncio.CancelledError, ProducerClosed            unknown    the producer closed with the send in flight
NotEnoughReplicasError                            fail       the leader refuses before appending
NotLeaderForPartitionError, LeaderNotAvailable    fail       no leader took the batch
UnknownTopicOrPartitionError, InvalidTopicError   fail       nowhere to append
MessageSizeTooLargeError, RecordListTooLargeError fail       rejected by size validation
Topic/Cluster/TransactionalId authorization       fail       rejected by authorization
InvalidRequiredAcks, CorruptRecord, InvalidTimestamp,
UnsupportedForMessageFormat, UnsupportedVersion   fail       rejected by request validation
ProducerFenced, InvalidProducerEpoch,
OutOfOrderSequenceNumber                          fail       idempotent/transactional state rejected it
any other exception                               unknown    the safe default
================================================  =========  ===========================================

Any exception raised by ``AIOKafkaProducer.send()`` itself (``Stage.ENQUEUE``: buffer full
``KafkaTimeoutError``, ``ProducerClosed``, client-side ``MessageSizeTooLargeError``, metadata
errors) is ``fail``: the record never entered the accumulator.

Caveat, stated rather than hidden: aiokafka retries retriable errors until the batch expires and
does not expose the attempt count on the per-message future. A ``fail`` from the *last* attempt
cannot rule out that an earlier, timed-out attempt was written; the checkers will then show the
event as ``recovered``.

RabbitMQ (pika):

==============================================  =========  ===========================================
situation                                       outcome    why
==============================================  =========  ===========================================
``basic.ack`` for the delivery tag              ok         the broker took responsibility
``basic.nack`` for the delivery tag             fail       the broker refused it
returned as unroutable (mandatory)              fail       no queue received it
connection/channel lost, confirm outstanding    unknown    the frame may have reached the broker
publish attempted while disconnected            fail       nothing was written to a socket
AMQPConnectionError / ChannelClosed on publish  unknown    part of the frame may have left
ProtocolSyntaxError (e.g. BodyTooLongError),
UnroutableError, NackError                      fail       rejected before or by the broker
any other exception                             unknown    the safe default
==============================================  =========  ===========================================

SNS and EventBridge (boto3/botocore, ``classify_aws``):

==============================================  =========  ===========================================
situation                                       outcome    why
==============================================  =========  ===========================================
``Publish`` returned a MessageId                ok         the service took responsibility
``PutEvents`` entry without an ErrorCode        ok         the bus took the entry
``PutEvents`` entry with an ErrorCode           fail       the bus refused that entry
EndpointConnectionError, ConnectTimeoutError    fail       no request reached the service
ParamValidationError                            fail       botocore refused it before sending
ClientError with a 4xx status                   fail       the service refused the request
ClientError with a 5xx status, ReadTimeoutError,
ConnectionClosedError                           unknown    the request may have been applied
any other exception                             unknown    the safe default
==============================================  =========  ===========================================

Google Cloud Pub/Sub (google-cloud-pubsub; the publish future's exception, after the client's
own retries):

================================================  =========  ===========================================
exception                                         outcome    why
================================================  =========  ===========================================
PublishToPausedOrderingKeyException               fail       an earlier publish of the key failed; never sent
MessageTooLargeError, FlowControlLimitError       fail       refused by the client before sending
InvalidArgument, NotFound, PermissionDenied,
FailedPrecondition, Unauthenticated,
AlreadyExists, OutOfRange                         fail       the server refused it before storing
ResourceExhausted                                 fail       quota refused before storing
DeadlineExceeded, ServiceUnavailable, Aborted,
InternalServerError, Unknown, Cancelled,
RetryError, asyncio.CancelledError                unknown    the request may have been stored
any other exception                               unknown    the safe default
================================================  =========  ===========================================

SQS (boto3/botocore, one HTTP request per attempt, botocore's own retries off,
``classify_sqs``):

==============================================  =========  ===========================================
situation                                       outcome    why
==============================================  =========  ===========================================
``SendMessage`` answered 200 with a MessageId   ok         the queue stored it
EndpointConnectionError, ConnectTimeoutError    fail       no connection: the request never left
ClientError 4xx (QueueDoesNotExist, invalid     fail       the server refused it before storing
parameter, too large, throttled)
ClientError 5xx                                 unknown    the server failed part way
ReadTimeoutError, ConnectionClosedError,        unknown    the request left; its answer was lost
ResponseStreamingError, ProtocolError
any other exception                             unknown    the safe default
==============================================  =========  ===========================================
"""

from __future__ import annotations

import asyncio
from enum import StrEnum

import aiokafka.errors as kerr
import botocore.exceptions as berr
import nats.errors as nerr
import nats.js.errors as jserr
import pika.exceptions as perr
from google.api_core import exceptions as gexc
from google.cloud.pubsub_v1.publisher import exceptions as psexc


class Outcome(StrEnum):
    """The status of one send."""

    OK = "ok"
    FAIL = "fail"
    UNKNOWN = "unknown"


class Stage(StrEnum):
    """Where a Kafka send failed: before queueing in the client, or after."""

    ENQUEUE = "enqueue"
    DELIVERY = "delivery"


_KAFKA_NOT_WRITTEN: tuple[type[BaseException], ...] = (
    kerr.NotEnoughReplicasError,
    kerr.NotLeaderForPartitionError,
    kerr.LeaderNotAvailableError,
    kerr.UnknownTopicOrPartitionError,
    kerr.InvalidTopicError,
    kerr.MessageSizeTooLargeError,
    kerr.RecordListTooLargeError,
    kerr.RecordTooLargeError,
    kerr.TopicAuthorizationFailedError,
    kerr.ClusterAuthorizationFailedError,
    kerr.TransactionalIdAuthorizationFailed,
    kerr.InvalidRequiredAcksError,
    kerr.CorruptRecordException,
    kerr.InvalidTimestampError,
    kerr.UnsupportedForMessageFormatError,
    kerr.UnsupportedVersionError,
    kerr.ProducerFenced,
    kerr.InvalidProducerEpoch,
    kerr.OutOfOrderSequenceNumber,
)

_AMQP_NOT_WRITTEN: tuple[type[BaseException], ...] = (
    perr.ProtocolSyntaxError,
    perr.UnroutableError,
    perr.NackError,
    perr.ConnectionWrongStateError,
    perr.ChannelWrongStateError,
)


def classify_kafka(exc: BaseException, stage: Stage = Stage.DELIVERY) -> Outcome:
    """Outcome of a Kafka send that ended with ``exc``.

    >>> classify_kafka(kerr.RequestTimedOutError())
    <Outcome.UNKNOWN: 'unknown'>
    >>> classify_kafka(kerr.KafkaTimeoutError(), Stage.ENQUEUE)
    <Outcome.FAIL: 'fail'>
    """
    if stage is Stage.ENQUEUE:
        return Outcome.FAIL
    if isinstance(exc, _KAFKA_NOT_WRITTEN):
        return Outcome.FAIL
    return Outcome.UNKNOWN


def classify_amqp(exc: BaseException, *, written: bool) -> Outcome:
    """Outcome of an AMQP publish that raised ``exc`` or was cut off by it.

    ``written`` says whether ``basic_publish`` had already handed the frame to the socket
    buffer (a confirm was outstanding) when ``exc`` happened.

    >>> classify_amqp(perr.StreamLostError("reset"), written=True)
    <Outcome.UNKNOWN: 'unknown'>
    >>> classify_amqp(perr.StreamLostError("reset"), written=False)
    <Outcome.FAIL: 'fail'>
    """
    if not written or isinstance(exc, _AMQP_NOT_WRITTEN):
        return Outcome.FAIL
    return Outcome.UNKNOWN


_NATS_NOT_WRITTEN: tuple[type[BaseException], ...] = (
    jserr.NoStreamResponseError,
    jserr.APIError,
    nerr.NoRespondersError,
    nerr.OutboundBufferLimitError,
    nerr.MaxPayloadError,
    nerr.BadSubjectError,
    nerr.BadHeaderError,
    nerr.ConnectionDrainingError,
)


def classify_nats(exc: BaseException, *, jetstream: bool) -> Outcome:
    """Outcome of a NATS publish that raised ``exc``.

    >>> classify_nats(nerr.TimeoutError(), jetstream=True)
    <Outcome.UNKNOWN: 'unknown'>
    >>> classify_nats(nerr.ConnectionClosedError(), jetstream=False)
    <Outcome.FAIL: 'fail'>
    """
    if isinstance(exc, _NATS_NOT_WRITTEN):
        return Outcome.FAIL
    if not jetstream and isinstance(exc, nerr.ConnectionClosedError):
        return Outcome.FAIL
    return Outcome.UNKNOWN


_AWS_NOT_SENT: tuple[type[BaseException], ...] = (
    berr.EndpointConnectionError,
    berr.ConnectTimeoutError,
    berr.ParamValidationError,
)


def classify_aws(exc: BaseException) -> Outcome:
    """Outcome of an SNS ``Publish`` or EventBridge ``PutEvents`` call that raised ``exc``.

    >>> classify_aws(berr.EndpointConnectionError(endpoint_url="http://127.0.0.1:4566"))
    <Outcome.FAIL: 'fail'>
    >>> classify_aws(berr.ReadTimeoutError(endpoint_url="http://127.0.0.1:4566"))
    <Outcome.UNKNOWN: 'unknown'>
    """
    if isinstance(exc, _AWS_NOT_SENT):
        return Outcome.FAIL
    if isinstance(exc, berr.ClientError):
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return Outcome.FAIL if 400 <= status < 500 else Outcome.UNKNOWN
    return Outcome.UNKNOWN


_SQS_NOT_SENT: tuple[type[BaseException], ...] = (
    berr.EndpointConnectionError,
    berr.ConnectTimeoutError,
    berr.ParamValidationError,
    berr.NoCredentialsError,
)


def sqs_error_code(exc: BaseException) -> str:
    """The SQS error code of a ``ClientError`` (``QueueDoesNotExist``...), else ``""``."""
    if isinstance(exc, berr.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def classify_sqs(exc: BaseException) -> Outcome:
    """Outcome of an SQS ``SendMessage`` that raised ``exc``.

    >>> classify_sqs(berr.EndpointConnectionError(endpoint_url="http://127.0.0.1:9324"))
    <Outcome.FAIL: 'fail'>
    >>> classify_sqs(berr.ReadTimeoutError(endpoint_url="http://127.0.0.1:9324"))
    <Outcome.UNKNOWN: 'unknown'>
    """
    if isinstance(exc, _SQS_NOT_SENT):
        return Outcome.FAIL
    if isinstance(exc, berr.ClientError):
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return Outcome.FAIL if 400 <= status < 500 else Outcome.UNKNOWN
    return Outcome.UNKNOWN


_PUBSUB_NOT_WRITTEN: tuple[type[BaseException], ...] = (
    psexc.PublishToPausedOrderingKeyException,
    psexc.MessageTooLargeError,
    psexc.FlowControlLimitError,
    gexc.InvalidArgument,
    gexc.NotFound,
    gexc.PermissionDenied,
    gexc.FailedPrecondition,
    gexc.Unauthenticated,
    gexc.AlreadyExists,
    gexc.OutOfRange,
    gexc.ResourceExhausted,
)


def classify_pubsub(exc: BaseException) -> Outcome:
    """Outcome of a Pub/Sub publish whose future ended with ``exc``.

    >>> classify_pubsub(gexc.ServiceUnavailable("reset"))
    <Outcome.UNKNOWN: 'unknown'>
    >>> classify_pubsub(gexc.NotFound("no topic"))
    <Outcome.FAIL: 'fail'>
    """
    if isinstance(exc, _PUBSUB_NOT_WRITTEN):
        return Outcome.FAIL
    return Outcome.UNKNOWN


def describe(exc: BaseException) -> str:
    """A short, stable error text for the history's ``error`` column."""
    if isinstance(exc, asyncio.CancelledError):
        return "CancelledError: the client closed with the send in flight"
    text = str(exc).strip()
    name = type(exc).__name__
    if not text or text == name:
        return name
    return text if name in text else f"{name}: {text}"


__all__ = [
    "Outcome",
    "Stage",
    "classify_amqp",
    "classify_aws",
    "classify_kafka",
    "classify_nats",
    "classify_pubsub",
    "classify_sqs",
    "describe",
    "sqs_error_code",
]
