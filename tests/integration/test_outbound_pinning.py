"""Outbound requests connect to the address that was checked (no DNS rebinding).

A resolver under an attacker's control can answer a public address while genhook
checks the name and a private one when the HTTP client looks it up again. Here the
resolver really does that (``socket.getaddrinfo`` answers 127.0.0.1, taken as public
for the test, for the first lookups and 127.0.0.2, private, after), with a real
"public" receiver on 127.0.0.1 and a real "internal" service on 127.0.0.2, same
port. The internal service must never be reached, for webhooks or image downloads.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver import netguard
from receiver.lifecycle import EventType, Status
from tests.conftest import make_settings
from tests.support.cdn import PNG
from tests.support.delivery import deliveries, emit, make_task
from tests.support.harness import running_genhook
from tests.support.servers import bind_loopback, serve

NAME = "hooks.rebind.test"


class Rebinder:
    """Answers 127.0.0.1 for the first ``honest`` lookups of :data:`NAME`, 127.0.0.2 after."""

    def __init__(self, honest: int) -> None:
        self.honest = honest
        self.lookups = 0

    def answer(self) -> str:
        self.lookups += 1
        return "127.0.0.1" if self.lookups <= self.honest else "127.0.0.2"


@contextlib.contextmanager
def rebinding(monkeypatch: pytest.MonkeyPatch, honest: int) -> Iterator[Rebinder]:
    rebinder = Rebinder(honest)
    real_getaddrinfo = socket.getaddrinfo
    real_public = netguard.is_public_address

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in (NAME, NAME.encode()):  # anyio passes the name IDNA-encoded
            address = rebinder.answer()
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    def public(address: netguard.IPAddress) -> bool:  # 127.0.0.1 stands for the internet
        return address == ipaddress.ip_address("127.0.0.1") or real_public(address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(netguard, "is_public_address", public)
    yield rebinder


@contextlib.asynccontextmanager
async def two_hosts() -> AsyncIterator[tuple[int, list[str], list[str]]]:
    """A public and an internal server on the same port; what each one was asked."""
    public_hits: list[str] = []
    internal_hits: list[str] = []

    def app(hits: list[str]) -> Starlette:
        async def endpoint(request: Request) -> Response:
            hits.append(request.url.path)
            return Response(PNG, media_type="image/png")

        return Starlette(routes=[Route("/{path:path}", endpoint, methods=["GET", "POST"])])

    public_sock = bind_loopback("127.0.0.1")
    port = public_sock.getsockname()[1]
    internal_sock = bind_loopback("127.0.0.2")
    internal_sock.close()
    internal_sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    internal_sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    internal_sock.bind(("127.0.0.2", port))
    async with (
        serve(app(public_hits), sock=public_sock),
        serve(app(internal_hits), sock=internal_sock),
    ):
        yield port, public_hits, internal_hits


async def test_a_webhook_goes_to_the_address_that_was_checked(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, database_url)  # private targets refused
    async with two_hosts() as (port, public_hits, internal_hits), running_genhook(settings) as g:
        # two honest answers: one when the subscriber is added, one when it is sent to
        # (a client that looked the name up again would be told 127.0.0.2)
        with rebinding(monkeypatch, honest=2) as rebinder:
            await g.services.subscribers.add(f"http://{NAME}:{port}/hook")
            await emit(g.services, await make_task(g.services))
            await g.services.dispatcher(holder="d").dispatch_once()
        rows = await deliveries(g.services)
    assert internal_hits == []  # the internal service was never reached
    assert public_hits == ["/hook"]
    assert rebinder.lookups == 2  # none twice for one connection
    assert [d.status for d in rows] == ["succeeded"]


async def test_a_name_that_rebinds_to_a_private_address_is_refused(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, database_url)
    async with two_hosts() as (port, public_hits, internal_hits), running_genhook(settings) as g:
        with rebinding(monkeypatch, honest=1):  # added while honest, private when sent
            await g.services.subscribers.add(f"http://{NAME}:{port}/hook")
            await emit(g.services, await make_task(g.services))
            report = await g.services.dispatcher(holder="d").dispatch_once()
        [row] = await deliveries(g.services)
    assert (internal_hits, public_hits) == ([], [])
    assert report.verdicts == {"retry": 1}
    assert "target refused" in (row.last_error or "") and "127.0.0.2" in (row.last_error or "")


async def test_an_image_download_goes_to_the_address_that_was_checked(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, database_url)  # private image hosts refused
    async with two_hosts() as (port, public_hits, internal_hits), running_genhook(settings) as g:
        task_id = await make_task(g.services)
        await emit(
            g.services,
            task_id,
            EventType.COMPLETED,
            status=Status.COMPLETED.value,
            result_urls=[f"http://{NAME}:{port}/a.png"],
        )
        with rebinding(monkeypatch, honest=1):
            report = await g.services.mirror(holder="m").mirror_once()
    assert internal_hits == []
    assert public_hits == ["/a.png"]
    assert report.stored == 1
