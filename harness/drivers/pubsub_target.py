"""Where the Pub/Sub drivers connect and what they set up: a topic and one subscription.

``PubsubTarget`` names the emulator (``host:port`` of its proxy, what ``PUBSUB_EMULATOR_HOST``
holds), the project, topic and subscription, the subscription's ack deadline, whether it
delivers in ordering-key order, and a push endpoint (then the emulator POSTs each message to
that URL instead of waiting for pulls). The push endpoint is an ``http://`` URL on loopback,
like the emulator: the harness's own receiver (``harness/observe/pubsub_push.py``).

The emulator's address passes the loopback allow-list (``harness.safety``) and is pinned to
the checked IP literal before the client sees it, so gRPC connects to exactly the address
that was checked. The Google client is blocking and threaded: every admin call here runs on
a worker thread (``asyncio.to_thread``), never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from harness.errors import ConfigError, StackError
from harness.safety import check_address, check_target, pin_address, split_host_port

EMULATOR_ENV = "PUBSUB_EMULATOR_HOST"
DEFAULT_EMULATOR = "127.0.0.1:8085"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9._~%+-]{2,254}$")
_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_ENV_LOCK = threading.Lock()


@dataclass(frozen=True)
class PubsubTarget:
    """One topic and its subscription on one emulator."""

    topic: str
    subscription: str
    project: str = "harness-project"
    emulator: str = DEFAULT_EMULATOR
    ack_deadline_s: int = 10
    ordering: bool = False
    push_endpoint: str | None = None
    allow: tuple[str, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if not _PROJECT.match(self.project):
            raise ConfigError(
                f"The Pub/Sub project id {self.project!r} must be 6-30 lowercase letters, "
                "digits and '-', starting with a letter."
            )
        for what, name in (("topic", self.topic), ("subscription", self.subscription)):
            if not _NAME.match(name) or name.lower().startswith("goog"):
                raise ConfigError(
                    f"The Pub/Sub {what} name {name!r} must be 3-255 characters of letters, "
                    "digits and - _ . ~ + %, start with a letter and not with 'goog'."
                )
        if not 1 <= self.ack_deadline_s <= 600:
            raise ConfigError(
                f"ack_deadline_s must be 1 to 600 seconds, got {self.ack_deadline_s!r}."
            )
        check_address(self.emulator, self.allow)
        if self.push_endpoint is not None:
            check_push_endpoint(self.push_endpoint)

    @property
    def topic_path(self) -> str:
        return f"projects/{self.project}/topics/{self.topic}"

    @property
    def subscription_path(self) -> str:
        return f"projects/{self.project}/subscriptions/{self.subscription}"


def check_push_endpoint(url: str) -> None:
    """A push endpoint is ``http://<loopback>:<port>/...``: the emulator posts from this machine
    to a receiver on it. ``ConfigError`` otherwise (``UnsafeTargetError`` for another host)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "http" or not parts.hostname or port is None:
        raise ConfigError(
            f"The Pub/Sub push endpoint {url[:200]!r} must be http://<loopback host>:<port>/path "
            "(the harness's own receiver, beside the emulator)."
        )
    check_target(parts.hostname)


def pinned_emulator(target: PubsubTarget) -> str:
    """The emulator's ``host:port`` with the host replaced by its checked IP literal."""
    host, port = split_host_port(target.emulator)
    ip = pin_address(host, target.allow)
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _with_emulator(target: PubsubTarget, build: Any) -> Any:
    """Build a Google client while ``PUBSUB_EMULATOR_HOST`` names the pinned emulator (the
    client reads it once, at construction: an insecure channel to that address, no
    credentials)."""
    with _ENV_LOCK:
        before = os.environ.get(EMULATOR_ENV)
        os.environ[EMULATOR_ENV] = pinned_emulator(target)
        try:
            return build()
        finally:
            if before is None:
                os.environ.pop(EMULATOR_ENV, None)
            else:
                os.environ[EMULATOR_ENV] = before


