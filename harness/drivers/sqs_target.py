"""Where the SQS drivers connect and what they set up: a queue, optionally FIFO, with a redrive
policy to a dead-letter queue.

``SqsTarget`` names the endpoint (the proxied ElasticMQ URL), the queue and its settings.
``client`` makes a boto3 SQS client with dummy credentials whose endpoint host is pinned to
a checked loopback (or allow-listed) IP literal (``harness.safety``), and every queue URL the
server hands back is checked the same way before it is used. boto3 blocks: the drivers call
it from their own threads, never from the event loop.

Positions: SQS has no offsets. A message's position is its ``MessageId``, kept in ``msg_id``
and folded into ``offset`` (the UUID's first 60 bits, ``partition`` 0), so the log checks
see a producer retry stored twice (``duplicate_write``: two message ids for one event) and a
redelivery (``duplicate_delivery``: one message id received twice); the receive count goes
in ``attempt``.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from harness.errors import ConfigError, StackError, UnsafeTargetError
from harness.safety import check_target, pin_address

DEFAULT_ENDPOINT = "http://127.0.0.1:9324"
REGION = "elasticmq"
# Dummy credentials: ElasticMQ checks none, and a real secret never belongs in a scenario.
DUMMY_KEY = "harness"
MAX_NAME = 80
FIFO_SUFFIX = ".fifo"


@dataclass(frozen=True)
class SqsTarget:
    """One SQS queue (and its dead-letter queue when ``dlq`` is set)."""

    queue: str
    endpoint: str = DEFAULT_ENDPOINT
    fifo: bool = False
    visibility_timeout_s: int = 30
    dlq: str | None = None
    max_receive_count: int = 3
    connect_timeout_s: float = 2.0
    read_timeout_s: float = 5.0
    allow: tuple[str, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        for name in (self.queue, self.dlq):
            if name is not None and not _name_ok(name, self.fifo):
                raise ConfigError(
                    f"The SQS queue name {name!r} must be 1-{MAX_NAME} letters, digits, '-' or "
                    "'_' (a FIFO queue's name ends in .fifo)."
                )
        check_target(_host_of(self.endpoint), self.allow)

    @property
    def queue_names(self) -> tuple[str, ...]:
        return (self.queue,) if self.dlq is None else (self.queue, self.dlq)


def _name_ok(name: str, fifo: bool) -> bool:
    base = name[: -len(FIFO_SUFFIX)] if fifo and name.endswith(FIFO_SUFFIX) else name
    if fifo and not name.endswith(FIFO_SUFFIX):
        return False
    return 0 < len(name) <= MAX_NAME and all(c.isalnum() or c in "-_" for c in base)


def _host_of(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeTargetError(
            f"SQS endpoint {url!r} is not an http(s)://host:port URL; write it so."
        )
    return parts.hostname


def pinned_endpoint(target: SqsTarget) -> str:
    """The endpoint URL with its host replaced by a checked IP literal."""
    parts = urlsplit(target.endpoint)
    host = pin_address(_host_of(target.endpoint), target.allow)
    shown = f"[{host}]" if ":" in host else host
    netloc = f"{shown}:{parts.port}" if parts.port else shown
    return urlunsplit(parts._replace(netloc=netloc))


def check_queue_url(url: str, target: SqsTarget) -> str:
    """``url`` if its host passes the allow-list (a server may hand back any URL)."""
    check_target(_host_of(url), target.allow)
    return url


def client(target: SqsTarget, pool: int = 10) -> Any:
    """A boto3 SQS client for ``target``: pinned endpoint, dummy credentials, no retries (the
    drivers retry, and record each attempt)."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=target.connect_timeout_s,
        read_timeout=target.read_timeout_s,
        max_pool_connections=pool,
        tcp_keepalive=True,
    )
    session = boto3.session.Session()
    return session.client(
        "sqs", endpoint_url=pinned_endpoint(target), region_name=REGION,
        aws_access_key_id=DUMMY_KEY, aws_secret_access_key=DUMMY_KEY, config=config,
    )  # fmt: skip


@dataclass
class QueueUrls:
    """The queue URLs of one target, created on first use and again after the server lost
    them (an in-memory ElasticMQ forgets its queues when it dies)."""

    target: SqsTarget
    sqs: Any
    main: str = ""
    dead: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def ensure(self) -> None:
        """Create the DLQ, then the queue with its redrive policy (idempotent)."""
        with self._lock:
            target = self.target
            attributes: dict[str, str] = {"VisibilityTimeout": str(target.visibility_timeout_s)}
            if target.fifo:
                attributes["FifoQueue"] = "true"
            if target.dlq is not None:
                dead = self._create(target.dlq, {"FifoQueue": "true"} if target.fifo else {})
                arn = self.sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])
                policy = {"deadLetterTargetArn": arn["Attributes"]["QueueArn"],
                          "maxReceiveCount": target.max_receive_count}  # fmt: skip
                attributes["RedrivePolicy"] = json.dumps(policy)
                self.dead = dead
            self.main = self._create(target.queue, attributes)

    def _create(self, name: str, attributes: dict[str, str]) -> str:
        try:
            reply = self.sqs.create_queue(QueueName=name, Attributes=attributes)
        except Exception as error:
            raise StackError(
                f"SQS did not create queue {name!r} at {self.target.endpoint} ({error!r}). Is "
                "ElasticMQ up? Start it with `harness stack up --with sqs`."
            ) from error
        return check_queue_url(reply["QueueUrl"], self.target)


def delete_queues(target: SqsTarget) -> None:
    """Delete the target's queues (their events are in the history by now); quiet if gone."""
    sqs = client(target, pool=2)
    for name in target.queue_names:
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            sqs.delete_queue(QueueUrl=check_queue_url(url, target))
        except Exception:  # already gone, or the server is down: nothing to clean
            continue


def position(message_id: str) -> int:
    """The ``offset`` a message id is recorded at: its UUID's first 60 bits (a stable hash
    for an id that is not a UUID)."""
    digits = message_id.replace("-", "")[:15]
    try:
        return int(digits, 16)
    except ValueError:
        import zlib

        return zlib.crc32(message_id.encode())


__all__ = [
    "DEFAULT_ENDPOINT",
    "QueueUrls",
    "SqsTarget",
    "check_queue_url",
    "client",
    "delete_queues",
    "pinned_endpoint",
    "position",
]
