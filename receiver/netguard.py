"""Refuse outbound requests to addresses inside our own network.

genhook makes HTTP requests to URLs other people choose (subscriber webhooks,
result images to mirror). Without a guard, a subscriber URL like
``http://169.254.169.254/`` or ``http://10.0.0.5:6379/`` would make genhook a proxy
into its own network (server-side request forgery). An address is refused unless it
is globally routable (not private, loopback, link-local, CGNAT, reserved,
unspecified or multicast), and every IPv6 form that carries an IPv4 address is
judged as that IPv4 address too: IPv4-mapped (``::ffff:a.b.c.d``), IPv4-compatible
(``::a.b.c.d``), NAT64 (``64:ff9b::/96``, ``64:ff9b:1::/48``), 6to4 (``2002::/16``)
and Teredo (``2001::/32``, server and client). Tests and the local simulator setup
allow private targets explicitly.

:func:`check_url` runs when a URL is stored, for a clear refusal. The request itself
goes through :func:`guarded_client`, whose connections are made by
:class:`PinnedBackend`: it resolves the name once, checks every address it got,
and connects to a checked one; TLS (SNI, certificate) and the ``Host`` header still
use the name. So a resolver that answers differently between a check and the
connection (DNS rebinding) gains nothing: nothing is looked up twice.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from receiver.errors import TargetRefusedError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_COMPATIBLE = ipaddress.ip_network("::/96")


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, compatible, NAT64, 6to4,
    Teredo), which is where a packet to it may really go."""
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    compatible = address in _COMPATIBLE and int(address) > 1  # ::a.b.c.d, not :: or ::1
    if compatible or any(address in net for net in _NAT64):
        found.append(low32)
    return found


def is_public_address(address: IPAddress) -> bool:
    """True when ``address``, and every IPv4 address it embeds, is globally routable unicast."""
    candidates: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        embedded = embedded_ipv4(address)
        if address.ipv4_mapped is not None:
            candidates = []  # judged as its IPv4 address alone
        candidates.extend(embedded)
    return all(a.is_global and not a.is_multicast for a in candidates)


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
    refuse_private(host, await resolve(host, port), allow_hint)


def refuse_private(host: str, addresses: Iterable[IPAddress], allow_hint: str = "") -> None:
    """Raise :class:`TargetRefusedError` if any of ``addresses`` is not public."""
    refused = sorted({str(a) for a in addresses if not is_public_address(a)})
    if refused:
        raise TargetRefusedError(
            f"{host} resolves to a private, loopback or link-local address "
            f"({', '.join(refused)}); private targets are not allowed"
            + (f" ({allow_hint})" if allow_hint else "")
        )


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connections to the address that was checked: resolve once, check every address
    (all must be public unless ``allow_private``), connect to the first that answers.

    httpcore asks the backend for a TCP stream to the URL's host and then starts TLS
    on it with that host as SNI, so the certificate is still checked against the
    name; only the lookup moved here, and it happens exactly once per connection.
    """

    def __init__(
        self, *, allow_private: bool, allow_hint: str = "", resolver: Resolver | None = None
    ) -> None:
        self._allow_private = allow_private
        self._allow_hint = allow_hint
        self._resolve = resolver or resolve
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self._resolve(host, port)
        except TargetRefusedError as exc:  # no answer now: a connection failure, retryable
            raise httpcore.ConnectError(str(exc)) from None
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        if not self._allow_private:
            refuse_private(host, addresses, self._allow_hint)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise TargetRefusedError("unix sockets are not outbound targets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@functools.cache
def _system_ssl_context() -> ssl.SSLContext:
    """The system's default TLS context, built once per process: loading the CA store
    takes tens of milliseconds, and every outbound client verifies the same way."""
    return ssl.create_default_context()


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, with its connection pool built on :class:`PinnedBackend`
    (httpx does not take a network backend, so the pool is replaced)."""

    def __init__(self, backend: PinnedBackend, *, limits: httpx.Limits) -> None:
        context = _system_ssl_context()
        # given to httpx too: it would otherwise load a CA bundle for a pool it discards
        super().__init__(verify=context, limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


def guarded_client(
    *,
    allow_private: bool,
    allow_hint: str = "",
    timeout: httpx.Timeout,
    resolver: Resolver | None = None,
    limits: httpx.Limits | None = None,
) -> httpx.AsyncClient:
    """A client for URLs other people choose: every connection is to a checked address."""
    backend = PinnedBackend(allow_private=allow_private, allow_hint=allow_hint, resolver=resolver)
    transport = PinnedTransport(backend, limits=limits or httpx.Limits())
    return httpx.AsyncClient(transport=transport, timeout=timeout, trust_env=False)
