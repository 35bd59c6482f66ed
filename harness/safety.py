"""Target address policy: loopback only, unless an address is explicitly allow-listed.

The allow-list comes from the ``HARNESS_ALLOW_HOSTS`` environment variable (comma-separated
host names or addresses) or from the caller.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable

from harness.errors import UnsafeTargetError

ALLOW_ENV = "HARNESS_ALLOW_HOSTS"


def _allow_list(extra: Iterable[str]) -> set[str]:
    from_env = {h.strip() for h in os.environ.get(ALLOW_ENV, "").split(",") if h.strip()}
    return from_env | {h.strip() for h in extra if h.strip()}


def is_loopback(host: str) -> bool:
    """True when every address ``host`` resolves to is in 127.0.0.0/8 or is ::1."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def check_target(host: str, allow: Iterable[str] = ()) -> None:
    """Raise ``UnsafeTargetError`` unless ``host`` is loopback or allow-listed."""
    if host in _allow_list(allow) or is_loopback(host):
        return
    raise UnsafeTargetError(
        f"Refusing to target {host!r}: the harness only sends traffic to loopback addresses "
        f"by default. To target it anyway, add it to {ALLOW_ENV} (comma-separated)."
    )


def split_host_port(address: str) -> tuple[str, int]:
    """Split ``host:port`` or ``[v6]:port`` into its parts."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return host, int(rest.lstrip(":"))
    host, _, port = address.rpartition(":")
    if not host:
        raise UnsafeTargetError(f"Address {address!r} has no port; write it as host:port.")
    return host, int(port)


def check_address(address: str, allow: Iterable[str] = ()) -> None:
    """``check_target`` for a ``host:port`` string."""
    check_target(split_host_port(address)[0], allow)


__all__ = ["ALLOW_ENV", "check_address", "check_target", "is_loopback", "split_host_port"]
