"""Where the RabbitMQ drivers connect and what they declare: one queue, optionally dead-lettered.

With ``dead_letter`` the queue carries ``x-dead-letter-exchange=<queue>.dlx``, a fanout exchange
bound to the queue ``<queue>.dlq``: a consumer's ``basic_reject(requeue=False)`` moves a poison
message there. Publisher and consumer declare the same topology (declares are idempotent when
the arguments agree).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import pika
import pika.exceptions as perr

from harness.errors import ConfigError, StackError
from harness.safety import check_peer, check_target, pin_address


@dataclass(frozen=True)
class AmqpTarget:
    queue: str
    host: str = "127.0.0.1"
    port: int = 5672
    virtual_host: str = "/"
    username: str = "guest"
    password: str = field(default="guest", repr=False)
    durable: bool = True
    dead_letter: bool = True
    heartbeat_s: int = 10

    def __post_init__(self) -> None:
        if not self.queue:
            raise ConfigError("The RabbitMQ target needs a queue name.")
        check_target(self.host)

    @classmethod
    def from_url(
        cls, url: str, queue: str, *, durable: bool = True, dead_letter: bool = True
    ) -> AmqpTarget:
        """The target of an ``amqp://user:password@host:port/vhost`` URL (parts percent-decoded;
        RabbitMQ's defaults, guest on 127.0.0.1:5672 and vhost ``/``, for the parts left out)."""
        parts = urlsplit(url)
        try:
            port = parts.port or 5672
        except ValueError as error:
            shown = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
            raise ConfigError(
                f"The RabbitMQ URL {shown!r} (credentials not shown) has an invalid port: "
                f"{error}. Give it as amqp://user:password@host:port/vhost."
            ) from None
        return cls(
            queue=queue,
            host=parts.hostname or "127.0.0.1",
            port=port,
            virtual_host=unquote(parts.path.lstrip("/")) or "/",
            username=unquote(parts.username or "guest"),
            password=unquote(parts.password or "guest"),
            durable=durable,
            dead_letter=dead_letter,
        )

    @property
    def dlx(self) -> str:
        return f"{self.queue}.dlx"

    @property
    def dlq(self) -> str:
        return f"{self.queue}.dlq"

    def parameters(self) -> pika.ConnectionParameters:
        return pika.ConnectionParameters(
            host=pin_address(self.host),
            port=self.port,
            virtual_host=self.virtual_host,
            credentials=pika.PlainCredentials(self.username, self.password),
            heartbeat=self.heartbeat_s,
            blocked_connection_timeout=30,
            connection_attempts=1,
            socket_timeout=5,
        )

    def queue_arguments(self) -> dict[str, Any]:
        return {"x-dead-letter-exchange": self.dlx} if self.dead_letter else {}


def connection_peer(connection: Any) -> Any:
    """The peer address of a pika ``BlockingConnection`` or ``SelectConnection``, or None."""
    impl = getattr(connection, "_impl", connection)
    sock = getattr(getattr(impl, "_transport", None), "_sock", None)
    return None if sock is None else sock.getpeername()


def check_connection(connection: Any, what: str = "the RabbitMQ connection") -> None:
    """Close ``connection`` and raise ``UnsafeTargetError`` unless its peer is loopback or
    allow-listed (``AmqpTarget.parameters`` already pinned a checked address: this is the
    proof that the socket went there)."""
    try:
        check_peer(connection_peer(connection), what=what)
    except Exception:
        if connection.is_open:
            connection.close()
        raise


def connect_blocking(target: AmqpTarget) -> pika.BlockingConnection:
    """A ``BlockingConnection`` to ``target`` whose peer was checked."""
    connection = pika.BlockingConnection(target.parameters())
    check_connection(connection)
    return connection


def declare(channel: Any, target: AmqpTarget) -> None:
    """Declare ``target``'s queue (and its dead-letter exchange and queue) on a blocking channel."""
    if target.dead_letter:
        channel.exchange_declare(target.dlx, exchange_type="fanout", durable=True)
        channel.queue_declare(target.dlq, durable=True)
        channel.queue_bind(target.dlq, target.dlx)
    channel.queue_declare(target.queue, durable=target.durable, arguments=target.queue_arguments())


def declare_blocking(target: AmqpTarget, *, purge: bool = False) -> None:
    """Connect, declare the topology (optionally purging both queues), disconnect."""
    try:
        connection = connect_blocking(target)
    except perr.AMQPConnectionError as exc:
        raise StackError(
            f"Cannot reach RabbitMQ at {target.host}:{target.port}: {exc!r}. "
            "Is the stack up (`harness stack up`)?"
        ) from exc
    try:
        channel = connection.channel()
        declare(channel, target)
        if purge:
            channel.queue_purge(target.queue)
            if target.dead_letter:
                channel.queue_purge(target.dlq)
    except perr.ChannelClosedByBroker as exc:
        raise ConfigError(
            f"RabbitMQ refused to declare queue {target.queue!r}: {exc.reply_text}. An existing "
            "queue with other arguments (durable, dead-letter) must be deleted first."
        ) from exc
    finally:
        if connection.is_open:
            connection.close()


async def declare_topology(target: AmqpTarget, *, purge: bool = False) -> None:
    """``declare_blocking`` off the event loop."""
    await asyncio.to_thread(declare_blocking, target, purge=purge)


def delete_blocking(target: AmqpTarget) -> None:
    """Delete the queue, its dead-letter queue and exchange (absent ones are fine)."""
    connection = connect_blocking(target)
    try:
        channel = connection.channel()
        channel.queue_delete(target.queue)
        if target.dead_letter:
            channel.queue_delete(target.dlq)
            channel.exchange_delete(target.dlx)
    finally:
        if connection.is_open:
            connection.close()


__all__ = [
    "AmqpTarget",
    "check_connection",
    "connect_blocking",
    "connection_peer",
    "declare",
    "declare_blocking",
    "declare_topology",
    "delete_blocking",
]
