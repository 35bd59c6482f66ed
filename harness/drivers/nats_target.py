"""Where the NATS drivers connect and what they set up: a core subject, or a JetStream stream.

``NatsTarget`` names the servers (proxied client URLs), the subject and, for JetStream, the
stream with its replicas and ``Nats-Msg-Id`` duplicate window, and the durable pull consumer's
ack wait and max deliveries. Producer and consumer both call ``ensure_stream`` (idempotent:
an existing stream is updated to the same settings).

Every connection is checked: each configured server is pinned to a checked loopback (or
allow-listed) IP literal before nats-py sees it, servers the cluster gossips (``connect_urls``)
are dropped from the pool unless they pass the same check, and after every (re)connect the
socket's peer is checked, so a client never talks to a server it was not allowed to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import nats
import nats.js.api as jsapi
import nats.js.errors as jserr

from harness.errors import ConfigError, StackError, UnsafeTargetError
from harness.safety import check_peer, check_target, pin_address

log = logging.getLogger(__name__)

DEFAULT_SERVERS = ("nats://127.0.0.1:4221",)


@dataclass(frozen=True)
class NatsTarget:
    """One NATS destination: ``stream=None`` is core NATS (fire and forget, no storage)."""

    subject: str
    servers: tuple[str, ...] = DEFAULT_SERVERS
    stream: str | None = None
    replicas: int = 1
    storage: str = "file"
    duplicate_window_s: float = 120.0
    ack_wait_s: float = 30.0
    max_deliver: int = -1
    durable: str = "harness"
    connect_timeout_s: float = 5.0
    reconnect_wait_s: float = 0.25
    allow: tuple[str, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if not self.subject or any(c in self.subject for c in " \t\r\n*>"):
            raise ConfigError(
                f"The NATS subject {self.subject!r} must be a non-empty literal subject (no "
                "spaces or wildcards)."
            )
        if not self.servers:
            raise ConfigError("The NATS target needs at least one server URL.")
        for url in self.servers:
            check_target(_host_of(url), self.allow)
        if self.stream is not None and not self.stream.replace("-", "_").isidentifier():
            raise ConfigError(
                f"The JetStream stream name {self.stream!r} may hold only letters, digits, "
                "'-' and '_'."
            )

    @property
    def jetstream(self) -> bool:
        return self.stream is not None


def _host_of(url: str) -> str:
    parts = urlsplit(url if "://" in url else f"nats://{url}")
    if not parts.hostname or parts.port is None:
        raise UnsafeTargetError(
            f"NATS server {url!r} has no host or port; write it as nats://host:port."
        )
    return parts.hostname


def pinned_servers(target: NatsTarget) -> list[str]:
    """The target's URLs with each host replaced by a checked IP literal."""
    pinned = []
    for url in target.servers:
        parts = urlsplit(url if "://" in url else f"nats://{url}")
        host = pin_address(_host_of(url), target.allow)
        shown = f"[{host}]" if ":" in host else host
        pinned.append(f"{parts.scheme}://{shown}:{parts.port}")
    return pinned


def connection_peer(nc: Any) -> Any:
    """The peer address of nats-py's current socket (``None`` while disconnected)."""
    transport = getattr(nc, "_transport", None)
    writer = getattr(transport, "_io_writer", None)
    if writer is None:
        return None
    return writer.get_extra_info("peername")


def _prune_pool(nc: Any, allow: tuple[str, ...]) -> None:
    """Drop gossiped servers that are neither loopback nor allow-listed from the pool."""
    pool = getattr(nc, "_server_pool", None)
    if pool is None:
        return
    kept = []
    for srv in pool:
        try:
            check_target(srv.uri.hostname or "", allow)
        except UnsafeTargetError:
            log.warning("NATS: ignoring gossiped server %s (not loopback)", srv.uri.hostname)
            continue
        kept.append(srv)
    pool[:] = kept


