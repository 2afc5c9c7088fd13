"""Refuse outbound requests to addresses inside our own network.

genhook makes HTTP requests to URLs other people choose (subscriber webhooks now,
result images to mirror later). Without a guard, a subscriber URL like
``http://169.254.169.254/`` or ``http://10.0.0.5:6379/`` would make genhook a proxy
into its own network (server-side request forgery). :func:`check_url` resolves the
host and refuses any address that is not globally routable (private, loopback,
link-local, CGNAT, reserved, unspecified, multicast; IPv4-mapped IPv6 is unwrapped
first) unless the caller allows private targets, which tests and the local
simulator setup do explicitly.

The check runs when a URL is stored and again before every request, because DNS
answers change. A resolver that answers differently between our check and the
HTTP client's own lookup (DNS rebinding) is not covered here; pin the address in
the transport if that threat matters for a deployment.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from receiver.errors import TargetRefusedError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public_address(address: IPAddress) -> bool:
    """True when ``address`` is globally routable unicast."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def split_http_url(url: str) -> tuple[str, int]:
    """``(host, port)`` of an absolute http(s) URL; ValueError when it is not one."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{url!r} is not an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError(f"{url!r} has no host")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{url!r} has an invalid port") from None
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise TargetRefusedError(f"cannot resolve {host!r}: {exc}") from None
    # sockaddr[0] is the address string for both families; drop an IPv6 scope id
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


async def check_url(url: str, *, allow_private: bool, allow_hint: str = "") -> None:
    """Raise :class:`TargetRefusedError` unless ``url`` may be requested.

    ``allow_hint`` tells the user how to allow private targets (the caller's setting).
    """
    try:
        host, port = split_http_url(url)
    except ValueError as exc:
        raise TargetRefusedError(str(exc)) from None
    if allow_private:
        return
    addresses = await resolve(host, port)
    refused = sorted({str(a) for a in addresses if not is_public_address(a)})
    if refused:
        raise TargetRefusedError(
            f"{host} resolves to a private, loopback or link-local address "
            f"({', '.join(refused)}); private targets are not allowed"
            + (f" ({allow_hint})" if allow_hint else "")
        )
