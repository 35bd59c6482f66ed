"""Target address policy: loopback only, unless an address is explicitly allow-listed.

The allow-list comes from the ``HARNESS_ALLOW_HOSTS`` environment variable (comma-separated
host names or addresses) or from the caller.

Two checks, both needed:

* **before connecting** (``check_target``, ``check_address``): a name is accepted only if it is
  a loopback literal (127.0.0.0/8, ::1), ``localhost`` or allow-listed. Nothing is resolved:
  asking DNS about ``example.com`` already sends a packet off the machine.
* **after connecting** (``check_peer``): the address the socket is actually connected to must
  be loopback or an allow-listed host's address, which catches a ``localhost`` that
  ``/etc/hosts`` maps elsewhere, or a broker address handed over by a server.

``redact_url`` and ``redact_text`` hide the passwords of URLs wherever they are shown or stored.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from harness.errors import UnsafeTargetError

ALLOW_ENV = "HARNESS_ALLOW_HOSTS"
REDACTED = "***"

_LOCALHOST = {"localhost", "localhost."}
_URL_CREDENTIALS = re.compile(
    r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]*):(?P<secret>[^\s@/]*)@"
)


def _allow_list(extra: Iterable[str]) -> set[str]:
    from_env = {h.strip() for h in os.environ.get(ALLOW_ENV, "").split(",") if h.strip()}
    return {_normal(h) for h in from_env | {h.strip() for h in extra if h.strip()}}


def _normal(host: str) -> str:
    return host.strip().strip("[]").lower()


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``host`` as an IP address (an IPv4-mapped IPv6 address as its IPv4), else None."""
    try:
        ip = ipaddress.ip_address(_normal(host).split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def is_loopback(host: str) -> bool:
    """True for a loopback literal (127.0.0.0/8, ::1) or ``localhost``; nothing is resolved."""
    if _normal(host) in _LOCALHOST:
        return True
    ip = _ip(host)
    return ip is not None and ip.is_loopback


def check_target(host: str, allow: Iterable[str] = ()) -> None:
    """Raise ``UnsafeTargetError`` unless ``host`` is loopback or allow-listed (no DNS)."""
    if is_loopback(host) or _normal(host) in _allow_list(allow):
        return
    raise UnsafeTargetError(
        f"Refusing to target {host!r}: the harness only sends traffic to loopback addresses "
        f"(127.0.0.0/8, ::1, localhost) by default and does not even resolve other names. "
        f"To target it anyway, add it to {ALLOW_ENV} (comma-separated)."
    )


def split_host_port(address: str) -> tuple[str, int]:
    """Split ``host:port`` or ``[v6]:port`` into its parts; a bad port is an ``UnsafeTargetError``."""
    address = address.strip()
    if address.startswith("["):
        host, bracket, rest = address[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            raise UnsafeTargetError(
                f"Address {address!r} is not of the form [v6-address]:port; write it so."
            )
        port = rest[1:]
    else:
        host, _, port = address.rpartition(":")
    if not host:
        raise UnsafeTargetError(
            f"Address {address!r} has no host or no port; write it as host:port."
        )
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise UnsafeTargetError(
            f"Address {address!r} has port {port!r}, which is not a number from 1 to 65535; "
            "write it as host:port."
        )
    return host, int(port)


def check_address(address: str, allow: Iterable[str] = ()) -> None:
    """``check_target`` for a ``host:port`` string."""
    check_target(split_host_port(address)[0], allow)


def check_addresses(addresses: str, allow: Iterable[str] = ()) -> None:
    """``check_address`` for each entry of a comma-separated list (a Kafka bootstrap)."""
    for address in addresses.split(","):
        if address.strip():
            check_address(address, allow)


def _allowed_ips(allow: Iterable[str]) -> set[Any]:
    """The addresses of the allow-listed hosts; resolving them is fine, they were named."""
    found: set[Any] = set()
    for host in _allow_list(allow):
        ip = _ip(host)
        if ip is not None:
            found.add(ip)
            continue
        try:
            infos = socket.getaddrinfo(host, None)
        except (OSError, UnicodeError):
            continue
        found |= {_ip(str(info[4][0])) for info in infos} - {None}
    return found


def peer_host(peer: Any) -> str:
    """The host of a connected socket, a ``(host, port, ...)`` tuple or an address string."""
    if isinstance(peer, socket.socket):
        peer = peer.getpeername()
    if isinstance(peer, tuple | list) and peer:
        return str(peer[0])
    if isinstance(peer, str):
        return peer
    raise UnsafeTargetError(
        f"Cannot tell which address the connection goes to (peer {peer!r}); the harness only "
        "talks to peers it can check. Report this as a harness bug."
    )


def check_peer(peer: Any, allow: Iterable[str] = (), *, what: str = "a connection") -> None:
    """Raise ``UnsafeTargetError`` unless the connected address is loopback or allow-listed.

    ``peer`` is a connected socket, a ``getpeername()`` tuple or an address string.
    """
    host = peer_host(peer)
    ip = _ip(host)
    if ip is not None and (ip.is_loopback or ip in _allowed_ips(allow)):
        return
    raise UnsafeTargetError(
        f"Refusing {what}: it is connected to {host!r}, which is not a loopback address nor "
        f"an address of a host in {ALLOW_ENV}. Check what the name resolves to (/etc/hosts), "
        f"or add the host to {ALLOW_ENV} if it is meant to be targeted."
    )


def check_http_peer(response: Any, allow: Iterable[str] = ()) -> None:
    """``check_peer`` for an ``httpx.Response``: the address its connection went to.

    Use it as an httpx response event hook; a response whose stream cannot tell its server
    address (a test transport) is not a network connection and passes.
    """
    stream = response.extensions.get("network_stream")
    if stream is None:
        return
    try:
        peer = stream.get_extra_info("server_addr")
    except OSError:  # the server already closed it; the host name itself was checked
        return
    check_peer(peer, allow, what=f"the HTTP call to {response.url}")


def pin_address(host: str, allow: Iterable[str] = ()) -> str:
    """A checked IP literal to connect to for ``host``, so the address checked is the one used.

    ``host`` must pass ``check_target``; a name (``localhost`` or an allow-listed one) is
    resolved and every address it resolves to must pass ``check_peer``.
    """
    check_target(host, allow)
    ip = _ip(host)
    if ip is not None:
        return str(ip)
    try:
        infos = socket.getaddrinfo(_normal(host), None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as error:
        raise UnsafeTargetError(
            f"Cannot resolve {host!r} ({error}); write a loopback address such as 127.0.0.1."
        ) from error
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for address in addresses:
        check_peer(address, allow, what=f"{host!r}")
    return addresses[0]


def redact_url(url: str) -> str:
    """``url`` with the password of its user part replaced by ``***`` (the user stays)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return redact_text(url)
    if password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{REDACTED}@{host}"))


def redact_text(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` in it replaced."""
    return _URL_CREDENTIALS.sub(lambda m: f"{m['head']}:{REDACTED}@", text)


__all__ = [
    "ALLOW_ENV",
    "REDACTED",
    "check_address",
    "check_addresses",
    "check_http_peer",
    "check_peer",
    "check_target",
    "is_loopback",
    "peer_host",
    "pin_address",
    "redact_text",
    "redact_url",
    "split_host_port",
]