def publisher_client(target: PubsubTarget, **options: Any) -> Any:
    from google.cloud import pubsub_v1

    return _with_emulator(target, lambda: pubsub_v1.PublisherClient(**options))


def subscriber_client(target: PubsubTarget) -> Any:
    from google.cloud import pubsub_v1

    return _with_emulator(target, pubsub_v1.SubscriberClient)


ADMIN_TIMEOUT_S = 30.0


def _ensure_blocking(target: PubsubTarget) -> None:
    from google.api_core import exceptions as gexc

    publisher = publisher_client(target)
    subscriber = subscriber_client(target)
    try:
        with contextlib.suppress(gexc.AlreadyExists):  # idempotent: an earlier run's topic
            publisher.create_topic(name=target.topic_path, timeout=ADMIN_TIMEOUT_S)
        request: dict[str, Any] = {
            "name": target.subscription_path,
            "topic": target.topic_path,
            "ack_deadline_seconds": target.ack_deadline_s,
            "enable_message_ordering": target.ordering,
        }
        if target.push_endpoint:
            request["push_config"] = {"push_endpoint": target.push_endpoint}
        with contextlib.suppress(gexc.AlreadyExists):
            subscriber.create_subscription(request=request, timeout=ADMIN_TIMEOUT_S)
    except gexc.GoogleAPICallError as error:
        raise StackError(
            f"The Pub/Sub emulator at {target.emulator} did not create {target.topic_path} "
            f"and {target.subscription_path} ({error}). Is it up? Start it with `harness "
            "stack up --with pubsub` (see `harness stack status`)."
        ) from error
    finally:
        subscriber.close()
        publisher.transport.close()


def _delete_blocking(target: PubsubTarget) -> None:
    from google.api_core import exceptions as gexc

    publisher = publisher_client(target)
    subscriber = subscriber_client(target)
    try:
        for call, name in (
            (subscriber.delete_subscription, {"subscription": target.subscription_path}),
            (publisher.delete_topic, {"topic": target.topic_path}),
        ):
            # Clean-up after the run: the emulator keeps nothing across a restart anyway.
            with contextlib.suppress(gexc.GoogleAPICallError):  # NotFound included
                call(request=name, timeout=10.0)
    finally:
        subscriber.close()
        publisher.transport.close()


def _push_blocking(target: PubsubTarget) -> None:
    from google.api_core import exceptions as gexc

    subscriber = subscriber_client(target)
    try:
        subscriber.modify_push_config(
            request={"subscription": target.subscription_path,
                     "push_config": {"push_endpoint": target.push_endpoint or ""}},
            timeout=ADMIN_TIMEOUT_S,
        )  # fmt: skip
    except gexc.GoogleAPICallError as error:
        raise StackError(
            f"The Pub/Sub emulator at {target.emulator} did not set the push endpoint of "
            f"{target.subscription_path} ({error}). Is it the Java emulator? The Go fallback "
            "(pstest) has no push delivery: install google-cloud-cli-pubsub-emulator."
        ) from error
    finally:
        subscriber.close()


async def set_push_endpoint(target: PubsubTarget) -> None:
    """Point the existing subscription at ``target.push_endpoint`` (empty: back to pull), so a
    subscription created first by the producer (as pull) is pushed to as well."""
    await asyncio.to_thread(_push_blocking, target)


async def ensure_topology(target: PubsubTarget) -> None:
    """Create the target's topic and subscription (quiet if they exist); off the loop."""
    check_target(split_host_port(target.emulator)[0], target.allow)
    await asyncio.to_thread(_ensure_blocking, target)


async def delete_topology(target: PubsubTarget) -> None:
    """Delete the subscription and the topic (their events are in the history by now)."""
    await asyncio.to_thread(_delete_blocking, target)


__all__ = [
    "EMULATOR_ENV",
    "PubsubTarget",
    "delete_topology",
    "ensure_topology",
    "check_push_endpoint",
    "pinned_emulator",
    "publisher_client",
    "set_push_endpoint",
    "subscriber_client",
]