async def connect(
    target: NatsTarget,
    name: str,
    *,
    on_unsafe: Callable[[UnsafeTargetError], None] | None = None,
    disconnected: Callable[[], Awaitable[None]] | None = None,
    reconnected: Callable[[], Awaitable[None]] | None = None,
) -> Any:
    """A nats-py connection to ``target`` that reconnects forever and is checked on every
    (re)connect; ``StackError`` when no server answers within the connect timeout."""
    holder: dict[str, Any] = {}

    def check(what: str) -> None:
        nc = holder.get("nc")
        if nc is None:
            return
        _prune_pool(nc, target.allow)
        peer = connection_peer(nc)
        if peer is None:
            return
        try:
            check_peer(peer, target.allow, what=what)
        except UnsafeTargetError as error:
            if on_unsafe is not None:
                on_unsafe(error)
            transport = getattr(nc, "_transport", None)
            with contextlib.suppress(Exception):
                transport.close()
            raise

    async def on_reconnect() -> None:
        with contextlib.suppress(UnsafeTargetError):
            check(f"the NATS connection of {name!r}")
        if reconnected is not None:
            await reconnected()

    async def on_discovered() -> None:
        nc = holder.get("nc")
        if nc is not None:
            _prune_pool(nc, target.allow)

    async def on_disconnect() -> None:
        if disconnected is not None:
            await disconnected()

    async def on_error(error: Exception) -> None:
        log.debug("NATS %s: %r", name, error)

    servers = pinned_servers(target)
    try:
        nc = await nats.connect(
            servers=servers,
            name=name,
            connect_timeout=max(1, int(target.connect_timeout_s)),
            reconnect_time_wait=target.reconnect_wait_s,
            max_reconnect_attempts=-1,
            allow_reconnect=True,
            dont_randomize=True,
            error_cb=on_error,
            reconnected_cb=on_reconnect,
            disconnected_cb=on_disconnect,
            discovered_server_cb=on_discovered,
        )
    except Exception as error:
        raise StackError(
            f"NATS client {name!r} could not connect to {', '.join(servers)} ({error!r}). Is "
            "NATS up? Start it with `harness stack up --with nats` (see `harness stack status`)."
        ) from error
    holder["nc"] = nc
    try:
        check(f"the NATS connection of {name!r}")
    except UnsafeTargetError:
        with contextlib.suppress(Exception):
            await nc.close()
        raise
    return nc


def stream_config(target: NatsTarget) -> jsapi.StreamConfig:
    assert target.stream is not None
    return jsapi.StreamConfig(
        name=target.stream,
        subjects=[target.subject],
        num_replicas=target.replicas,
        storage=jsapi.StorageType.FILE if target.storage == "file" else jsapi.StorageType.MEMORY,
        duplicate_window=target.duplicate_window_s,
    )


def consumer_config(target: NatsTarget) -> jsapi.ConsumerConfig:
    return jsapi.ConsumerConfig(
        durable_name=target.durable,
        ack_policy=jsapi.AckPolicy.EXPLICIT,
        deliver_policy=jsapi.DeliverPolicy.ALL,
        ack_wait=target.ack_wait_s,
        max_deliver=target.max_deliver,
        max_ack_pending=10_000,
    )


_ELECTING = (jserr.ServiceUnavailableError, nats.errors.TimeoutError, jserr.NoStreamResponseError)


async def _while_electing(
    attempt: Callable[[], Awaitable[Any]], what: str, timeout_s: float
) -> Any:
    """Run ``attempt`` until it succeeds, retrying while the cluster elects a leader for it
    (no responder, a timeout, "unavailable"); a ``StackError`` naming ``what`` past the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            return await attempt()
        except _ELECTING:
            if loop.time() > deadline:
                raise StackError(
                    f"JetStream did not {what} within {timeout_s:.0f}s; "
                    "is every NATS node up (`harness stack status`)?"
                ) from None
            await asyncio.sleep(0.5)


async def ensure_stream(js: Any, target: NatsTarget, timeout_s: float = 30.0) -> None:
    """Create the target's stream (or update it to the same settings); retried while the
    cluster elects a leader for it."""
    config = stream_config(target)

    async def attempt() -> None:
        try:
            await js.add_stream(config)
        except jserr.BadRequestError:
            await js.update_stream(config)

    await _while_electing(
        attempt, f"create stream {target.stream!r} (R{target.replicas})", timeout_s
    )


async def pull_subscription(js: Any, target: NatsTarget, timeout_s: float = 30.0) -> Any:
    """Bind (creating it if needed) the durable pull consumer; retried while its replicas elect
    a leader, which on a loaded machine can outlast one request's timeout right after the
    stream was made."""

    async def attempt() -> Any:
        return await js.pull_subscribe(
            target.subject, durable=target.durable, stream=target.stream,
            config=consumer_config(target),
        )  # fmt: skip

    return await _while_electing(attempt, f"create consumer {target.durable!r}", timeout_s)


async def delete_stream(target: NatsTarget, timeout_s: float = 30.0) -> None:
    """Delete the target's stream (its events are in the history by now); quiet if gone."""
    if target.stream is None:
        return
    nc = await connect(target, "harness-admin")
    try:

        async def attempt() -> None:
            with contextlib.suppress(jserr.NotFoundError):
                await nc.jetstream().delete_stream(target.stream)

        await _while_electing(attempt, f"delete stream {target.stream!r}", timeout_s)
    finally:
        await nc.close()


__all__ = [
    "NatsTarget",
    "connect",
    "connection_peer",
    "consumer_config",
    "delete_stream",
    "ensure_stream",
    "pinned_servers",
    "pull_subscription",
    "stream_config",
]
