"""Every address of an env file checked against the allow-list before anything connects.

Loopback passes; any other host must be in ``$HARNESS_ALLOW_HOSTS`` (``harness.safety``). A
refusal names the env file and the field, and never shows a password.

    >>> check_env_addresses(load_env("staging.yaml"), "staging.yaml")   # UnsafeTargetError?
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

from harness.errors import UnsafeTargetError
from harness.safety import check_address, check_target, redact_text
from harness.stack.envfile import EnvFile, EnvNode


def _url_hosts(url: str) -> list[str]:
    """The ``host[:port]`` items of a URL's authority (libpq URLs may list several)."""
    netloc = urlsplit(url).netloc.rpartition("@")[2]
    return [item for item in netloc.split(",") if item] or [""]


def _node_addresses(prefix: str, node: EnvNode) -> Iterator[tuple[str, str]]:
    if node.listen:
        yield f"{prefix}.listen", node.listen
    if node.address:
        yield f"{prefix}.address", node.address


def env_addresses(env: EnvFile) -> Iterator[tuple[str, str]]:
    """(field, host or host:port) for every address the env file names."""
    yield "toxiproxy.api", urlsplit(env.toxiproxy.api).hostname or ""
    if env.kafka is not None:
        for index, address in enumerate(env.kafka.bootstrap):
            yield f"kafka.bootstrap[{index}]", address
        for name, node in env.kafka.nodes.items():
            yield from _node_addresses(f"kafka.nodes.{name}", node)
    if env.rabbitmq is not None:
        yield "rabbitmq.url", urlsplit(env.rabbitmq.url).hostname or ""
        if env.rabbitmq.node is not None:
            yield from _node_addresses("rabbitmq.node", env.rabbitmq.node)
    if env.postgres is not None:
        for host in _url_hosts(env.postgres.dsn):
            yield "postgres.dsn", host
        if env.postgres.node is not None:
            yield from _node_addresses("postgres.node", env.postgres.node)
    yield from _nats_addresses(env)
    yield from _emulator_addresses(env)
    yield from _sqs_addresses(env)


def _nats_addresses(env: EnvFile) -> Iterator[tuple[str, str]]:
    """The ``nats:`` section's addresses: every server URL's host:port, every node's."""
    if env.nats is None:
        return
    for index, url in enumerate(env.nats.servers):
        yield f"nats.servers[{index}]", url.partition("://")[2].rpartition("@")[2].rstrip("/")
    for name, node in env.nats.nodes.items():
        yield from _node_addresses(f"nats.nodes.{name}", node)


def _sqs_addresses(env: EnvFile) -> Iterator[tuple[str, str]]:
    """The ``sqs:`` section's addresses: the endpoint's host:port, the node's."""
    if env.sqs is None:
        return
    yield "sqs.endpoint", urlsplit(env.sqs.endpoint).netloc.rpartition("@")[2]
    if env.sqs.node is not None:
        yield from _node_addresses("sqs.node", env.sqs.node)


def _emulator_addresses(env: EnvFile) -> Iterator[tuple[str, str]]:
    """The ``moto:`` endpoint's, the ``pubsub:`` emulator's and the ``oauth:`` issuer's
    host:port, and their nodes'."""
    if env.moto is not None:
        yield "moto.endpoint", urlsplit(env.moto.endpoint).netloc
        if env.moto.node is not None:
            yield from _node_addresses("moto.node", env.moto.node)
    if env.pubsub is not None:
        yield "pubsub.emulator_host", env.pubsub.emulator_host
        if env.pubsub.node is not None:
            yield from _node_addresses("pubsub.node", env.pubsub.node)
    if env.oauth is not None:
        yield "oauth.issuer", urlsplit(env.oauth.issuer).netloc
        if env.oauth.node is not None:
            yield from _node_addresses("oauth.node", env.oauth.node)


def check_env_addresses(env: EnvFile, source: str) -> None:
    """``UnsafeTargetError`` naming the file and field of the first address off the allow-list."""
    for where, address in env_addresses(env):
        try:
            if not address:
                raise UnsafeTargetError("it names no host; give host:port")
            if address.startswith("[") or address.count(":") == 1:
                check_address(address)
            else:
                check_target(address)
        except UnsafeTargetError as error:
            raise UnsafeTargetError(f"{source}: {where}: {redact_text(str(error))}") from None


__all__ = ["check_env_addresses", "env_addresses"]
